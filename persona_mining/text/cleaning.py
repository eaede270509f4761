"""Pure-Python cleaners for untrusted support-ticket text.

Every public function is total (it never raises on any ``str``, however odd) and
runs in linear time. The regular expressions are written so that they cannot
backtrack catastrophically: repetitions are bounded, possessive, or stop at a
character that cannot continue the match, and scans that could restart at every
position (e-mail local parts, quote headers) are anchored on a rare character or a
line start instead. A megabyte of adversarial input is processed in well under a
second.

The pipeline used by the rest of the project is :func:`clean_text`::

    html_to_text -> strip_quoted_reply -> strip_signature -> redact_pii
    -> whitespace normalisation -> leading greeting removal

Person names are *not* redacted here; :mod:`persona_mining.text.nlp` replaces spaCy
``PERSON`` entities with ``[NAME]``.
"""

from __future__ import annotations

import hashlib
import html
import re

__all__ = [
    "PLACEHOLDERS",
    "clean_text",
    "content_hash",
    "html_to_text",
    "redact_pii",
    "strip_quoted_reply",
    "strip_signature",
]

#: Placeholders written by :func:`redact_pii` (and ``[NAME]`` by the NLP stage).
PLACEHOLDERS: tuple[str, ...] = (
    "[EMAIL]",
    "[URL]",
    "[CARD]",
    "[IBAN]",
    "[PHONE]",
    "[ADDRESS]",
    "[NAME]",
)

# Fixed-point iterations: a pass that changes nothing proves idempotence; real
# text converges after one or two passes, the cap only bounds adversarial input.
_MAX_PASSES = 6

# Only whitespace that needs changing: runs of two or more, or a single tab etc.
_INLINE_WS_RE = re.compile(r"[^\S\n]{2,}|[^\S \n]")
_SPACE_AROUND_NEWLINE_RE = re.compile(r" \n ?|\n ")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_WORD_RE = re.compile(r"\w")


