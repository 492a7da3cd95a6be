"""Google Cloud Storage (or fake-gcs-server) as dreamweb's ``VideoStore``.

``store`` holds ``GCSVideoStore`` (reads, compare-and-set writes, deletes, signed URLs);
``client`` builds the client and credentials from config and signs URLs; ``uploads`` streams
and verifies uploads; ``downloads`` streams and CRC32C-checks reads; ``errors`` turns
client-library errors into dreamweb's and tells a missing bucket from a missing object.
"""

from dreamweb.storage.gcs.errors import BucketNotFoundError
from dreamweb.storage.gcs.store import GCSVideoStore
from dreamweb.storage.gcs.uploads import MULTIPART_LIMIT

__all__ = ["MULTIPART_LIMIT", "BucketNotFoundError", "GCSVideoStore"]
