"""Answers of reasoning models: the thinking part (``<think>...</think>``) apart from the answer."""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_THINK = re.compile(re.escape(THINK_OPEN) + r"(.*?)" + re.escape(THINK_CLOSE), re.DOTALL)


def split_reasoning(text: str | None) -> tuple[str | None, str | None]:
    """(reasoning, answer) of a generated ``text``.

    ``<think>R</think>A`` gives (R, A), stripped. A closing tag alone (chat templates that put
    the opening tag in the prompt) gives the text before it as the reasoning. An opening tag
    never closed (the answer was cut short while thinking) gives (the rest, ""). No tag: (None,
    the text).
    """
    if text is None:
        return None, None
    m = _THINK.search(text)
    if m:
        return m.group(1).strip(), (text[: m.start()] + text[m.end() :]).strip()
    if THINK_CLOSE in text:
        before, _, after = text.partition(THINK_CLOSE)
        return before.strip(), after.strip()
    if THINK_OPEN in text:
        before, _, after = text.partition(THINK_OPEN)
        return after.strip(), before.strip()
    return None, text
