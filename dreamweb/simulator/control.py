"""The control API under ``/_sim`` (no key needed): faults, counters, config, job shortcuts.

Routes: ``GET /_sim/health``, ``GET /_sim/counters``, ``POST /_sim/reset``, ``GET|POST
/_sim/faults``, ``GET|POST /_sim/config``, ``GET /_sim/jobs/<id>``, ``POST
/_sim/jobs/<id>/complete``, ``POST /_sim/jobs/<id>/expire`` (``<id>`` may be a Vertex
operation's full name), ``POST /_sim/service-accounts`` (trust a service account's key for
the OAuth2 token endpoint) and ``GET /_sim/webhooks`` (OpenRouter deliveries made so far).
Errors use OpenAI's envelope: 400 ``invalid_control_request``, 404 for unknown jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from dreamweb.simulator import openai_envelopes as envelopes
from dreamweb.simulator.core import UnknownVideoError
from dreamweb.simulator.http import json_response, read_json_object
from dreamweb.simulator.openai_envelopes import ApiError

if TYPE_CHECKING:
    from dreamweb.simulator.app import VideoSimulator


def control_rules() -> list[Rule]:
    """The ``/_sim`` rules; their endpoints start with ``_sim.``."""
    return [
        Rule("/_sim/health", methods=["GET"], endpoint="_sim.health"),
        Rule("/_sim/counters", methods=["GET"], endpoint="_sim.counters"),
        Rule("/_sim/reset", methods=["POST"], endpoint="_sim.reset"),
        Rule("/_sim/faults", methods=["GET"], endpoint="_sim.faults"),
        Rule("/_sim/faults", methods=["POST"], endpoint="_sim.inject"),
        Rule("/_sim/config", methods=["GET"], endpoint="_sim.settings"),
        Rule("/_sim/config", methods=["POST"], endpoint="_sim.configure"),
        Rule("/_sim/jobs/<path:job_id>/complete", methods=["POST"], endpoint="_sim.complete"),
        Rule("/_sim/jobs/<path:job_id>/expire", methods=["POST"], endpoint="_sim.expire"),
        Rule("/_sim/jobs/<path:job_id>", methods=["GET"], endpoint="_sim.job"),
        Rule("/_sim/service-accounts", methods=["POST"], endpoint="_sim.trust"),
        Rule("/_sim/webhooks", methods=["GET"], endpoint="_sim.webhooks"),
    ]


def handle_control(
    simulator: VideoSimulator, route: str, request: Request, args: dict[str, Any]
) -> Response:
    """Answer one control call; ``ValueError`` becomes a 400, an unknown job a 404."""
    try:
        return json_response(_answer(simulator, route, request, args))
    except UnknownVideoError as error:
        raise envelopes.video_not_found(str(error.args[0])) from None
    except ValueError as error:
        raise ApiError(400, str(error), code="invalid_control_request") from None


def _answer(simulator: VideoSimulator, route: str, request: Request, args: dict[str, Any]):
    action = route.removeprefix("_sim.")
    if action in ("complete", "expire", "job"):
        return getattr(simulator, action)(args["job_id"])
    if action == "health":
        return {"status": "ok"}
    if action == "reset":
        simulator.reset()
        return {"reset": True}
    if action == "faults":
        return {"faults": simulator.pending_faults()}
    if action == "webhooks":
        return {"deliveries": simulator.webhook_deliveries()}
    if action in ("counters", "settings"):
        return getattr(simulator, action)()
    body = read_json_object(request, envelopes.unparsable_json)
    if action == "inject":
        options = {k: v for k, v in body.items() if k not in ("route", "fault")}
        return simulator.inject(body.get("route"), body.get("fault"), **options)  # type: ignore[arg-type]
    if action == "trust":
        return {"trusted": simulator.trust_service_account(body)}
    return simulator.configure(**body)
