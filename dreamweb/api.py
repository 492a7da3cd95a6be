"""The JSON API blueprint (``/api``): thin views over ``dreamweb.jobs``.

Every response here is JSON (errors included: ``dreamweb.error_handlers``). Job ids are taken
with the ``path`` converter so that ``..``, ``%2F`` and friends reach the validator and get a
400 instead of slipping past routing.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from dreamweb.api_clients import api_client
from dreamweb.delivery import video_response, video_url
from dreamweb.errors import NotFoundError, ObjectNotFoundError, UnsupportedMediaTypeError
from dreamweb.extensions import create_limit
from dreamweb.jobs import COMPLETED, FAILED, Job, iso
from dreamweb.services import services
from dreamweb.urls import external_url
from dreamweb.validators import (
    parse_create_request,
    validate_idempotency_key,
    validate_job_id,
)

bp = Blueprint("api", __name__, url_prefix="/api")

PROVIDER_PAUSED_NOTICE = (
    "The video provider is not answering right now: this is the last known status, "
    "checked again as soon as the provider recovers."
)


@bp.post("/create-video")
@create_limit
def create_video() -> tuple[Response, int, dict[str, str]]:
    """Validate a dream and start its generation: 202 with a ``Location`` to poll."""
    config = current_app.config
    caller = api_client()  # 401 without a valid token when API_TOKENS is set
    wanted = parse_create_request(
        json_body(),
        allowed_seconds=config["VIDEO_ALLOWED_SECONDS"],
        allowed_sizes=config["VIDEO_ALLOWED_SIZES"],
        default_seconds=config["VIDEO_SECONDS"],
        default_size=config["VIDEO_SIZE"],
    )
    job, replayed = services().jobs.create(
        wanted.prompt,
        seconds=wanted.seconds,
        size=wanted.size,
        idempotency_key=validate_idempotency_key(request.headers.get("Idempotency-Key")),
        client=caller.scope,  # the token when tokens are on, else the address
        token_hash=caller.token,
    )
    headers = {"Location": external_url("api.video_status", job_id=job.id)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    payload = {"jobId": job.id, "status": job.created_status, "createdAt": iso(job.created_at)}
    return jsonify(payload), 202, headers


def json_body() -> Any:
    """The request's JSON document, or ``None`` when the body is not JSON at all.

    Only ``application/json`` is read: a cross-site page cannot send that without a CORS
    preflight, so it cannot spend a visitor's rate limit on paid generations.
    """
    if not request.is_json:
        raise UnsupportedMediaTypeError()
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is None and len(request.get_data(cache=True)) >= limit:
        # A chunked body has no length to refuse up front, and werkzeug cuts it at the limit
        # instead: a body that fills the limit was longer than allowed.
        raise RequestEntityTooLarge()
    try:
        return request.get_json(silent=True)
    except RecursionError:  # absurdly nested arrays: a client mistake, not a server fault
        return None


@bp.get("/video-status/<path:job_id>")
def video_status(job_id: str) -> Response:
    """The job's stored status in the seed's shapes, at once; the provider is asked in the
    background (at most once per TTL window), never while the client waits."""
    jobs = services().jobs
    job = jobs.status(validate_job_id(job_id))
    paused = jobs.provider_paused_for() is not None
    response = jsonify(status_payload(job, provider_paused=paused))
    response.headers["Cache-Control"] = "no-store"
    return response


def status_payload(job: Job, *, provider_paused: bool = False) -> dict[str, Any]:
    """The status document for ``job`` (pending/processing, completed or failed shape); a
    running job gets a ``notice`` while the provider is paused (its state may be behind)."""
    payload: dict[str, Any] = {"jobId": job.id, "status": job.status}
    if job.status == COMPLETED:
        payload.update(videoUrl=video_url(job.id, inline=False), completedAt=iso(job.completed_at))
    elif job.status == FAILED:
        payload["error"] = job.error
    else:
        payload.update(progress=job.progress, stage=job.stage)
        if provider_paused:
            payload["notice"] = PROVIDER_PAUSED_NOTICE
    return payload


@bp.route("/get-video/<path:job_id>", methods=["GET", "HEAD"])
def get_video(job_id: str) -> Response:
    """The stored video, range-served (or a redirect to a signed URL in signed-url mode)."""
    job_id = validate_job_id(job_id)
    try:
        return video_response(job_id, inline=False)
    except ObjectNotFoundError:
        raise NotFoundError(f"Video not found for job ID: {job_id}") from None


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(openapi_document())


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The packaged ``openapi.json``, read once per process."""
    return json.loads(resources.files("dreamweb").joinpath("openapi.json").read_text())


@bp.after_request
def options_as_json(response: Response) -> Response:
    """Flask answers OPTIONS itself with an empty HTML body; under /api everything is JSON."""
    if request.method == "OPTIONS" and not response.get_data():
        response.set_data("{}")
        response.mimetype = "application/json"
    return response


@bp.get("/health")
def health() -> Response:
    """Liveness probe for the platform's router (no upstream or storage call)."""
    return jsonify(status="ok")