def _normalise_newlines(text: str) -> str:
    """Turn ``\\r\\n`` and lone ``\\r`` into ``\\n``."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _collapse_lines(text: str) -> str:
    """Collapse whitespace inside lines, strip lines, keep at most one blank line."""
    text = _INLINE_WS_RE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE_RE.sub("\n", text)
    return _MANY_NEWLINES_RE.sub("\n\n", text).strip()


# --------------------------------------------------------------------------- #
# HTML                                                                        #
# --------------------------------------------------------------------------- #

_HTML_TAG_NAMES = frozenset(
    """a abbr address article aside b base bdi bdo big blockquote body br button caption
    center cite code col colgroup dd del details div dl dt em embed fieldset figcaption
    figure font footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins
    kbd label legend li link main mark meta nav noscript object ol optgroup option p
    param pre q s samp script section select small source span strike strong style sub
    summary sup svg table tbody td template textarea tfoot th thead title tr tt u ul var
    wbr o:p""".split()  # noqa: SIM905
)
# Something that reads as markup: a comment, a doctype, or a tag closed by ">"
# before any "<" (group 1: the tag name, checked against _HTML_TAG_NAMES).
_HTML_MARKUP_RE = re.compile(
    r"<(?:!--|!doctype\b|/?([A-Za-z][A-Za-z0-9]*(?::[A-Za-z]+)?)(?=[\s/>])[^<>]*>)",
    re.IGNORECASE,
)
_SCRIPT_OPEN_RE = re.compile(r"<(?=script)", re.IGNORECASE)
# Tokens of the converter: comment start, any tag (group 1 "/", group 2 name), or a
# declaration / processing instruction. [^<>]* stops at the next "<", so the scan
# is linear.
_HTML_TOKEN_RE = re.compile(r"<!--|<(/?)([A-Za-z][\w:-]*)[^<>]*>|<[!?][^<>]*>")
_RAW_TEXT_END_RE = {
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}
_BREAK_TAGS = frozenset({"br", "li", "tr", "hr", "dt", "dd"})
_BLOCK_TAGS = frozenset(
    """p div ul ol table thead tbody tfoot pre h1 h2 h3 h4 h5 h6 section article header
    footer address center form fieldset dl figure figcaption main nav aside details summary
    caption body html head""".split()  # noqa: SIM905
)
_CELL_TAGS = frozenset({"td", "th"})
_EMPTY_QUOTE_LINE_RE = re.compile(r"^(?:[^\S\n]*+>)++[^\S\n]*+$", re.MULTILINE)


def _is_markup(match: re.Match[str]) -> bool:
    """Whether an ``_HTML_MARKUP_RE`` match is a comment, doctype or known tag."""
    name = match.group(1)
    return name is None or name.lower() in _HTML_TAG_NAMES


def _looks_like_html(text: str) -> bool:
    """Whether ``text`` contains a known HTML tag, a comment, a doctype or ``<script``."""
    if "<" not in text:
        return False
    if _SCRIPT_OPEN_RE.search(text) is not None:
        return True
    return any(_is_markup(match) for match in _HTML_MARKUP_RE.finditer(text))


def _neutralise_markup(text: str) -> str:
    """Put a space after the ``<`` of anything in ``text`` that still reads as HTML."""
    if "<" not in text:
        return text
    text = _HTML_MARKUP_RE.sub(
        lambda m: "< " + m.group(0)[1:] if _is_markup(m) else m.group(0), text
    )
    return _SCRIPT_OPEN_RE.sub("< ", text)


def html_to_text(text: str) -> str:
    """Convert HTML to plain text; plain text passes through unchanged.

    ``<script>``/``<style>`` contents (closed or not), ``<title>``, comments and
    declarations are dropped; ``<br>``, ``<li>``, table rows and block elements
    (``</p>``, ``</div>``, ...) become line breaks; the content of ``<blockquote>``
    is prefixed with ``"> "`` (so that :func:`strip_quoted_reply` recognises it);
    entities are unescaped and whitespace is collapsed within lines. Text counts as
    HTML when it contains a known tag, a comment, a doctype or ``<script``; anything
    else only has ``\\r\\n`` / ``\\r`` line endings normalised. Markup that appears
    only after unescaping (``&lt;b&gt;``) gets a space after its ``<``, so the result
    never reads as HTML again (and never contains ``<script``).

    Args:
        text: Untrusted text, HTML or not.

    Returns:
        Plain text.
    """
    text = _normalise_newlines(text)
    if not _looks_like_html(text):
        return text
    out: list[str] = []
    quote_depth = 0
    quote_seen = False
    in_title = False
    at_line_start = True

    def emit(chunk: str) -> None:
        nonlocal at_line_start
        if not chunk or in_title:
            return
        if "&" in chunk:
            chunk = html.unescape(chunk)
        if quote_depth:
            prefix = "> " * quote_depth
            chunk = chunk.replace("\n", "\n" + prefix)
            if at_line_start:
                chunk = prefix + chunk
            if chunk.endswith("\n" + prefix):
                chunk = chunk[: -len(prefix)]
        out.append(chunk)
        at_line_start = chunk.endswith("\n")

    n = len(text)
    pos = 0
    while pos < n:
        token = _HTML_TOKEN_RE.search(text, pos)
        if token is None:
            emit(text[pos:])
            break
        emit(text[pos : token.start()])
        pos = token.end()
        if token.group(0) == "<!--":
            end = text.find("-->", pos)
            pos = n if end < 0 else end + 3
            continue
        name = token.group(2)
        if name is None:
            continue  # <!doctype ...>, <?xml ...?>, <![CDATA[...]]> and the like
        name = name.lower()
        closing = token.group(1) == "/"
        if name in _RAW_TEXT_END_RE:
            if not closing:
                end_match = _RAW_TEXT_END_RE[name].search(text, pos)
                pos = n if end_match is None else end_match.end()
        elif name == "title":
            in_title = not closing
        elif name == "blockquote":
            quote_seen = True
            emit("\n")
            quote_depth = max(0, quote_depth + (-1 if closing else 1))
        else:
            if name in ("body", "head"):
                in_title = False  # an unclosed <title> must not swallow the page
            if name in _BLOCK_TAGS or (name in _BREAK_TAGS and (not closing or name == "br")):
                emit("\n")
            elif name in _CELL_TAGS and not closing:
                emit(" ")
    result = _normalise_newlines("".join(out).replace("\u00a0", " "))
    if quote_seen:
        result = _EMPTY_QUOTE_LINE_RE.sub("", result)
    return _collapse_lines(_neutralise_markup(result))


# --------------------------------------------------------------------------- #
# Quoted replies                                                              #
# --------------------------------------------------------------------------- #

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
    if _WORD_RE.search(kept):
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


# --------------------------------------------------------------------------- #
# Signatures                                                                  #
# --------------------------------------------------------------------------- #

_SIGNATURE_TAIL_LINES = 40
_SIGNATURE_BLOCK_MAX_LINES = 15
_SIGNOFF_MAX_FOLLOWING = 4
_SIGNOFF_LINE_MAX_CHARS = 70
_MOBILE_RE = re.compile(
    r"[ \t]*(?:Sent from my \S.{0,40}|Sent from (?:Outlook|Mail|Yahoo Mail|Gmail)\b.{0,40}|"
    r"Get Outlook for \S.{0,30}|Sent from Mail for Windows.{0,20}|Envoyé de mon \S.{0,40}|"
    r"Von meinem \S.{0,40}gesendet.{0,10}|Enviado desde mi \S.{0,40})[ \t]*$",
    re.IGNORECASE,
)
_SIGNOFF_RE = re.compile(
    r"[ \t]*(?i:thanks|thank you|thanks a lot|thanks so much|many thanks|thanks again|"
    r"thanks in advance|thank you in advance|thanks and regards|thx|tia|best|best regards|"
    r"kind regards|warm regards|warmest regards|regards|cheers|sincerely|sincerely yours|"
    r"yours sincerely|yours truly|yours faithfully|best wishes|all the best|with thanks|"
    r"respectfully|cordialement|bien cordialement|merci|mit freundlichen grüßen|"
    r"mit freundlichen grüssen|viele grüße|beste grüße|saludos|saludos cordiales|atentamente)"
    r"[ \t]*[,.!\-]*(?:[ \t]*[A-Z][\w.'\-]*(?:[ \t]+[A-Z][\w.'\-]*){0,3})?[ \t]*$"
)
_PS_RE = re.compile(r"[ \t]*P\.?S\b", re.IGNORECASE)

_MULTIWORD_SIGNOFFS = frozenset(
    {
        "thank you", "thanks a lot", "thanks so much", "many thanks", "thanks again",
        "thanks in advance", "thank you in advance", "thanks and regards", "best regards",
        "kind regards", "warm regards", "warmest regards", "sincerely yours",
        "yours sincerely", "yours truly", "yours faithfully", "best wishes", "all the best",
        "with thanks", "bien cordialement", "mit freundlichen grüßen",
        "mit freundlichen grüssen", "viele grüße", "beste grüße", "saludos cordiales",
    }
)  # fmt: skip


def _is_signoff(line: str) -> bool:
    """Whether a line is a sign-off such as "Thanks," or "Best regards, Ann"."""
    if len(line) > _SIGNOFF_LINE_MAX_CHARS or _SIGNOFF_RE.match(line) is None:
        return False
    # "Best Buy" or "Cheers Mate" without a comma are probably not sign-offs; a name
    # after the sign-off word needs a separating comma or dash.
    words = line.split()
    if len(words) > 1 and not any(mark in line for mark in ",-!."):
        return line.strip().lower() in _MULTIWORD_SIGNOFFS
    return True


def _has_words(lines: list[str]) -> bool:
    """Whether any of the lines has a word character."""
    return any(_WORD_RE.search(line) for line in lines)


#: One to three capitalised words, nothing else: how many people sign a message.
_BARE_NAME_RE = re.compile(r"^[A-Z][a-z'\-]+(?: [A-Z][a-z'\-]+\.?){0,2}$")


def _strip_signature_once(text: str) -> str:
    """One pass of :func:`strip_signature` over the last lines of ``text``."""
    parts = text.rsplit("\n", _SIGNATURE_TAIL_LINES)
    if len(parts) > _SIGNATURE_TAIL_LINES:
        head: list[str] = [parts[0]]
        tail = parts[1:]
    else:
        head, tail = [], parts
    while tail and not tail[-1].strip():
        tail.pop()
    if not tail:
        return text

    def body_above(index: int) -> bool:
        return _has_words(head) or _has_words(tail[:index])

    # "Sent from my iPhone" and friends.
    if _MOBILE_RE.match(tail[-1]) and body_above(len(tail) - 1):
        return "\n".join(head + tail[:-1]).rstrip()
    # "-- " signature delimiter and everything below it.
    for index in range(len(tail) - 1, max(-1, len(tail) - 2 - _SIGNATURE_BLOCK_MAX_LINES), -1):
        if tail[index].strip() == "--" and body_above(index):
            return "\n".join(head + tail[:index]).rstrip()
    # Sign-off plus up to four short lines (name, title, phone, company).
    non_blank = [i for i, line in enumerate(tail) if line.strip()]
    window = non_blank[-(_SIGNOFF_MAX_FOLLOWING + 1) :]
    for position, index in enumerate(window):
        if not _is_signoff(tail[index]):
            continue
        following = [tail[i] for i in window[position + 1 :]]
        if any(
            len(line.strip()) > _SIGNOFF_LINE_MAX_CHARS
            or line.rstrip().endswith("?")
            or _PS_RE.match(line)
            or len(line.split()) > 8
            for line in following
        ):
            continue
        if body_above(index):
            return "\n".join(head + tail[:index]).rstrip()
    # A bare name on its own last line, after a blank line ("...\n\nOlivia"): a signature.
    last = non_blank[-1]
    if (
        last > 0
        and not tail[last - 1].strip()
        and _BARE_NAME_RE.match(tail[last].strip())
        and body_above(last)
    ):
        return "\n".join(head + tail[:last]).rstrip()
    return text


def strip_signature(text: str) -> str:
    """Remove sign-offs and signature blocks at the end of a message.

    Conservative: only the end of the message is touched and never the whole body.
    Removed are a trailing "Sent from my iPhone"-style line, a "-- " delimiter
    (within the last 15 lines) and everything below it, and a sign-off line
    ("Thanks,", "Best regards,", "Cheers", "Sincerely, Ann", ...) followed by at
    most four short lines (name, title, phone, company).

    Args:
        text: Plain text with ``\\n`` line endings.

    Returns:
        The message without its signature.
    """
    for _ in range(_MAX_PASSES):
        stripped = _strip_signature_once(text)
        if stripped == text:
            break
        text = stripped
    return text


# --------------------------------------------------------------------------- #
# PII                                                                         #
# --------------------------------------------------------------------------- #

# E-mail: found from its "@" (the domain is matched by the regex, the local part
# is scanned backwards, at most 64 characters) so that runs of letters without an
# "@" cost nothing.
_EMAIL_DOMAIN_RE = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_EMAIL_LOCAL_MAX = 64
_EMAIL_LOCAL_PUNCT = frozenset("._%+-'")
_URL_RE = re.compile(r"(?<![\w.\-])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\"*"
# Patterns start with a character class (look-behinds come after the first
# character) so that the regex engine can skip quickly to candidate positions.
_IBAN_RE = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?:[ ]?[A-Z0-9]){11,32}")
# Card numbers: at every digit-run start, the candidate layouts are captured in
# look-aheads (so overlapping candidates are all seen); the first Luhn-valid one wins.
_CARD_RE = re.compile(
    r"(?<![0-9+])(?=[0-9]{4}[ \-]?[0-9]{4})"
    r"(?:(?=([0-9]{4}(?:[ \-]?[0-9]{4}){3}[ \-]?[0-9]{3})(?![0-9])))?"  # 19 digits
    r"(?:(?=([0-9]{4}(?:[ \-]?[0-9]{4}){3})(?![0-9])))?"  # 16 digits
    r"(?:(?=([0-9]{4}[ \-]?[0-9]{6}[ \-]?[0-9]{4,5})(?![0-9])))?"  # 14-15 digits (Amex)
    r"(?:(?=([0-9]{13,19})(?![0-9])))?"  # contiguous
)
_CARD_HINT_RE = re.compile(r"[0-9]{4}[ \-]?[0-9]{4}")
_CARD_SEPARATORS = str.maketrans("", "", " -")
_CARD_SHAPED_RE = re.compile(
    r"[0-9](?<![0-9+][0-9])(?:[0-9]{3}(?:[ \-]?[0-9]{4}){3}(?:[ \-]?[0-9]{3})?"
    r"|[0-9]{3}[ \-]?[0-9]{6}[ \-]?[0-9]{4,5}|[0-9]{12,18})(?![0-9])"
)
# Candidates checked one by one (Luhn, mod 97) per call; beyond that the text is a
# dump of numbers and the remaining candidates are redacted without the checksum.
_CHECK_BUDGET = 10_000
# Phone candidates: optional "+cc", optional "(area)", then up to seven digit groups
# separated by one space, dot, dash or slash. _is_phone() decides.
_PHONE_RE = re.compile(
    r"(?<![\w#$€£¥+.,/\-])"
    r"(?=[+(0-9][0-9 .\-/()]{6})"  # cheap pre-check: long enough for 7 digits
    r"(?:\+[ ]?[0-9]{1,4}[ .\-]?)?"
    r"(?:\([0-9]{1,5}\)[ .\-]?)?"
    r"[0-9]{1,12}(?:[ .\-/][0-9]{1,12}){0,6}"
    r"(?![\w]|[.,][0-9])"
)
_PHONE_HINT_RE = re.compile(r"[0-9](?:[ .\-/()]{0,2}[0-9]){6}")
_PHONE_GROUP_RE = re.compile(r"[0-9]+")
_PHONE_SEPARATORS = str.maketrans("", "", " .-/()+")
_DOTTED_CHARS = frozenset("0123456789.")
_DATE_PREFIX_RE = re.compile(
    r"(?:[0-9]{4}[\-/.][0-9]{1,2}[\-/.][0-9]{1,2}|[0-9]{1,2}[\-/.][0-9]{1,2}[\-/.][0-9]{2,4})"
    r"(?![0-9])"
)
# Words just before a number that make it an identifier ("order no. 1234567"), and
# words shortly before that make it a phone number ("call me on 612 345 678").
_NOT_PHONE_WORDS = frozenset(
    """order invoice ticket case ref reference id sku tracking transaction receipt serial
    model version build account acct po item booking confirmation customer member licence
    license policy batch lot error code""".split()  # noqa: SIM905
)
_NUMBER_WORDS = frozenset({"no", "nr", "num", "number", "id"})
_PHONE_WORDS = frozenset(
    """phone tel telephone mobile cell call fax whatsapp sms text reach contact number ring
    dial""".split()  # noqa: SIM905
)
_ASCII_WORD_RE = re.compile(r"[A-Za-z]+")
_ADDRESS_RE = re.compile(
    r"[0-9](?<![\w#$€£¥.,\-][0-9])[0-9]{0,4}[A-Za-z]?(?:[ \t]+[A-Z][A-Za-z'\-]*\.?){1,4}?[ \t]+"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Square|Sq|Terrace|Way|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Alley|Crescent|Close|Row)"
    r"\b"
)
_LUHN_DOUBLED = {str(d): (2 * d) % 9 if d != 9 else 9 for d in range(10)}
_PHONE_SPLIT_BUDGET = 200


def _luhn_ok(digits: str) -> bool:
    """Luhn checksum of an ASCII digit string."""
    total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
    return total % 10 == 0


def _redact_emails(text: str) -> str:
    """Replace e-mail addresses with ``[EMAIL]``."""
    if "@" not in text:
        return text
    pieces: list[str] = []
    last = 0
    for match in _EMAIL_DOMAIN_RE.finditer(text):
        at = match.start()
        if at < last:
            continue
        start = at
        floor = max(last, at - _EMAIL_LOCAL_MAX)
        while start > floor and (
            text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL_PUNCT
        ):
            start -= 1
        while start < at and text[start] in ".'":
            start += 1
        if start == at:
            continue
        pieces.append(text[last:start])
        pieces.append("[EMAIL]")
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _replace_url(match: re.Match[str]) -> str:
    """``[URL]`` for a URL match, keeping trailing sentence punctuation."""
    url = match.group(0)
    stripped = url.rstrip(_URL_TRAILING)
    if stripped.lower() in {"www", "http://", "https://", "ftp://"}:
        stripped = url
    return "[URL]" + url[len(stripped) :]


def _replace_iban(match: re.Match[str]) -> str:
    """``[IBAN]`` for the longest mod-97-valid IBAN at the start of the match."""
    raw = match.group(0)
    # ISO 13616 check: move the first four characters to the end, letters count as
    # 10..35, the number mod 97 must be 1. The remainder is computed incrementally
    # for every prefix in one pass.
    head = int("".join(str(int(char, 36)) for char in raw[:4]))
    remainder = 0
    valid_end = 0
    length = 4
    for index in range(4, len(raw)):
        char = raw[index]
        if char == " ":
            continue
        value = int(char, 36)
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
        length += 1
        if length > 34:
            break
        boundary = index + 1 == len(raw) or raw[index + 1] == " "
        if length >= 15 and boundary and (remainder * 1_000_000 + head) % 97 == 1:
            valid_end = index + 1
    if not valid_end:
        return raw
    return "[IBAN]" + raw[valid_end:]


def _redact_ibans(text: str) -> str:
    """Replace mod-97-valid IBANs with ``[IBAN]``."""
    budget = _CHECK_BUDGET

    def replace(match: re.Match[str]) -> str:
        nonlocal budget
        budget -= 1
        return _replace_iban(match) if budget >= 0 else "[IBAN]"

    return _IBAN_RE.sub(replace, text)


def _redact_cards(text: str) -> str:
    """Replace Luhn-valid card numbers (13-19 digits, spaces/dashes) with ``[CARD]``."""
    if _CARD_HINT_RE.search(text) is None:
        return text
    pieces: list[str] = []
    last = 0
    budget = _CHECK_BUDGET
    for match in _CARD_RE.finditer(text):
        start = match.start()
        if start < last:
            continue
        budget -= 1
        if budget < 0:
            # A dump of card-shaped numbers: fail closed, redact them all unchecked.
            pieces.append(text[last:start])
            pieces.append(_CARD_SHAPED_RE.sub("[CARD]", text[start:]))
            return "".join(pieces)
        for candidate in match.groups():
            if candidate is not None and _luhn_ok(candidate.translate(_CARD_SEPARATORS)):
                pieces.append(text[last:start])
                pieces.append("[CARD]")
                last = start + len(candidate)
                break
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _follows_identifier_word(before: str) -> bool:
    """Whether ``before`` ends with "order", "invoice no.", "ticket #" and the like."""
    stripped = before.rstrip(" \t:#.")
    if not stripped or not stripped[-1].isascii() or not stripped[-1].isalpha():
        return False
    words = [word.lower() for word in _ASCII_WORD_RE.findall(stripped[-30:])[-2:]]
    if words[-1] in _NOT_PHONE_WORDS:
        return True
    return len(words) == 2 and words[-1] in _NUMBER_WORDS and words[0] in _NOT_PHONE_WORDS


def _has_phone_context(before: str) -> bool:
    """Whether a word like "phone", "call" or "mobile" occurs in ``before``'s tail."""
    return any(word.lower() in _PHONE_WORDS for word in _ASCII_WORD_RE.findall(before[-25:]))


