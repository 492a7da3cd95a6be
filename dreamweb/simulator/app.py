"""The simulator's WSGI application: ``VideoSimulator``.

See the package docstring (``dreamweb.simulator``) for the behaviour it promises.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from dreamweb.simulator import envelopes
from dreamweb.simulator.envelopes import ApiError
from dreamweb.simulator.faults import ANSWERING_FAULTS, ROUTES, Fault, build_fault
from dreamweb.simulator.media import (
    MEDIA_DIR,
    SPRITESHEET_TYPE,
    THUMBNAIL_TYPE,
    VIDEO_TYPE,
    MediaLibrary,
)

DEFAULT_MODELS = ("sora-2", "sora-2-pro")
DEFAULT_SECONDS = ("4", "8", "12")
DEFAULT_SIZES: dict[str, tuple[str, ...]] = {
    "sora-2": ("720x1280", "1280x720"),
    "sora-2-pro": (
        "720x1280",
        "1280x720",
        "1024x1792",
        "1792x1024",
        "1080x1920",
        "1920x1080",
    ),
}
DEFAULT_TRIGGER_WORD = "nightmare"
MAX_PROMPT_CHARS = 32000
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
# A job sits in "queued" for this share of its render time, then reports "in_progress".
QUEUED_SHARE = 0.1
# Set in the WSGI environ to ask SimulatorRequestHandler for an abortive close (a TCP reset).
ABORT_CONNECTION_KEY = "dreamweb.simulator.abort_connection"

MODERATION_ERROR = {
    "code": "moderation_blocked",
    "message": "Your request was blocked by our moderation system.",
}
CREATE_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
CONFIG_FIELDS = ("render_seconds", "video_bytes", "expires_seconds", "require_key")
CONTENT_VARIANTS = ("video", "thumbnail", "spritesheet")

_VIDEO_PATH = re.compile(r"^/v1/videos/(?P<video_id>[^/]+)$")
_CONTENT_PATH = re.compile(r"^/v1/videos/(?P<video_id>[^/]+)/content$")
_REMIX_PATH = re.compile(r"^/v1/videos/(?P<video_id>[^/]+)/remix$")
_JOB_CONTROL_PATH = re.compile(r"^/_sim/jobs/(?P<video_id>[^/]+)/(?P<action>expire|complete)$")
_BEARER = re.compile(r"^Bearer\s+\S+", re.IGNORECASE)


class UnknownVideoError(KeyError):
    """The control API was asked about a video id the simulator does not hold."""


@dataclass
class _Job:
    """One generation. Status fields advance lazily, whenever the job is looked at."""

    id: str
    sequence: int
    model: str
    prompt: str
    seconds: str
    size: str
    remixed_from_video_id: str | None
    started: float
    render_seconds: float
    blocked: bool
    status: str = "queued"
    progress: int = 0
    completed_at: int | None = None
    expires_at: int | None = None
    error: dict[str, str] | None = None
    deleted: bool = False

    def as_video(self) -> dict[str, Any]:
        """The Video object: all 13 keys, nullable ones as ``None``."""
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": self.status,
            "progress": self.progress,
            "created_at": int(self.started),
            "completed_at": self.completed_at,
            "expires_at": self.expires_at,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": self.seconds,
            "remixed_from_video_id": self.remixed_from_video_id,
            "error": dict(self.error) if self.error else None,
        }


@dataclass
class _Settings:
    """What ``configure`` (and ``POST /_sim/config``) may change at run time."""

    render_seconds: float
    video_bytes: int
    expires_seconds: float
    require_key: bool


@dataclass
class _State:
    """Everything ``reset`` clears. Guarded by ``VideoSimulator._lock``."""

    jobs: dict[str, _Job] = field(default_factory=dict)
    next_sequence: int = 0
    faults: list[Fault] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))


def new_video_id() -> str:
    """``video_`` + 48 lowercase hex digits, the shape of OpenAI's ids."""
    return "video_" + secrets.token_hex(24)


def new_request_id() -> str:
    """An ``x-request-id`` value in OpenAI's ``req_`` + 32 hex shape."""
    return "req_" + secrets.token_hex(16)


