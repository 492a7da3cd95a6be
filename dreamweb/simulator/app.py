"""``VideoSimulator``: one WSGI application serving every wire dialect over the shared core.

Routing is one werkzeug ``Map`` built from every dialect's rules plus the control API; paths do
not collide (``/v1/videos``, ``/v1[beta1]/projects/...``, ``/api/v1/videos``, ``/token``,
``/_sim``). See the package docstring for the behaviour each dialect promises.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from dreamweb.simulator.control import control_rules, handle_control
from dreamweb.simulator.core import (
    DEFAULT_TRIGGER_WORD,
    Job,
    Settings,
    SimulatorCore,
    UnknownVideoError,
)
from dreamweb.simulator.dialect import Dialect
from dreamweb.simulator.faults import ANSWERING_FAULTS
from dreamweb.simulator.http import HttpError, cut_short
from dreamweb.simulator.media import MEDIA_DIR, MediaLibrary
from dreamweb.simulator.oauth import TokenEndpoint
from dreamweb.simulator.openai_videos import (
    DEFAULT_MODELS,
    DEFAULT_SECONDS,
    DEFAULT_SIZES,
    OpenAIVideos,
)
from dreamweb.simulator.openrouter import OpenRouterVideos
from dreamweb.simulator.vertex import VertexVeo


def new_request_id() -> str:
    """An ``x-request-id`` value in OpenAI's ``req_`` + 32 hex shape."""
    return "req_" + secrets.token_hex(16)