def _is_phone(candidate: str, before: str) -> bool:
    """Whether a digit run (with separators) reads as a phone number.

    Args:
        candidate: The run, e.g. ``"+1 (555) 123-4567"``.
        before: Up to 40 characters preceding it (for "order no." / "phone:").
    """
    digits = len(candidate.translate(_PHONE_SEPARATORS))
    if not 7 <= digits <= 15:
        return False
    if _DATE_PREFIX_RE.match(candidate):
        return False
    if candidate.startswith("+") or "(" in candidate:
        return True
    groups = _PHONE_GROUP_RE.findall(candidate)
    if any(len(group) == 1 for group in groups[1:]):
        return False  # "1 2 3 4 5 6 7", "10.2.3 4567"
    if len(groups) >= 4 and set(candidate) <= _DOTTED_CHARS and max(map(len, groups)) <= 3:
        return False  # IP address or version number
    if _follows_identifier_word(before):
        return False
    context = _has_phone_context(before)
    if len(groups) == 1:
        return digits in (10, 11) or context
    if len(groups) == 2:
        first, second = groups
        us_local = len(first) == 3 and len(second) == 4
        area_code = 3 <= len(first) <= 5 and first.startswith("0") and len(second) >= 5
        return us_local or area_code or context
    thousands = (
        {len(group) for group in groups[1:]} == {3}
        and len(groups[0]) <= 3
        and not set(candidate) & {"-", "/"}
    )
    same_long_groups = len({len(group) for group in groups}) == 1 and len(groups[0]) >= 4
    return context if thousands or same_long_groups else True