def _json_response(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error_response(error: ApiError) -> Response:
    response = _json_response(error.envelope(), error.status)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


class VideoSimulator:
    """An in-process, thread-safe stand-in for the OpenAI Videos API (a WSGI application).

    Constructor options:

    - ``render_seconds``: how long a job takes from ``queued`` to its final state (0 = at once).
    - ``video_bytes``: size of the served ``video`` variant; 0 (or anything smaller than the
      base clip) serves the base clip plus a small tagged ``free`` box.
    - ``expires_seconds``: ``expires_at = completed_at + expires_seconds``.
    - ``require_key``: answer 401 unless ``Authorization: Bearer <non-empty>`` is sent.
    - ``allowed_models`` / ``allowed_seconds``: accepted values (the first model is the
      default; ``"4"`` is the default duration when allowed, else the first).
    - ``allowed_sizes``: a mapping model -> sizes, or one sequence for every model; the first
      size is the default.
    - ``trigger_word``: a prompt containing it (case-insensitive) ends ``failed`` with
      ``moderation_blocked``; ``None`` or ``""`` disables moderation.
    - ``media_dir``: where the base clips, thumbnail and spritesheet live.
    """

    def __init__(
        self,
        *,
        render_seconds: float = 5.0,
        video_bytes: int = 0,
        expires_seconds: float = 3600.0,
        require_key: bool = True,
        allowed_models: Sequence[str] = DEFAULT_MODELS,
        allowed_seconds: Sequence[str] = DEFAULT_SECONDS,
        allowed_sizes: Mapping[str, Sequence[str]] | Sequence[str] = DEFAULT_SIZES,
        trigger_word: str | None = DEFAULT_TRIGGER_WORD,
        media_dir: Path = MEDIA_DIR,
    ) -> None:
        if not allowed_models or not allowed_seconds:
            raise ValueError("allowed_models and allowed_seconds must not be empty")
        self.allowed_models: tuple[str, ...] = tuple(allowed_models)
        self.allowed_seconds: tuple[str, ...] = tuple(allowed_seconds)
        if isinstance(allowed_sizes, Mapping):
            self.allowed_sizes = {model: tuple(sizes) for model, sizes in allowed_sizes.items()}
        else:
            self.allowed_sizes = dict.fromkeys(self.allowed_models, tuple(allowed_sizes))
        for model in self.allowed_models:
            if not self.allowed_sizes.get(model):
                raise ValueError(f"no allowed sizes for model {model!r}")
        self.trigger_word = trigger_word.lower() if trigger_word else None
        self.media = MediaLibrary(media_dir)
        # RLock: public methods that take the lock call each other.
        self._lock = threading.RLock()
        self._state = _State()
        self._settings = _Settings(
            render_seconds=0.0, video_bytes=0, expires_seconds=0.0, require_key=True
        )
        self.configure(
            render_seconds=render_seconds,
            video_bytes=video_bytes,
            expires_seconds=expires_seconds,
            require_key=require_key,
        )
        # Hanging requests wait on this event, so reset() can release them at once.
        self._release_hangs = threading.Event()

    # --- the Python control API (the HTTP /_sim routes call these) ---------------------------

    def inject(self, route: str, fault: str, **options: float) -> dict[str, object]:
        """Make the next ``count`` calls of ``route`` (create, retrieve, ...) answer ``fault``.

        Faults: ``429``, ``quota``, ``500``, ``401`` (answer an error envelope instead of
        processing the call), ``hang`` (stall ``hang_seconds`` then answer normally), ``drop``
        (send only ``after_bytes`` of the body under the full ``Content-Length``, then reset
        the connection) and ``truncate`` (the same short body, then a clean close). Options:
        ``count`` (1), ``after_bytes`` (0), ``retry_after`` (1.0 s), ``hang_seconds`` (10.0).
        Faults injected for the same route queue up in order. Raises ``ValueError``.
        """
        pending = build_fault(route, fault, options)
        with self._lock:
            self._state.faults.append(pending)
        return pending.describe()

    def pending_faults(self) -> list[dict[str, object]]:
        """The faults still waiting, oldest first."""
        with self._lock:
            return [pending.describe() for pending in self._state.faults]

    def counters(self) -> dict[str, int]:
        """Calls received per API route since the last reset, faulted or not."""
        with self._lock:
            return dict(self._state.counters)

    def reset(self) -> None:
        """Forget all jobs, faults and counters, and release any hanging requests."""
        with self._lock:
            self._state = _State()
            self._release_hangs.set()
            self._release_hangs = threading.Event()

    def configure(self, **options: object) -> dict[str, object]:
        """Change ``render_seconds``, ``video_bytes``, ``expires_seconds`` or ``require_key``.

        ``render_seconds`` applies to jobs created afterwards; ``video_bytes`` to downloads
        started afterwards; ``expires_seconds`` to jobs completing afterwards. Returns the
        whole configuration. Raises ``ValueError`` for unknown names or bad values.
        """
        unknown = set(options) - set(CONFIG_FIELDS)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        checked: dict[str, object] = {}
        for name, value in options.items():
            if name == "require_key":
                if not isinstance(value, bool):
                    raise ValueError(f"require_key must be true or false; got {value!r}")
                checked[name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number; got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must not be negative; got {value!r}")
            if name == "video_bytes":
                if value != int(value):
                    raise ValueError(f"video_bytes must be a whole number; got {value!r}")
                checked[name] = int(value)
            else:
                checked[name] = float(value)
        with self._lock:
            for name, value in checked.items():
                setattr(self._settings, name, value)
            return {name: getattr(self._settings, name) for name in CONFIG_FIELDS}

    def settings(self) -> dict[str, object]:
        """The current run-time configuration."""
        return self.configure()

    def expire(self, video_id: str) -> dict[str, Any]:
        """Move a job's ``expires_at`` into the past so its content answers "expired".

        A job still rendering is completed first. A failed job has no content to expire and
        raises ``ValueError``; an unknown id raises ``UnknownVideoError``.
        """
        with self._lock:
            job = self._control_job(video_id)
            now = time.time()
            self._advance(job, now)
            if job.status == "failed":
                raise ValueError(f"video {video_id} failed; it has no content to expire")
            if job.status != "completed":
                self._finish(job, now)
            job.expires_at = int(now) - 1
            return job.as_video()

    def complete(self, video_id: str) -> dict[str, Any]:
        """Finish a job now: ``completed`` (or ``failed``, if moderation blocks its prompt)."""
        with self._lock:
            job = self._control_job(video_id)
            now = time.time()
            self._advance(job, now)
            if job.status not in ("completed", "failed"):
                self._finish(job, now)
            return job.as_video()

    def video(self, video_id: str) -> dict[str, Any]:
        """The current Video object of a job (deleted jobs included). Raises UnknownVideoError."""
        with self._lock:
            job = self._control_job(video_id)
            self._advance(job, time.time())
            return job.as_video()

    # --- WSGI ---------------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one WSGI request; every answer carries an ``x-request-id`` header."""
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except ApiError as error:
            response = _error_response(error)
        finally:
            # Closes uploaded files (an input_reference spools to a temporary file).
            request.close()
        response.headers["x-request-id"] = new_request_id()
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/_sim" or path.startswith("/_sim/"):
            return self._control(request)
        route, video_id = self._match_api_route(method, path)
        if route is None:
            raise envelopes.invalid_url(method, path)
        with self._lock:
            self._state.counters[route] += 1
            fault = self._take_fault(route)
        if fault is not None and fault.kind in ANSWERING_FAULTS:
            return _error_response(_fault_error(fault))
        if fault is not None and fault.kind == "hang":
            # Wait outside the lock so the rest of the simulator keeps answering.
            self._release_hangs.wait(fault.hang_seconds)
        self._check_key(request)
        response = self._handle(route, request, video_id)
        if fault is not None and fault.kind in ("drop", "truncate"):
            return _cut_short(response, fault, request.environ)
        return response

    @staticmethod
    def _match_api_route(method: str, path: str) -> tuple[str | None, str]:
        if path == "/v1/videos":
            return {"POST": "create", "GET": "list"}.get(method), ""
        if match := _VIDEO_PATH.match(path):
            return {"GET": "retrieve", "DELETE": "delete"}.get(method), match["video_id"]
        if (match := _CONTENT_PATH.match(path)) and method == "GET":
            return "content", match["video_id"]
        if (match := _REMIX_PATH.match(path)) and method == "POST":
            return "remix", match["video_id"]
        return None, ""

    def _take_fault(self, route: str) -> Fault | None:
        """Consume one use of the oldest fault pending for ``route`` (caller holds the lock)."""
        for pending in self._state.faults:
            if pending.route == route:
                pending.remaining -= 1
                if pending.remaining <= 0:
                    self._state.faults.remove(pending)
                return pending
        return None

    def _check_key(self, request: Request) -> None:
        if self._settings.require_key and not _BEARER.match(
            request.headers.get("Authorization", "")
        ):
            raise envelopes.missing_api_key()

    def _handle(self, route: str, request: Request, video_id: str) -> Response:
        if route == "create":
            return _json_response(self._create(_read_body(request)))
        if route == "list":
            return _json_response(self._list(request.args))
        if route == "retrieve":
            with self._lock:
                job = self._live_job(video_id)
                self._advance(job, time.time())
                return _json_response(job.as_video())
        if route == "delete":
            with self._lock:
                self._live_job(video_id).deleted = True
            return _json_response({"id": video_id, "object": "video.deleted", "deleted": True})
        if route == "content":
            return self._content(video_id, request.args.get("variant", "video"))
        return _json_response(self._remix(video_id, _read_body(request)))

    # --- the API routes -----------------------------------------------------------------------

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
        return self._start_job(prompt, model=model, seconds=seconds, size=size, remix_of=None)

    def _remix(self, video_id: str, body: dict[str, Any]) -> dict[str, Any]:
        for name in body:
            if name != "prompt":
                raise envelopes.unknown_parameter(name)
        prompt = _prompt_field(body)
        with self._lock:
            source = self._live_job(video_id)
            self._advance(source, time.time())
            if source.status != "completed":
                raise ApiError(
                    400,
                    f"Video '{video_id}' is not completed (status '{source.status}'); only "
                    "completed videos can be remixed.",
                    param="video_id",
                    code="video_not_completed",
                )
            return self._start_job(
                prompt,
                model=source.model,
                seconds=source.seconds,
                size=source.size,
                remix_of=source.id,
            )

    def _start_job(
        self, prompt: str, *, model: str, seconds: str, size: str, remix_of: str | None
    ) -> dict[str, Any]:
        blocked = bool(self.trigger_word and self.trigger_word in prompt.lower())
        with self._lock:
            job = _Job(
                id=new_video_id(),
                sequence=self._state.next_sequence,
                model=model,
                prompt=prompt,
                seconds=seconds,
                size=size,
                remixed_from_video_id=remix_of,
                started=time.time(),
                render_seconds=self._settings.render_seconds,
                blocked=blocked,
            )
            self._state.next_sequence += 1
            self._state.jobs[job.id] = job
            self._advance(job, job.started)
            return job.as_video()

    def _list(self, query: Mapping[str, str]) -> dict[str, Any]:
        limit_text = query.get("limit")
        limit = DEFAULT_LIST_LIMIT
        if limit_text is not None:
            try:
                limit = int(limit_text)
            except ValueError:
                raise envelopes.invalid_type("limit", limit_text, "an integer") from None
            if not 0 <= limit <= MAX_LIST_LIMIT:
                bound = "below minimum" if limit < 0 else "above maximum"
                expected = ">= 0" if limit < 0 else f"<= {MAX_LIST_LIMIT}"
                raise ApiError(
                    400,
                    f"Invalid 'limit': integer {bound} value. Expected a value {expected}, but "
                    f"got {limit} instead.",
                    param="limit",
                    code="integer_below_min_value" if limit < 0 else "integer_above_max_value",
                )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise envelopes.invalid_value("order", order, ("asc", "desc"))
        after = query.get("after")
        now = time.time()
        with self._lock:
            jobs = sorted(self._state.jobs.values(), key=lambda job: job.sequence)
            if order == "desc":
                jobs.reverse()
            if after:
                # Deleted jobs stay in the table as tombstones, so their ids remain cursors.
                cursor = self._state.jobs.get(after)
                if cursor is None:
                    raise ApiError(
                        400,
                        f"Invalid value for 'after': no video with id '{after}'.",
                        param="after",
                        code="invalid_value",
                    )
                if order == "desc":
                    jobs = [job for job in jobs if job.sequence < cursor.sequence]
                else:
                    jobs = [job for job in jobs if job.sequence > cursor.sequence]
            live = [job for job in jobs if not job.deleted]
            page = live[:limit]
            for job in page:
                self._advance(job, now)
            data = [job.as_video() for job in page]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(live) > limit,
        }

    def _content(self, video_id: str, variant: str) -> Response:
        if variant not in CONTENT_VARIANTS:
            raise envelopes.invalid_value("variant", variant, CONTENT_VARIANTS)
        now = time.time()
        with self._lock:
            job = self._live_job(video_id)
            self._advance(job, now)
            status, expires_at = job.status, job.expires_at
            video_bytes = self._settings.video_bytes
        if status == "failed":
            raise ApiError(
                400,
                f"Video '{video_id}' failed to generate; it has no content to download.",
                param="video_id",
                code="video_generation_failed",
            )
        if status != "completed":
            raise ApiError(
                400,
                f"Video is not ready yet, use GET /v1/videos/{video_id} to check status "
                f"(status '{status}').",
                param="video_id",
                code="video_not_ready",
            )
        if expires_at is not None and now >= expires_at:
            raise ApiError(
                404,
                f"The content of video '{video_id}' has expired and is no longer available.",
                param="video_id",
                code="video_expired",
            )
        headers = Headers()
        if variant == "video":
            plan = self.media.plan_video(video_id, video_bytes)
            headers["Content-Length"] = str(plan.length)
            headers["Content-Type"] = VIDEO_TYPE
            # direct_passthrough: werkzeug hands the generator to the server untouched, so the
            # video leaves in CHUNK_SIZE pieces and is never assembled in memory.
            return Response(plan.chunks(), headers=headers, direct_passthrough=True)
        body, content_type = (
            (self.media.thumbnail, THUMBNAIL_TYPE)
            if variant == "thumbnail"
            else (self.media.spritesheet, SPRITESHEET_TYPE)
        )
        return Response(body, content_type=content_type)

    # --- job state ----------------------------------------------------------------------------

    def _live_job(self, video_id: str) -> _Job:
        """The job, or the API's 404 envelope (deleted jobs are gone). Caller holds the lock."""
        job = self._state.jobs.get(video_id)
        if job is None or job.deleted:
            raise envelopes.video_not_found(video_id)
        return job

    def _control_job(self, video_id: str) -> _Job:
        job = self._state.jobs.get(video_id)
        if job is None:
            raise UnknownVideoError(video_id)
        return job

    def _advance(self, job: _Job, now: float) -> None:
        """Bring a job's status and progress up to ``now``. Caller holds the lock."""
        if job.status in ("completed", "failed"):
            return
        elapsed = now - job.started
        if elapsed >= job.render_seconds:
            self._finish(job, job.started + job.render_seconds)
        elif elapsed >= job.render_seconds * QUEUED_SHARE:
            job.status = "in_progress"
            job.progress = max(1, min(99, int(100 * elapsed / job.render_seconds)))
        else:
            job.status, job.progress = "queued", 0

    def _finish(self, job: _Job, at: float) -> None:
        """End a job at time ``at``: failed for a blocked prompt, else completed."""
        job.completed_at = int(at)
        if job.blocked:
            job.status, job.progress, job.error = "failed", 0, dict(MODERATION_ERROR)
            return
        job.status, job.progress = "completed", 100
        job.expires_at = job.completed_at + round(self._settings.expires_seconds)

    # --- the HTTP control API -----------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        path, method = request.path, request.method
        try:
            if path == "/_sim/health" and method == "GET":
                return _json_response({"status": "ok"})
            if path == "/_sim/counters" and method == "GET":
                return _json_response(self.counters())
            if path == "/_sim/reset" and method == "POST":
                self.reset()
                return _json_response({"reset": True})
            if path == "/_sim/faults" and method == "GET":
                return _json_response({"faults": self.pending_faults()})
            if path == "/_sim/faults" and method == "POST":
                body = _read_json_object(request)
                options = {k: v for k, v in body.items() if k not in ("route", "fault")}
                return _json_response(self.inject(body.get("route"), body.get("fault"), **options))
            if path == "/_sim/config" and method == "GET":
                return _json_response(self.settings())
            if path == "/_sim/config" and method == "POST":
                return _json_response(self.configure(**_read_json_object(request)))
            if (match := _JOB_CONTROL_PATH.match(path)) and method == "POST":
                action = self.expire if match["action"] == "expire" else self.complete
                return _json_response(action(match["video_id"]))
        except UnknownVideoError as error:
            raise envelopes.video_not_found(str(error.args[0])) from None
        except ValueError as error:
            raise ApiError(400, str(error), code="invalid_control_request") from None
        raise envelopes.invalid_url(method, path)


# --- request parsing ------------------------------------------------------------------------


def _read_body(request: Request) -> dict[str, Any]:
    """A create/remix body as a dict: JSON, multipart or url-encoded form; empty -> ``{}``."""
    if request.mimetype == "application/json":
        return _read_json_object(request)
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


def _read_json_object(request: Request) -> dict[str, Any]:
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise envelopes.unparsable_json() from None
    if not isinstance(body, dict):
        raise envelopes.unparsable_json()
    return body


def _prompt_field(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")
    if prompt is None:
        raise envelopes.missing_parameter("prompt")
    if not isinstance(prompt, str):
        raise envelopes.invalid_type("prompt", prompt, "a string")
    if not prompt:
        raise ApiError(
            400,
            "Invalid 'prompt': string too short. Expected a string with minimum length 1, but "
            "got an empty string instead.",
            param="prompt",
            code="string_below_min_length",
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
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


# --- faults ---------------------------------------------------------------------------------


def _fault_error(fault: Fault) -> ApiError:
    if fault.kind == "429":
        return envelopes.rate_limited(fault.retry_after)
    if fault.kind == "quota":
        return envelopes.quota_exhausted()
    if fault.kind == "401":
        return envelopes.incorrect_api_key()
    return envelopes.server_error()


def _cut_short(response: Response, fault: Fault, environ: dict[str, Any]) -> Response:
    """Re-send ``response`` with its full ``Content-Length`` but only ``after_bytes`` of body.

    The limit is clamped below the full length, so the body is always short. ``drop`` then
    asks the server for a TCP reset; ``truncate`` lets it close the connection normally.
    """
    if response.direct_passthrough:
        full_length = int(response.headers["Content-Length"])
        chunks: Iterable[bytes] = response.response
    else:
        body = response.get_data()
        full_length, chunks = len(body), [body]
    limit = max(0, min(fault.after_bytes, full_length - 1))
    headers = Headers(response.headers)
    headers["Content-Length"] = str(full_length)
    short_body = _first_bytes(chunks, limit, environ, abort=fault.kind == "drop")
    return Response(
        short_body, status=response.status_code, headers=headers, direct_passthrough=True
    )


def _first_bytes(
    chunks: Iterable[bytes], limit: int, environ: dict[str, Any], *, abort: bool
) -> Iterator[bytes]:
    sent = 0
    try:
        for chunk in chunks:
            piece = chunk[: limit - sent]
            if piece:
                yield piece
                sent += len(piece)
            if sent >= limit:
                break
        # Reached only once the server has written every piece above: WSGI servers pull the
        # next item after writing the previous one.
        if abort:
            environ[ABORT_CONNECTION_KEY] = True
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
