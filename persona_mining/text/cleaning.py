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
# "Olá", "Gentile", "Estimado", "Prezados", ...).
_GREETINGS = (
    r"hi|hello|hey|hiya|heya|dear|greetings|howdy|bonjour|bonsoir|hallo|hola|salut|ciao|"
    r"good[^\S\n]+(?:morning|afternoon|evening|day)|guten[^\S\n]+(?:tag|morgen|abend)|"
    r"(?:sehr[^\S\n]+)?geehrte[rs]?|moin|servus|ol[áa]|bom[^\S\n]+dia|"
    r"boa[^\S\n]+(?:tarde|noite)|prezad[oa]s?|estimad[oa]s?|"
    r"buen[oa]s[^\S\n]+(?:d[ií]as|tardes|noches)|gentile|gentili|egregio|"
    r"egregia|spettabile|buongiorno|buonasera|salve|geachte|hoi|goedemorgen|"
    r"goedemiddag|chers|ch[èe]res|madame|monsieur"
)
# Greetings that are also ordinary words ("Liebe die App", "Beste app ooit", "Cher mais
# efficace", "Caro ma funziona"): they greet only a capitalised word (a name, "Frau", "Sr.").
_AMBIGUOUS_GREETINGS = r"liebe[rs]?|beste|ch[èe]re|cher|caro|cara|cari|querid[oa]s?"
# ... or someone addressed by role ("Cher service client,", "Beste klant,", "Liebes Team,").
_ROLES = (
    r"team|support|service|customer|client|clients|clientèle|cliente|clientes|kunde|kunden|"
    r"kundin|kundenservice|kundendienst|équipe|equipe|equipo|klant|klanten|klantenservice|"
    r"servizio|assistenza|suporte|atención|atendimento|helpdesk"
)
_CAPITALISED = r"[A-ZÀ-ÖØ-Þ][\w.'\-]*"
# Words that start a request rather than name someone ("hey can you, ...", "hi need help,
# ...", "Hola necesito ayuda, ...", "Dear god, ..."): stop words and common words of the
# supported languages, none of which follows a greeting as a name.
_NOT_GREETED = (
    r"i|i'm|im|we|my|our|can|could|would|will|is|are|do|does|how|what|why|please|pls|"
    r"a|an|the|this|that|it|its|you|your|me|so|just|still|again|not|no|yes|ok|okay|any|some|"
    r"need|needs|help|helps|quick|question|questions|problem|issue|issues|urgent|everything|"
    r"nothing|something|all|app|god|omg|order|account|refund|payment|login|password|broke|"
    r"broken|error|crash|crashes|crashing|wrong|update|sorry|when|where|who|which|there|here|"
    r"have|has|had|was|were|did|got|get|want|trying|tried|thanks|thank|and|but|or|if|to|for|"
    r"bitte|ich|mein|meine|mir|mich|das|die|der|ein|eine|es|ist|hilfe|helfen|frage|kurze|"
    r"dringend|danke|wir|sie|aber|nicht|kein|keine|alles|nichts|gott|konto|bestellung|habe|"
    r"necesito|ayuda|por|favor|el|la|los|las|un|una|mi|mis|yo|tengo|pregunta|problema|urgente|"
    r"todo|nada|dios|cuenta|pedido|que|qué|como|cómo|quiero|gracias|pero|"
    r"besoin|aide|svp|le|les|mon|ma|mes|je|j'ai|problème|tout|rien|dieu|compte|commande|"
    r"merci|mais|preciso|ajuda|os|as|um|uma|meu|minha|eu|tudo|deus|conta|obrigado|"
    r"ho|bisogno|aiuto|per|favore|il|lo|gli|mio|mia|io|domanda|tutto|niente|dio|conto|ordine|"
    r"grazie|ma|hulp|nodig|alsjeblieft|het|een|mijn|ik|vraag|probleem|alles|niets|graag|maar"
)
_NOT_A_NAME = rf"(?!(?i:{_NOT_GREETED})(?![\w'\-]))"
# Who a greeting may address before a name in lower case ("hi there anna,").
_ADDRESSEES = r"there|all|everyone|team|guys|folks"
_LINE_END = r"[^\S\n]*(?:[,!.:;\-]*[^\S\n]*(?:\n|\Z)|,)"
# One or more greetings at the very start: a greeting word, then either up to four
# capitalised words, known words or [NAME] and the end of the line (with optional
# punctuation) or a comma, or one word in any case and a comma ("hi ingrid,", "hi there
# anna,"), or two before a comma that ends the line ("hey anna maria,\n"), none of them a
# common word ("hi need help," stays); an ambiguous greeting ("Liebe", "Caro") only before
# a capitalised word, [NAME] or a role ("Liebe Anna,", "Caro Marco", "Cher service client,").
_GREETING_RE = re.compile(
    rf"(?:[^\S\n]*(?:(?i:{_GREETINGS})\b"
    rf"(?:(?:[^\S\n]+(?:(?i:{_GREETING_WORDS}|{_ROLES})(?![\w'])|{_CAPITALISED}|\[NAME\])){{0,4}}"
    rf"{_LINE_END}"
    rf"|(?:[^\S\n]+(?i:{_ADDRESSEES})(?![\w'])){{0,2}}[^\S\n]+{_NOT_A_NAME}[^\W\d_][\w.'\-]*"
    r"[^\S\n]*,"
    rf"|[^\S\n]+{_NOT_A_NAME}[^\W\d_][\w.'\-]*[^\S\n]+{_NOT_A_NAME}[^\W\d_][\w.'\-]*"
    r"[^\S\n]*,[^\S\n]*(?:\n|\Z))"
    rf"|(?i:{_AMBIGUOUS_GREETINGS})[^\S\n]+(?:{_CAPITALISED}|\[NAME\]|(?i:{_ROLES})(?![\w']))"
    rf"(?:[^\S\n]+(?:(?i:{_GREETING_WORDS}|{_ROLES})(?![\w'])|{_CAPITALISED}|\[NAME\])){{0,3}}"
    rf"{_LINE_END})\s*)+"
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
