"""Generate the simulator's committed base media (``dreamweb/simulator/media/``).

Run once, by hand, when the media needs to change::

    .venv/bin/python -m dreamweb.simulator.make_media

It writes three short H.264 MP4 clips (same motion, different colours, so jobs visibly differ),
a WebP thumbnail and a JPEG spritesheet. The clips are muxed with ``movflags=faststart`` (the
``moov`` box before ``mdat``) so the simulator can append a ``free`` box to pad them to any size
while keeping them playable and streamable. Everything stays small (well under 300 KB) because it
is committed to the repository.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import av
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 320, 180
FRAMES_PER_SECOND = 12
CLIP_SECONDS = 2
SPRITE_COLUMNS, SPRITE_ROWS = 4, 2
SPRITE_TILE = (160, 90)

# (name, base RGB of the background gradient, RGB of the moving disc)
CLIP_PALETTES: tuple[tuple[str, tuple[int, int, int], tuple[int, int, int]], ...] = (
    ("clip_dusk", (40, 20, 90), (255, 200, 60)),
    ("clip_sea", (10, 70, 110), (250, 250, 250)),
    ("clip_ember", (110, 30, 20), (120, 230, 255)),
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "media"


def render_frame(
    index: int, total: int, background: tuple[int, int, int], disc: tuple[int, int, int]
) -> Image.Image:
    """One RGB frame: drifting vertical colour bands with a disc travelling along an ellipse."""
    phase = index / total
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    # The bands shift with the phase so every frame differs (a static image would encode to
    # almost nothing and hide decoder problems in tests).
    for x in range(WIDTH):
        level = 0.55 + 0.45 * (math.sin(x / 30.0 + phase * 2 * math.pi) + 1.0) / 2.0
        draw.line([(x, 0), (x, HEIGHT)], fill=tuple(int(c * level) for c in background))
    centre_x = WIDTH / 2 + (WIDTH / 3) * math.cos(phase * 2 * math.pi)
    centre_y = HEIGHT / 2 + (HEIGHT / 4) * math.sin(phase * 2 * math.pi)
    radius = 22
    draw.ellipse(
        [centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius], fill=disc
    )
    return image


def encode_clip(path: Path, background: tuple[int, int, int], disc: tuple[int, int, int]) -> None:
    """Encode one faststart H.264 MP4 (yuv420p, main profile: plays in every browser)."""
    total = FRAMES_PER_SECOND * CLIP_SECONDS
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
        stream = output.add_stream("libx264", rate=FRAMES_PER_SECOND)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "32", "preset": "veryslow", "profile": "main"}
        for index in range(total):
            frame = av.VideoFrame.from_image(render_frame(index, total, background, disc))
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def write_thumbnail(path: Path) -> None:
    """A WebP still of the first clip's opening frame (the API's ``thumbnail`` variant)."""
    _, background, disc = CLIP_PALETTES[0]
    image = render_frame(0, 24, background, disc)
    image.save(path, format="WEBP", quality=60)


def write_spritesheet(path: Path) -> None:
    """A JPEG grid of small frames across the clip (the API's ``spritesheet`` variant)."""
    _, background, disc = CLIP_PALETTES[0]
    tiles = SPRITE_COLUMNS * SPRITE_ROWS
    sheet = Image.new("RGB", (SPRITE_TILE[0] * SPRITE_COLUMNS, SPRITE_TILE[1] * SPRITE_ROWS))
    for tile in range(tiles):
        frame = render_frame(tile * 3, tiles * 3, background, disc)
        column, row = tile % SPRITE_COLUMNS, tile // SPRITE_COLUMNS
        sheet.paste(frame.resize(SPRITE_TILE), (column * SPRITE_TILE[0], row * SPRITE_TILE[1]))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=60)
    path.write_bytes(buffer.getvalue())


def main() -> None:
    """Write all media into the output directory and print their sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args()
    output: Path = arguments.output
    output.mkdir(parents=True, exist_ok=True)
    for name, background, disc in CLIP_PALETTES:
        encode_clip(output / f"{name}.mp4", background, disc)
    write_thumbnail(output / "thumbnail.webp")
    write_spritesheet(output / "spritesheet.jpg")
    total = 0
    for path in sorted(output.iterdir()):
        total += path.stat().st_size
        print(f"{path.name:20} {path.stat().st_size:8} bytes")
    print(f"{'total':20} {total:8} bytes")


if __name__ == "__main__":
    main()
