"""Client-library errors turned into dreamweb's ``StorageError`` family, and the missing bucket.

A 404 can mean a missing object or a missing (misnamed) bucket; the latter is an outage, not
"no such video", so it raises ``BucketNotFoundError`` (a 503 ``StorageError``). Real GCS does not
say which reliably (object calls may answer "No such object") and fake-gcs-server answers a bare
"Not Found" for both, so the first 404 a store sees is followed by one listing of the bucket
(``BucketCheck``); once the bucket has answered, that is remembered and later 404s cost nothing
extra.
"""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterator

import google.auth.exceptions
import requests
import urllib3
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

from dreamweb.errors import (
    DreamwebError,
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)

# What GCS's JSON API says of a missing bucket ("The specified bucket does not exist.") and its
# XML API's code for it; either in a 404 settles the question without asking the bucket.
MISSING_BUCKET_MARKERS = ("bucket does not exist", "nosuchbucket")


class BucketNotFoundError(StorageError):
    """The configured bucket does not exist: a deployment fault (503), never a missing object.

    Clients get the generic ``StorageError`` message (a bucket name is internal); ``str()`` names
    the bucket for operators (``flask --app dreamweb check`` prints it).
    """

    def __init__(self, bucket: str) -> None:
        super().__init__()
        self.bucket = bucket

    def __str__(self) -> str:
        return f"GCS bucket {self.bucket!r} does not exist (or is not visible to these credentials)"


class SourceError(Exception):
    """Carries an exception raised by the caller's chunk iterator through the client library,
    so it is neither retried nor translated into a storage error."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class BucketCheck:
    """Whether the store's bucket exists, asked at most until it has once answered yes."""

    def __init__(
        self,
        client: storage.Client,
        bucket: storage.Bucket,
        prefix: str,
        timeout: tuple[float, float],
        retry: Retry,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.timeout = timeout
        self.retry = retry
        # Only ever goes False -> True, so threads racing on it are harmless.
        self._seen = False

    def exists(self) -> bool:
        """Whether the bucket exists, by listing at most one name under the prefix.

        Listing needs only ``storage.objects.list``, which the sweeper needs anyway (a bucket
        metadata GET would need ``storage.buckets.get``, which object-level roles lack). A
        positive answer is remembered. Raises ``StorageError`` when storage does not answer.
        """
        with translated():  # its own 404 is the answer, handled below
            try:
                blobs = self.client.list_blobs(
                    self.bucket,
                    prefix=self.prefix,
                    max_results=1,
                    timeout=self.timeout,
                    retry=self.retry,
                )
                next(iter(blobs), None)
            except api_exceptions.NotFound:
                return False
            except api_exceptions.Forbidden:
                pass  # GCS answers 404 for a missing bucket whoever asks: a 403 means it exists
        self._seen = True
        return True

    def absent(self) -> bool:
        """``True`` when the bucket has never answered and a listing says it is missing."""
        return not self._seen and not self.exists()

    def missing(self, error: api_exceptions.NotFound) -> bool:
        """Whether ``error`` (a 404 from some call) is about the bucket, not an object."""
        message = str(error.message).lower()
        if any(marker in message for marker in MISSING_BUCKET_MARKERS):
            return True
        return self.absent()


@contextlib.contextmanager
def translated(bucket: BucketCheck | None = None) -> Iterator[None]:
    """Turn client-library errors into dreamweb's ``StorageError`` family.

    With ``bucket``, a 404 is first checked against that bucket: a missing bucket is
    ``BucketNotFoundError`` (503), only a missing object is ``ObjectNotFoundError`` (404).
    """
    try:
        yield
    except (DreamwebError, SourceError):
        raise
    except api_exceptions.NotFound as error:
        if bucket is not None and bucket.missing(error):
            raise BucketNotFoundError(bucket.bucket.name) from error
        raise ObjectNotFoundError() from error
    except api_exceptions.PreconditionFailed as error:
        raise PreconditionFailedError() from error
    except DataCorruption as error:
        raise IntegrityError() from error
    except (
        api_exceptions.GoogleAPIError,
        google.auth.exceptions.GoogleAuthError,
        InvalidResponse,
        requests.RequestException,
        urllib3.exceptions.HTTPError,  # raised by raw body reads (timeouts, cut connections)
        http.client.HTTPException,
        OSError,
        ValueError,
    ) as error:
        raise StorageError() from error
