"""The OpenRouter video dialect under ``/api/v1`` (routes ``openrouter.*``).

``POST /api/v1/videos`` (JSON; 202 ``{id, polling_url, status: "pending"}``), ``GET
/api/v1/videos/{id}`` (statuses ``pending`` -> ``in_progress`` -> ``completed`` | ``failed`` |
``cancelled`` | ``expired``; no progress; ``error`` a string; ``unsigned_urls``,
``expires_at`` and ``usage: {cost, is_byok}`` once completed), ``GET
/api/v1/videos/{id}/content?index=N`` (``video/mp4``; 409 before completion, 410 once expired,
404 for an unknown job or index) and ``GET /api/v1/videos/models`` (the catalog, no key).
Other calls need ``Authorization: Bearer <any key>`` (401 ``Missing Authentication header``).
Ids are ``gen-vid-<unix>-<20 alphanumerics>``. A job created with ``callback_url`` gets one
signed webhook when it ends (see ``webhooks``), even if nobody polls.
"""

from __future__ import annotations

import secrets
import string
import time
from datetime import UTC, datetime
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from dreamweb.simulator.core import Job, SimulatorCore
from dreamweb.simulator.dialect import Dialect, outcome_of
from dreamweb.simulator.faults import COMMON_FAULTS, Fault
from dreamweb.simulator.http import HttpError, json_response, read_json_object, stream_response
from dreamweb.simulator.media import MediaLibrary
from dreamweb.simulator.openrouter_wire import OpenRouterError, load_catalog, parse_create
from dreamweb.simulator.webhooks import WebhookSender

STATUS_NAMES = {"queued": "pending"}
ERRORS = {
    "moderation": "Content policy violation",
    "failed": "Provider returned error",
    "cancelled": "Job was cancelled",
    "expired": "Job exceeded maximum time to live",
}
_ALPHANUMERICS = string.ascii_letters + string.digits
_KEYED = COMMON_FAULTS | {"401"}


def new_job_id() -> str:
    """``gen-vid-<unix seconds>-<20 alphanumerics>``, the SDK's documented id shape."""
    suffix = "".join(secrets.choice(_ALPHANUMERICS) for _ in range(20))
    return f"gen-vid-{int(time.time())}-{suffix}"


