"""Sign-offs, signature blocks and legal notices at the end of a message.

Only the last lines are looked at, and the body above a signature must have words:
a message that is nothing but "Thanks, Ann" is kept. Every pattern is anchored at a
line start and its repetitions are bounded, and the markers of a notice are searched
in the first characters of a line only, so a pass stays linear in the text's length.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from persona_mining.text.normalise import has_word, repeat_until_stable

__all__ = ["strip_signature"]

_SIGNATURE_TAIL_LINES = 40
_SIGNATURE_BLOCK_MAX_LINES = 15
_SIGNOFF_MAX_FOLLOWING = 4
#: A longer block after a sign-off when every line of it looks like a signature line.
_SIGNOFF_MAX_SIGNATURE_LINES = 9
_SIGNOFF_LINE_MAX_CHARS = 70
_SIGNATURE_LINE_MAX_CHARS = 60
_SIGNATURE_LINE_MAX_WORDS = 8
#: How much of a line the markers of a legal notice are looked for in.
_NOTICE_SCAN_CHARS = 2000
#: A line after a notice's first one without a marker: at most this many words (a footer).
_NOTICE_PLAIN_LINE_MAX_WORDS = 15
#: "Please consider the environment before printing": a line of at most this many words.
_ENVIRONMENT_LINE_MAX_WORDS = 25

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
#: Lower-case particles of a name ("Sanne de Vries", "Ana da Silva", "Jan van der Berg").
_PARTICLES = "de|da|das|do|dos|del|della|der|den|di|du|la|le|van|von|ten|ter"

_MOBILE_RE = re.compile(
    r"[ \t]*(?:Sent from my \S.{0,40}|Sent from (?:Outlook|Mail|Yahoo Mail|Gmail)\b.{0,40}|"
    r"Get Outlook for \S.{0,30}|Sent from Mail for Windows.{0,20}|Envoyé de mon \S.{0,40}|"
    r"Von meinem \S.{0,40}gesendet.{0,10}|Enviado desde mi \S.{0,40}|"
    r"Enviado do meu \S.{0,40}|Inviato dal mio \S.{0,40}|"
    r"Inviato da (?:iPhone|iPad|Android|Outlook|Samsung|Libero|Yahoo|Gmail|smartphone|"
    r"cellulare)\b.{0,30}|(?:Verzonden|Verstuurd) (?:vanaf|met|van) mijn \S.{0,40})[ \t]*$",
    re.IGNORECASE,
)
_SIGNOFFS = (
    "thanks", "thank you", "thanks a lot", "thanks so much", "many thanks", "thanks again",
    "thanks in advance", "thank you in advance", "thanks and regards", "thx", "tia", "best",
    "best regards", "kind regards", "warm regards", "warmest regards", "regards", "cheers",
    "sincerely", "sincerely yours", "yours sincerely", "yours truly", "yours faithfully",
    "best wishes", "all the best", "with thanks", "respectfully",
    # French
    "cordialement", "bien cordialement", "merci", "merci beaucoup", "bien à vous",
    "salutations", "sincères salutations", "meilleures salutations",
    # German
    "mit freundlichen grüßen", "mit freundlichen grüssen", "freundliche grüße",
    "freundliche grüsse", "viele grüße", "viele grüsse", "beste grüße", "beste grüsse",
    "liebe grüße", "liebe grüsse", "herzliche grüße", "herzliche grüsse", "schöne grüße",
    "grüße", "grüsse", "gruß", "gruss", "danke", "vielen dank", "lg", "mfg",
    # Spanish
    "saludos", "saludos cordiales", "un saludo", "un cordial saludo", "atentamente",
    "gracias", "muchas gracias", "cordialmente",
    # Portuguese
    "atenciosamente", "cumprimentos", "melhores cumprimentos", "com os melhores cumprimentos",
    "obrigado", "obrigada", "muito obrigado", "muito obrigada", "abraços",
    # Italian
    "cordiali saluti", "distinti saluti", "saluti", "un saluto", "grazie", "grazie mille",
    # Dutch
    "met vriendelijke groet", "met vriendelijke groeten", "vriendelijke groet",
    "vriendelijke groeten", "met hartelijke groet", "hartelijke groet", "groeten", "groetjes",
    "bedankt", "alvast bedankt", "mvg",
)  # fmt: skip
#: Sign-offs that are also abbreviations or brands ("LG"): only with a name alone after them.
_ABBREVIATED_SIGNOFFS = frozenset({"lg", "mfg", "mvg"})
_MULTIWORD_SIGNOFFS = frozenset(signoff for signoff in _SIGNOFFS if " " in signoff)
_SIGNOFF_RE = re.compile(
    r"[ \t]*(?P<signoff>(?i:"
    + "|".join(re.escape(signoff).replace(r"\ ", r"[ \t]+") for signoff in _SIGNOFFS)
    + rf"))[ \t]*[,.!\-]*(?:[ \t]*[{_UPPER}][\w.'\-]*"
    rf"(?:[ \t]+(?:(?:{_PARTICLES})[ \t]+){{0,2}}[{_UPPER}][\w.'\-]*){{0,3}})?[ \t]*$"
)
_PS_RE = re.compile(r"[ \t]*P\.?S\b", re.IGNORECASE)

#: The first line of a legal notice at the end of an e-mail: a heading ("DISCLAIMER:",
#: "Confidentiality notice -"), the opening words of its sentence ("This e-mail and any
#: attachments...", "If you are not the intended recipient...", "Diese E-Mail enthält..."), or
#: a plea not to print it. A customer's sentence rarely opens so; the markers below decide.
_NOTICE_START_RE = re.compile(
    r"[ \t*_>=\-\[(]{0,8}(?i:"
    r"(?P<heading>(?:(?:legal|e-?mail|important)[ \t]+)?disclaimer|confidentiality[ \t]+"
    r"(?:notice|note|statement|warning|disclaimer)|notice[ \t]+of[ \t]+confidentiality|"
    r"legal[ \t]+notice|privileged[ \t]+(?:and|&)[ \t]+confidential|haftungsausschluss|"
    r"rechtlicher[ \t]+hinweis|vertraulichkeitshinweis|avis[ \t]+de[ \t]+confidentialit[ée]|"
    r"avis[ \t]+juridique|aviso[ \t]+legal|aviso[ \t]+de[ \t]+confidencialidade?|"
    r"nota[ \t]+de[ \t]+confidencialidad|avviso[ \t]+di[ \t]+riservatezza|"
    r"clausola[ \t]+di[ \t]+riservatezza|vertrouwelijkheidsverklaring)"
    r"[ \t*_\])]{0,4}(?::|[\-\u2013\u2014][ \t]|$)"
    r"|(?P<sentence>this[ \t]+(?:e-?mail|message|communication|transmission|electronic[ \t]+"
    r"(?:mail|message|transmission|communication))|the[ \t]+(?:information|contents?)[ \t]+"
    r"(?:\w+[ \t]+){0,2}(?:in|of|with|by)[ \t]+this|if[ \t]+you[ \t]+(?:are[ \t]+not|have"
    r"[ \t]+received[ \t]+this)|dieser?[ \t]+(?:e-?mail|nachricht|mail)|(?:die[ \t]+)?"
    r"informationen[ \t]+in[ \t]+dieser|(?:falls|wenn|sollten)[ \t]+sie[ \t]+(?:nicht|diese)|"
    r"(?:ce|cet|le[ \t]+présent)[ \t]+(?:message|courriel|e-?mail|mail)|les[ \t]+informations"
    r"[ \t]+contenues|si[ \t]+vous[ \t]+(?:n['’]êtes[ \t]+pas|avez[ \t]+reçu)|"
    r"(?:este|esta)[ \t]+(?:mensaje|correo|e-?mail|mensagem|comunicación|comunicação)|"
    r"(?:la|a|as)[ \t]+informa(?:ción|ção|ções)[ \t]+contid[ao]s?|si[ \t]+(?:usted[ \t]+)?"
    r"(?:no[ \t]+es|ha[ \t]+recibido)|se[ \t]+(?:você[ \t]+)?(?:não[ \t]+(?:é|for)|recebeu)|"
    r"quest[oa][ \t]+(?:messaggio|e-?mail|comunicazione)|il[ \t]+presente[ \t]+messaggio|"
    r"le[ \t]+informazioni[ \t]+contenute|se[ \t]+(?:avete|ha)[ \t]+ricevuto|"
    r"dit[ \t]+(?:e-?mail)?bericht|deze[ \t]+e-?mail|de[ \t]+informatie[ \t]+(?:in|verzonden)|"
    r"(?:indien|als)[ \t]+u[ \t]+(?:niet|dit))\b"
    r"|(?P<environment>(?:please[ \t]+)?(?:consider|think[ \t]+(?:about|of))[ \t]+the[ \t]+"
    r"environment[ \t]+before[ \t]+printing|please[ \t]+(?:don['’]?t|do[ \t]+not)[ \t]+print"
    r"[ \t]+this|(?:bitte[ \t]+)?denken[ \t]+sie[ \t]+an[ \t]+die[ \t]+umwelt|pensez[ \t]+à"
    r"[ \t]+l['’]environnement|antes[ \t]+de[ \t]+imprimir[ \t]+(?:este|esta)[ \t]+(?:correo|"
    r"mensaje|e-?mail|mensagem)|prima[ \t]+di[ \t]+stampare[ \t]+(?:questa|questo)[ \t]+"
    r"(?:e-?mail|messaggio)|denk[ \t]+aan[ \t]+het[ \t]+milieu|save[ \t]+a[ \t]+tree\b))"
)
#: What makes a notice legal: its first paragraph needs two different ones. "Intended
#: recipient" counts once, so a customer's "If you are not the intended recipient of this
#: parcel" is not a notice.
_NOTICE_MARKER_RE = re.compile(
    r"(?i:intended(?:[ \t]+recipient)?|confidential|privileged|recipient|addressee|"
    r"unauthori[sz]ed|prohibited|forbidden|disclos|disseminat|in[ \t]+error|erroneously|"
    r"notify[ \t]+(?:the[ \t]+)?sender|vertraulich|geschützt|adressat|empfänger|absender|"
    r"irrtümlich|unbefugt|unerlaubt|weitergabe|untersagt|confidentiel|destinataire|expéditeur|"
    r"par[ \t]+erreur|interdit|divulgation|confidencial|destinatári|remitente|remetente|"
    r"por[ \t]+error|por[ \t]+engano|prohibid|proibid|divulgación|divulgação|riservat|"
    r"destinatari|mittente|per[ \t]+errore|vietat|divulgazione|vertrouwelijk|geadresseerde|"
    r"afzender|per[ \t]+abuis|per[ \t]+vergissing|onbevoegd|verboden)"
)
#: Words of the paragraphs that follow a notice: liability, viruses, the company's register.
_NOTICE_FOLLOW_RE = re.compile(
    r"(?i:virus|liab|responsib|views|opinions|monitor|registered|registration|company[ \t]+"
    r"(?:no|number)|handelsregister|amtsgericht|registergericht|geschäftsführ|sitz[ \t]+der|"
    r"responsabilit|haftung|vat|ust-?id|siret|partita[ \t]+iva|cnpj|kvk)"
)


#: A customer writing about a notice: a question, or the writer in the first person singular
#: (English, German, French, Spanish, Portuguese, Italian, Dutch). A disclaimer speaks of "the
#: sender", "you" and "we". Lower case or capitalised, never in capitals ("EU", "ME").
_FIRST_PERSON_WORDS = (
    "my", "me", "mine", "ich", "mein", "meine", "meinen", "meinem", "meiner", "mich", "mir",
    "je", "mon", "ma", "mes", "moi", "yo", "mi", "mis", "eu", "meu", "meus", "minha", "minhas",
    "io", "mio", "mia", "miei", "mie", "ik", "mijn", "mij",
)  # fmt: skip
_PERSONAL_RE = re.compile(
    r"\?|\b(?:[Jj]['’](?=\w)|(?:I|[Ii]['’](?:m|ve|d|ll)|"
    + "|".join(f"{word}|{word.capitalize()}" for word in _FIRST_PERSON_WORDS)
    + r")\b)"
)


def _notice_markers(line: str) -> set[str]:
    """The notice markers in the first characters of ``line``, lower-cased."""
    scanned = line[:_NOTICE_SCAN_CHARS]
    return {
        " ".join(found.group().lower().split()) for found in _NOTICE_MARKER_RE.finditer(scanned)
    }


def _notice_start(tail: list[str], body_above: Callable[[int], bool]) -> int | None:
    """Index in ``tail`` of the first line of a legal notice that runs to its end, if any.

    A heading or an opening sentence whose paragraph (with the next one, after a heading
    alone) has two markers, or a short plea not to print the e-mail; every later line has a
    marker, starts a notice, is a "Sent from" line or is short (a footer), and the message
    above has words.
    """
    starts = [_NOTICE_START_RE.match(line) for line in tail]
    if not any(starts):
        return None
    markers = [_notice_markers(line) for line in tail]
    personal = [_PERSONAL_RE.search(line[:_NOTICE_SCAN_CHARS]) is not None for line in tail]
    blank = [not line.strip() for line in tail]
    notice_like = [
        bool(markers[index])
        or starts[index] is not None
        or _MOBILE_RE.match(line) is not None
        or _NOTICE_FOLLOW_RE.search(line[:_NOTICE_SCAN_CHARS]) is not None
        or len(line.split(None, _NOTICE_PLAIN_LINE_MAX_WORDS)) <= _NOTICE_PLAIN_LINE_MAX_WORDS
        for index, line in enumerate(tail)
    ]
    rest_is_notice = [True] * (len(tail) + 1)
    for index in range(len(tail) - 1, -1, -1):
        rest_is_notice[index] = rest_is_notice[index + 1] and notice_like[index]
    for index, found in enumerate(starts):
        if found is None or not rest_is_notice[index + 1] or not body_above(index):
            continue
        if found["environment"] is not None:
            words = tail[index].split(None, _ENVIRONMENT_LINE_MAX_WORDS)
            if len(words) <= _ENVIRONMENT_LINE_MAX_WORDS:
                return index
            continue
        end = index
        while end < len(tail) and not blank[end]:
            end += 1
        if found["heading"] is not None and end == index + 1:  # a heading alone on its line
            while end < len(tail) and blank[end]:
                end += 1
            while end < len(tail) and not blank[end]:
                end += 1
        if len(set().union(*markers[index:end])) >= 2 and not any(personal[index:end]):
            return index
    return None


def _is_signoff(line: str) -> bool:
    """Whether a line is a sign-off such as "Thanks," or "Best regards, Ann"."""
    if len(line) > _SIGNOFF_LINE_MAX_CHARS or _SIGNOFF_RE.match(line) is None:
        return False
    # "Best Buy" or "Cheers Mate" without a comma are probably not sign-offs; a name
    # after the sign-off word needs a separating comma or dash.
    words = line.split()
    if len(words) > 1 and not any(mark in line for mark in ",-!."):
        return " ".join(words).lower() in _MULTIWORD_SIGNOFFS
    return True


def _has_words(lines: list[str]) -> bool:
    """Whether any of the lines has a word character."""
    return any(has_word(line) for line in lines)


#: One to three capitalised words, particles between them ("Sanne de Vries"): how many people
#: sign a message; in capitals ("ANN LEE") two or three words, none of them one that ends a
#: plea in capitals (`_NOT_IN_NAMES`): a few words in capitals lost from a message cost less
#: than a name shown.
_NAME = (
    rf"(?P<name>[{_UPPER}][{_LOWER}'\-]+(?:[ \t]+(?:(?:{_PARTICLES})[ \t]+){{0,2}}"
    rf"[{_UPPER}][{_LOWER}'\-]+\.?){{0,2}}"
    r"|(?P<capitals>[A-Z][A-Z'\-]+(?:[ \t]+[A-Z][A-Z'\-]+\.?){1,2}))"
)
_DASH = r"[-\u2013\u2014~]{1,2}[ \t]*"
#: A name alone on a line, a dash or a tilde may lead ("Ann Lee", "- Ann Lee", "--Ann", "~ Ann").
_BARE_NAME_RE = re.compile(rf"^(?P<dash>{_DASH})?{_NAME}[ \t]*$")
#: A name after a dash at the end of a line of text, after a sentence or a sign-off word
#: ("... arrived broken. - Ann Lee", "... :) Thanks - Ann"): spaCy's NER misses a name a dash
#: leads. A sign-off word follows a mark that ends a sentence, not a comma or a word ("...,
#: thank YOU! -Becky", "the best. -Becky" keep theirs). Searched, so a run of blanks is entered
#: at its first blank only (a blank cannot precede it) and taken whole.
_DASHED_NAME_RE = re.compile(
    r"(?:(?<=[.!?,])|(?<=[^\w\s,])[ \t]++(?i:thanks|thank you|regards|best regards|kind regards|"
    rf"cheers|best|sincerely)(?:[ \t]*+[,.!])?)[ \t]++{_DASH}{_NAME}[ \t]*$"
)
_NOT_IN_NAMES = frozenset(
    {
        "a", "all", "am", "an", "and", "any", "are", "asap", "at", "be", "can", "do", "fix",
        "for", "help", "i", "is", "it", "me", "my", "need", "no", "not", "now", "of", "or",
        "pls", "please", "reply", "refund", "respond", "soon", "still", "thank", "thanks", "the",
        "this", "to", "today", "urgent", "very", "waiting", "we", "why", "working", "you",
    }
)  # fmt: skip

#: Frequent words of a line in capitals that ends a complaint ("TERRIBLE SERVICE", "NEVER
#: AGAIN", "DELTA SUCKS"): such a line is a name only below a sign-off or led by a dash.
_COMMON_IN_CAPITALS = frozenset(
    {
        "again", "account", "angry", "app", "awful", "bad", "broken", "buy", "call", "cancel",
        "cancelled", "charge", "charged", "customer", "delay", "delayed", "done", "ever",
        "fail", "fails", "fraud", "get", "good", "great", "hate", "horrible", "lost", "money",
        "more", "never", "nothing", "order", "over", "paid", "pay", "poor", "rip", "ripoff",
        "scam", "service", "shame", "sick", "stop", "subscription", "sucks", "support",
        "terrible", "tired", "unacceptable", "us", "wait", "waste", "worst", "wrong", "yet",
    }
)  # fmt: skip

#: Lower-case words a signature line may hold: particles of names, of titles ("Head of
#: Support") and of companies, and the labels of phone, mail and web lines.
_SIGNATURE_SMALL_WORDS = frozenset(
    {
        *_PARTICLES.split("|"), "of", "and", "for", "at", "und", "für", "et", "y", "e", "en",
        "tel", "tel.", "phone", "mobile", "mob", "mob.", "cell", "fax", "email", "e-mail",
        "mail", "web", "website", "m", "t", "f", "p", "w", "handy", "telefon", "tél", "tél.",
        "telefone", "telefono", "telefoon", "mobiel", "cel", "cel.", "direct", "office",
    }
)  # fmt: skip
_SIGNATURE_WORD_STRIP = ",;:()[]|\"'·•"
_DOMAIN_RE = re.compile(r"(?:https?://)?[\w\-]+(?:\.[\w\-]+)+(?:/\S*)?")


def _is_signature_word(word: str) -> bool:
    """Whether ``word`` fits a signature line: capitalised, a number, a label, mail or web."""
    word = word.strip(_SIGNATURE_WORD_STRIP)
    if not word:
        return True
    return (
        word[0].isupper()
        or word[0].isdigit()
        or word[0] in "+&/-\u2013#"
        or "@" in word
        or word.lower() in _SIGNATURE_SMALL_WORDS
        or _DOMAIN_RE.fullmatch(word) is not None
    )


def _looks_like_signature_line(line: str) -> bool:
    """Whether ``line`` is short and reads like a signature line: a name, a title, a company, an
    address ("Hauptstraße 42, 10115 Berlin"), a phone ("Tel: +49 30 1234567") or web line, and
    not a sentence (no lower-case words but particles and labels, no question, no P.S.)."""
    line = line.strip()
    if len(line) > _SIGNATURE_LINE_MAX_CHARS or line.endswith(("?", "!")) or _PS_RE.match(line):
        return False
    words = line.split()
    return len(words) <= _SIGNATURE_LINE_MAX_WORDS and all(map(_is_signature_word, words))


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
        if found["capitals"] is not None and _COMMON_IN_CAPITALS.intersection(
            found["capitals"].lower().replace(".", "").split()
        ):
            return False
        return bool(above) and not above[-1].strip()
    lead = line.strip()[0]
    return not any(part.lstrip().startswith(lead) for part in above)


#: Conjunctions that open a line continuing the message below a sign-off ("Thanks\nbut ...").
_CONJUNCTIONS = frozenset(
    {"but", "and", "aber", "und", "pero", "y", "ma", "e", "mas", "maar", "en", "mais", "et"}
)


def _continues_message(line: str) -> bool:
    """Whether ``line`` below a sign-off carries on the message: it asks a question, opens with a
    conjunction ("Aber ...", "and ...") or with a lower-case word that is no label, mail or web
    address of a signature ("tel: ...", "ann@example.com")."""
    line = line.strip()
    if line.endswith("?"):
        return True
    words = line.split(None, 1)
    if not words:
        return False
    # A conjunction with words after it; "E: ann@example.com" and "E. Smith" are no conjunctions.
    if len(words) > 1 and words[0].lower().rstrip(",") in _CONJUNCTIONS:
        return True
    bare = words[0].strip(_SIGNATURE_WORD_STRIP)
    return bool(bare) and bare[0].islower() and not _is_signature_word(words[0])


def _signs_off(line: str, following: list[str]) -> bool:
    """Whether ``line`` is a sign-off and ``following`` the signature block under it: up to four
    short lines (name, title, phone, company), or up to nine that look like signature lines."""
    found = _SIGNOFF_RE.match(line) if _is_signoff(line) else None
    if found is None or any(map(_continues_message, following)):
        return False
    if found["signoff"].lower() in _ABBREVIATED_SIGNOFFS:  # "LG" is also a brand
        return len(following) <= 1 and all(
            (name := _BARE_NAME_RE.match(part.strip())) is not None and not name["dash"]
            for part in following
        )
    if len(following) > _SIGNOFF_MAX_FOLLOWING:
        return all(map(_looks_like_signature_line, following))
    return not any(
        len(part.strip()) > _SIGNOFF_LINE_MAX_CHARS
        or part.rstrip().endswith("?")
        or _PS_RE.match(part)
        or len(part.split()) > 8
        for part in following
    )


def _drop_blank_end(lines: list[str]) -> None:
    """Remove the blank lines at the end of ``lines``."""
    while lines and not lines[-1].strip():
        lines.pop()


def _strip_signature_once(text: str) -> str:
    """One pass of :func:`strip_signature` over the last lines of ``text``."""
    parts = text.rsplit("\n", _SIGNATURE_TAIL_LINES)
    if len(parts) > _SIGNATURE_TAIL_LINES:
        head: list[str] = [parts[0]]
        tail = parts[1:]
    else:
        head, tail = [], parts
    _drop_blank_end(tail)
    if not tail:
        return text
    head_has_words = _has_words(head)

    def body_above(index: int) -> bool:
        return head_has_words or _has_words(tail[:index])

    def kept(lines: list[str]) -> str:
        return "\n".join(head + lines).rstrip()

    # A legal notice ("DISCLAIMER: ...", "This e-mail is confidential ...") to the end, then
    # "Sent from my iPhone" and friends: what is left above may end with a signature.
    length = len(tail)
    notice = _notice_start(tail, body_above)
    if notice is not None:
        del tail[notice:]
        _drop_blank_end(tail)
    while tail and _MOBILE_RE.match(tail[-1]) and body_above(len(tail) - 1):
        tail.pop()
        _drop_blank_end(tail)
    if not tail:  # all of it below the head
        return kept(tail)
    stripped = len(tail) < length
    # "-- " signature delimiter and everything below it.
    for index in range(len(tail) - 1, max(-1, len(tail) - 2 - _SIGNATURE_BLOCK_MAX_LINES), -1):
        if tail[index].strip() == "--" and body_above(index):
            return kept(tail[:index])
    # Sign-off plus up to four short lines (name, title, phone, company), or a longer block
    # of signature lines (with address, phone and web lines).
    non_blank = [i for i, line in enumerate(tail) if line.strip()]
    window = non_blank[-(_SIGNOFF_MAX_SIGNATURE_LINES + 1) :]
    for position, index in enumerate(window):
        following = [tail[i] for i in window[position + 1 :]]
        if _signs_off(tail[index], following) and body_above(index):
            return kept(tail[:index])
    # A name on its own last line, after a blank line or a dash ("...\n\nOlivia", "\n- Ann").
    last = non_blank[-1]
    if last > 0 and _is_bare_name(tail[last], tail[:last]) and body_above(last):
        return kept(tail[:last])
    # A name after a dash at the end of the last line ("... arrived broken. - Ann Lee").
    found = _DASHED_NAME_RE.search(tail[last])
    if found is not None and _a_name(found):
        rest = tail[last][: found.start()].rstrip()
        if has_word(rest) or body_above(last):
            return kept([*tail[:last], rest])
    return kept(tail) if stripped else text


def strip_signature(text: str) -> str:
    """Remove legal notices, sign-offs and signature blocks at the end of a message.

    Conservative: only the end of the message is touched and never the whole body.
    Removed are a trailing legal notice (a "DISCLAIMER:" or "Confidentiality notice"
    heading, or a sentence such as "This e-mail is confidential ..." with two legal
    markers, or "Please consider the environment before printing", to the end of the
    message), a trailing "Sent from my iPhone"-style line, a "-- " delimiter (within
    the last 15 lines) and everything below it, a sign-off line ("Thanks,", "Best
    regards,", "Cheers", "Sincerely, Ann", "Met vriendelijke groet,", ...) followed by
    at most four short lines (name, title, phone, company) or by up to nine lines that
    look like signature lines (address, phone, web), a name alone on the last line
    after a blank one or a dash ("Ann Lee", "- Ann Lee", "ANN LEE"), and a name after
    a dash that ends the last line ("... broken. - Ann Lee").

    Args:
        text: Plain text with ``\\n`` line endings.

    Returns:
        The message without its signature.
    """
    return repeat_until_stable(_strip_signature_once, text)
