"""``WxH`` sizes ↔ aspect ratio + resolution, for APIs that take the pair (Veo, OpenRouter).

dreamweb's choices are ``WxH`` everywhere (config, form, API); providers that want
``aspectRatio`` + ``resolution`` get them from here, so one table decides both directions.
"""

from __future__ import annotations

from collections.abc import Iterable

# The short side of a frame at each named resolution (names as the APIs spell them).
SHORT_SIDE = {
    "360p": 360,
    "480p": 480,
    "540p": 540,
    "720p": 720,
    "768p": 768,
    "1080p": 1080,
    "1k": 1080,
    "1440p": 1440,
    "2k": 1440,
    "4k": 2160,
}


def size_for(aspect_ratio: str, resolution: str) -> str | None:
    """``"16:9"`` + ``"720p"`` → ``"1280x720"``; ``None`` when either is not understood.

    The long side is rounded to an even number of pixels, as video encoders require.
    """
    short = SHORT_SIDE.get(resolution.strip().lower())
    try:
        width, height = (int(part) for part in aspect_ratio.split(":"))
    except ValueError:
        return None
    if short is None or width <= 0 or height <= 0:
        return None
    if width >= height:
        return f"{_even(short * width / height)}x{short}"
    return f"{short}x{_even(short * height / width)}"


def shape_of(
    size: str, aspect_ratios: Iterable[str], resolutions: Iterable[str]
) -> tuple[str, str] | None:
    """The ``(aspect_ratio, resolution)`` among those offered that make ``size``, if any."""
    resolutions = list(resolutions)
    for aspect_ratio in aspect_ratios:
        for resolution in resolutions:
            if size_for(aspect_ratio, resolution) == size:
                return aspect_ratio, resolution
    return None


def sizes_for(aspect_ratios: Iterable[str], resolutions: Iterable[str]) -> tuple[str, ...]:
    """Every ``WxH`` the offered ratios and resolutions make, by resolution then ratio."""
    aspect_ratios = list(aspect_ratios)
    sizes = (size_for(ratio, resolution) for resolution in resolutions for ratio in aspect_ratios)
    return tuple(dict.fromkeys(size for size in sizes if size is not None))


def _even(value: float) -> int:
    return int(round(value / 2) * 2)
