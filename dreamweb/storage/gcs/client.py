"""The GCS client and its credentials, built from dreamweb config; signing URLs with them.

With ``STORAGE_EMULATOR_HOST`` the client talks to that URL anonymously (the config value, not
``os.environ``, decides). Otherwise credentials come from ``GCS_CREDENTIALS_JSON`` (a
service-account key, for hosts without files such as Heroku) or Application Default
Credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from dreamweb.errors import ConfigError, StorageError

SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
EMULATOR_PROJECT = "dreamweb-emulator"


@dataclass(frozen=True)
class Connection:
    """What a ``GCSVideoStore`` is built from: where it stores, the client, who signs URLs."""

    bucket: str
    prefix: str
    client: storage.Client
    signer: google.auth.credentials.Credentials | None
    api_access_endpoint: str | None = None


def connect(config: Mapping[str, Any]) -> Connection:
    """The client for ``STORAGE_URL`` (``gs://bucket[/prefix]``) and its signer, per the
    module docstring. Raises ``ConfigError`` for unusable credentials."""
    parts = urlsplit(config["STORAGE_URL"])
    bucket, prefix = parts.netloc, parts.path.strip("/")
    key_file = service_account_credentials(config.get("GCS_CREDENTIALS_JSON"))
    project = config.get("GCS_PROJECT")
    emulator = config.get("STORAGE_EMULATOR_HOST")
    if emulator:
        client = storage.Client(
            project=project or EMULATOR_PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emulator},
        )
        return Connection(bucket, prefix, client, key_file, api_access_endpoint=emulator)
    if key_file is not None:
        credentials, default_project = key_file, key_file.project_id
    else:
        try:
            credentials, default_project = google.auth.default(scopes=SCOPES)
        except google.auth.exceptions.DefaultCredentialsError as error:
            raise ConfigError(
                "GCS_CREDENTIALS_JSON", "is unset and no default credentials were found"
            ) from error
    client = storage.Client(project=project or default_project, credentials=credentials)
    return Connection(bucket, prefix, client, credentials)


def service_account_credentials(text: str | None) -> service_account.Credentials | None:
    """Service-account credentials from the JSON text of a key (never echoed in errors)."""
    if not text:
        return None
    try:
        info = json.loads(text)
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            "GCS_CREDENTIALS_JSON", "is not a valid service-account key (JSON)"
        ) from None


def signed_get_url(
    blob: storage.Blob,
    *,
    seconds: int,
    disposition: str,
    signer: google.auth.credentials.Credentials | None,
    api_access_endpoint: str | None,
) -> str:
    """A V4 signed GET URL for ``blob`` valid for ``seconds``, with that
    ``response-content-disposition``.

    Signs locally with a service-account key; with other ADC (Cloud Run, GCE) asks IAM
    ``signBlob`` to sign as the same identity.
    """
    try:
        return blob.generate_signed_url(
            version="v4",
            expiration=timedelta(seconds=seconds),
            method="GET",
            response_disposition=disposition,
            api_access_endpoint=api_access_endpoint,
            **_signing_arguments(signer),
        )
    except (AttributeError, google.auth.exceptions.GoogleAuthError) as error:
        raise StorageError("signed URLs need service-account credentials") from error


def _signing_arguments(credentials: google.auth.credentials.Credentials | None) -> dict[str, Any]:
    if credentials is None or isinstance(credentials, google.auth.credentials.Signing):
        return {"credentials": credentials}
    # Token-only credentials (metadata server) cannot sign; IAM signs for that account.
    if not credentials.valid:
        credentials.refresh(google.auth.transport.requests.Request())
    return {
        "service_account_email": credentials.service_account_email,
        "access_token": credentials.token,
    }
