"""Prompt enhancement: the user's dream, framed as a cinematic dream sequence."""

from __future__ import annotations


def enhance_prompt(prompt: str, template: str) -> str:
    """Place the (already sanitized) ``prompt`` into ``template`` at ``{prompt}``.

    ``str.replace`` rather than ``str.format``: braces in the user's text must stay literal.
    """
    return template.replace("{prompt}", prompt)
