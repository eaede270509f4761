"""Personal data in ticket text replaced with placeholders by rules: e-mail
addresses, URLs, card numbers, IBANs, phone numbers and street addresses.

Checksums (Luhn, mod 97) and context words keep order numbers, dates, prices and
versions out; person names need a statistical model and are left to
:mod:`persona_mining.text.nlp`.
"""

from __future__ import annotations

import re

from persona_mining.text.normalise import repeat_until_stable

__all__ = ["PLACEHOLDERS", "PLACEHOLDER_RE", "redact_pii"]

#: Placeholders written by :func:`redact_pii`, ``[ID]`` and ``[DATE]`` by
#: :func:`persona_mining.text.references.mask_references`, and ``[NAME]`` by the NLP stage.
PLACEHOLDERS: tuple[str, ...] = (
    "[EMAIL]",
    "[URL]",
    "[CARD]",
    "[IBAN]",
    "[PHONE]",
    "[ADDRESS]",
    "[NAME]",
    "[ID]",
    "[DATE]",
)
#: Any placeholder: one of those, or one a later version writes.
PLACEHOLDER_RE = re.compile(r"\[[A-Z]+\]")
#: A social-media handle or hashtag (`@AmericanAir`, `#fail`): names, not words of the
#: message. Not an e-mail's "@" (a word character before it), nor "C#".
TAGGED_RE = re.compile(r"(?<![\w@#])[@#]\w+")
#: A handle alone (`@sarah_j99`): a person or an account, shown as `[HANDLE]`; a hashtag names
#: a topic and stays.
HANDLE_RE = re.compile(r"(?<![\w@#])@\w+")

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
    return repeat_until_stable(_redact_once, text)
