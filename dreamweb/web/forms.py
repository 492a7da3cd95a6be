"""The dream form: what a person types and picks, checked by the same prompt rule as the API.

A ``FlaskForm`` without its own CSRF field: ``CSRFProtect`` (``dreamweb.extensions``) already
refuses every POST without a valid token before a view runs, and the template sends the token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import StopValidation

from dreamweb.errors import ValidationError
from dreamweb.validators import (
    PROMPT_MAX,
    PROMPT_MIN,
    sanitize_prompt,
    validate_choice,
    validate_prompt,
)
from dreamweb.web.status import orientation

# The form carries a random nonce so that a double submit without JavaScript (where nothing
# disables the button) replays the first job instead of paying for a second one.
FORM_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Choice:
    """One option of a radio group."""

    value: str
    label: str
    detail: str


def prompt_problem(raw: str, error: ValidationError) -> str:
    """A human sentence for an invalid prompt, counting its real (sanitized) length."""
    length = len(sanitize_prompt(raw))
    if length == 0:
        return "Tell us your dream first."
    if length < PROMPT_MIN:
        return f"Your dream needs at least {PROMPT_MIN} characters (it has {length})."
    if length > PROMPT_MAX:
        return f"Your dream can have at most {PROMPT_MAX} characters (it has {length})."
    return error.public_message


class DreamForm(FlaskForm):
    """The values as typed, what is wrong with them, and the cleaned values once valid."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST before the view (see the module doc)

    prompt = StringField(default="")
    seconds = StringField()
    size = StringField()
    nonce = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        config = current_app.config
        kwargs.setdefault("seconds", config["VIDEO_SECONDS"])
        kwargs.setdefault("size", config["VIDEO_SIZE"])
        super().__init__(*args, **kwargs)
        if not FORM_NONCE.fullmatch(self.nonce.data or ""):
            self.nonce.data = secrets.token_urlsafe(18)
        self.problem: str | None = None  # a problem with the whole submission (busy, limited…)
        self.cleaned: dict[str, str] = {}

    def validate_prompt(self, field: StringField) -> None:
        """The one prompt rule (``dreamweb.validators``), said in words a person can act on."""
        try:
            self.cleaned["prompt"] = validate_prompt(field.data)
        except ValidationError as error:
            raise StopValidation(prompt_problem(field.data, error)) from None

    def validate_seconds(self, field: StringField) -> None:
        """One of ``VIDEO_ALLOWED_SECONDS``."""
        self.cleaned["seconds"] = self._choice(field, "VIDEO_ALLOWED_SECONDS", "lengths")

    def validate_size(self, field: StringField) -> None:
        """One of ``VIDEO_ALLOWED_SIZES``."""
        self.cleaned["size"] = self._choice(field, "VIDEO_ALLOWED_SIZES", "orientations")

    @staticmethod
    def _choice(field: StringField, allowed: str, what: str) -> str:
        try:
            return validate_choice(field.name, field.data, current_app.config[allowed], "")
        except ValidationError:
            raise StopValidation(f"Choose one of the {what} shown.") from None

    def idempotency_header_value(self) -> str:
        """The create's Idempotency-Key: the form's nonce plus a digest of what it asks for.

        The digest makes an edited resubmission of the same form page (back button, change the
        text, submit) a new dream instead of a conflicting reuse of the key.
        """
        cleaned = self.cleaned
        request_text = "\0".join((cleaned["prompt"], cleaned["seconds"], cleaned["size"]))
        digest = hashlib.sha256(request_text.encode()).hexdigest()[:16]
        return f"web-{self.nonce.data}-{digest}"

    def retry_values(self) -> dict[str, str]:
        """What was typed and picked, for a "try again" link that keeps it."""
        return {"prompt": self.prompt.data, "seconds": self.seconds.data, "size": self.size.data}


def form_from_query() -> DreamForm:
    """A fresh form, pre-filled from ``?prompt=&seconds=&size=`` ("dream again")."""
    config = current_app.config
    seconds = request.args.get("seconds", "")
    size = request.args.get("size", "")
    return DreamForm(
        formdata=None,
        prompt=request.args.get("prompt", "")[: PROMPT_MAX * 2],
        seconds=seconds if seconds in config["VIDEO_ALLOWED_SECONDS"] else config["VIDEO_SECONDS"],
        size=size if size in config["VIDEO_ALLOWED_SIZES"] else config["VIDEO_SIZE"],
    )


def form_from_post() -> DreamForm:
    """The posted form as typed (for showing it again); nothing validated yet. The prompt is
    not cut: the body is bounded by ``MAX_CONTENT_LENGTH``, and its real length is reported."""
    return DreamForm(request.form)


def form_page_context(form: DreamForm) -> dict[str, Any]:
    """Everything ``_form.html`` needs."""
    config = current_app.config
    return {
        "form": form,
        "size_choices": [
            Choice(size, orientation(size).capitalize(), size.replace("x", "×"))
            for size in config["VIDEO_ALLOWED_SIZES"]
        ],
        "seconds_choices": [
            Choice(seconds, f"{seconds} seconds", "") for seconds in config["VIDEO_ALLOWED_SECONDS"]
        ],
        "prompt_min": PROMPT_MIN,
        "prompt_max": PROMPT_MAX,
        "prompt_length": len(sanitize_prompt(form.prompt.data)),
    }
