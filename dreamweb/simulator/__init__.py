"""An offline simulator of the video providers dreamweb speaks to, for tests, demo, benchmarks.

``VideoSimulator`` is one WSGI application serving every dialect at once over a shared core
(``core``: job state machine, real media, faults, counters): the OpenAI Videos API
(``openai_videos``, below), Vertex AI Veo (``vertex``), OpenRouter video generation
(``openrouter``) and Google's OAuth2 token endpoint (``oauth``); ``control`` is ``/_sim``.
``python -m dreamweb.simulator --port N`` serves it with werkzeug's threaded server and prints
the OpenAI base URL (``http://host:port/v1``); the other dialects live on the same port.

The OpenAI Videos API, under ``/v1`` (``Authorization: Bearer <anything non-empty>`` required unless
``require_key=False``):

- ``POST /videos`` (JSON, multipart or url-encoded form; ``input_reference`` accepted and
  ignored), ``GET /videos/{id}``, ``GET /videos?after=&limit=&order=`` (newest first by
  default, ``limit`` 0-100, default 20; deleted ids still work as ``after`` cursors),
  ``DELETE /videos/{id}`` (any status), ``GET /videos/{id}/content?variant=`` and
  ``POST /videos/{id}/remix`` (the source must be ``completed``; model, seconds and size are
  copied from it).
- Jobs go ``queued`` (the first 10% of ``render_seconds``) -> ``in_progress`` (progress 1-99,
  proportional to elapsed time) -> ``completed`` (progress 100) once ``render_seconds`` have
  passed since creation; ``render_seconds=0`` answers the create already completed. State
  advances lazily, whenever a job is looked at. ``completed_at`` is the moment the render
  ended (creation + ``render_seconds``), ``expires_at = completed_at + expires_seconds``.
- **Moderation:** a prompt containing the trigger word (default ``nightmare``, matched as a
  case-insensitive substring, so "Nightmares" counts too) ends ``failed`` at the time it would
  have completed, with ``progress`` 0, ``completed_at`` set, ``expires_at`` null and
  ``error: {"code": "moderation_blocked", "message": "Your request was blocked by our
  moderation system."}``. Remix prompts are checked the same way.
- **Content status codes** (chosen; OpenAI's exact answers are not documented): before
  completion 400 ``invalid_request_error`` with code ``video_not_ready`` ("Video is not ready
  yet, use GET /v1/videos/{id} to check status ..."); a failed job 400 ``video_generation_failed``;
  after ``expires_at`` 404 with code ``video_expired`` ("... has expired ..."); an unknown or
  deleted id 404 ``video_not_found``; a bad ``variant`` 400 ``invalid_value``.
- **Media:** ``video`` is a real faststart H.264 MP4 (``video/mp4``): a committed base clip
  (picked by a hash of the job id) followed by a ``free`` box that carries the job id and pads
  the file to ``video_bytes``, streamed in chunks of at most 1 MiB with an exact
  ``Content-Length``. ``thumbnail`` is a WebP (``image/webp``), ``spritesheet`` a JPEG
  (``image/jpeg``); both are the same for every job. There is no ``Range`` support: content
  is always a 200 with the whole body.
- Errors use OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}``; every
  response carries ``x-request-id``.

Faults (``VideoSimulator.inject`` or ``POST /_sim/faults``) hit the next ``count`` calls of a
route (see ``faults`` for the kinds each dialect's routes take): ``429``, ``quota``, ``500``,
``503``, ``401`` and ``402`` answer instead of processing the call (a faulted create starts no
job); ``hang`` stalls then answers normally; ``drop`` and ``truncate`` process
the call (a create does start a job) and then send only ``after_bytes`` of the body under the
full ``Content-Length``: ``drop`` ends with a TCP reset, ``truncate`` with a normal close.

Control routes, no key needed: see ``control``.
"""

from dreamweb.simulator.app import VideoSimulator
from dreamweb.simulator.core import UnknownVideoError
from dreamweb.simulator.server import make_simulator_server, root_url

__all__ = [
    "UnknownVideoError",
    "VideoSimulator",
    "make_simulator_server",
    "root_url",
]
