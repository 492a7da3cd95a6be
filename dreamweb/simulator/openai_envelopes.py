"""OpenAI-style error envelopes: ``{"error": {"message", "type", "param", "code"}}``.

Messages copy the wording of OpenAI's API where it is known (see
``/work/shared/reference/videos-api.md``) because clients and their tests match on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dreamweb.simulator.http import HttpError


class ApiError(HttpError):
    """An error answer in OpenAI's envelope: HTTP status, the envelope fields, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.type = type
        self.param = param
        self.code = code

    def envelope(self) -> dict[str, dict[str, str | None]]:
        """The JSON body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def quoted_list(values: Sequence[str], conjunction: str) -> str:
    """``'4', '8', and '12'`` (or ``'a' and 'b'``, ``'a'``), as OpenAI's messages write lists."""
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} {conjunction} {quoted[1]}"
    return f"{', '.join(quoted[:-1])}, {conjunction} {quoted[-1]}"


def json_type_name(value: object) -> str:
    """How OpenAI's validator names a JSON value's type (``an integer``, ``a boolean``, ...)."""
    # bool before int: True is an int in Python but a boolean in JSON.
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def invalid_value(param: str, value: str, allowed: Sequence[str]) -> ApiError:
    """400 for a value outside an enum: ``Invalid value: '15'. Supported values are: ...``."""
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {quoted_list(allowed, 'and')}.",
        param=param,
        code="invalid_value",
    )


def invalid_enum_type(param: str, value: object, allowed: Sequence[str]) -> ApiError:
    """400 for a non-string enum field: ``Invalid type for 'seconds': expected one of ...``."""
    return ApiError(
        400,
        f"Invalid type for '{param}': expected one of {quoted_list(allowed, 'or')}, "
        f"but got {json_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_type(param: str, value: object, expected: str) -> ApiError:
    """400 for a field of the wrong JSON type: ``Invalid type for 'prompt': expected a string``."""
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, "
        f"but got {json_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def unknown_parameter(param: str) -> ApiError:
    """400 ``Unknown parameter: 'width'.``."""
    return ApiError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def missing_parameter(param: str) -> ApiError:
    """400 ``Missing required parameter: 'prompt'.``."""
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def unparsable_json() -> ApiError:
    """400 for a body that claims to be JSON but is not (OpenAI's wording, shortened)."""
    return ApiError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
        "sent was not valid JSON.)",
    )


def video_not_found(video_id: str) -> ApiError:
    """404 for an id that never existed or was deleted."""
    return ApiError(
        404, f"Video with id '{video_id}' not found.", param="video_id", code="video_not_found"
    )


def invalid_url(method: str, path: str) -> ApiError:
    """404 for a path (or method) the API does not serve, worded like OpenAI's."""
    return ApiError(404, f"Invalid URL ({method} {path})")


def missing_api_key() -> ApiError:
    """401 when no ``Authorization: Bearer <key>`` header came."""
    return ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    )


def incorrect_api_key() -> ApiError:
    """401 for a key the server rejects (the simulator's ``401`` fault). Never echoes the key."""
    return ApiError(
        401,
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def rate_limited(retry_after: float) -> ApiError:
    """429 ``Rate limit reached for requests`` with OpenAI's retry and rate-limit headers."""
    return ApiError(
        429,
        f"Rate limit reached for requests. Please try again in {_seconds_text(retry_after)}.",
        type="requests",
        code="rate_limit_exceeded",
        headers={
            "retry-after": _seconds_text(retry_after).removesuffix("s"),
            "retry-after-ms": str(round(retry_after * 1000)),
            "x-ratelimit-limit-requests": "5",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": ratelimit_duration(retry_after),
        },
    )


def quota_exhausted() -> ApiError:
    """429 ``insufficient_quota``: a billing problem, which clients must not retry."""
    return ApiError(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


def server_error() -> ApiError:
    """500 in OpenAI's wording."""
    return ApiError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )


def _seconds_text(seconds: float) -> str:
    """``1.5s``, ``2s``: a number of seconds without a useless ``.0``."""
    return f"{seconds:g}s"


def ratelimit_duration(seconds: float) -> str:
    """A duration in OpenAI's ``x-ratelimit-reset-*`` style: ``120ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    if minutes:
        return f"{int(minutes)}m{rest:g}s"
    return f"{rest:g}s"


def service_unavailable() -> ApiError:
    """503 in OpenAI's wording for an overloaded engine."""
    return ApiError(
        503,
        "The engine is currently overloaded, please try again later.",
        type="server_error",
    )