def _redact_phones(text: str) -> str:
    """Replace phone numbers with ``[PHONE]`` (heuristics in :func:`_is_phone`)."""
    if _PHONE_HINT_RE.search(text) is None:
        return text
    budget = _PHONE_SPLIT_BUDGET

    def replace(match: re.Match[str]) -> str:
        nonlocal budget
        candidate = match.group(0)
        before = text[max(0, match.start() - 40) : match.start()]
        if _is_phone(candidate, before):
            return "[PHONE]"
        if budget <= 0 or len(candidate.translate(_PHONE_SEPARATORS)) <= 15 or " " not in candidate:
            return candidate
        # Too many digits: a phone number next to other numbers. Try the longest
        # stretch between spaces that reads as a phone number.
        budget -= 1
        words = candidate.split(" ")
        for size in range(len(words) - 1, 0, -1):
            for first in range(len(words) - size + 1):
                part = " ".join(words[first : first + size])
                offset = len(" ".join(words[:first])) + (1 if first else 0)
                if _is_phone(part, before + candidate[:offset]):
                    return candidate[:offset] + "[PHONE]" + candidate[offset + len(part) :]
        return candidate

    return _PHONE_RE.sub(replace, text)


def _redact_once(text: str) -> str:
    """One pass of every PII pattern, in a safe order."""
    text = _redact_emails(text)
    if "://" in text or "www." in text or "WWW." in text or "Www." in text:
        text = _URL_RE.sub(_replace_url, text)
    text = _redact_ibans(text)
    text = _redact_cards(text)
    text = _redact_phones(text)
    return _ADDRESS_RE.sub("[ADDRESS]", text)


