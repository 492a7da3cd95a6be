"""What a wire dialect is to the simulator: routes, auth, its error envelope, its job view."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from dreamweb.simulator.core import Job, SimulatorCore
from dreamweb.simulator.faults import OUTCOME_FAULTS, Fault
from dreamweb.simulator.http import HttpError
from dreamweb.simulator.media import MediaLibrary


class Dialect:
    """Base class of one provider's wire format over the shared core.

    Subclasses set ``name``, ``prefixes`` (path prefixes whose unknown URLs it answers) and
    ``route_faults`` (route name -> accepted fault kinds), and implement the methods below.
    Route names are the ``endpoint`` of their werkzeug ``Rule``.
    """

    name = ""
    prefixes: tuple[str, ...] = ()
    route_faults: dict[str, frozenset[str]] = {}
    # Whether the control API's "expire" (content expiry in the past) means anything here.
    expirable = True

    def __init__(self, core: SimulatorCore, media: MediaLibrary) -> None:
        self.core = core
        self.media = media

    def rules(self) -> list[Rule]:
        """The werkzeug rules of this dialect (``endpoint`` = route name)."""
        raise NotImplementedError

    def authenticate(self, route: str, request: Request) -> None:
        """Raise the dialect's 401 unless the request is authorised (and keys are required)."""

    def handle(
        self, route: str, request: Request, args: dict[str, Any], fault: Fault | None
    ) -> Response:
        """Answer one call of ``route``; ``fault`` is the (non-answering) fault taken, if any."""
        raise NotImplementedError

    def fault_error(self, fault: Fault) -> HttpError:
        """The error an answering fault (429, quota, 500, 503, 401, 402) sends."""
        raise NotImplementedError

    def not_found(self, method: str, path: str) -> HttpError:
        """The answer to an unknown path (or method) under this dialect's prefixes."""
        raise NotImplementedError

    def describe(self, job: Job) -> dict[str, Any]:
        """The job as this dialect's API shows it (the control API answers this)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget per-dialect state beyond the core's jobs (the simulator's reset calls it)."""


def outcome_of(fault: Fault | None) -> str | None:
    """The planned outcome an outcome fault imposes on the job a create starts, if any."""
    return fault.kind if fault is not None and fault.kind in OUTCOME_FAULTS else None
