"""Google credentials for Vertex AI: the storage service account or Application Default
Credentials, with the ``cloud-platform`` scope. google-auth refreshes the token itself and
honours a key's ``token_uri`` (tests point it at the simulator's token endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import google.auth
import google.auth.exceptions
from google.auth.credentials import Credentials
from google.oauth2 import service_account

from dreamweb.errors import ConfigError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def load_credentials(config: Mapping[str, Any]) -> tuple[Credentials, str | None]:
    """``(credentials, their project)`` from ``GCS_CREDENTIALS_JSON`` or ADC.

    ``ConfigError`` naming ``GCS_CREDENTIALS_JSON`` when the key is unreadable or no default
    credentials exist (never echoing the key).
    """
    text = config.get("GCS_CREDENTIALS_JSON")
    if text:
        try:
            info = json.loads(text)
            key = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                "GCS_CREDENTIALS_JSON", "is not a valid service-account key (JSON)"
            ) from None
        return key, key.project_id
    try:
        credentials, project = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError:
        raise ConfigError(
            "GCS_CREDENTIALS_JSON",
            "is unset and no Application Default Credentials were found (vertex-veo needs them)",
        ) from None
    return credentials, project