def redact_pii(text: str) -> str:
    """Replace personal data with placeholders.

    E-mail addresses become ``[EMAIL]``; URLs (with a scheme or ``www.``)
    ``[URL]``; Luhn-valid card numbers (13-19 digits, optional spaces or dashes)
    ``[CARD]``; mod-97-valid IBANs ``[IBAN]``; phone numbers (international, US and
    European layouts, 7-15 digits) ``[PHONE]``; simple street addresses ("12 Main
    Street", "221B Baker St") ``[ADDRESS]``. Order numbers ("#123456", "order
    1234567"), dates, years, prices, IP addresses and counts are left alone. The
    passes repeat until nothing changes, so the function is idempotent. Person
    names are handled by :mod:`persona_mining.text.nlp`.

    Args:
        text: Any text.

    Returns:
        The text with placeholders instead of personal data.
    """
    for _ in range(_MAX_PASSES):
        redacted = _redact_once(text)
        if redacted == text:
            break
        text = redacted
    return text


# --------------------------------------------------------------------------- #
# Pipeline                                                                    #
# --------------------------------------------------------------------------- #

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
_GREETING_WORDS = (
    r"team|there|all|everyone|everybody|folks|guys|support|sir|madam|or|and|again|both|"
    r"friends|people|customer|service|care|help|desk|helpdesk|hello"
)
# One or more greetings at the very start: a greeting word, up to four capitalised
# words, known words or [NAME], then either the end of the line (with optional
# punctuation) or a comma.
_GREETING_RE = re.compile(
    r"(?:[^\S\n]*(?i:hi|hello|hey|hiya|heya|dear|greetings|howdy|bonjour|hallo|hola|salut|"
    r"ciao|good[^\S\n]+(?:morning|afternoon|evening|day)|guten[^\S\n]+tag)\b"
    rf"(?:[^\S\n]+(?:(?i:{_GREETING_WORDS})(?![\w'])|[A-Z][\w.'\-]*|\[NAME\])){{0,4}}"
    r"[^\S\n]*(?:[,!.:;\-]*[^\S\n]*(?:\n|\Z)|,)\s*)+"
)


