"""The HTML blueprint's routes: the dream form, a page per dream, its polling fragment, the
history's delete, and the errors that should keep the typed dream.

Views stay thin: they take the form (``forms``), call ``dreamweb.jobs`` (the same domain code as
the JSON API, never the API over HTTP) and render templates. Every page works without
JavaScript; htmx only makes it smoother:

* the form posts with ``hx-post``; errors come back as the re-rendered form fragment (with the
  honest 4xx/5xx status: ``templates/base.html`` configures htmx to swap those), success as an
  ``HX-Redirect`` to the dream page. Without JavaScript the same form posts normally: 303 to the
  dream page, or the whole form page again with the errors.
* the status fragment polls itself while the job runs and renders without a trigger once it is
  final, so polling stops by itself. Without JavaScript a ``<noscript>`` meta refresh reloads the
  dream page instead.
"""

from __future__ import annotations

import contextlib

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import TooManyRequests

from dreamweb.budget import budget_spent_text
from dreamweb.delivery import video_response
from dreamweb.delivery.ranges import send_stored_object
from dreamweb.error_handlers import error_page, error_response, set_retry_after
from dreamweb.errors import (
    BudgetExhaustedError,
    ConflictError,
    DreamwebError,
    InputRejectedError,
    NotFoundError,
    ObjectNotFoundError,
    StorageError,
    ValidationError,
)
from dreamweb.extensions import create_limit, rate_limit_retry_after
from dreamweb.services import services
from dreamweb.storage.layout import is_job_id, thumbnail_key
from dreamweb.web.forms import DreamForm, form_from_post, form_from_query, form_page_context
from dreamweb.web.history import forget, history_entries, owns, remember
from dreamweb.web.status import current_job, status_context

bp = Blueprint("web", __name__)

ALREADY_STARTING = (
    "This dream is already being started: it will appear under Your dreams in a moment."
)
RETRY_ANOTHER_TIME = "Please wait a moment and try again."


def is_htmx_request() -> bool:
    """Whether htmx sent this request (it wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def checked_job_id(value: str) -> str:
    """``value`` if it is a job id; otherwise the dream simply does not exist (404)."""
    if not is_job_id(value):
        raise NotFoundError("There is no dream at this address.")
    return value


def render_form(form: DreamForm, status: int, *, retry_after: float | None = None) -> Response:
    """The form again with its errors: the fragment for htmx, the whole page otherwise."""
    context = form_page_context(form)
    if is_htmx_request():
        body = render_template("_form.html", **context)
    else:
        body = render_template("index.html", history=history_entries(), **context)
    return set_retry_after(make_response(body, status), retry_after)


def submission_failed(message: str, status: int, *, retry_after: float | None = None) -> Response:
    """A create that could not start (busy, rate limited, provider trouble).

    htmx gets the form back with the message (what was typed stays in place); without
    JavaScript the friendly error page answers, with a "try again" link that keeps the prompt.
    """
    form = form_from_post()
    if is_htmx_request():
        form.problem = message
        return render_form(form, status, retry_after=retry_after)
    retry_url = url_for("web.index", **form.retry_values())
    response = error_page(message, status, retry_url=retry_url)
    return set_retry_after(response, retry_after)


def no_store(response: Response) -> Response:
    """Mark a response as changing with every poll: no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def index() -> str:
    """The dream form and this browser's dreams."""
    return render_template(
        "index.html", history=history_entries(), **form_page_context(form_from_query())
    )


@bp.post("/dreams")
@create_limit
def create_dream() -> Response:
    """Start a dream: 303 to its page (``HX-Redirect`` for htmx), or the form with errors."""
    form = form_from_post()
    if not form.validate():
        return render_form(form, 422)
    try:
        job, _replayed = services().jobs.create(
            form.cleaned["prompt"],
            seconds=form.cleaned["seconds"],
            size=form.cleaned["size"],
            idempotency_key=form.idempotency_header_value(),
            client=request.remote_addr or "",
        )
    except (ValidationError, InputRejectedError) as error:
        form.prompt.errors = [error.public_message]
        return render_form(form, 422 if isinstance(error, ValidationError) else error.status)
    except BudgetExhaustedError as error:  # no provider call was made
        g.budget_spent = True  # error.html says "used up", not "busy, try again"
        return submission_failed(
            budget_spent_text(error.retry_after), error.status, retry_after=error.retry_after
        )
    except ConflictError as error:
        # A double submit racing the first: that one goes on and lands in the history.
        return submission_failed(ALREADY_STARTING, error.status, retry_after=error.retry_after)
    except DreamwebError as error:
        return submission_failed(error.public_message, error.status, retry_after=error.retry_after)
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
    if request.endpoint == "web.create_dream":
        return submission_failed(message, 429, retry_after=rate_limit_retry_after())
    return error_response(message, 429, retry_after=rate_limit_retry_after())
