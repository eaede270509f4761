"""HTML e-mail bodies to plain text, without an HTML parser.

A tokenizer that cannot backtrack (every pattern stops at the next ``<``) keeps the
conversion linear on adversarial input; blockquotes become ``"> "`` lines so that
:mod:`persona_mining.text.replies` can drop them like plain-text quotes.
"""

from __future__ import annotations

import html
import re

from persona_mining.text.normalise import collapse_lines, normalise_newlines

__all__ = ["html_to_text", "strip_attachments"]

# What a mail client leaves of attachments in the text: inline image references
# ("[cid:image001.png@01DAB5C3.1F2E3D40]", Gmail's "[image: logo.png]"), MIME part headers and
# boundaries, and base64 data (two or more lines of 40 or more base64 characters, or one of
# 200 or more). Every repetition is bounded or possessive, and each pattern starts at a line
# start or a "[".
_INLINE_IMAGE_RE = re.compile(r"\[(?i:cid:[^\]\n]{1,300}|image:[^\]\n]{0,300})\]")
_MIME_HEADER_LINE = (
    r"[^\S\n]*+(?i:content-(?:type|transfer-encoding|disposition|id|description)|mime-version|"
    r"x-attachment-id)[^\S\n]*+:[^\n]*+(?:\n[ \t][^\n]*+)*+(?:\n|\Z)"
)
_MIME_HEADER_RE = re.compile(rf"^{_MIME_HEADER_LINE}", re.MULTILINE)
_MIME_BOUNDARY_RE = re.compile(
    r"^--[=_A-Za-z0-9'()+,./:?-]{8,200}+[^\S\n]*+(?:\n|\Z)", re.MULTILINE
)
_BASE64_RE = re.compile(
    r"(?:^[A-Za-z0-9+/]{40,}+={0,2}[^\S\n]*+(?:\n|\Z)){2,}+"
    r"|^[A-Za-z0-9+/]{200,}+={0,2}[^\S\n]*+(?:\n|\Z)",
    re.MULTILINE,
)

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
# A character reference written out in full, with its semicolon: "&amp;", "&#39;", "&#x27;".
# Without the semicolon ("?id=1&para=2", "R&D") it is left alone: html.unescape would read
# "&para" as a pilcrow.
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


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


def _plain_entities(text: str) -> str:
    """Plain text with its character references decoded (``&amp;`` -> ``&``).

    Exports from web forms and social media escape ``&``, ``<`` and ``>`` in plain text;
    left in, "&amp;" becomes the keyword "amp". Markup that the decoding reveals gets a space
    after its ``<``, as in HTML.
    """
    if "&" not in text:
        return text
    decoded = _ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), text)
    return decoded if decoded == text else _neutralise_markup(decoded)


def html_to_text(text: str) -> str:
    """Convert HTML to plain text; plain text only has its character references decoded.

    ``<script>``/``<style>`` contents (closed or not), ``<title>``, comments and
    declarations are dropped; ``<br>``, ``<li>``, table rows and block elements
    (``</p>``, ``</div>``, ...) become line breaks; the content of ``<blockquote>``
    is prefixed with ``"> "`` (so that :func:`strip_quoted_reply` recognises it);
    entities are unescaped and whitespace is collapsed within lines. Text counts as
    HTML when it contains a known tag, a comment, a doctype or ``<script``; anything
    else has ``\\r\\n`` / ``\\r`` line endings normalised and its complete character
    references (``&amp;``, ``&#39;``; not ``&amp`` without the semicolon) decoded.
    Markup that appears only after unescaping (``&lt;b&gt;``) gets a space after its
    ``<``, so the result never reads as HTML again (and never contains ``<script``).

    Args:
        text: Untrusted text, HTML or not.

    Returns:
        Plain text.
    """
    text = normalise_newlines(text)
    if not _looks_like_html(text):
        return strip_attachments(_plain_entities(text))
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
    result = normalise_newlines("".join(out).replace("\u00a0", " "))
    if quote_seen:
        result = _EMPTY_QUOTE_LINE_RE.sub("", result)
    return collapse_lines(strip_attachments(_neutralise_markup(result)))


def strip_attachments(text: str) -> str:
    """Drop what attachments leave in a message's text: inline image references
    (``[cid:image001.png@01DA...]``, ``[image: logo.png]``), MIME part headers
    (``Content-Type: ...``, ``Content-Transfer-Encoding: base64``), boundaries
    (``--000000000000a1b2c3``) and base64 data. None of it is the customer's words, and base64
    read as words made a ticket "Dutch"."""
    if "[" in text:
        text = _INLINE_IMAGE_RE.sub("", text)
    if ":" in text:
        text = _without_mime_heads(text)
    if "--" in text:
        text = _MIME_BOUNDARY_RE.sub("", text)
    return _BASE64_RE.sub(_base64_or_kept, text)


def _base64_or_kept(match: re.Match[str]) -> str:
    """Nothing for base64 data, which mixes capitals, small letters and digits; the match
    itself for a run of one kind ("aaaa...", a long number): text, however odd."""
    block = match.group(0)
    mixed = (
        any(c.isupper() for c in block)
        and any(c.islower() for c in block)
        and any(c.isdigit() for c in block)
    )
    return "" if mixed else block


def _without_mime_heads(text: str) -> str:
    """`text` without its runs of two or more MIME header lines (a part's head); one line
    alone may be the customer's own words ("Content-Type: application/json is not
    supported"). One scan for the lines, then the runs are cut."""
    runs: list[list[int]] = []
    for match in _MIME_HEADER_RE.finditer(text):
        if runs and runs[-1][1] == match.start():
            runs[-1][1] = match.end()
            runs[-1][2] += 1
        else:
            runs.append([match.start(), match.end(), 1])
    heads = [(start, end) for start, end, lines in runs if lines >= 2]
    if not heads:
        return text
    pieces, pos = [], 0
    for start, end in heads:
        pieces.append(text[pos:start])
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)
