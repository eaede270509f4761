"""Quoted previous messages in e-mail replies and forwards: attribution lines,
forwarded and Outlook header blocks, and ``>``-quoted lines.

A reply's quoted history is dropped; a forward keeps its covering note and the
forwarded message's own body (the customer's words), without its header lines.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from persona_mining.text.normalise import has_word
from persona_mining.text.signatures import strip_signature

__all__ = ["strip_quoted_reply"]

# Reply attributions ("On <date>, <name> <email> wrote:" and the French, German,
# Spanish, Dutch, Portuguese and Italian forms), possibly split over two lines. The
# regex finds the start word at a line start and the first keyword within two lines
# (all repetitions bounded); _attribution_span() then checks what follows the keyword.
_ATTRIBUTION_RE = re.compile(
    r"^[^\S\n]*+(?:(?P<en>On)|(?P<fr>Le)|(?P<de>Am)|(?P<es>El)|(?P<nl>Op)|(?P<pt>Em)|(?P<it>Il))"
    r"[^\S\n][^\n]{0,500}?(?P<wrap>\n[^\n]{0,300}?)?"
    r"(?(en)\bwrote|(?(fr)\ba[^\S\n]+[ée]crit|(?(de)\bschrieb\b|(?(es)\bescribi[óo]|"
    r"(?(nl)\bschreef\b|(?(pt)\bescreveu|\bha[^\S\n]+scritto))))))",
    re.IGNORECASE | re.MULTILINE,
)
# Separator lines: "-----Original Message-----" (a reply), "---------- Forwarded
# message ---------" and Apple's "Begin forwarded message:" (forwards), translated.
_SEPARATOR_RE = re.compile(
    r"^[^\S\n]*+(?:-{2,}+[^\S\n]*+(?:(?P<fwd>Forwarded message|Message transféré|"
    r"Weitergeleitete Nachricht|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht|"
    r"Mensagem (?:re)?encaminhada)|Original Message|Message d'origine|Ursprüngliche Nachricht|"
    r"Mensaje original|Messaggio originale|Oorspronkelijk bericht|Mensagem original)"
    r"[^\S\n]*+-{2,}+|(?P<begin>Begin forwarded message|Anfang der weitergeleiteten Nachricht|"
    r"Début du message réexpédié|Inicio del mensaje reenviado|Inizio messaggio inoltrato|"
    r"Begin doorgestuurd bericht|Início da mensagem (?:re)?encaminhada)[^\S\n]*+:)[^\S\n]*+$",
    re.IGNORECASE | re.MULTILINE,
)
# A header field name and its colon, as in "**Sent:**" (the spaces possessive: a line of
# spaces without a colon must not be split in every way).
_FIELD_COLON = r"[^\S\n]*+\**+[^\S\n]*+:"
_SENT_NAMES = (
    r"Sent|Date|Envoyé|Gesendet|Datum|Enviad[oa](?:[^\S\n]+(?:el|em))?|Fecha|Inviato|Data|Verzonden"
)
_SUBJECT_NAMES = r"Subject|Objet|Betreff|Asunto|Oggetto|Onderwerp|Assunto"
# Outlook header block: "From:" followed within four lines by "Sent:" or "Date:" (and
# the French, German, Spanish, Italian, Dutch and Portuguese names of both).
_OUTLOOK_RE = re.compile(
    r"^[^\S\n]*+\**+(?:From|De|Von|Da|Van)[^\S\n]*+:\**[^\S\n]*+\S[^\n]*+\n(?:[^\n]*+\n){0,3}?"
    rf"[^\S\n]*+\**+(?:{_SENT_NAMES}){_FIELD_COLON}",
    re.IGNORECASE | re.MULTILINE,
)
# The field lines of a header block ("From:", "Sent:", "To:", "Subject:", ...), at most
# _MAX_HEADER_FIELDS, each a whole line.
_MAX_HEADER_FIELDS = 12
_HEADER_FIELDS_RE = re.compile(
    rf"(?:[^\S\n]*+\**+(?:{_SUBJECT_NAMES}|{_SENT_NAMES}|From|To|Cc|Bcc|Reply-To|De|À|Von|An|"
    rf"Para|CCO|Da|A|CCN|Van|Aan){_FIELD_COLON}[^\n]*+(?:\n|\Z)){{0,{_MAX_HEADER_FIELDS}}}",
    re.IGNORECASE,
)
_SUBJECT_FIELD_RE = re.compile(
    rf"(?:\A|(?<=\n))[^\S\n]*+\**+(?:{_SUBJECT_NAMES}){_FIELD_COLON}(?P<value>[^\n]*+)",
    re.IGNORECASE,
)
# Subject prefixes of a forwarded message (FW:, Fwd:, WG:, TR:, RV:, ENC:, I:, Doorst:)
# and of a reply (RE:, AW:, SV:, Antw:, R:, RES:, RIF:, Réf:, VS:, Odp:, Ynt:), after an
# optional tag such as "[EXTERNAL]".
_SUBJECT_TAG = r"[^\S\n]*(?:\[[^\]\n]{0,40}\][^\S\n]*)?"
_FORWARD_SUBJECT_RE = re.compile(
    _SUBJECT_TAG + r"(?:FWD?|WG|TR|RV|ENC|I|Doorst)[^\S\n]*:", re.IGNORECASE
)
_REPLY_SUBJECT_RE = re.compile(
    _SUBJECT_TAG + r"(?:RE|AW|SV|Antw|Antwort|R|RES|RIF|Réf|VS|Odp|Ynt)(?:\[\d{1,3}\])?[^\S\n]*:",
    re.IGNORECASE,
)
# A covering note above an Outlook block whose subject is no reply: short, or
# somewhat longer and saying that the message below is passed on.
_COVERING_NOTE_MAX_WORDS = 30
_FORWARDING_NOTE_MAX_WORDS = 120
_NOTE_WORD_RE = re.compile(r"\w+")
_FORWARDING_PHRASE_RE = re.compile(
    r"\b(?:(?:fyi|fwd?|forwarded|forwarding|below|zur info|pour info|per info|siehe unten|"
    r"untenstehend|weitergeleitet|ci-dessous|abajo|sotto|di seguito|hieronder|doorgestuurd|"
    r"abaixo)\b|weiterleit|transf[èé]r|reenv[ií]|inoltr|encaminh)",
    re.IGNORECASE,
)
_QUOTED_LINE_RE = re.compile(r"^[^\S\n]*+>[^\n]*(?:\n|\Z)", re.MULTILINE)
_QUOTE_MARKER_RE = re.compile(r"^(?:[^\S\n]*+>)++[^\S\n]?", re.MULTILINE)
_RULE_LINE_RE = re.compile(r"[^\S\n]*[_\-=*~]{5,}+[^\S\n]*$")
_RULE_LINES_RE = re.compile(r"^[^\S\n]*[_\-=*~]{5,}+[^\S\n]*(?:\n|\Z)", re.MULTILINE)
_BLANK_LINES_RE = re.compile(r"(?:[^\S\n]*+\n)*+")
_DIGIT_OR_AT_RE = re.compile(r"[0-9@]")
#: What a mail client's attribution or date line carries: an address, a time or a year.
_STAMP_RE = re.compile(
    r"@|(?<![0-9])[0-9]{1,2}:[0-9]{2}(?![0-9])|(?<![0-9])(?:19|20)[0-9]{2}(?![0-9])"
)
_SENTENCE_END = (".", "!", "?")
_MAX_NAME_CHARS = 300  # after "schrieb"/"schreef": the name and address, up to the colon

# What a quote header says about the message below it.
_REPLY = "reply"  # quoted history: dropped
_FORWARD = "forward"  # a forwarded message: its body is kept
_FORWARD_SEPARATOR = "forward separator"  # a forward if a header with a Subject follows
_PLAIN = "plain"  # an Outlook block with a non-reply subject: a forward below a covering note


class _Header(NamedTuple):
    """A quote header: its offsets, what it introduces, and its Subject field (if any)."""

    start: int
    end: int
    kind: str
    subject: str | None


def _line_end(text: str, pos: int) -> int:
    """Index of the ``\\n`` ending the line at ``pos`` (or ``len(text)``)."""
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _wrapped_address_end(text: str, end: int, room: int) -> int:
    """End of the line after ``end`` if it ends a wrapped "schrieb Ann <" header.

    That is a line of at most ``room`` characters with an ``@`` that ends with ":"
    (as in "ann@example.com>:"); otherwise ``end``.
    """
    limit = min(len(text), end + 1 + room)
    if end >= len(text) or room <= 0:
        return end
    next_end = text.find("\n", end + 1, limit)
    if next_end < 0:
        if limit < len(text):
            return end
        next_end = len(text)
    line = text[end + 1 : next_end].rstrip()
    return next_end if line.endswith(":") and "@" in line else end


def _attribution_span(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    """Start and end offsets of a verified attribution, or None."""
    end = _line_end(text, match.end())
    rest = text[match.end() : end]
    if match.group("de") or match.group("nl"):  # "schrieb <name>:", "schreef <name>:"
        if len(rest) > _MAX_NAME_CHARS:
            return None
        if not rest.rstrip().endswith(":"):
            wrapped_end = _wrapped_address_end(text, end, _MAX_NAME_CHARS - len(rest))
            if match.group("wrap") is not None or wrapped_end == end:
                return None
            end = wrapped_end
    elif rest.strip() != ":":
        return None
    start = match.start()
    if match.group("wrap") is not None:
        first_line_end = _line_end(text, start)
        first_line = text[start:first_line_end].rstrip()
        second = _ATTRIBUTION_RE.match(text, first_line_end + 1)
        if second is not None and second.group("wrap") is None:
            # The header starts on the second line; the first is message content.
            return _attribution_span(text, second)
        if first_line.endswith(_SENTENCE_END):
            return None
    if _DIGIT_OR_AT_RE.search(text, start, end) is None:
        return None
    if (match.group("nl") or match.group("pt") or match.group("it")) and (
        _STAMP_RE.search(text, start, end) is None
    ):
        # "Op 12 maart schreef uw medewerker Jan:" quotes an agent inside the customer's own
        # message; a mail client's attribution carries the year, the time or an address.
        return None
    return start, end


def _header_fields(text: str, pos: int) -> tuple[int, str | None]:
    """End of the header field lines at ``pos`` (after blank lines), and their Subject."""
    match = _BLANK_LINES_RE.match(text, pos)
    start = pos if match is None else match.end()
    match = _HEADER_FIELDS_RE.match(text, start)
    if match is None or match.end() == start:
        return pos, None
    subject = _SUBJECT_FIELD_RE.search(text, start, match.end())
    return match.end(), None if subject is None else subject.group("value")


def _outlook_kind(subject: str | None) -> str:
    """What an Outlook block introduces, from its Subject field."""
    if subject is None or _REPLY_SUBJECT_RE.match(subject):
        return _REPLY
    return _FORWARD if _FORWARD_SUBJECT_RE.match(subject) else _PLAIN


def _merged_kind(kinds: set[str], subject: str | None) -> str:
    """What adjacent headers introduce together (a separator above an Outlook block)."""
    if _FORWARD in kinds or (_FORWARD_SEPARATOR in kinds and subject is not None):
        return _FORWARD
    if _REPLY in kinds or _FORWARD_SEPARATOR in kinds or subject is None:
        return _REPLY
    return _PLAIN


def _header_spans(text: str) -> list[_Header]:
    """Sorted, non-overlapping quote headers of ``text``.

    Headers separated by nothing but whitespace (a separator line above an Outlook
    block) are merged into one.
    """
    parts: list[_Header] = []
    for match in _ATTRIBUTION_RE.finditer(text):
        span = _attribution_span(text, match)
        if span is not None:
            parts.append(_Header(*span, _REPLY, None))
    for match in _SEPARATOR_RE.finditer(text):
        # The header field lines below (after blank lines) belong to the separator.
        end, subject = _header_fields(text, match.end())
        forward = match.group("fwd") or match.group("begin")
        kind = _FORWARD_SEPARATOR if forward else _REPLY
        parts.append(_Header(match.start(), end, kind, subject))
    for match in _OUTLOOK_RE.finditer(text):
        if _STAMP_RE.search(text, match.end(), _line_end(text, match.end())) is None:
            continue  # "De: Lisboa / Para: Porto / Data: 12/05": a booking, not a header
        end, subject = _header_fields(text, match.start())
        parts.append(_Header(match.start(), max(end, match.end()), _outlook_kind(subject), subject))
    parts.sort(key=lambda header: (header.start, header.end))
    merged: list[_Header] = []
    kinds: list[set[str]] = []
    for part in parts:
        if merged and (
            part.start <= merged[-1].end or not text[merged[-1].end : part.start].strip()
        ):
            last = merged[-1]
            subject = last.subject if last.subject is not None else part.subject
            merged[-1] = _Header(last.start, max(last.end, part.end), last.kind, subject)
            kinds[-1].add(part.kind)
        else:
            merged.append(part)
            kinds.append({part.kind})
    return [
        header._replace(kind=_merged_kind(part_kinds, header.subject))
        for header, part_kinds in zip(merged, kinds, strict=True)
    ]


def _is_covering_note(note: str) -> bool:
    """Whether ``note`` (the text above an Outlook block) only passes the message on."""
    words = 0
    for _ in _NOTE_WORD_RE.finditer(note):
        words += 1
        if words > _FORWARDING_NOTE_MAX_WORDS:
            return False
    return words <= _COVERING_NOTE_MAX_WORDS or _FORWARDING_PHRASE_RE.search(note) is not None


def _drop_trailing_rules(text: str) -> str:
    """Strip trailing blank lines and separator rules ("_____", "-----")."""
    text = text.rstrip()
    while text:
        head, _, last = text.rpartition("\n")
        if not _RULE_LINE_RE.match(last):
            break
        text = head.rstrip()
    return text


def _kept_pieces(text: str, headers: list[_Header]) -> list[str]:
    """The message above the first header and, while headers are forwards, their bodies."""
    pieces = [text[: headers[0].start] if headers else text]
    for number, header in enumerate(headers):
        kind = header.kind
        if kind == _PLAIN:
            above = text[headers[number - 1].end if number else 0 : header.start]
            kind = _FORWARD if _is_covering_note(_QUOTED_LINE_RE.sub("", above)) else _REPLY
        if kind != _FORWARD:
            break
        body_end = headers[number + 1].start if number + 1 < len(headers) else len(text)
        pieces.append(text[header.end : body_end])
    return pieces


def strip_quoted_reply(text: str) -> str:
    """Remove quoted previous messages from an e-mail reply; keep forwarded messages.

    Everything from the first reply header on is removed: attribution lines ("On
    <date>, <name> <email> wrote:", also split over two lines, and the French,
    German, Spanish, Dutch, Portuguese and Italian forms "Le ... a écrit :", "Am ...
    schrieb ...:", "El ... escribió:", "Op ... schreef ...:", "Em ... escreveu:",
    "Il ... ha scritto:"; they must contain a digit or an ``@``), "-----Original
    Message-----" and Outlook "From: / Sent: / To: / Subject:" blocks (also "De: /
    Enviado el:", "Da: / Inviato:", "Van: / Verzonden:", "De: / Enviada em:").

    A forward keeps its covering note and the forwarded message's body, without
    its header lines, up to the next reply header: a "---------- Forwarded message
    ---------" or "Begin forwarded message:" separator (and their translations)
    above a header with a Subject line, an Outlook block whose Subject starts with
    FW:, Fwd:, WG:, TR:, RV:, ..., or an Outlook block whose Subject is no reply
    (RE:, AW:, SV:, ...) below a short covering note (at most 30 words, or at most
    120 words that say "FYI", "see below", "forwarding", ...). The covering note's
    own sign-off is removed (the last piece's is left to :func:`strip_signature`).

    Lines starting with ``>`` are dropped wherever they are. When nothing but
    quoted material is there, its content is kept instead, without headers and
    ``>`` markers, so a message with content is never emptied.

    Args:
        text: Plain text with ``\\n`` line endings.

    Returns:
        The message without quoted history.
    """
    headers = _header_spans(text)
    has_quoted_lines = ">" in text and _QUOTED_LINE_RE.search(text) is not None
    if not headers and not has_quoted_lines:
        return text
    pieces = _kept_pieces(text, headers)
    if has_quoted_lines:
        pieces = [_QUOTED_LINE_RE.sub("", piece) for piece in pieces]
    pieces = [_drop_trailing_rules(piece) for piece in pieces]
    kept = pieces[0]
    if len(pieces) > 1:  # a forward: the note and the bodies, each without its sign-off
        pieces = [strip_signature(piece) for piece in pieces[:-1]] + pieces[-1:]
        kept = "\n\n".join(piece.strip() for piece in pieces if has_word(piece))
    if has_word(kept):
        return kept
    # Only quoted material: keep its content, without headers and quote markers.
    content = _QUOTE_MARKER_RE.sub("", text) if has_quoted_lines else text
    cuts: list[str] = []
    pos = 0
    for header in _header_spans(content):
        cuts.append(content[pos : header.start])
        pos = header.end
    cuts.append(content[pos:])
    return _RULE_LINES_RE.sub("", "".join(cuts)).strip()
