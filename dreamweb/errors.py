"""Typed errors shared by every layer.

Plain exceptions, no Flask: the domain modules raise them and ``dreamweb.error_handlers`` turns
them into ``{"error": ...}`` responses. Each class carries the HTTP status a client should see and
a ``public_message`` that is safe to show (no secrets, no upstream internals).
"""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is missing or invalid. The message names the variable, never its value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable
        self.problem = problem


class DreamwebError(Exception):
    """Base of every error a request can end with.

    ``retry_after`` is how many seconds a client should wait before trying again, when that is
    known; ``dreamweb.error_handlers.set_retry_after`` turns it into the header, for the API
    and the web pages alike.
    """

    status: int = 500
    default_message = "Internal server error"
    retry_after: float | None = None

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.public_message = message or self.default_message


class ValidationError(DreamwebError):
    """The client sent something we refuse before doing any work."""

    status = 400
    default_message = "Invalid request"


class UnsupportedMediaTypeError(DreamwebError):
    """The body is not ``application/json``."""

    status = 415
    default_message = "Invalid request: Content-Type must be application/json"


class NotFoundError(DreamwebError):
    """The thing asked for does not exist (or is not the client's to see)."""

    status = 404
    default_message = "Not found"


class ConflictError(DreamwebError):
    """The same request is already being handled; try again shortly (409, ``Retry-After``)."""

    status = 409
    default_message = "A request with this Idempotency-Key is still in progress"
    retry_after = 2


class ReplayedError(DreamwebError):
    """The first answer to an idempotent request was an error: answer it again, verbatim."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotConfiguredError(DreamwebError):
    """A feature needs configuration this deployment does not have."""

    status = 503
    default_message = "Video creation is not configured on this server"


# --- the video provider -----------------------------------------------------------------------


class ProviderError(DreamwebError):
    """The video provider failed; subclasses say how, so callers can act.

    Clients see one fixed message per class; what the provider (or our client) said about it
    is kept as ``detail`` for the logs only: upstream text may carry internals, or anything a
    gateway chooses to put there.
    """

    status = 502
    default_message = "The video provider failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        upstream_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.public_message = self.default_message
        self.detail = message
        self.upstream_status = upstream_status
        self.request_id = request_id


class RateLimitedError(ProviderError):
    """The provider asked us to slow down: ``retry_after`` is the wait it asked for, or
    ``DEFAULT_RETRY_AFTER`` seconds when it did not say."""

    status = 503
    default_message = "The video provider is busy; try again shortly"
    DEFAULT_RETRY_AFTER = 30.0

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kw: object
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = self.DEFAULT_RETRY_AFTER if retry_after is None else retry_after


class QuotaExhaustedError(ProviderError):
    """The provider account has no quota left. Retrying does not help."""

    status = 503
    default_message = "The video provider's quota is exhausted"


class InputRejectedError(ProviderError):
    """The provider refused the request's input (400); the message is the provider's own."""

    status = 400
    default_message = "The video provider rejected the request"


class AuthenticationError(ProviderError):
    """The provider rejected our credentials (401/403). Never echo the key."""

    status = 502
    default_message = "The video provider rejected this server's credentials"


class ProviderNotConfiguredError(AuthenticationError):
    """The provider refuses this deployment's setup: a missing permission, a retired model.

    Nothing was started (so a create is forgotten, never retried); clients get 503, and the
    provider logs for the operator what to grant or which model is gone.
    """

    status = 503
    default_message = "Video creation is not configured on this server"


class OutOfCreditsError(QuotaExhaustedError):
    """The provider account has no credits left (OpenRouter's 402): 503 until topped up."""

    status = 503
    default_message = "The video provider is out of credits; try again later"


class ProviderNotFoundError(ProviderError):
    """The provider does not know the job (404), e.g. deleted or expired."""

    status = 502
    default_message = "The video provider no longer has this video"


class UpstreamUnavailableError(ProviderError):
    """5xx, timeouts or connection failures that outlasted the retries."""

    status = 502
    default_message = "The video provider is unavailable"


class ProviderShedError(ProviderError):
    """dreamweb did not call the provider at all (so nothing was started): 503 with a wait."""

    status = 503
    default_message = "The video provider is busy; try again shortly"

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CircuitOpenError(ProviderShedError):
    """The provider failed several times in a row; calls pause until ``retry_after`` passes."""

    default_message = "The video provider is having trouble; try again shortly"


class ProviderBusyError(ProviderShedError):
    """This process already has as many provider calls in flight as it allows."""


class ContentTruncatedError(ProviderError):
    """A content download ended early or was cut: a short read is an error, never a short video."""

    status = 502
    default_message = "The video download was cut short"


# --- storage ----------------------------------------------------------------------------------


class StorageError(DreamwebError):
    """The video store failed. Never leaves a partial object behind."""

    status = 503
    default_message = "Video storage is unavailable"


class ObjectNotFoundError(StorageError):
    """No object under that key."""

    status = 404
    default_message = "Not found"


class PreconditionFailedError(StorageError):
    """A create-only or compare-and-set write lost to another writer."""

    status = 409
    default_message = "Another writer changed this object first"


class IntegrityError(StorageError):
    """Length or checksum of written bytes did not match what was expected."""

    default_message = "Stored bytes failed verification"


# --- spending and ownership (issue 11) --------------------------------------------------------


class BudgetExhaustedError(DreamwebError):
    """Today's video seconds (globally or for this client) are spent; no provider call is made.

    ``retry_after`` is the number of seconds until 00:00 UTC, when the budget starts again.
    """

    status = 503
    code = "budget_exhausted"
    default_message = "Today's video budget is used up; try again after 00:00 UTC"

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after = retry_after


class UnauthorizedError(DreamwebError):
    """API tokens are on and the request carries no valid ``Authorization: Bearer`` token."""

    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="dreamweb"'}
    default_message = "A valid API token is required: send Authorization: Bearer <token>"


class VideoTooLargeError(DreamwebError):
    """The provider's video is larger than ``MAX_VIDEO_BYTES``: the copy-in stops there."""

    status = 502
    code = "video_too_large"
    default_message = "The finished video is larger than this server accepts"
