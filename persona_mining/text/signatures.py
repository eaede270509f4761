"""Sign-offs and signature blocks at the end of a message.

Only the last lines are looked at, and the body above a signature must have words:
a message that is nothing but "Thanks, Ann" is kept.
"""

from __future__ import annotations

import re

from persona_mining.text.normalise import has_word, repeat_until_stable

__all__ = ["strip_signature"]

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
    return any(has_word(line) for line in lines)


#: One to three capitalised words: how many people sign a message; in capitals ("ANN LEE") two
#: or three words, none of them one that ends a plea in capitals (`_NOT_IN_NAMES`): a few words
#: in capitals lost from a message cost less than a name shown.
_NAME = (
    r"(?P<name>[A-Z][a-z'\-]+(?:[ \t]+[A-Z][a-z'\-]+\.?){0,2}"
    r"|(?P<capitals>[A-Z][A-Z'\-]+(?:[ \t]+[A-Z][A-Z'\-]+\.?){1,2}))"
)
_DASH = r"[-\u2013\u2014~]{1,2}[ \t]*"
#: A name alone on a line, a dash or a tilde may lead ("Ann Lee", "- Ann Lee", "--Ann", "~ Ann").
_BARE_NAME_RE = re.compile(rf"^(?P<dash>{_DASH})?{_NAME}[ \t]*$")
#: A name after a dash at the end of a line of text, after a sentence or a sign-off word
#: ("... arrived broken. - Ann Lee", "Regards - Ann"): spaCy's NER misses a name a dash leads.
_DASHED_NAME_RE = re.compile(
    r"(?:(?<=[.!?,])|[ \t]+(?i:thanks|thank you|regards|best regards|kind regards|cheers|best|"
    rf"sincerely)[ \t]*[,.!]?)[ \t]+{_DASH}{_NAME}[ \t]*$"
)
_NOT_IN_NAMES = frozenset(
    {
        "a", "all", "am", "an", "and", "any", "are", "asap", "at", "be", "can", "do", "fix",
        "for", "help", "i", "is", "it", "me", "my", "need", "no", "not", "now", "of", "or",
        "pls", "please", "reply", "refund", "respond", "soon", "still", "thank", "thanks", "the",
        "this", "to", "today", "urgent", "very", "waiting", "we", "why", "working", "you",
    }
)  # fmt: skip


def _a_name(found: re.Match[str]) -> bool:
    """Whether a `_NAME` match in capitals is not a plea ("PLEASE HELP")."""
    if found["capitals"] is None:
        return True
    words = found["capitals"].lower().replace(".", "").split()
    return not _NOT_IN_NAMES.intersection(words)


def _is_bare_name(line: str, above: list[str]) -> bool:
    """Whether `line` is a name alone, as a signature: after a blank line or led by a dash, and
    then not the last item of a list of lines led by the same mark."""
    found = _BARE_NAME_RE.match(line.strip())
    if found is None or not _a_name(found):
        return False
    if not found["dash"]:
        return bool(above) and not above[-1].strip()
    lead = line.strip()[0]
    return not any(part.lstrip().startswith(lead) for part in above)


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
    # A name on its own last line, after a blank line or a dash ("...\n\nOlivia", "\n- Ann").
    last = non_blank[-1]
    if last > 0 and _is_bare_name(tail[last], tail[:last]) and body_above(last):
        return "\n".join(head + tail[:last]).rstrip()
    # A name after a dash at the end of the last line ("... arrived broken. - Ann Lee").
    found = _DASHED_NAME_RE.search(tail[last])
    if found is not None and _a_name(found):
        kept = tail[last][: found.start()].rstrip()
        if has_word(kept) or body_above(last):
            return "\n".join(head + tail[:last] + [kept]).rstrip()
    return text


def strip_signature(text: str) -> str:
    """Remove sign-offs and signature blocks at the end of a message.

    Conservative: only the end of the message is touched and never the whole body.
    Removed are a trailing "Sent from my iPhone"-style line, a "-- " delimiter
    (within the last 15 lines) and everything below it, a sign-off line
    ("Thanks,", "Best regards,", "Cheers", "Sincerely, Ann", ...) followed by at
    most four short lines (name, title, phone, company), a name alone on the last
    line after a blank one or a dash ("Ann Lee", "- Ann Lee", "ANN LEE"), and a
    name after a dash that ends the last line ("... broken. - Ann Lee").

    Args:
        text: Plain text with ``\\n`` line endings.

    Returns:
        The message without its signature.
    """
    return repeat_until_stable(_strip_signature_once, text)
