"""Character and whitespace normalisation shared by the ticket-text cleaners.

Also holds the fixed-point loop the cleaners use to be idempotent: a pass that
changes nothing proves that a further call would change nothing either.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "MAX_PASSES",
    "collapse_lines",
    "has_word",
    "normalise_newlines",
    "repeat_until_stable",
    "sanitise",
]

# Fixed-point iterations: a pass that changes nothing proves idempotence; real
# text converges after one or two passes, the cap only bounds adversarial input.
MAX_PASSES = 6

# Only whitespace that needs changing: runs of two or more, or a single tab etc.
_INLINE_WS_RE = re.compile(r"[^\S\n]{2,}|[^\S \n]")
_SPACE_AROUND_NEWLINE_RE = re.compile(r" \n ?|\n ")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_WORD_RE = re.compile(r"\w")

_SANITISE_TABLE: dict[int, str | None] = {
    **{code: None for code in range(0x00, 0x20) if code not in (0x09, 0x0A, 0x0D)},
    **{code: None for code in range(0x7F, 0xA0)},
    0x0B: " ",
    0x0C: " ",
    0x1C: "\n",
    0x1D: "\n",
    0x1E: "\n",
    0x85: "\n",
    0x2028: "\n",
    0x2029: "\n",
    0x200B: None,
    0x200C: None,
    0x200D: None,
    0x2060: None,
    0xFEFF: None,
}
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def repeat_until_stable(step: Callable[[str], str], text: str) -> str:
    """Apply ``step`` until the text stops changing, at most ``MAX_PASSES`` times.

    Args:
        step: One pass of a cleaner.
        text: Its input.

    Returns:
        The first fixed point reached, or the last pass's output.
    """
    for _ in range(MAX_PASSES):
        again = step(text)
        if again == text:
            break
        text = again
    return text


def has_word(text: str) -> bool:
    """Whether ``text`` has a word character (a message, not only punctuation)."""
    return _WORD_RE.search(text) is not None


def normalise_newlines(text: str) -> str:
    """Turn ``\\r\\n`` and lone ``\\r`` into ``\\n``."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def collapse_lines(text: str) -> str:
    """Collapse whitespace inside lines, strip lines, keep at most one blank line."""
    text = _INLINE_WS_RE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE_RE.sub("\n", text)
    return _MANY_NEWLINES_RE.sub("\n\n", text).strip()


def sanitise(text: str) -> str:
    """Drop control and zero-width characters and lone surrogates; unify line breaks."""
    text = text.translate(_SANITISE_TABLE)
    if not text.isascii():
        text = _SURROGATE_RE.sub("", text)
    return normalise_newlines(text)
