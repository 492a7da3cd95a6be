"""A local directory as dreamweb's ``VideoStore`` (development, tests, one-box runs).

On-disk layout, for a key ``videos/video_abc.mp4`` under the store root::

    videos/video_abc.mp4@meta      JSON pointer: content type, size, md5, generation, timestamp
    videos/video_abc.mp4@<gen>     the bytes of that generation, never modified once written
    videos/.video_abc.mp4@tmp-…    in-flight temporary files (same directory, so rename is atomic)
    .locks/<n>                     flock targets, a fixed pool; a key's is chosen by its hash

``@`` cannot occur in a key (see ``SAFE_KEY``) and key segments never start with ``.``, so none
of these names can collide with another key or with a directory of nested keys.

The ``@meta`` file is the commit point. A write streams into a temporary file, fsyncs it, renames
it to ``@<gen>``, then publishes a new ``@meta`` (``os.link`` for create-only writes, which fails
atomically if the name exists, even between processes; ``os.replace`` otherwise) and fsyncs the
directory. Readers read ``@meta`` and open the generation it names; since data files are
immutable, a reader never sees a mix of two versions. ``etag`` is the hex MD5 of the content (the
same validator the GCS adapter reports), and ``generation`` is a microsecond timestamp that
strictly increases per key, so a token from before a delete/re-create never matches again.

Commits, deletes and record compare-and-set hold the key's pooled lock (``locks``). A writer
killed mid-copy leaves its ``@tmp-`` file; ``remove_debris`` (called by the sweeper) deletes
those older than the ingest lease, and the per-key ``@lock`` files of older versions (``debris``).

``store`` holds ``LocalVideoStore`` (the operations); ``paths`` maps keys to paths inside the
root; ``files`` is the file protocol above (atomic writes, fsync, generation files, range
reads); ``locks`` the lock pool, safe under gevent; ``debris`` the sweeper's clean-up.
"""

from dreamweb.storage.local.locks import LOCK_POOL, LOCKS_FOLDER
from dreamweb.storage.local.store import LocalVideoStore

__all__ = ["LOCKS_FOLDER", "LOCK_POOL", "LocalVideoStore"]
