"""Quoted previous messages in e-mail replies: attribution lines, forwarded and
Outlook header blocks, and ``>``-quoted lines.
"""

from __future__ import annotations

import re

from persona_mining.text.normalise import has_word

__all__ = ["strip_quoted_reply"]

# Reply attributions ("On <date>, <name> <email> wrote:" and the French, German and
# Spanish forms), possibly split over two lines. The regex finds the start word at
# a line start and the first keyword within two lines (all repetitions bounded);
# _attribution_span() then checks what follows the keyword.
_ATTRIBUTION_RE = re.compile(
    r"^[^\S\n]*(?:(?P<en>On)|(?P<fr>Le)|(?P<de>Am)|(?P<es>El))[^\S\n]"
    r"[^\n]{0,500}?(?P<nl>\n[^\n]{0,300}?)?"
    r"(?(en)\bwrote|(?(fr)\ba[^\S\n]+[ée]crit|(?(de)\bschrieb\b|\bescribi[óo])))",
    re.IGNORECASE | re.MULTILINE,
)
_SEPARATOR_RE = re.compile(
    r"^[^\S\n]*(?:-{2,}+[^\S\n]*(?:Original Message|Forwarded message|Message d'origine|"
    r"Message transféré|Ursprüngliche Nachricht|Weitergeleitete Nachricht|Mensaje original|"
    r"Mensaje reenviado)[^\S\n]*-{2,}+|Begin forwarded message[^\S\n]*:)[^\S\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
# Outlook header block: "From:" followed within four lines by "Sent:" or "Date:".
_OUTLOOK_RE = re.compile(
    r"^[^\S\n]*\**(?:From|De|Von)[^\S\n]*:\**[^\S\n]*\S[^\n]*\n(?:[^\n]*\n){0,3}?"
    r"[^\S\n]*\**(?:Sent|Date|Envoyé|Gesendet|Datum|Enviado|Fecha)[^\S\n]*\**[^\S\n]*:",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_FIELD_LINE_RE = re.compile(
    r"[^\S\n]*\**(?:From|Sent|Date|To|Cc|Bcc|Subject|Reply-To|De|Envoyé|À|Objet|Von|"
    r"Gesendet|Datum|An|Betreff|Enviado|Fecha|Para|Asunto)[^\S\n]*\**[^\S\n]*:[^\n]*(?:\n|\Z)",
    re.IGNORECASE,
)
_QUOTED_LINE_RE = re.compile(r"^[^\S\n]*+>[^\n]*(?:\n|\Z)", re.MULTILINE)
_QUOTE_MARKER_RE = re.compile(r"^(?:[^\S\n]*+>)++[^\S\n]?", re.MULTILINE)
_RULE_LINE_RE = re.compile(r"[^\S\n]*[_\-=*~]{5,}+[^\S\n]*$")
_RULE_LINES_RE = re.compile(r"^[^\S\n]*[_\-=*~]{5,}+[^\S\n]*(?:\n|\Z)", re.MULTILINE)
_DIGIT_OR_AT_RE = re.compile(r"[0-9@]")
_SENTENCE_END = (".", "!", "?")
_MAX_HEADER_FIELDS = 12


def _line_end(text: str, pos: int) -> int:
    """Index of the ``\\n`` ending the line at ``pos`` (or ``len(text)``)."""
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _attribution_span(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    """Start and end offsets of a verified attribution, or None."""
    end = _line_end(text, match.end())
    rest = text[match.end() : end]
    if match.group("de"):
        if len(rest) > 300 or not rest.rstrip().endswith(":"):
            return None
    elif rest.strip() != ":":
        return None
    start = match.start()
    if match.group("nl") is not None:
        first_line_end = _line_end(text, start)
        first_line = text[start:first_line_end].rstrip()
        second = _ATTRIBUTION_RE.match(text, first_line_end + 1)
        if second is not None and second.group("nl") is None:
            # The header starts on the second line; the first is message content.
            return _attribution_span(text, second)
        if first_line.endswith(_SENTENCE_END):
            return None
    if _DIGIT_OR_AT_RE.search(text, start, end) is None:
        return None
    return start, end


def _header_spans(text: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) offsets of all quote headers in ``text``."""
    spans: list[tuple[int, int]] = []
    for match in _ATTRIBUTION_RE.finditer(text):
        span = _attribution_span(text, match)
        if span is not None:
            spans.append(span)
    spans.extend((m.start(), m.end()) for m in _SEPARATOR_RE.finditer(text))
    for match in _OUTLOOK_RE.finditer(text):
        start = end = match.start()
        for _ in range(_MAX_HEADER_FIELDS):
            field = _HEADER_FIELD_LINE_RE.match(text, end)
            if field is None or field.end() == end:
                break
            end = field.end()
        spans.append((start, max(end, match.end())))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _drop_trailing_rules(text: str) -> str:
    """Strip trailing blank lines and separator rules ("_____", "-----")."""
    text = text.rstrip()
    while text:
        head, _, last = text.rpartition("\n")
        if not _RULE_LINE_RE.match(last):
            break
        text = head.rstrip()
    return text


def strip_quoted_reply(text: str) -> str:
    """Remove quoted previous messages from an e-mail reply.

    Everything from the first quote header on is removed: attribution lines ("On
    <date>, <name> <email> wrote:", also split over two lines, and the French,
    German and Spanish forms "Le ... a écrit :", "Am ... schrieb ...:", "El ...
    escribió:"; they must contain a digit or an ``@``), "-----Original
    Message-----", "---------- Forwarded message ---------" and Outlook "From: /
    Sent: / To: / Subject:" blocks. Lines starting with ``>`` are dropped wherever
    they are. When nothing but quoted material is there, its content is kept
    instead, without headers and ``>`` markers, so a message with content is never
    emptied.

    Args:
        text: Plain text with ``\\n`` line endings.

    Returns:
        The message without quoted history.
    """
    headers = _header_spans(text)
    has_quoted_lines = ">" in text and _QUOTED_LINE_RE.search(text) is not None
    if not headers and not has_quoted_lines:
        return text
    kept = text[: headers[0][0]] if headers else text
    if has_quoted_lines:
        kept = _QUOTED_LINE_RE.sub("", kept)
    kept = _drop_trailing_rules(kept)
    if has_word(kept):
        return kept
    # Only quoted material: keep its content, without headers and quote markers.
    content = _QUOTE_MARKER_RE.sub("", text) if has_quoted_lines else text
    pieces: list[str] = []
    pos = 0
    for start, end in _header_spans(content):
        pieces.append(content[pos:start])
        pos = end
    pieces.append(content[pos:])
    return _RULE_LINES_RE.sub("", "".join(pieces)).strip()
