"""Faults the simulator can inject into its next calls of a route, and their validation.

Three families, each dialect declaring which of its routes accept which kind:

- answering faults (``429``, ``quota``, ``500``, ``503``, ``401``, ``402``): an error envelope in
  place of the real handler; the request is never processed, so a faulted create starts no job;
- transport faults (``hang``, ``drop``, ``truncate``): the request is processed (a create does
  start a job) but the answer stalls or arrives short;
- outcome faults (``operation_error``, ``filtered``, ``failed``, ``cancelled``, ``expired``),
  create routes only: the job the call starts ends that way instead of completing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

ANSWERING_FAULTS = frozenset({"429", "quota", "500", "503", "401", "402"})
TRANSPORT_FAULTS = frozenset({"hang", "drop", "truncate"})
OUTCOME_FAULTS = frozenset({"operation_error", "filtered", "failed", "cancelled", "expired"})
# What every route of every dialect accepts.
COMMON_FAULTS = frozenset({"429", "500", "503"}) | TRANSPORT_FAULTS


@dataclass
class Fault:
    """One pending fault: ``kind`` for the next ``remaining`` calls of its route.

    ``after_bytes`` is how much body ``drop``/``truncate`` let through, ``retry_after`` (seconds)
    feeds the ``429`` headers, ``hang_seconds`` is how long ``hang`` stalls.
    """

    route: str
    kind: str
    remaining: int = 1
    after_bytes: int = 0
    retry_after: float = 1.0
    hang_seconds: float = 10.0

    def describe(self) -> dict[str, object]:
        """A JSON-ready view (``count`` is what is left)."""
        view = asdict(self)
        view["fault"] = view.pop("kind")
        view["count"] = view.pop("remaining")
        return view


_NUMERIC_OPTIONS: dict[str, type] = {
    "count": int,
    "after_bytes": int,
    "retry_after": float,
    "hang_seconds": float,
}


def build_fault(
    route: object,
    kind: object,
    options: Mapping[str, object],
    accepted: Mapping[str, frozenset[str]],
) -> Fault:
    """Validate a fault request (from Python or ``POST /_sim/faults``) into a ``Fault``.

    ``accepted`` maps each route to the fault kinds it takes. Raises ``ValueError`` naming the
    offending field.
    """
    if route not in accepted:
        raise ValueError(f"route must be one of {', '.join(accepted)}; got {route!r}")
    # Accept 429/500/401 as numbers too: {"fault": 429} is an easy mistake to forgive.
    kind = str(kind) if isinstance(kind, int) and not isinstance(kind, bool) else kind
    kinds = accepted[str(route)]
    if kind not in kinds:
        raise ValueError(
            f"fault must be one of {', '.join(sorted(kinds))} for route {route}; got {kind!r}"
        )
    unknown = set(options) - set(_NUMERIC_OPTIONS)
    if unknown:
        raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
    values: dict[str, int | float] = {}
    for name, value in options.items():
        expected = _NUMERIC_OPTIONS[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number; got {value!r}")
        if expected is int and value != int(value):
            raise ValueError(f"{name} must be a whole number; got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must not be negative; got {value!r}")
        values[name] = expected(value)
    count = int(values.pop("count", 1))
    if count < 1:
        raise ValueError("count must be at least 1")
    return Fault(route=str(route), kind=str(kind), remaining=count, **values)  # type: ignore[arg-type]
