"""The OpenAI Videos API dialect under ``/v1/videos`` (see the package docstring)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from dreamweb.simulator import openai_envelopes as envelopes
from dreamweb.simulator.core import Job, SimulatorCore
from dreamweb.simulator.dialect import Dialect
from dreamweb.simulator.faults import COMMON_FAULTS, Fault
from dreamweb.simulator.http import HttpError, json_response, read_json_object, stream_response
from dreamweb.simulator.media import SPRITESHEET_TYPE, THUMBNAIL_TYPE, MediaLibrary
from dreamweb.simulator.openai_envelopes import ApiError
from dreamweb.simulator.openai_list import list_videos

DEFAULT_MODELS = ("sora-2", "sora-2-pro")
DEFAULT_SECONDS = ("4", "8", "12")
DEFAULT_SIZES: dict[str, tuple[str, ...]] = {
    "sora-2": ("720x1280", "1280x720"),
    "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024", "1080x1920", "1920x1080"),
}
MAX_PROMPT_CHARS = 32000
MODERATION_ERROR = {
    "code": "moderation_blocked",
    "message": "Your request was blocked by our moderation system.",
}
CREATE_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
CONTENT_VARIANTS = ("video", "thumbnail", "spritesheet")
_BEARER = re.compile(r"^Bearer\s+\S+", re.IGNORECASE)
_FAULTS = COMMON_FAULTS | {"quota", "401"}


def new_video_id() -> str:
    """``video_`` + 48 lowercase hex digits, the shape of OpenAI's ids."""
    return "video_" + secrets.token_hex(24)


class OpenAIVideos(Dialect):
    """OpenAI's ``/v1/videos``: create, retrieve, list, delete, content, remix."""

    name = "openai"
    prefixes = ("/v1/",)
    route_faults = dict.fromkeys(
        ("create", "retrieve", "list", "delete", "content", "remix"), _FAULTS
    )

    def __init__(
        self,
        core: SimulatorCore,
        media: MediaLibrary,
        *,
        allowed_models: Sequence[str] = DEFAULT_MODELS,
        allowed_seconds: Sequence[str] = DEFAULT_SECONDS,
        allowed_sizes: Mapping[str, Sequence[str]] | Sequence[str] = DEFAULT_SIZES,
    ) -> None:
        super().__init__(core, media)
        if not allowed_models or not allowed_seconds:
            raise ValueError("allowed_models and allowed_seconds must not be empty")
        self.allowed_models = tuple(allowed_models)
        self.allowed_seconds = tuple(allowed_seconds)
        if isinstance(allowed_sizes, Mapping):
            self.allowed_sizes = {model: tuple(sizes) for model, sizes in allowed_sizes.items()}
        else:
            self.allowed_sizes = dict.fromkeys(self.allowed_models, tuple(allowed_sizes))
        for model in self.allowed_models:
            if not self.allowed_sizes.get(model):
                raise ValueError(f"no allowed sizes for model {model!r}")

    def rules(self) -> list[Rule]:
        """``/v1/videos`` and its sub-resources."""
        return [
            Rule("/v1/videos", methods=["POST"], endpoint="create"),
            Rule("/v1/videos", methods=["GET"], endpoint="list"),
            Rule("/v1/videos/<video_id>", methods=["GET"], endpoint="retrieve"),
            Rule("/v1/videos/<video_id>", methods=["DELETE"], endpoint="delete"),
            Rule("/v1/videos/<video_id>/content", methods=["GET"], endpoint="content"),
            Rule("/v1/videos/<video_id>/remix", methods=["POST"], endpoint="remix"),
        ]

    def authenticate(self, route: str, request: Request) -> None:
        """Any non-empty Bearer key, when keys are required."""
        if self.core.settings.require_key and not _BEARER.match(
            request.headers.get("Authorization", "")
        ):
            raise envelopes.missing_api_key()

    def fault_error(self, fault: Fault) -> HttpError:
        """OpenAI's 429 (with rate-limit headers), quota, 401, 500 and 503 answers."""
        if fault.kind == "429":
            return envelopes.rate_limited(fault.retry_after)
        if fault.kind == "quota":
            return envelopes.quota_exhausted()
        if fault.kind == "401":
            return envelopes.incorrect_api_key()
        if fault.kind == "503":
            return envelopes.service_unavailable()
        return envelopes.server_error()

    def not_found(self, method: str, path: str) -> HttpError:
        """OpenAI's ``Invalid URL (METHOD /path)`` 404."""
        return envelopes.invalid_url(method, path)

    def describe(self, job: Job) -> dict[str, Any]:
        """The Video object: all 13 keys, nullable ones as ``None``."""
        failed = job.status == "failed"
        return {
            "id": job.id,
            "object": "video",
            "model": job.model,
            "status": job.status,
            "progress": job.progress,
            "created_at": int(job.started),
            "completed_at": job.completed_at,
            "expires_at": job.expires_at,
            "prompt": job.prompt,
            "size": job.params["size"],
            "seconds": job.params["seconds"],
            "remixed_from_video_id": job.params["remixed_from_video_id"],
            "error": dict(MODERATION_ERROR) if failed else None,
        }

    def handle(
        self, route: str, request: Request, args: dict[str, Any], fault: Fault | None
    ) -> Response:
        """Dispatch one API call."""
        if route == "create":
            return json_response(self._create(_read_body(request)))
        if route == "list":
            return json_response(list_videos(self, request.args))
        video_id = args["video_id"]
        if route == "retrieve":
            return json_response(self.describe(self._live_job(video_id)))
        if route == "delete":
            with self.core.lock:
                self._live_job(video_id).deleted = True
            return json_response({"id": video_id, "object": "video.deleted", "deleted": True})
        if route == "content":
            return self._content(video_id, request.args.get("variant", "video"))
        return json_response(self._remix(video_id, _read_body(request)))

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in body:
            if name not in CREATE_FIELDS:
                raise envelopes.unknown_parameter(name)
        prompt = _prompt_field(body)
        model = _enum_field(body, "model", self.allowed_models, self.allowed_models[0])
        default_seconds = "4" if "4" in self.allowed_seconds else self.allowed_seconds[0]
        seconds = _enum_field(body, "seconds", self.allowed_seconds, default_seconds)
        sizes = self.allowed_sizes[model]
        size = _enum_field(body, "size", sizes, sizes[0])
        # input_reference is accepted and ignored: the simulator renders no real frames.
        return self._start(prompt, model=model, seconds=seconds, size=size, remix_of=None)

    def _remix(self, video_id: str, body: dict[str, Any]) -> dict[str, Any]:
        for name in body:
            if name != "prompt":
                raise envelopes.unknown_parameter(name)
        prompt = _prompt_field(body)
        source = self._live_job(video_id)
        if source.status != "completed":
            raise ApiError(
                400,
                f"Video '{video_id}' is not completed (status '{source.status}'); only "
                "completed videos can be remixed.",
                param="video_id",
                code="video_not_completed",
            )
        params = source.params
        return self._start(
            prompt,
            model=source.model,
            seconds=params["seconds"],
            size=params["size"],
            remix_of=source.id,
        )

    def _start(
        self, prompt: str, *, model: str, seconds: str, size: str, remix_of: str | None
    ) -> dict[str, Any]:
        params = {"seconds": seconds, "size": size, "remixed_from_video_id": remix_of}
        job = self.core.start(self.name, new_video_id(), model=model, prompt=prompt, params=params)
        with self.core.lock:
            return self.describe(job)

    def _content(self, video_id: str, variant: str) -> Response:
        if variant not in CONTENT_VARIANTS:
            raise envelopes.invalid_value("variant", variant, CONTENT_VARIANTS)
        job = self._live_job(video_id)
        if job.status == "failed":
            raise ApiError(
                400,
                f"Video '{video_id}' failed to generate; it has no content to download.",
                param="video_id",
                code="video_generation_failed",
            )
        if job.status != "completed":
            raise ApiError(
                400,
                f"Video is not ready yet, use GET /v1/videos/{video_id} to check status "
                f"(status '{job.status}').",
                param="video_id",
                code="video_not_ready",
            )
        if job.expires_at is not None and time.time() >= job.expires_at:
            raise ApiError(
                404,
                f"The content of video '{video_id}' has expired and is no longer available.",
                param="video_id",
                code="video_expired",
            )
        if variant == "video":
            return stream_response(self.media.plan_video(video_id, self.core.settings.video_bytes))
        if variant == "thumbnail":
            return Response(self.media.thumbnail, content_type=THUMBNAIL_TYPE)
        return Response(self.media.spritesheet, content_type=SPRITESHEET_TYPE)

    def _live_job(self, video_id: str) -> Job:
        """The job brought up to date, or the API's 404 envelope (deleted jobs are gone)."""
        job = self.core.observe(video_id, self.name)
        if job is None or job.deleted:
            raise envelopes.video_not_found(video_id)
        return job