class OpenRouterVideos(Dialect):
    """OpenRouter's asynchronous Video Generation API."""

    name = "openrouter"
    prefixes = ("/api/",)
    route_faults = {
        "openrouter.create": _KEYED | {"402", "failed", "cancelled", "expired"},
        "openrouter.retrieve": _KEYED,
        "openrouter.content": _KEYED,
        "openrouter.models": COMMON_FAULTS,
    }

    def __init__(self, core: SimulatorCore, media: MediaLibrary) -> None:
        super().__init__(core, media)
        self.catalog = load_catalog()
        self.webhooks = WebhookSender()

    def rules(self) -> list[Rule]:
        """The four routes (the static ``/models`` outranks ``/<job_id>``)."""
        return [
            Rule("/api/v1/videos", methods=["POST"], endpoint="openrouter.create"),
            Rule("/api/v1/videos/models", methods=["GET"], endpoint="openrouter.models"),
            Rule("/api/v1/videos/<job_id>", methods=["GET"], endpoint="openrouter.retrieve"),
            Rule("/api/v1/videos/<job_id>/content", methods=["GET"], endpoint="openrouter.content"),
        ]

    def authenticate(self, route: str, request: Request) -> None:
        """Any non-empty Bearer key, except for the public catalog."""
        if route == "openrouter.models" or not self.core.settings.require_key:
            return
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise OpenRouterError(401, "Missing Authentication header")

    def fault_error(self, fault: Fault) -> HttpError:
        """401, 402 (credits), 429 (with Retry-After), 500, 503."""
        if fault.kind == "429":
            return OpenRouterError(
                429, "Rate limit exceeded", headers={"Retry-After": f"{fault.retry_after:g}"}
            )
        messages = {
            "401": "User not found.",
            "402": "Insufficient credits. Add more using https://openrouter.ai/credits",
            "503": "No allowed providers are available for the selected model.",
        }
        status = int(fault.kind)
        return OpenRouterError(status, messages.get(fault.kind, "Internal Server Error"))

    def not_found(self, method: str, path: str) -> HttpError:
        """OpenRouter's 404."""
        return OpenRouterError(404, "Resource not found")

    def reset(self) -> None:
        """Forget the webhook records."""
        self.webhooks.clear()

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery since the last reset."""
        return self.webhooks.records()

    def handle(
        self, route: str, request: Request, args: dict[str, Any], fault: Fault | None
    ) -> Response:
        """Dispatch one OpenRouter call."""
        if route == "openrouter.models":
            return json_response({"data": list(self.catalog.values())})
        if route == "openrouter.create":
            return json_response(self._create(request, outcome_of(fault)), 202)
        job = self.core.observe(args["job_id"], self.name)
        if job is None:
            raise OpenRouterError(404, "Resource not found")
        if route == "openrouter.retrieve":
            with self.core.lock:
                return json_response(self.describe(job))
        return self._content(job, request.args.get("index", "0"))

    def _create(self, request: Request, outcome: str | None) -> dict[str, Any]:
        body = read_json_object(request, lambda: OpenRouterError(400, "Invalid JSON body"))
        params = parse_create(self.catalog, body)
        params["base_url"] = request.host_url + "api/v1"
        params["generation_id"] = "gen-" + "".join(
            secrets.choice(_ALPHANUMERICS) for _ in range(24)
        )
        job = self.core.start(
            self.name,
            new_job_id(),
            model=params["model"],
            prompt=params.pop("prompt"),
            params=params,
            outcome=outcome,
        )
        if params["callback_url"]:
            # Push: the webhook goes out when the render ends, whether or not anybody polls.
            self.core.when_rendered(job, self.core.advance)
        return {"id": job.id, "polling_url": f"/api/v1/videos/{job.id}", "status": "pending"}

    def _content(self, job: Job, index_text: str) -> Response:
        if not index_text.isdigit():
            raise OpenRouterError(400, f"index must be a non-negative integer; got {index_text!r}")
        if job.status != "completed":
            raise OpenRouterError(409, f"Video generation is not completed (status: "
                                  f"{self._status(job)})")  # fmt: skip
        if job.expires_at is not None and time.time() >= job.expires_at:
            raise OpenRouterError(410, "The video output has expired and is no longer available")
        if int(index_text) != 0:
            raise OpenRouterError(404, "Resource not found")
        return stream_response(self.media.plan_video(job.id, self.core.settings.video_bytes))

    @staticmethod
    def _status(job: Job) -> str:
        return STATUS_NAMES.get(job.status, job.status)

    def describe(self, job: Job) -> dict[str, Any]:
        """The VideoGenerationResponse of a job."""
        view: dict[str, Any] = {
            "id": job.id,
            "polling_url": f"/api/v1/videos/{job.id}",
            "status": self._status(job),
        }
        if not job.terminal:
            return view
        view["generation_id"] = job.params["generation_id"]
        if job.status == "completed":
            view["unsigned_urls"] = [f"{job.params['base_url']}/videos/{job.id}/content?index=0"]
            view["expires_at"] = job.expires_at
            view["usage"] = {"cost": job.params["cost"], "is_byok": False}
        else:
            view["error"] = ERRORS[job.outcome]
        return view

    def settle(self, job: Job) -> None:
        """Send the job's webhook, if it asked for one."""
        url = job.params.get("callback_url")
        if not url:
            return
        with self.core.lock:
            view = self.describe(job)
        data = {key: view[key] for key in view if key not in ("polling_url", "expires_at")}
        data["model"] = job.model
        event = {
            "type": f"video.generation.{view['status']}",
            "created_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "data": data,
        }
        secret = self.core.settings.webhook_secret
        self.webhooks.send(url, event, (job.id, view["status"]), secret)
