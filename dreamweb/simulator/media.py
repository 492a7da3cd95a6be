"""Real media for the simulator: base clips padded per job with a trailing MP4 ``free`` box.

The committed base clips (``media/*.mp4``, made by ``python -m dreamweb.simulator.make_media``)
are tiny faststart H.264 files: ``ftyp``, ``moov``, then ``mdat``. A ``free`` box appended
after ``mdat`` is ignored by every demuxer, so ``base + free box`` is still a playable MP4 of
any size we like. The box starts with a tag naming the job, which makes every job's bytes
distinct, and the rest is zeros streamed from one shared buffer: serving a 500 MiB video costs
no more memory than 5 KiB.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MEDIA_DIR = Path(__file__).resolve().parent / "media"
CHUNK_SIZE = 1024 * 1024
# One shared zero buffer: every padding chunk is this object or a slice of it, never a new
# big allocation per request.
_ZEROS = bytes(CHUNK_SIZE)
_COMPACT_BOX_LIMIT = 2**32  # a box this large or larger needs the 64-bit "largesize" header

VIDEO_TYPE = "video/mp4"
THUMBNAIL_TYPE = "image/webp"
SPRITESHEET_TYPE = "image/jpeg"


def free_box_tag(video_id: str) -> bytes:
    """The bytes that open a job's ``free`` box payload (they make each job's video distinct)."""
    return f"dreamweb-simulator video_id={video_id}\n".encode()


def free_box_header(box_size: int) -> bytes:
    """An MP4 box header for a ``free`` box of ``box_size`` bytes (header included)."""
    if box_size < _COMPACT_BOX_LIMIT:
        return struct.pack(">I4s", box_size, b"free")
    # size field 1 means "the real size follows as 64 bits" (ISO/IEC 14496-12, 4.2).
    return struct.pack(">I4sQ", 1, b"free", box_size)


@dataclass(frozen=True)
class VideoPlan:
    """How one job's video is served: which base clip, and how long the ``free`` box is."""

    base: bytes
    tag: bytes
    box_size: int

    @property
    def length(self) -> int:
        """Total bytes served (the ``Content-Length``)."""
        return len(self.base) + self.box_size

    def chunks(self) -> Iterator[bytes]:
        """Yield the video in pieces of at most ``CHUNK_SIZE`` bytes."""
        yield self.base
        opening = free_box_header(self.box_size) + self.tag
        yield opening
        remaining = self.box_size - len(opening)
        while remaining >= CHUNK_SIZE:
            yield _ZEROS
            remaining -= CHUNK_SIZE
        if remaining:
            yield _ZEROS[:remaining]


class MediaLibrary:
    """The base clips, thumbnail and spritesheet, loaded once from a directory."""

    def __init__(self, directory: Path = MEDIA_DIR) -> None:
        clip_paths = sorted(directory.glob("*.mp4"))
        if not clip_paths:
            raise FileNotFoundError(f"no base clips (*.mp4) in {directory}")
        self.clips: tuple[bytes, ...] = tuple(path.read_bytes() for path in clip_paths)
        self.thumbnail: bytes = (directory / "thumbnail.webp").read_bytes()
        self.spritesheet: bytes = (directory / "spritesheet.jpg").read_bytes()

    def base_clip(self, video_id: str) -> bytes:
        """The base clip for a job, picked by a hash of its id (stable across restarts)."""
        digest = hashlib.sha256(video_id.encode()).digest()
        return self.clips[digest[0] % len(self.clips)]

    def plan_video(self, video_id: str, video_bytes: int) -> VideoPlan:
        """Plan a video of ``video_bytes`` bytes, or the smallest size that still tags the job.

        A target below ``base + tagged free box`` serves that minimum instead: the job tag is
        always present so two jobs never share identical bytes.
        """
        base = self.base_clip(video_id)
        tag = free_box_tag(video_id)
        minimum_box = len(free_box_header(0)) + len(tag)
        # The box size counts its own header, compact or 64-bit, so the total is exact either way.
        box_size = max(video_bytes - len(base), minimum_box)
        return VideoPlan(base=base, tag=tag, box_size=box_size)