def _sanitise(text: str) -> str:
    """Drop control and zero-width characters and lone surrogates; unify line breaks."""
    text = text.translate(_SANITISE_TABLE)
    if not text.isascii():
        text = _SURROGATE_RE.sub("", text)
    return _normalise_newlines(text)


def _strip_greeting(text: str) -> str:
    """Drop leading greetings ("Hi,", "Hello team,", "Dear Support,")."""
    match = _GREETING_RE.match(text)
    return text if match is None else text[match.end() :]


def _clean_once(text: str) -> str:
    """One pass of the cleaning pipeline."""
    text = _sanitise(text)
    text = html_to_text(text)
    text = strip_quoted_reply(text)
    text = strip_signature(text)
    text = redact_pii(text)
    text = _collapse_lines(text)
    return _strip_greeting(text).strip()


def clean_text(text: str) -> str:
    """Clean one support-ticket text for analysis.

    The pipeline is :func:`html_to_text` -> :func:`strip_quoted_reply` ->
    :func:`strip_signature` -> :func:`redact_pii` -> whitespace normalisation
    (control and zero-width characters dropped, spaces collapsed within lines, at
    most one blank line, stripped; sentence punctuation kept) -> removal of a
    leading greeting ("Hi,", "Hello team,", "Dear Support," on their own line, or
    followed by a comma and the message). The pipeline repeats until the text stops
    changing (one confirming pass for ordinary tickets), so ``clean_text`` is
    idempotent.

    Args:
        text: Raw ticket text (plain text or HTML, possibly a whole e-mail thread).

    Returns:
        Cleaned, redacted text; ``""`` if nothing is left.
    """
    cleaned = _clean_once(text)
    for _ in range(_MAX_PASSES):
        again = _clean_once(cleaned)
        if again == cleaned:
            break
        cleaned = again
    return cleaned


def content_hash(text: str) -> str:
    """SHA-256 hex digest of ``text`` encoded as UTF-8 (lone surrogates allowed).

    Args:
        text: Any text.

    Returns:
        64 lower-case hex characters.
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
