"""The Vertex AI (Veo) dialect: ``:predictLongRunning`` and ``:fetchPredictOperation``.

Paths, under ``/v1`` and ``/v1beta1``:
``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning`` answers
``{"name": "projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{uuid}"}``;
``POST .../models/{m}:fetchPredictOperation {"operationName": name}`` answers the operation:
``{"name", "done": false}`` while rendering, then ``done: true`` with ``response.videos[]``
(``gcsUri`` + ``mimeType`` when ``storageUri`` was given: real MP4s written into the GCS
emulator at ``<prefix>/<20-digit folder>/sample_<i>.mp4``; else ``bytesBase64Encoded``, or the
operation error "Generated video is large, an output storage uri is required." above
``inline_limit_bytes``), or with ``error`` (google.rpc.Status), or — a moderated prompt or the
``filtered`` fault — with ``raiMediaFilteredCount`` / ``raiMediaFilteredReasons`` and no videos.
A GET on the operation answers the real 400 "The Operation ID must be a Long". Every call
needs ``Authorization: Bearer <token from POST /token>``. Errors use Google's envelope
``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from dreamweb.simulator.core import Job, SimulatorCore
from dreamweb.simulator.dialect import Dialect, outcome_of
from dreamweb.simulator.faults import COMMON_FAULTS, Fault
from dreamweb.simulator.gcs_output import (
    OutputWriteError,
    new_output_folder,
    output_name,
    parse_gs_uri,
    upload_video,
)
from dreamweb.simulator.http import HttpError, json_response, read_json_object
from dreamweb.simulator.media import VIDEO_TYPE, MediaLibrary
from dreamweb.simulator.oauth import TokenEndpoint
from dreamweb.simulator.vertex_wire import MODELS, GoogleError, parse_create

RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
MODEL_PATH = (
    "/<any(v1, v1beta1):version>/projects/<project>/locations/<location>/publishers/google/models"
)
OPERATION_NAME = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/google/models/"
    r"(?P<model>[^/]+)/operations/(?P<operation>[^/]+)$"
)
FILTERED_REASON = (
    "The prompt could not be submitted. This prompt contains words that violate the usage "
    "guidelines. Try rephrasing the prompt. Support codes: 58061214"
)
OPERATION_ERROR = {"code": 13, "message": "Video generation failed due to an internal error."}
LARGE_INLINE_ERROR = {
    "code": 3,
    "message": "Generated video is large, an output storage uri is required.",
}
_CREATE_FAULTS = COMMON_FAULTS | {"quota", "401", "operation_error", "filtered"}


class VertexVeo(Dialect):
    """Veo on Vertex AI: routes ``vertex.create``, ``vertex.poll``, ``vertex.get_operation``."""

    name = "vertex"
    prefixes = ("/v1/projects/", "/v1beta1/")
    route_faults = {
        "vertex.create": _CREATE_FAULTS,
        "vertex.poll": COMMON_FAULTS | {"quota", "401"},
        "vertex.get_operation": COMMON_FAULTS,
    }
    # Outputs live in the caller's bucket: there is no provider-side copy to expire.
    expirable = False

    def __init__(self, core: SimulatorCore, media: MediaLibrary, tokens: TokenEndpoint) -> None:
        super().__init__(core, media)
        self.tokens = tokens

    def rules(self) -> list[Rule]:
        """The three Vertex routes."""
        return [
            Rule(f"{MODEL_PATH}/<model>:predictLongRunning", methods=["POST"],
                 endpoint="vertex.create"),
            Rule(f"{MODEL_PATH}/<model>:fetchPredictOperation", methods=["POST"],
                 endpoint="vertex.poll"),
            Rule(f"{MODEL_PATH}/<model>/operations/<operation>", methods=["GET"],
                 endpoint="vertex.get_operation"),
        ]  # fmt: skip

    def authenticate(self, route: str, request: Request) -> None:
        """A Bearer token issued by this simulator's ``POST /token``, when keys are required."""
        if not self.core.settings.require_key:
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GoogleError(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        if not self.tokens.valid(token.strip()):
            raise GoogleError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )

    def fault_error(self, fault: Fault) -> HttpError:
        """RESOURCE_EXHAUSTED (429 and quota), UNAUTHENTICATED, INTERNAL, UNAVAILABLE."""
        if fault.kind == "429":
            return GoogleError(
                429,
                "Resource exhausted. Please try again later. Please refer to "
                "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more "
                "details.",
            )
        if fault.kind == "quota":
            return GoogleError(429, "Resource has been exhausted (e.g. check quota).")
        if fault.kind == "401":
            return GoogleError(401, "Request had invalid authentication credentials.")
        if fault.kind == "503":
            return GoogleError(503, "The service is currently unavailable.")
        return GoogleError(500, "Internal error encountered.")

    def not_found(self, method: str, path: str) -> HttpError:
        """Google's 404 for a path it does not serve."""
        return GoogleError(404, f"The requested URL {path} was not found on this server.")

    def handle(
        self, route: str, request: Request, args: dict[str, Any], fault: Fault | None
    ) -> Response:
        """Dispatch one Vertex call."""
        if route == "vertex.get_operation":
            raise GoogleError(
                400,
                f"The Operation ID must be a Long, but was instead: {args['operation']}",
            )
        body = read_json_object(request, _unparsable)
        if route == "vertex.create":
            return json_response(self._create(args, body, outcome_of(fault)))
        return json_response(self._poll(body))

    def _create(self, args: dict[str, Any], body: dict[str, Any], outcome: str | None) -> dict:
        model = args["model"]
        resource = (
            "projects/{project}/locations/{location}/publishers/google/models/{model}".format(
                **args
            )
        )
        if model not in MODELS:
            raise GoogleError(
                404,
                f"Publisher Model `{resource}` was not found or your project does not have "
                "access to it.",
            )
        prompt, params = parse_create(model, body)
        if params["storage_uri"] and not self.core.settings.gcs_endpoint:
            raise GoogleError(
                400,
                "simulator: storageUri given but no GCS endpoint is configured "
                '(--gcs-endpoint, or POST /_sim/config {"gcs_endpoint": ...})',
                status="FAILED_PRECONDITION",
            )
        if outcome is None and self.core.blocked(prompt):
            outcome = "filtered"
        operation = str(uuid.uuid4())
        params["name"] = f"{resource}/operations/{operation}"
        self.core.start(self.name, operation, model=model, prompt=prompt, params=params,
                        outcome=outcome)  # fmt: skip
        return {"name": params["name"]}

    def _poll(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("operationName")
        if not isinstance(name, str) or not (match := OPERATION_NAME.match(name)):
            raise GoogleError(400, f"Invalid operation name: {name!r}")
        job = self.core.observe(match["operation"], self.name)
        if job is None or job.params["name"] != name:
            raise GoogleError(404, f"Operation {name} not found.")
        with self.core.lock:
            return self.describe(job)

    def describe(self, job: Job) -> dict[str, Any]:
        """The google.longrunning.Operation of a job."""
        operation: dict[str, Any] = {"name": job.params["name"], "done": job.terminal}
        if not job.terminal or not job.settled:
            operation["done"] = False
            return operation
        if error := job.result.get("error"):
            operation["error"] = dict(error)
            return operation
        response: dict[str, Any] = {"@type": RESPONSE_TYPE, "raiMediaFilteredCount": 0}
        if job.outcome in ("filtered", "moderation"):
            response["raiMediaFilteredCount"] = job.params["sample_count"]
            response["raiMediaFilteredReasons"] = [FILTERED_REASON]
        else:
            response["videos"] = [dict(video) for video in job.result["videos"]]
        operation["response"] = response
        return operation

    def settle(self, job: Job) -> None:
        """Produce the outputs of a finished job: GCS objects, inline bytes, or an error."""
        if job.outcome == "operation_error":
            job.result["error"] = dict(OPERATION_ERROR)
        elif job.outcome == "completed":
            try:
                job.result["videos"] = self._outputs(job)
            except _LargeInline:
                job.result["error"] = dict(LARGE_INLINE_ERROR)
            except OutputWriteError as error:
                job.result["error"] = {"code": 7, "message": str(error)}

    def _outputs(self, job: Job) -> list[dict[str, str]]:
        params, video_bytes = job.params, self.core.settings.video_bytes
        plans = [
            self.media.plan_video(f"{job.id}/sample_{index}", video_bytes)
            for index in range(params["sample_count"])
        ]
        if not params["storage_uri"]:
            if sum(plan.length for plan in plans) > self.core.settings.inline_limit_bytes:
                raise _LargeInline
            return [
                {"bytesBase64Encoded": base64.b64encode(b"".join(plan.chunks())).decode(),
                 "mimeType": VIDEO_TYPE}
                for plan in plans
            ]  # fmt: skip
        bucket, prefix = parse_gs_uri(params["storage_uri"])
        folder = new_output_folder()
        endpoint = self.core.settings.gcs_endpoint or ""
        videos = []
        for index, plan in enumerate(plans):
            name = output_name(prefix, folder, index)
            upload_video(endpoint, bucket, name, plan)
            videos.append({"gcsUri": f"gs://{bucket}/{name}", "mimeType": VIDEO_TYPE})
        return videos


class _LargeInline(OutputWriteError):
    pass


def _unparsable() -> GoogleError:
    return GoogleError(400, "Invalid JSON payload received. Unexpected token.")
