"""The HTML blueprint: the dream form, a page per dream, its polling fragment and the history.

Views stay thin: they validate input, call ``dreamweb.jobs`` (the same domain code as the JSON
API, never the API over HTTP) and render templates. Every page works without JavaScript; htmx
only makes it smoother:

* the form posts with ``hx-post``; errors come back as the re-rendered form fragment (with the
  honest 4xx/5xx status: ``templates/base.html`` configures htmx to swap those), success as an
  ``HX-Redirect`` to the dream page. Without JavaScript the same form posts normally: 303 to the
  dream page, or the whole form page again with the errors.
* the status fragment polls itself while the job runs and renders without a trigger once it is
  final, so polling stops by itself. Without JavaScript a ``<noscript>`` meta refresh reloads the
  dream page instead.

The history ("Your dreams") is the list of job ids this browser created, kept in the signed
session cookie. Only ids in that list are listed or deletable here; a dream page itself stays
reachable by its link so that it can be shared and bookmarked.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import TooManyRequests

from dreamweb.delivery import video_response, video_url
from dreamweb.delivery.ranges import send_stored_object
from dreamweb.error_handlers import FRIENDLY_TITLES, error_response
from dreamweb.errors import (
    ConflictError,
    DreamwebError,
    InputRejectedError,
    NotFoundError,
    ObjectNotFoundError,
    RateLimitedError,
    StorageError,
    ValidationError,
)
from dreamweb.extensions import create_limit, limiter
from dreamweb.jobs import Job
from dreamweb.providers.base import COMPLETED, FAILED
from dreamweb.services import services
from dreamweb.storage.layout import is_job_id, thumbnail_key
from dreamweb.validators import (
    PROMPT_MAX,
    PROMPT_MIN,
    sanitize_prompt,
    validate_choice,
    validate_prompt,
)

logger = logging.getLogger("dreamweb.web")

bp = Blueprint("web", __name__)

# The history lives in the signed session cookie (HISTORY_SIZE, at most 100 ids: ~2.8 KB).
HISTORY_SESSION_KEY = "dreams"
# The form carries a random nonce so that a double submit without JavaScript (where nothing
# disables the button) replays the first job instead of paying for a second one.
FORM_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
STAGE_LABELS = {"queued": "Queued", "rendering": "Rendering", "storing": "Saving your video"}
FAILURE_EXPLANATIONS = {
    "moderation_blocked": (
        "The video model declined this dream because it may break its content rules. "
        "Try describing it differently."
    ),
    "expired": (
        "The finished video expired at the provider before we could save it. "
        "Nothing is wrong with your dream: please try again."
    ),
    "provider_lost": "The dream machine lost track of this video. Please try again.",
    "submit_failed": (
        "The dream machine did not accept the request in time. It may be busy: "
        "please try again in a moment."
    ),
    "submit_unconfirmed": (
        "The dream machine did not confirm that it started this dream. "
        "Please try again in a moment."
    ),
    "store_failed": (
        "Your video was made, but we could not save it. Please try again in a moment."
    ),
}
ALREADY_STARTING = (
    "This dream is already being started: it will appear under Your dreams in a moment."
)
TROUBLE_NOTICE = "We're having trouble reaching the dream machine right now; still trying…"
RETRY_ANOTHER_TIME = "Please wait a moment and try again."


@dataclass
class DreamForm:
    """What the dream form shows: the values as typed, and what is wrong with them."""

    prompt: str
    seconds: str
    size: str
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # a problem with the whole submission (busy, rate limited…)


@dataclass(frozen=True)
class Choice:
    """One option of a radio group."""

    value: str
    label: str
    detail: str


# --- helpers ----------------------------------------------------------------------------------


def is_htmx_request() -> bool:
    """Whether htmx sent this request (it wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def orientation(size: str) -> str:
    """``landscape``, ``portrait`` or ``square`` for a ``WIDTHxHEIGHT`` size."""
    width, height = (int(part) for part in size.split("x", 1))
    if width > height:
        return "landscape"
    return "portrait" if height > width else "square"


def size_choices() -> list[Choice]:
    """The allowed sizes as orientation choices."""
    return [
        Choice(size, orientation(size).capitalize(), size.replace("x", "×"))
        for size in current_app.config["VIDEO_ALLOWED_SIZES"]
    ]


def seconds_choices() -> list[Choice]:
    """The allowed lengths as choices."""
    return [
        Choice(seconds, f"{seconds} seconds", "")
        for seconds in current_app.config["VIDEO_ALLOWED_SECONDS"]
    ]


def checked_job_id(value: str) -> str:
    """``value`` if it is a job id; otherwise the dream simply does not exist (404)."""
    if not is_job_id(value):
        raise NotFoundError("There is no dream at this address.")
    return value


def history_ids() -> list[str]:
    """The job ids this browser created, newest first."""
    ids = session.get(HISTORY_SESSION_KEY)
    if not isinstance(ids, list):
        return []
    return [job_id for job_id in ids if is_job_id(job_id)]


def remember(job_id: str) -> None:
    """Put ``job_id`` first in this browser's history, keeping at most ``HISTORY_SIZE``."""
    ids = [job_id, *(known for known in history_ids() if known != job_id)]
    session[HISTORY_SESSION_KEY] = ids[: current_app.config["HISTORY_SIZE"]]
    session.permanent = True  # the history should outlive a browser restart


def forget(job_id: str) -> None:
    """Drop ``job_id`` from this browser's history."""
    session[HISTORY_SESSION_KEY] = [known for known in history_ids() if known != job_id]


def owns(job_id: str) -> bool:
    """Whether this browser created ``job_id``."""
    return job_id in history_ids()


def history_jobs() -> list[Job]:
    """This browser's dreams as stored (no provider calls), dropping ones that are gone."""
    jobs = services().jobs
    found: list[Job] = []
    missing: list[str] = []
    for job_id in history_ids():
        try:
            found.append(jobs.get(job_id))
        except NotFoundError:
            missing.append(job_id)  # deleted elsewhere or swept: nothing left to show
    for job_id in missing:
        forget(job_id)
    return found


def form_from_query() -> DreamForm:
    """A fresh form, pre-filled from ``?prompt=&seconds=&size=`` ("dream again")."""
    config = current_app.config
    seconds = request.args.get("seconds", "")
    size = request.args.get("size", "")
    return DreamForm(
        prompt=request.args.get("prompt", "")[: PROMPT_MAX * 2],
        seconds=seconds if seconds in config["VIDEO_ALLOWED_SECONDS"] else config["VIDEO_SECONDS"],
        size=size if size in config["VIDEO_ALLOWED_SIZES"] else config["VIDEO_SIZE"],
    )


def form_from_post() -> DreamForm:
    """The posted form as typed (for showing it again); nothing validated yet."""
    config = current_app.config
    nonce = request.form.get("nonce", "")
    form = DreamForm(
        prompt=request.form.get("prompt", "")[: PROMPT_MAX * 4],
        seconds=request.form.get("seconds", config["VIDEO_SECONDS"]),
        size=request.form.get("size", config["VIDEO_SIZE"]),
    )
    if FORM_NONCE.fullmatch(nonce):
        form.nonce = nonce
    return form


def prompt_problem(raw: str, error: ValidationError) -> str:
    """A human sentence for an invalid prompt."""
    length = len(sanitize_prompt(raw))
    if length == 0:
        return "Tell us your dream first."
    if length < PROMPT_MIN:
        return f"Your dream needs at least {PROMPT_MIN} characters (it has {length})."
    if length > PROMPT_MAX:
        return f"Your dream can have at most {PROMPT_MAX} characters (it has {length})."
    return error.public_message


def validate_form(form: DreamForm) -> dict[str, str] | None:
    """The cleaned ``prompt``/``seconds``/``size``, or ``None`` with ``form.errors`` filled."""
    config = current_app.config
    cleaned: dict[str, str] = {}
    try:
        cleaned["prompt"] = validate_prompt(form.prompt)
    except ValidationError as error:
        form.errors["prompt"] = prompt_problem(form.prompt, error)
    try:
        cleaned["seconds"] = validate_choice(
            "seconds", form.seconds, config["VIDEO_ALLOWED_SECONDS"], config["VIDEO_SECONDS"]
        )
    except ValidationError:
        form.errors["seconds"] = "Choose one of the lengths shown."
    try:
        cleaned["size"] = validate_choice(
            "size", form.size, config["VIDEO_ALLOWED_SIZES"], config["VIDEO_SIZE"]
        )
    except ValidationError:
        form.errors["size"] = "Choose one of the orientations shown."
    return None if form.errors else cleaned


def idempotency_key(form: DreamForm, cleaned: dict[str, str]) -> str:
    """The create's Idempotency-Key: the form's nonce plus a digest of what it asks for.

    The digest makes an edited resubmission of the same form page (back button, change the
    text, submit) a new dream instead of a conflicting reuse of the key.
    """
    request_text = "\0".join((cleaned["prompt"], cleaned["seconds"], cleaned["size"]))
    digest = hashlib.sha256(request_text.encode()).hexdigest()[:16]
    return f"web-{form.nonce}-{digest}"


def form_page_context(form: DreamForm) -> dict[str, Any]:
    """Everything ``_form.html`` needs."""
    return {
        "form": form,
        "size_choices": size_choices(),
        "seconds_choices": seconds_choices(),
        "prompt_min": PROMPT_MIN,
        "prompt_max": PROMPT_MAX,
        "prompt_length": len(sanitize_prompt(form.prompt)),
    }


def render_form(form: DreamForm, status: int, *, retry_after: float | None = None) -> Response:
    """The form again with its errors: the fragment for htmx, the whole page otherwise."""
    context = form_page_context(form)
    if is_htmx_request():
        body = render_template("_form.html", **context)
    else:
        body = render_template("index.html", history=history_jobs(), **context)
    response = make_response(body, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response


def submission_failed(message: str, status: int, *, retry_after: float | None = None) -> Response:
    """A create that could not start (busy, rate limited, provider trouble).

    htmx gets the form back with the message (what was typed stays in place); without
    JavaScript the friendly error page answers, with a "try again" link that keeps the prompt.
    """
    form = form_from_post()
    if is_htmx_request():
        form.problem = message
        return render_form(form, status, retry_after=retry_after)
    retry_url = url_for("web.index", prompt=form.prompt, seconds=form.seconds, size=form.size)
    body = render_template(
        "error.html",
        status=status,
        title=FRIENDLY_TITLES.get(status, "Something went wrong"),
        message=message,
        retry_url=retry_url,
    )
    response = make_response(body, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response


def current_job(job_id: str) -> tuple[Job | None, str | None]:
    """The job advanced from the provider when due, and a notice when that was not possible.

    A hiccup at the provider or the store must not end the polling: the last stored state is
    shown with a notice and the fragment keeps its trigger. ``None`` means even the stored
    state could not be read right now.
    """
    jobs = services().jobs
    try:
        return jobs.refresh(job_id), None
    except NotFoundError:
        raise
    except DreamwebError as error:
        logger.warning("status refresh failed", extra={"job_id": job_id, "error": str(error)})
    try:
        return jobs.get(job_id), TROUBLE_NOTICE
    except NotFoundError:
        raise
    except StorageError:
        return None, TROUBLE_NOTICE


def failure_explanation(job: Job) -> str:
    """Why a failed dream failed, in words a person can act on."""
    return FAILURE_EXPLANATIONS.get(job.error_code or "", job.error or "Something went wrong.")


def status_context(job_id: str, job: Job | None, notice: str | None) -> dict[str, Any]:
    """Everything ``_status.html`` needs."""
    context: dict[str, Any] = {
        "job_id": job_id,
        "job": job,
        "notice": notice,
        "poll_seconds": current_app.config["POLL_INTERVAL_SECONDS"],
        "running": job is None or not job.is_final,
    }
    if job is None:
        return context
    context["stage_label"] = STAGE_LABELS.get(job.stage or "", "Working on it")
    context["again_url"] = url_for(
        "web.index", prompt=job.prompt, seconds=job.seconds, size=job.size
    )
    context["orientation"] = orientation(job.size)
    if job.status == COMPLETED:
        width, height = job.size.split("x", 1)
        context.update(
            video_src=video_url(job.id, inline=True),
            video_width=width,
            video_height=height,
            poster_src=url_for("web.dream_thumbnail", job_id=job.id) if job.thumbnail else None,
            download_url=url_for("api.get_video", job_id=job.id),
        )
    elif job.status == FAILED:
        context["explanation"] = failure_explanation(job)
    return context


def no_store(response: Response) -> Response:
    """Mark a response as changing with every poll: no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response


# --- views ------------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    """The dream form and this browser's dreams."""
    return render_template(
        "index.html", history=history_jobs(), **form_page_context(form_from_query())
    )


@bp.post("/dreams")
@create_limit
def create_dream() -> Response:
    """Start a dream: 303 to its page (``HX-Redirect`` for htmx), or the form with errors."""
    form = form_from_post()
    cleaned = validate_form(form)
    if cleaned is None:
        return render_form(form, 422)
    try:
        job, _replayed = services().jobs.create(
            cleaned["prompt"],
            seconds=cleaned["seconds"],
            size=cleaned["size"],
            idempotency_key=idempotency_key(form, cleaned),
            client=request.remote_addr or "",
        )
    except (ValidationError, InputRejectedError) as error:
        form.errors["prompt"] = error.public_message
        return render_form(form, 422 if isinstance(error, ValidationError) else error.status)
    except ConflictError as error:
        # A double submit racing the first: that one goes on and lands in the history.
        return submission_failed(ALREADY_STARTING, error.status, retry_after=error.retry_after)
    except DreamwebError as error:
        retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
        return submission_failed(error.public_message, error.status, retry_after=retry_after)
    remember(job.id)
    location = url_for("web.dream", job_id=job.id)
    if is_htmx_request():
        # htmx would follow a 303 inside its XHR and swap the whole page into the form.
        response = make_response("", 201)
        response.headers["HX-Redirect"] = location
        response.headers["Location"] = location
        return response
    return redirect(location, code=303)


@bp.get("/dreams/<job_id>")
def dream(job_id: str) -> Response:
    """One dream's page: the prompt as typed and its status (shareable by link)."""
    job_id = checked_job_id(job_id)
    job, notice = current_job(job_id)
    if job is None:
        raise StorageError("The dream machine's storage is not answering; try again shortly.")
    body = render_template("dream.html", owned=owns(job_id), **status_context(job_id, job, notice))
    return no_store(make_response(body))


@bp.get("/dreams/<job_id>/status")
def dream_status(job_id: str) -> Response:
    """The status fragment htmx polls; it carries its own trigger only while the job runs."""
    job_id = checked_job_id(job_id)
    job, notice = current_job(job_id)
    body = render_template("_status.html", **status_context(job_id, job, notice))
    return no_store(make_response(body))


@bp.route("/dreams/<job_id>/video", methods=["GET", "HEAD"])
def dream_video(job_id: str) -> Response:
    """The stored video for the ``<video>`` element: inline and range-served.

    In signed-url mode it redirects each request to a freshly signed URL, so a page left open
    longer than a signature lives can still seek and replay.
    """
    job_id = checked_job_id(job_id)
    try:
        return video_response(job_id, inline=True)
    except ObjectNotFoundError:
        raise NotFoundError("This dream has no video (yet).") from None


@bp.get("/dreams/<job_id>/thumbnail")
def dream_thumbnail(job_id: str) -> Response:
    """The stored poster image of a dream."""
    job_id = checked_job_id(job_id)
    try:
        return send_stored_object(
            services().store,
            thumbnail_key(job_id),
            download_name=f"dream-{job_id}.webp",
            as_attachment=False,
        )
    except ObjectNotFoundError:
        raise NotFoundError("This dream has no picture.") from None


@bp.post("/dreams/<job_id>/delete")
def delete_dream(job_id: str) -> Response:
    """Delete one of this browser's dreams: stored video, record and the provider's copy."""
    job_id = checked_job_id(job_id)
    if not owns(job_id):
        # Not this browser's dream: as far as it is concerned, there is nothing here.
        raise NotFoundError("There is no dream of yours at this address.")
    with contextlib.suppress(NotFoundError):  # already gone: the history entry goes too
        services().jobs.delete(job_id)
    forget(job_id)
    flash("Your dream was deleted.")
    return redirect(url_for("web.index", _anchor="history"), code=303)


# --- errors that should keep the typed dream --------------------------------------------------


@bp.errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> Response:
    """A form without a valid CSRF token: the form page (expired?) or a plain 400."""
    message = "This form expired. Please send it again."
    if request.endpoint == "web.create_dream":
        form = form_from_post()
        form.problem = message
        return render_form(form, 400)
    return error_response(f"{message} (Go back and reload the page first.)", 400)


@bp.errorhandler(TooManyRequests)
def too_many_requests(error: TooManyRequests) -> Response:
    """The create rate limit: slow down, keeping what was typed."""
    message = (
        "You have started several dreams in a short time. "
        f"{RETRY_ANOTHER_TIME} (Limit: {error.description})"
    )
    # The limiter sends no headers of its own: Retry-After comes from the breached window.
    breached = limiter.current_limit
    retry_after = breached.reset_at - time.time() if breached else 60.0
    if request.endpoint == "web.create_dream":
        return submission_failed(message, 429, retry_after=retry_after)
    return error_response(message, 429, retry_after=retry_after)