class VideoSimulator:
    """An in-process, thread-safe stand-in for every provider dreamweb speaks to (WSGI app).

    Settings (also ``configure``/``POST /_sim/config``): ``render_seconds``, ``video_bytes``,
    ``expires_seconds``, ``require_key``, ``gcs_endpoint``, ``webhook_secret``,
    ``token_seconds``, ``inline_limit_bytes`` (see ``core.Settings``). OpenAI-dialect options:
    ``allowed_models``, ``allowed_seconds``, ``allowed_sizes`` (a mapping model -> sizes, or
    one sequence for every model). ``trigger_word``: a prompt containing it is refused by
    moderation in every dialect; ``None`` or ``""`` disables moderation.
    """

    def __init__(
        self,
        *,
        allowed_models: Sequence[str] = DEFAULT_MODELS,
        allowed_seconds: Sequence[str] = DEFAULT_SECONDS,
        allowed_sizes: Mapping[str, Sequence[str]] | Sequence[str] = DEFAULT_SIZES,
        trigger_word: str | None = DEFAULT_TRIGGER_WORD,
        media_dir: Path = MEDIA_DIR,
        **settings: object,
    ) -> None:
        self.media = MediaLibrary(media_dir)
        self.tokens = TokenEndpoint()
        self.core = SimulatorCore(Settings(), {}, trigger_word=trigger_word)
        self.configure(**settings)
        self.openai = OpenAIVideos(
            self.core,
            self.media,
            allowed_models=allowed_models,
            allowed_seconds=allowed_seconds,
            allowed_sizes=allowed_sizes,
        )
        self.vertex = VertexVeo(self.core, self.media, self.tokens)
        self.openrouter = OpenRouterVideos(self.core, self.media)
        self.tokens.bind(self.core, self.media)
        dialects: list[Dialect] = [self.openai, self.vertex, self.openrouter, self.tokens]
        self.dialects = {dialect.name: dialect for dialect in dialects}
        self._route_dialect: dict[str, Dialect] = {}
        rules = control_rules()
        for dialect in dialects:
            for route in dialect.route_faults:
                self._route_dialect[route] = dialect
            self.core.route_faults.update(dialect.route_faults)
            if hasattr(dialect, "settle"):
                self.core.settlers[dialect.name] = dialect.settle
            rules.extend(dialect.rules())
        self.core.reset()
        self.url_map = Map(rules, strict_slashes=False)
        # Longest prefix first: /v1/projects/ (Vertex) before /v1/ (OpenAI).
        self._prefixes = sorted(
            ((prefix, dialect) for dialect in dialects for prefix in dialect.prefixes),
            key=lambda item: -len(item[0]),
        )

    # --- the Python control API (the HTTP /_sim routes call these) ---------------------------

    def inject(self, route: str, fault: str, **options: float) -> dict[str, object]:
        """Make the next ``count`` calls of ``route`` answer ``fault``; see ``faults``.

        Options: ``count`` (1), ``after_bytes`` (0), ``retry_after`` (1.0 s), ``hang_seconds``
        (10.0). Faults for the same route queue in order. Raises ``ValueError``.
        """
        return self.core.inject(route, fault, **options)

    def pending_faults(self) -> list[dict[str, object]]:
        """The faults still waiting, oldest first."""
        return self.core.pending_faults()

    def counters(self) -> dict[str, int]:
        """Calls received per route (every dialect's) since the last reset."""
        return self.core.counters()

    def reset(self) -> None:
        """Forget jobs, faults, counters, webhook records; release hanging requests.

        Issued tokens and trusted service accounts survive: they are identity, not state.
        """
        self.core.reset()
        for dialect in getattr(self, "dialects", {}).values():
            dialect.reset()

    def configure(self, **options: object) -> dict[str, object]:
        """Change settings at run time; returns them all. Raises ``ValueError``."""
        return self.core.configure(**options)

    def settings(self) -> dict[str, object]:
        """The current run-time configuration."""
        return self.core.configure()

    def complete(self, job_id: str) -> dict[str, Any]:
        """Finish a job of any dialect now, as its planned outcome says; its API view."""
        return self._describe(self.core.complete(self._job_key(job_id)))

    def expire(self, job_id: str) -> dict[str, Any]:
        """Make a job's content expired now (completing it first). Raises ``ValueError``."""
        key = self._job_key(job_id)
        job = self.core.observe(key)
        if job is not None and not self.dialects[job.dialect].expirable:
            raise ValueError(f"{job.dialect} jobs have no content that expires")
        return self._describe(self.core.expire(key))

    def job(self, job_id: str) -> dict[str, Any]:
        """A job's current view in its own dialect. Raises ``UnknownVideoError``."""
        job = self.core.observe(self._job_key(job_id))
        if job is None:
            raise UnknownVideoError(job_id)
        return self._describe(job)

    video = job  # the name older tests use for OpenAI jobs

    def trust_service_account(self, info: Mapping[str, object]) -> str:
        """Trust a service account's key for ``POST /token``; returns its ``client_email``."""
        return self.tokens.trust(info)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """OpenRouter webhook deliveries attempted since the last reset, oldest first."""
        return self.openrouter.deliveries()

    def _job_key(self, job_id: str) -> str:
        # A Vertex job is known by its operation id; accept the full operation name too.
        return job_id.rpartition("/operations/")[2]

    def _describe(self, job: Job) -> dict[str, Any]:
        with self.core.lock:
            return self.dialects[job.dialect].describe(job)

    # --- WSGI ---------------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one WSGI request; every answer carries an ``x-request-id`` header."""
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except HttpError as error:
            response = error.response()
        finally:
            # Closes uploaded files (an input_reference spools to a temporary file).
            request.close()
        response.headers["x-request-id"] = new_request_id()
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        try:
            route, args = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException:
            raise self._not_found(request.method, request.path) from None
        if route.startswith("_sim."):
            return handle_control(self, route, request, args)
        dialect = self._route_dialect[route]
        fault = self.core.count_call(route)
        if fault is not None and fault.kind in ANSWERING_FAULTS:
            return dialect.fault_error(fault).response()
        if fault is not None and fault.kind == "hang":
            # Wait outside every lock so the rest of the simulator keeps answering.
            self.core.hang(fault.hang_seconds)
        dialect.authenticate(route, request)
        response = dialect.handle(route, request, args, fault)
        if fault is not None and fault.kind in ("drop", "truncate"):
            drop = fault.kind == "drop"
            return cut_short(response, fault.after_bytes, request.environ, drop=drop)
        return response

    def _not_found(self, method: str, path: str) -> HttpError:
        for prefix, dialect in self._prefixes:
            if path.startswith(prefix):
                return dialect.not_found(method, path)
        return self.openai.not_found(method, path)