def _read_body(request: Request) -> dict[str, Any]:
    """A create/remix body as a dict: JSON, multipart or url-encoded form; empty -> ``{}``."""
    if request.mimetype == "application/json":
        return read_json_object(request, envelopes.unparsable_json)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields: dict[str, Any] = dict(request.form.items())
        # An uploaded input_reference is noted, not read: its bytes do not matter here.
        for name in request.files:
            fields[name] = request.files[name].filename or ""
        return fields
    if not request.get_data():
        return {}
    raise ApiError(
        400,
        f"Unsupported content type '{request.mimetype}'. Send application/json or "
        "multipart/form-data.",
        code="unsupported_content_type",
    )


def _prompt_field(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")
    if prompt is None:
        raise envelopes.missing_parameter("prompt")
    if not isinstance(prompt, str):
        raise envelopes.invalid_type("prompt", prompt, "a string")
    if not prompt or len(prompt) > MAX_PROMPT_CHARS:
        short = not prompt
        raise ApiError(
            400,
            f"Invalid 'prompt': string too {'short' if short else 'long'}. Expected a string "
            + (
                "with minimum length 1, but got an empty string instead."
                if short
                else f"with maximum length {MAX_PROMPT_CHARS}, but got a string with length "
                f"{len(prompt)} instead."
            ),
            param="prompt",
            code="string_below_min_length" if short else "string_above_max_length",
        )
    return prompt


def _enum_field(body: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise envelopes.invalid_enum_type(name, value, allowed)
    if value not in allowed:
        raise envelopes.invalid_value(name, value, allowed)
    return value
