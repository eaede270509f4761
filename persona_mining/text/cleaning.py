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
    -> mask_references -> whitespace normalisation -> leading greeting removal

Each step lives in a module of its own (:mod:`~persona_mining.text.markup`,
:mod:`~persona_mining.text.replies`, :mod:`~persona_mining.text.signatures`,
:mod:`~persona_mining.text.pii`, :mod:`~persona_mining.text.references`); this module
composes them.

Person names are *not* redacted here; :mod:`persona_mining.text.nlp` replaces spaCy
``PERSON`` entities with ``[NAME]``.
"""

from __future__ import annotations

import hashlib
import re

from persona_mining.text.markup import html_to_text
from persona_mining.text.normalise import collapse_lines, repeat_until_stable, sanitise
from persona_mining.text.pii import PLACEHOLDERS, redact_pii
from persona_mining.text.references import mask_references
from persona_mining.text.replies import strip_quoted_reply
from persona_mining.text.signatures import strip_signature

__all__ = [
    "PLACEHOLDERS",
    "clean_text",
    "content_hash",
    "html_to_text",
    "mask_references",
    "redact_pii",
    "strip_quoted_reply",
    "strip_signature",
]

_GREETING_WORDS = (
    r"team|there|all|everyone|everybody|folks|guys|support|sir|madam|or|and|again|both|"
    r"friends|people|customer|service|care|help|desk|helpdesk|hello|und|et|y|e|en|"
    r"de|da|do|dos|das|del|der|den|van|von|di|du|la|le|ao|al|of|the"
)
# Greeting words in English and in the languages of the sign-offs ("Sehr geehrte",
# "Liebe", "Olá", "Caro", "Gentile", "Beste", "Estimado", "Prezados", ...).
_GREETINGS = (
    r"hi|hello|hey|hiya|heya|dear|greetings|howdy|bonjour|bonsoir|hallo|hola|salut|ciao|"
    r"good[^\S\n]+(?:morning|afternoon|evening|day)|guten[^\S\n]+(?:tag|morgen|abend)|"
    r"(?:sehr[^\S\n]+)?geehrte[rs]?|liebe[rs]?|moin|servus|ol[áa]|bom[^\S\n]+dia|"
    r"boa[^\S\n]+(?:tarde|noite)|prezad[oa]s?|estimad[oa]s?|querid[oa]s?|"
    r"buen[oa]s[^\S\n]+(?:d[ií]as|tardes|noches)|caro|cara|cari|gentile|gentili|egregio|"
    r"egregia|spettabile|buongiorno|buonasera|salve|beste|geachte|hoi|goedemorgen|"
    r"goedemiddag|cher|ch[èe]re|chers|ch[èe]res|madame|monsieur"
)
_CAPITALISED = r"[A-ZÀ-ÖØ-Þ][\w.'\-]*"
# Words that start a request rather than name someone: "hey can you, ..." keeps them.
_NOT_GREETED = r"i|i'm|im|we|my|our|can|could|would|will|is|are|do|does|how|what|why|please|pls"
# One or more greetings at the very start: a greeting word, then either up to four
# capitalised words, known words or [NAME] and the end of the line (with optional
# punctuation) or a comma, or one or two words in any case and a comma ("hi ingrid,").
_GREETING_RE = re.compile(
    rf"(?:[^\S\n]*(?i:{_GREETINGS})\b"
    rf"(?:(?:[^\S\n]+(?:(?i:{_GREETING_WORDS})(?![\w'])|{_CAPITALISED}|\[NAME\])){{0,4}}"
    r"[^\S\n]*(?:[,!.:;\-]*[^\S\n]*(?:\n|\Z)|,)"
    rf"|[^\S\n]+(?!(?i:{_NOT_GREETED})(?![\w']))[^\W\d_][\w.'\-]*"
    r"(?:[^\S\n]+[^\W\d_][\w.'\-]*)?[^\S\n]*,)\s*)+"
)


def _strip_greeting(text: str) -> str:
    """Drop leading greetings ("Hi,", "Hello team,", "Dear Support,", "hi ingrid,",
    "Sehr geehrte Frau Rossi,")."""
    match = _GREETING_RE.match(text)
    return text if match is None else text[match.end() :]


def _clean_once(text: str) -> str:
    """One pass of the cleaning pipeline."""
    text = sanitise(text)
    text = html_to_text(text)
    text = strip_quoted_reply(text)
    text = strip_signature(text)
    text = redact_pii(text)
    text = mask_references(text)
    text = collapse_lines(text)
    return _strip_greeting(text).strip()


def clean_text(text: str) -> str:
    """Clean one support-ticket text for analysis.

    The pipeline is :func:`html_to_text` -> :func:`strip_quoted_reply` ->
    :func:`strip_signature` -> :func:`redact_pii` -> :func:`mask_references` (order
    numbers and references become ``[ID]``, numeric dates ``[DATE]``) -> whitespace normalisation
    (control and zero-width characters dropped, spaces collapsed within lines, at
    most one blank line, stripped; sentence punctuation kept) -> removal of a
    leading greeting ("Hi,", "Hello team,", "Dear Support," on their own line, or
    followed by a comma and the message). The pipeline repeats until the text stops
    changing (one confirming pass for ordinary tickets), so ``clean_text`` is
    idempotent; a text the first pass leaves as it was is clean already, and needs no
    confirming pass (most short chat or search-box requests).

    Args:
        text: Raw ticket text (plain text or HTML, possibly a whole e-mail thread).

    Returns:
        Cleaned, redacted text; ``""`` if nothing is left.
    """
    cleaned = _clean_once(text)
    if cleaned == text:  # a fixed point already: the next pass would give it back unchanged
        return cleaned
    return repeat_until_stable(_clean_once, cleaned)


def content_hash(text: str) -> str:
    """SHA-256 hex digest of ``text`` encoded as UTF-8 (lone surrogates allowed).

    Args:
        text: Any text.

    Returns:
        64 lower-case hex characters.
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
