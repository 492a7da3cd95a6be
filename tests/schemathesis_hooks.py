"""Schemathesis hooks for tests/test_schemathesis.py (loaded through ``SCHEMATHESIS_HOOKS``).

The document states the prompt rule exactly, as a pattern over every Unicode character the
sanitizer drops or keeps (``dreamweb.validators.prompt_pattern``). Drawing strings from that
pattern is what made a run take minutes: hypothesis builds its generator from thousands of
character ranges, many above U+FFFF. Here, in the tool only, the prompt gets a format whose
generator composes prompts from a few telling kinds of characters; Schemathesis still filters
every value through the document's pattern and lengths, so nothing it sends is less exact. The
served document is not changed.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st

from dreamweb.validators import PROMPT_MAX, PROMPT_MIN, prompt_length_problem

PROMPT_FORMAT = "dreamweb-prompt"

# Characters the sanitizer keeps, turns into spaces, or drops, and a few astral ones (emoji are
# one character each for the rule, two UTF-16 units in JSON).
_KEPT = st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="\u3000")
_SPACES = st.sampled_from(" \t\n\r\u00a0\u2028\u3000")
_DROPPED = st.sampled_from("\u200b\u00ad\u2060\ufeff\u202e\ue000\x07")
_ASTRAL = st.sampled_from("🌊🐋🌙👩🚀𝒜")
_PIECES = st.one_of(_KEPT, _KEPT, _KEPT, _SPACES, _DROPPED, _ASTRAL)


def prompts() -> st.SearchStrategy[str]:
    """Prompts the one prompt rule accepts: short mixes, and long ones up to the maximum."""
    short = st.lists(_PIECES, min_size=PROMPT_MIN, max_size=40).map("".join)
    padded = st.tuples(short, st.integers(0, PROMPT_MAX)).map(
        lambda parts: (parts[0] + "a" * parts[1])[:PROMPT_MAX]
    )
    return st.one_of(short, padded).filter(lambda text: prompt_length_problem(text) is None)


schemathesis.openapi.format(PROMPT_FORMAT, prompts())


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    """Point the prompt at the fast generator (pattern and lengths stay as served)."""
    request = raw_schema["components"]["schemas"]["CreateVideoRequest"]
    request["properties"]["prompt"]["format"] = PROMPT_FORMAT
