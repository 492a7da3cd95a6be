"""The OpenAPI 3.1 document of the JSON API: ``openapi.json`` plus the parts code defines.

``openapi.json`` (packaged) holds the paths, responses and shapes. What the running server
decides is filled in here from its one definition, so the document cannot drift from it: the
job id pattern (``storage.layout``), the prompt lengths (``validators``), the allowed seconds
and sizes (the configuration's ``VIDEO_ALLOWED_*``, which provider capabilities feed) and the
error codes (``error_codes``, and ``FailureCode`` for a failed job's ``errorCode``).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from dreamweb.error_codes import http_codes
from dreamweb.jobs.model import failure_api_codes
from dreamweb.storage.layout import JOB_ID_MAX, JOB_ID_MIN, JOB_ID_PATTERN
from dreamweb.validators import CALLBACK_URL_MAX, PROMPT_MAX, PROMPT_MIN, prompt_pattern


@functools.cache
def _packaged_document() -> dict[str, Any]:
    """The packaged ``openapi.json``, read once per process."""
    return json.loads(resources.files("dreamweb").joinpath("openapi.json").read_text())


def openapi_document(config: Mapping[str, Any]) -> dict[str, Any]:
    """The complete document for a server configured with ``config``."""
    document = copy.deepcopy(_packaged_document())
    schemas = document["components"]["schemas"]
    schemas["JobId"].update(
        pattern=JOB_ID_PATTERN.pattern, minLength=JOB_ID_MIN, maxLength=JOB_ID_MAX
    )
    schemas["ErrorCode"]["enum"] = http_codes()
    schemas["JobErrorCode"]["enum"] = failure_api_codes()
    request = schemas["CreateVideoRequest"]["properties"]
    request["prompt"].update(minLength=PROMPT_MIN, maxLength=PROMPT_MAX, pattern=prompt_pattern())
    seconds = list(config["VIDEO_ALLOWED_SECONDS"])
    # Whole numbers are accepted for seconds as well as their strings ("8" and 8).
    request["seconds"].update(
        enum=seconds + [int(value) for value in seconds], default=config["VIDEO_SECONDS"]
    )
    request["size"].update(enum=list(config["VIDEO_ALLOWED_SIZES"]), default=config["VIDEO_SIZE"])
    request["callbackUrl"]["maxLength"] = CALLBACK_URL_MAX
    return document
