"""Personal data in ticket text replaced with placeholders by rules: e-mail
addresses, URLs, card numbers, IBANs, IP addresses, account and document numbers, phone
numbers and street addresses.

Checksums (Luhn, mod 97) and context words keep order numbers, dates, prices and
versions out; person names need a statistical model and are left to
:mod:`persona_mining.text.nlp`.

IP addresses: a dotted quad (four parts, each 0-255) reads like a four-part version number,
so it is an address only after a network word in the last four words ("IP", "server",
"router", "connect", "blocked"...), just after "from" or "to", or with at least two
three-digit parts (a public address: "153.168.10.16"); one that follows a version word
("version 1.2.3.4", "v1.2.3.4", "Chrome/120.0.0.0") or "app", "client", "error" stays; so does
one whose parts are all single digits ("1.3.2.1", a section number far more often than
anyone's address) unless "IP", "address" or "DNS" comes just before it, and one that starts
with 0. An IPv6 address needs "::" or eight groups.

Account and document numbers ("account number: 2738-889-003", "Passport C01X00T47", "SSN
123-45-6789") are found by the word before them and become ``[ID]``, the placeholder
:mod:`persona_mining.text.references` writes for order numbers: at least four digits, not a
price or a year; after a bare "account", "customer" or "Konto" (no "number", "no.", "#" or
":") it needs a letter, a dash or seven digits, and an amount ("2500 EUR", "2500 in credit")
never is one.

Street addresses: English ("12 Main Street", "55 W 46th St"), German and Dutch (a street
word ending in -straße, -weg, -straat... and a house number), French, Spanish, Italian and
Portuguese ("32 rue de Rivoli", "Via Roma 10", "Calle Mayor 5"), each optionally with a
postcode and a city; a UK postcode after a town ("London SW7 4JJ"); a US "City, ST 12345";
"Apt 12B,". A city, postcode, unit or state and ZIP right after an ``[ADDRESS]`` joins it. A
five-digit number alone stays (it can be an order number). Look-alikes stay: an English street
must end where its type does ("3 Google Drive accounts"), a street word that is English too
("via", "place", "corso") must not name a product ("via Windows 11."), a "-platz" needs a
postcode ("Steckplatz 2"), a unit or a UK postcode needs an end or punctuation after it ("Apt
4 in the game", "Ford Ranger T6 4WD service").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

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
    "[IP]",
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
    r"(?<![0-9+])(?=[0-9]{4}[ .\-]?[0-9]{4})"
    r"(?:(?=([0-9]{4}(?:[ \-]?[0-9]{4}){3}[ \-]?[0-9]{3})(?![0-9])))?"  # 19 digits
    r"(?:(?=([0-9]{4}(?:[ \-]?[0-9]{4}){3})(?![0-9])))?"  # 16 digits
    r"(?:(?=([0-9]{4}(?:\.[0-9]{4}){3})(?![0-9]|\.[0-9])))?"  # 16 digits, dots
    r"(?:(?=([0-9]{4}[ \-]?[0-9]{6}[ \-]?[0-9]{4,5})(?![0-9])))?"  # 14-15 digits (Amex)
    r"(?:(?=([0-9]{13,19})(?![0-9])))?"  # contiguous
)
_CARD_HINT_RE = re.compile(r"[0-9]{4}[ .\-]?[0-9]{4}")
_CARD_SEPARATORS = str.maketrans("", "", " -.")
_CARD_SHAPED_RE = re.compile(
    r"[0-9](?<![0-9+][0-9])(?:[0-9]{3}(?:[ \-]?[0-9]{4}){3}(?:[ \-]?[0-9]{3})?"
    r"|[0-9]{3}(?:\.[0-9]{4}){3}"
    r"|[0-9]{3}[ \-]?[0-9]{6}[ \-]?[0-9]{4,5}|[0-9]{12,18})(?![0-9])"
)
# Candidates checked one by one (Luhn, mod 97) per call; beyond that the text is a
# dump of numbers and the remaining candidates are redacted without the checksum.
_CHECK_BUDGET = 10_000
# Phone candidates: optional "+cc", optional "(area)" or "0area /" (a German or Swiss area
# code before a slash with spaces: "089 / 123 456 78"), then up to seven digit groups
# separated by one space, dot, dash or slash. _is_phone() decides.
_PHONE_RE = re.compile(
    r"(?<![\w#$€£¥+.,/\-])"
    r"(?=[+(0-9][0-9 .\-/()]{6})"  # cheap pre-check: long enough for 7 digits
    r"(?:\+[ ]?[0-9]{1,4}[ .\-]?)?"
    r"(?:\([0-9]{1,5}\)[ .\-]?|0[0-9]{1,5}(?:[ ]/[ ]?|/[ ])(?=[0-9]))?"
    r"[0-9]{1,12}(?:[ .\-/][0-9]{1,12}){0,6}"
    r"(?![\w]|[.,][0-9])"
)
_PHONE_HINT_RE = re.compile(r"[0-9](?:[ .\-/()]{0,3}[0-9]){6}")
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
_DIGIT_RE = re.compile(r"[0-9]")
# IP addresses, identifiers and street addresses all hold a number; the patterns for the
# last two start with a letter (a street word, a town, "account") and would try a match at
# nearly every word. So all of them are found from the start of a run of digits, in one scan
# (_redact_numbers()): a rule whose check matches there looks for its "lead" (a pattern ending
# with \Z: "account number: ", "Hauptstraße ", "London SW") in the few characters before
# the digits, and matches its whole pattern from where the lead starts. Past _DIGIT_RUN_BUDGET
# runs in one text (a dump of numbers), each whole pattern is searched from there on and what
# it finds is redacted without the checks (fail closed, as for cards past _CHECK_BUDGET).
_DIGIT_RUN_RE = re.compile(r"[0-9](?<![0-9][0-9])")
_DIGIT_RUN_BUDGET = 2_000


class _Rule(NamedTuple):
    """A pattern found from the start of a run of digits (see _redact_numbers())."""

    check: re.Pattern[str] | None  # matched at the digits; None: the pattern starts there
    lead: re.Pattern[str] | None  # searched in the `reach` characters before, ends with \Z
    pattern: re.Pattern[str]  # matched where the lead starts
    replace: Callable[[re.Match[str]], str]  # gives the match back when it is not PII
    unchecked: Callable[[re.Match[str]], str]  # the replacement in a dump of numbers
    reach: int = 0


def _words_re(words: tuple[str, ...]) -> str:
    """A case-insensitive regex for any of ``words`` (regex fragments, each starting with an
    ASCII letter) as a whole word. It starts with a character class, the first letters, and
    picks the rest by a look-behind on the letter found, so that a position costs one test
    of a letter rather than one per word."""
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0].lower(), []).append(word[1:])
    firsts = "".join(sorted(by_first))
    branches = "|".join(
        f"(?<={first})(?:{'|'.join(rests)})" for first, rests in sorted(by_first.items())
    )
    return rf"(?i:[{firsts}](?<![\w\-.][{firsts}])(?:{branches}))(?![\w])"


# Street addresses. A house number ("72", "5a", "12-14", "10/A", "3 bis") and what may follow
# it: a postcode (German, French, Spanish, Italian 5 digits, Austrian, Swiss, Belgian 4, Dutch
# "1012 AB", Portuguese "1000-001", an old "D-10115") and a city ("Frankfurt am Main",
# "Aix-en-Provence").
_CAPITAL = "A-ZÀ-ÖØ-Þ"
_HOUSE = r"[0-9]{1,4}(?:[ ]?(?:bis|ter)(?![\w])|[A-Za-z](?![\w]))?(?:[\-/][0-9]{1,4}[A-Za-z]?)?"
_HOUSE_END = r"(?![\w]|[.,][0-9])"
_EU_CITY = (
    rf"[{_CAPITAL}][^\W\d_]{{1,30}}+(?:-[^\W\d_]{{1,30}}+){{0,3}}+"
    rf"(?:[ ](?:am|an[ ]der|im|sur|en|del|di|de|upon)[ ][{_CAPITAL}][^\W\d_]{{1,30}}+)?"
)
_EU_POSTCODE_CITY = (
    r"(?:[A-Z]{1,2}-)?[0-9]{4,5}(?:-[0-9]{3}|[ ][A-Z]{2}(?=[ \t]))?[ \t]{1,4}" + _EU_CITY
)
_EU_POSTCODE_TAIL = (
    r"(?:[ \t]{0,4},[ \t]{0,4}|[ \t]{1,4}|[ \t]{0,4}\n[ \t]{0,4})"
    rf"(?P<postcode>{_EU_POSTCODE_CITY})"
)
# French, Spanish, Italian, Portuguese street words, before a name ("de Rivoli", "Roma", "da
# Liberdade") and a house number ("Via Roma 10"); in French the number may come first ("32
# rue de Rivoli"). Words that are English too ("via", "place", "avenue", "plaza", "corso",
# "largo") need a comma, a full stop, a line end or a postcode after the number (or the
# name), so that "paid via PayPal 2 times" stays.
_ROMANCE_WORDS = (
    "rue", "avenue", r"av\.", r"avda\.", "boulevard", r"bd\.?", "chemin", "allée", "allee",
    "impasse", "quai", "place", "calle", "avenida", "plaza", "paseo", "carrer", "rambla",
    "via", "viale", "piazza", "piazzale", "corso", "largo", "vicolo", "rua", "travessa",
    "praça", "praca", "alameda", "estrada",
)  # fmt: skip
_NUMBER_FIRST_WORDS = (
    "rue", "avenue", r"av\.", "boulevard", r"bd\.?", "chemin", "allée", "allee", "impasse",
    "quai", "place",
)  # fmt: skip
_AMBIGUOUS_STREET_WORDS = frozenset({"via", "place", "avenue", "plaza", "corso", "largo"})
# Such a word in lower case starts a street only at the start of a line or after a Romance
# preposition ("abito in via Garibaldi 7"), not in "installed it via Windows 11".
_STREET_PREPOSITIONS = frozenset(
    """in a ad da di nella sulla alla della dalla presso en à au de du sur na em no do
    la el""".split()  # noqa: SIM905
)
# Nor is a street one named after a product ("via USB 3", "corso Python 3"): a name that is
# one of these, or in capitals and not a Roman numeral ("Via XX Settembre" is a street).
_PRODUCT_NAMES = frozenset(
    """windows python java javascript usb bluetooth wifi wi chrome firefox safari edge android
    ios iphone ipad mac macos linux ubuntu office excel outlook teams zoom skype steam xbox
    playstation nintendo switch google gmail microsoft apple amazon paypal netflix spotify
    whatsapp facebook instagram app email internet""".split()  # noqa: SIM905
)
_ROMAN_RE = re.compile(r"[IVXLCDM]+")
_LAST_WORD_RE = re.compile(r"([^\W\d_]+)[ \t]*\Z")
_NAME_WORD_RE = re.compile(r"[^\W\d_]+")
_PARTICLE_WORDS = (
    "de", "del", "della", "delle", "dello", "dei", "degli", "di", "da", "das", "do", "dos", "du",
    "des", "la", "le", "les", "el", "los", "las", "san", "santa", "são", "sant", "e", "y",
)  # fmt: skip
_PARTICLE = f"(?:{'|'.join(_PARTICLE_WORDS)})"
_STREET_NAME = (
    rf"(?P<name>(?:[ \t]{{1,4}}(?:{_PARTICLE}[ \t]{{1,4}}){{0,2}}(?:[dlDL]['’])?"
    rf"[{_CAPITAL}][^\W\d_]{{0,30}}+(?:['’\-][^\W\d_]{{1,30}}+){{0,3}}+){{1,4}})"
)
# Number first: English ("12 Main Street", "55 W 46th St": up to four capitalised words or
# ordinals, a street type) or French ("32 rue de Rivoli, 75001 Paris").
_NUMBER_FIRST_RE = re.compile(
    r"[0-9](?<![\w#$€£¥.,\-][0-9])"
    r"(?=[0-9]{0,4}[A-Za-z]?(?:[ ]?(?:bis|ter))?,?[ \t]{1,4}"  # quick "no"
    r"(?:[A-Z]|[0-9]{1,3}(?:st|nd|rd|th)|(?i:rue|av|bd|bo|ch|al|im|qu|pl)))(?:"
    r"[0-9]{0,4}[A-Za-z]?(?![ \t]+(?:Days?|Weeks?|Months?|Years?|Hours?|Hrs?|Minutes?|Mins?"
    r"|Seconds?|Secs?|Times?|Nights?)(?![\w]))"
    r"(?:[ \t]+(?:(?:[NS][EW](?![\w])|[A-Z](?![A-Z])[A-Za-z'\-]*)\.?|[0-9]{1,3}(?:st|nd|rd|th))"
    r"){1,4}?"
    r"[ \t]+(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Square|Sq|Terrace|Way|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Alley|Crescent|Close|Row|"
    r"Gardens|Gdns|Grove|Mews|Parade|Walk)\b(?:[ \t]{1,4}(?:[NS][EW]?|[EW])(?![\w]))?"
    r"|[0-9]{0,3}(?:[ ]?(?:bis|ter))?,?[ \t]{1,4}"
    rf"(?P<word>{_words_re(_NUMBER_FIRST_WORDS)}){_STREET_NAME}(?:{_EU_POSTCODE_TAIL})?"
    r")"
)
_STRICT_END_RE = re.compile(r"[ \t]*(?:[,;\n)]|\.(?![0-9])|\Z)")
_ROMANCE_STREET_RE = re.compile(
    rf"(?P<word>{_words_re(_ROMANCE_WORDS)}){_STREET_NAME}"
    rf"[ \t]{{0,4}},?[ \t]{{1,4}}{_HOUSE}(?:{_EU_POSTCODE_TAIL}|{_HOUSE_END})"
)
_ROMANCE_STREET_CHECK_RE = re.compile(r"[0-9](?:(?<=[^\W\d_][ \t][0-9])|(?<=[^\W\d_],[ \t][0-9]))")
_ROMANCE_STREET_LEAD_RE = re.compile(
    rf"{_words_re(_ROMANCE_WORDS)}{_STREET_NAME}[ \t]{{0,4}},?[ \t]{{1,4}}\Z"
)
# German and Dutch: a street word ending in -straße, -weg, -platz, -straat... (after up to two
# capitalised words: "Berliner Straße 5", "Kaiser-Wilhelm-Ring 5"), a house number. "-ring"
# only after n, d, l or a hyphen, so that "Ordering 3", "String 2" and "Spring 2024" stay.
_STREET_SUFFIXES = (
    "straße", "strasse", "str.", "allee", "gasse", "platz", "weg", "straat", "laan", "plein",
    "gracht", "kade",
)  # fmt: skip
_SUFFIX_STREET_LEAD = (
    rf"[{_CAPITAL}](?<![\w\-.][{_CAPITAL}])"
    rf"(?:[\w\-]{{0,40}}+[ \t]{{1,4}}[{_CAPITAL}]){{0,2}}?[\w\-]{{0,40}}+\.?"
    r"(?i:"
    + "|".join(f"(?<={re.escape(suffix)})" for suffix in _STREET_SUFFIXES)
    + r"|(?<=[ndl\-]ring))"
)
_SUFFIX_STREET_RE = re.compile(
    rf"(?P<street>{_SUFFIX_STREET_LEAD})[ \t]{{1,4}}{_HOUSE}(?:{_EU_POSTCODE_TAIL}|{_HOUSE_END})"
)
_SUFFIX_STREET_CHECK_RE = re.compile(
    r"[0-9](?:(?<=[^\W\d_][ \t][0-9])|(?<=\.[ \t][0-9]))(?i:"
    + "|".join(f"(?<={re.escape(suffix)}[ \t][0-9])" for suffix in _STREET_SUFFIXES)
    + r"|(?<=[ndl\-]ring[ \t][0-9]))"
)
_SUFFIX_STREET_LEAD_RE = re.compile(_SUFFIX_STREET_LEAD + r"[ \t]\Z")
# A flat, suite or unit: "Apt 12B", "Suite 200", "Unit 5", "Flat 3" (capitalised; "apt" and
# "apartment" in lower case too) before a comma, a semicolon or a line end, and not a year
# ("Office Suite 2019," stays; "my apartment. 2 drivers", "Apt 4 in the game" too). After a
# street address the tail joins it anyway ("12 Main Street Apt 4 is mine").
_UNIT_WORD = (
    r"[AaSUF](?<![\w\-.][AaSUF])"
    r"(?:(?<=[Aa])(?:pt\.?|PT\.?|partment|PARTMENT)|(?<=S)(?:uite|UITE)|(?<=U)(?:nit|NIT)"
    r"|(?<=F)(?:lat|LAT))"
    r"[ \t]{0,4}#?[ \t]{0,4}"
)
_UNIT_RE = re.compile(_UNIT_WORD + r"(?P<number>[0-9]{1,5}[A-Za-z]?)(?![\w]|[.,][0-9])")
_UNIT_CHECK_RE = re.compile(
    r"[0-9](?:(?<=[TtEe][ .#][0-9])|(?<=[TtEe][ .#][ #][0-9])|(?<=[TtEe][ .][ #][ ][0-9]))"
)
_UNIT_LEAD_RE = re.compile(_UNIT_WORD + r"\Z")
_YEAR_RE = re.compile(r"(?:19|20)[0-9]{2}")
# A UK postcode (the standard outward and inward codes) after a town: "London SW7 4JJ". An
# inward code "GB" or "TB" is a storage size more often than a postcode ("PS4 2TB").
_UK_POSTCODE = (
    r"[A-PR-UWYZ](?:[A-HK-Y][0-9][ABEHMNPRVWXY]|[0-9][A-HJKPSTUW]|[A-HK-Y]?[0-9]{1,2})"
    r"[ ]?[0-9](?!GB|TB)[ABD-HJLNP-UW-Z]{2}(?![\w])"
)
_UK_TOWN = r"[A-Z](?<![\w\-.'][A-Z])[a-z]{2,30}+(?:[ \-][A-Z][a-z]{1,30}+){0,2},?[ \t]{1,4}"
_UK_TOWN_RE = re.compile(_UK_TOWN + _UK_POSTCODE)
_UK_TOWN_CHECK_RE = re.compile(
    r"[0-9](?:(?<=[^\w\-.][A-PR-UWYZ][0-9])|(?<=[^\w\-.][A-PR-UWYZ][A-HK-Y][0-9]))"
)
_UK_TOWN_LEAD_RE = re.compile(_UK_TOWN + r"[A-PR-UWYZ][A-HK-Y]?\Z")
# A US "City, ST 12345(-6789)". A state code that is also a word ("OR", "ID", "IN", "OK"...)
# counts after an address, or on a line of its own.
_US_STATES = """AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE
    NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP""".split()  # noqa: SIM905
_US_WORD_STATES = frozenset({"AS", "CO", "DE", "HI", "ID", "IN", "ME", "OH", "OK", "OR", "PA"})
_US_CITY = (
    r"[A-Z](?<![\w\-.'][A-Z])[a-z]{1,30}+\.?(?:[ \-][A-Z][a-z]{1,30}+\.?){0,2},[ \t]{0,4}"
    rf"(?P<state>{'|'.join(_US_STATES)})[ \t]{{1,4}}"
)
_US_ZIP = r"[0-9]{5}(?:-[0-9]{1,4})?(?![\w]|[.,][0-9])"  # "97250-60" too: no digit left
_US_CITY_RE = re.compile(_US_CITY + _US_ZIP)
_US_CITY_CHECK_RE = re.compile(r"[0-9](?:(?<=[A-Z][A-Z][ \t][0-9])|(?<=[A-Z][ \t][ \t][0-9]))")
_US_CITY_LEAD_RE = re.compile(_US_CITY + r"\Z")
_LINE_END_RE = re.compile(r"[ \t]*(?:\n|\Z)")
_LINE_END_OR_COMMA_RE = re.compile(r"[ \t]*(?:[,;\n]|\Z)")
# What may follow a UK postcode: an end (of the text or line), punctuation, a country, another
# town and postcode; not a word ("Ford Ranger T6 4WD service").
_UK_END_RE = re.compile(
    r"[ \t]*(?:[,;:.!?)\]\n]|\Z)"
    r"|[ \t]{1,4}(?:UK|U\.K\.|GB|United[ ]Kingdom|England|Scotland|Wales|Northern[ ]Ireland)"
    r"(?![\w])"
    rf"|[ \t]{{1,4}}{_UK_TOWN}{_UK_POSTCODE}"
)
# What may follow an English "12 Main Street": an end (of the text or line), punctuation, a
# unit, a town and postcode or state; not a word ("3 Google Drive accounts", "2 Nike Court
# Vision"), unless a word before the number says an address comes ("I live at").
_ENGLISH_STREET_END_RE = re.compile(
    r"[ \t]*(?:[,;:!?)\]\n]|\.(?![0-9])|\Z)"
    r"|[ \t]{1,4}(?:(?i:apt|apartment|suite|ste|unit|flat|floor|fl|room|rm|bldg|building)"
    r"(?![A-Za-z])|\#[ \t]?[0-9])"
    rf"|[ \t]{{1,4}}(?:{_US_CITY.replace('(?P<state>', '(?:')}{_US_ZIP}|(?:{_UK_TOWN})?"
    rf"{_UK_POSTCODE}|{_EU_POSTCODE_CITY})"
)
_ADDRESS_WORDS = frozenset({"at", "address", "addr", "adresse", "live", "lives", "located"})
# What joins an [ADDRESS] right after it: another [ADDRESS], a unit ("Apt 4", "#12"), a US
# city, state and ZIP, a UK postcode (with its town or not), a postcode and a city.
_ADDRESS_TAIL_RE = re.compile(
    r"\[ADDRESS\](?:[ \t]{0,4}(?:[,;][ \t]{0,4})?(?:\n[ \t]{0,4}){0,2}"
    r"(?:\[ADDRESS\]"
    r"|(?i:apt|apartment|suite|ste|unit|flat|floor|fl|room|rm|bldg|building)\.?[ \t]{0,4}#?"
    r"[ \t]{0,4}[0-9]{1,5}[A-Za-z]?(?![\w])"
    r"|#[ \t]?[0-9]{1,5}[A-Za-z]?(?![\w])"
    rf"|{_US_CITY.replace('(?P<state>', '(?:')}{_US_ZIP}"
    rf"|(?:{_UK_TOWN})?{_UK_POSTCODE}"
    rf"|{_EU_POSTCODE_CITY}"
    r"))++"
)

# IPv4: four parts of at most three digits; _replace_ipv4() checks the values and what comes
# before (a version word keeps "version 1.2.3.4"). Not after a letter, a digit, a dot, "$" or
# "#", nor after "Name/" (a user agent's "Chrome/120.0.0.0").
_IPV4_RE = re.compile(
    r"[0-9](?<![\w.$€£¥#][0-9])(?<![A-Za-z]/[0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}"
    r"(?![\w]|\.[0-9])"
)
_VERSION_WORDS = frozenset(
    """version versions ver v firmware fw release build update updated upgrade upgraded patch
    bios driver kernel rev revision""".split()  # noqa: SIM905
)
_LINKING_WORDS = frozenset({"is", "was", "to", "of", "now"})
_IP_WORDS = frozenset(
    """ip ipv ips address addresses addr dns host hostname server servers gateway ping router
    nameserver proxy vpn subnet netmask traceroute tracert""".split()  # noqa: SIM905
)
# Words a few words before an IP address (with _IP_WORDS); "from" and "to" only just before.
_IP_CONTEXT_WORDS = _IP_WORDS | frozenset(
    """connect connecting connected connection connections blocked block blocking banned ban
    whitelist whitelisted allowlist blacklist blacklisted firewall lan wan ssh rdp telnet
    login logins logged origin source src destination dest dst url route tracing hop hops
    ms""".split()  # noqa: SIM905
)
_IP_NEXT_WORDS = frozenset({"from", "to"})
# Words just before a dotted quad that make it a version or a number of something else.
_NOT_IP_WORDS = frozenset(
    """app application client error code item section chapter step page rule table figure
    game file package sdk api software program tool plugin extension module library""".split()  # noqa: SIM905
)
# IPv6: hex groups and colons (at most 8 groups, at most one "::"); _is_ipv6() checks.
_IPV6_RE = re.compile(
    r"[0-9A-Fa-f](?<![\w:.][0-9A-Fa-f])[0-9A-Fa-f]{0,3}+(?::[0-9A-Fa-f]{0,4}+){2,7}+"
    r"(?![\w:]|\.[0-9A-Fa-f])"
)
# Account and document numbers: a context word, an optional "number", "no.", "#" or "ID",
# ":" or "is", then the identifier (letters, digits, "-", ".", "/", spaced digit groups).
_ID_WORDS = (
    "account", "acct", "bank[ ]account", "customer", "member", "membership", r"user[ ]?id",
    "passport", r"licen[cs]e", r"driver'?s[ ]licen[cs]e", r"driving[ ]licen[cs]e", "ssn",
    "social[ ]security", "social[ ]insurance", r"tax(?:payer)?[ ](?:id|number|no|code)",
    "itin", "national[ ]insurance", "national[ ]id", "nino", "ni[ ]number", "id[ ]card",
    "identity[ ]card", r"policy[ ](?:number|no|nr|\#)", "sort[ ]code", "routing[ ]number",
    "contract[ ]number", "insurance[ ]number",
    r"kunden(?:nummer|nr|-nr)", r"konto(?:nummer|nr|-nr)?", r"mitglieds(?:nummer|nr)",
    "vertragsnummer", r"steuer(?:nummer|-id|id|identifikationsnummer)",
    "sozialversicherungsnummer", "versicherungsnummer", r"personalausweis(?:nummer)?",
    "ausweisnummer", r"reisepass(?:nummer)?",
    r"num[ée]ro[ ](?:de[ ])?(?:client|compte|fiscal|s[ée]curit[ée][ ]sociale)", "passeport",
    r"n[úu]mero[ ]de[ ](?:cliente|cuenta|socio|pasaporte|contribuinte)", "dni", "nif",
    "cpf", "pasaporte", "passaporte", r"codice[ ](?:cliente|fiscale)", "passaporto",
    "klantnummer", "rekeningnummer", "bsn", "paspoort",
)  # fmt: skip
# The Spanish foreigner's number "NIE" only in capitals: "nie" is German for "never".
_ID_LEAD = (
    rf"(?P<idword>{_words_re(_ID_WORDS)}|N(?<![\w\-.]N)IE(?![\w]))"
    + r"(?P<numberword>[ \t]{0,4}(?i:number|num|nr|no|n[°º]|\#|id|code|key)(?![A-Za-z]))?\.?"
    r"[ \t]{0,4}(?:(?P<sep>[:#=\-])[ \t]{0,4})?(?:(?i:is|was|ending[ ]in)[ \t]{1,4})?"
)
# A bare noun ("account", "customer", "Konto") without "number", "no.", "#" or ":" is followed
# by an identifier only if that has a letter, a dash or at least seven digits ("my account is
# 2500 in credit" stays).
_BARE_ID_WORDS = frozenset(
    {"account", "acct", "bank account", "customer", "member", "membership", "konto"}
)
_BARE_ID_DIGITS = 7
# An amount: a number (digits, "." and ",") followed by a currency or "in credit" is never an
# identifier.
_AMOUNT_DIGITS_RE = re.compile(r"[0-9.,]+")
_CURRENCY_AFTER_RE = re.compile(
    r"[ \t]{0,4}(?:[€$£¥%]|(?i:eur|euros?|usd|dollars?|bucks|pounds?|gbp|chf|francs?|yen|pesos?"
    r"|reais|sek|nok|dkk|pln|in[ ]credit|in[ ]debit|overdrawn)(?![\w]))"
)
_IDENTIFIER_RE = re.compile(
    _ID_LEAD + r"(?=[A-Za-z\-./]{0,20}[0-9])"
    r"(?P<id>[A-Za-z0-9](?:[A-Za-z0-9]|[\-./][A-Za-z0-9]|(?<=[0-9])[ ](?=[0-9]{2})){0,40}+)"
)
# The first digit of an identifier with at least four digits, and what comes before it.
_ID_CHECK_RE = re.compile(r"[0-9](?<![0-9@][0-9])(?=(?:[A-Za-z\-./ ]{0,10}[0-9]){3})")
_ID_LEAD_RE = re.compile(_ID_LEAD + r"[A-Za-z\-./]{0,20}\Z")
_AMOUNT_RE = re.compile(r"[0-9]{1,3}(?:[.,][0-9]{3}){0,6}(?:[.,][0-9]{1,2})?")
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


def _find_rule(text: str, at: int, floor: int) -> tuple[re.Match[str], str] | None:
    """The first rule's match (and its replacement) led by the digits at ``at``, starting at
    ``floor`` or later (and, for a lead, on the same line)."""
    if _NUMBER_HINT_RE.match(text, at) is None:
        return None
    floor = max(floor, text.rfind("\n", floor, at) + 1)
    for rule in _NUMBER_RULES:
        if rule.lead is None:
            match = rule.pattern.match(text, at)
        else:
            if rule.check is not None and rule.check.match(text, at) is None:
                continue
            lead = rule.lead.search(text, max(floor, at - rule.reach), at)
            match = None if lead is None else rule.pattern.match(text, lead.start())
        if match is not None:
            replacement = rule.replace(match)
            if replacement != match.group(0):
                return match, replacement
    return None


def _redact_numbers(text: str) -> str:
    """Replace IP addresses, identifiers and street addresses (``_NUMBER_RULES``)."""
    pieces: list[str] = []
    last = 0
    budget = _DIGIT_RUN_BUDGET
    rest: int | None = None
    for run in _DIGIT_RUN_RE.finditer(text):
        at = run.start()
        if at < last:
            continue
        budget -= 1
        if budget < 0:
            rest = at
            break
        found = _find_rule(text, at, last)
        if found is not None:
            match, replacement = found
            pieces.append(text[last : match.start()])
            pieces.append(replacement)
            last = match.end()
    if pieces:
        pieces.append(text[last:])
        done = "".join(pieces)
        if rest is not None:
            rest += len(done) - len(text)
        text = done
    if rest is not None:  # a dump of numbers: each whole pattern from there on, unchecked
        for rule in _NUMBER_RULES:
            start = max(0, rest - rule.reach)
            if rule.check is not None and rule.check.search(text, start) is None:
                continue  # a quick scan of digits spares the slower one of words
            kept = [text[:start]]
            last = start
            for match in rule.pattern.finditer(text, start):
                kept += [text[last : match.start()], rule.unchecked(match)]
                last = match.end()
            kept.append(text[last:])
            text = "".join(kept)
    return text


def _last_words(before: str, count: int) -> list[str]:
    """The last ``count`` ASCII words of ``before``'s tail (30 characters), lower-cased."""
    return [word.lower() for word in _ASCII_WORD_RE.findall(before[-30:])[-count:]]


def _follows_version_word(before: str) -> bool:
    """Whether ``before`` ends with "version", "firmware", "v" or "version is" and the like."""
    words = _last_words(before, 2)
    if not words:
        return False
    if words[-1] in _VERSION_WORDS:
        return True
    return len(words) == 2 and words[-1] in _LINKING_WORDS and words[0] in _VERSION_WORDS


def _replace_ipv4(match: re.Match[str]) -> str:
    """``[IP]`` for a dotted quad that reads as an IPv4 address, else the match as it was.

    An address comes after one of _IP_CONTEXT_WORDS in the last four words (after "IP",
    "address" or "DNS" just before when all its parts are single digits), just after "from"
    or "to", or has at least two three-digit parts (a public address in a traceroute); never
    after a version word ("version 1.2.3.4") or a word like "app", "client" or "error"."""
    candidate = match.group(0)
    parts = candidate.split(".")
    if parts[0] == "0" or any(int(part) > 255 for part in parts):
        return candidate
    before = match.string[max(0, match.start() - 40) : match.start()]
    if _follows_version_word(before):
        return candidate
    words = _last_words(before, 4)
    if words and words[-1] in _NOT_IP_WORDS:
        return candidate  # "app 4.12.0.3", "Steam client 2.10.91.91"
    if max(map(len, parts)) == 1:
        return "[IP]" if set(words[-2:]) & _IP_WORDS else candidate  # "1.3.2.1": a section
    if set(words) & _IP_CONTEXT_WORDS or (words and words[-1] in _IP_NEXT_WORDS):
        return "[IP]"
    return "[IP]" if sum(len(part) == 3 for part in parts) >= 2 else candidate


def _is_ipv6(candidate: str) -> bool:
    """Whether hex groups and colons make an IPv6 address: eight groups, or fewer with one
    "::", and a digit among them (not a MAC address, a time or "dead::beef")."""
    if ":::" in candidate or not any(char.isdigit() for char in candidate):
        return False
    groups = candidate.split(":")
    compressed = candidate.count("::")
    if compressed == 0:
        return len(groups) == 8 and all(groups)
    return compressed == 1 and len([group for group in groups if group]) >= 2


def _replace_ipv6(match: re.Match[str]) -> str:
    """``[IP]`` for an IPv6 address, else the match as it was."""
    return "[IP]" if _is_ipv6(match.group(0)) else match.group(0)


def _replace_identifier(match: re.Match[str]) -> str:
    """The context word with ``[ID]`` for the identifier after it: at least four digits, not
    an amount ("12.50") nor, without "number" or "no.", a year ("member 2019")."""
    identifier = match.group("id")
    digits = sum(char.isdigit() for char in identifier)
    if digits < 4 or _AMOUNT_RE.fullmatch(identifier):
        return match.group(0)
    if _AMOUNT_DIGITS_RE.fullmatch(identifier) and _CURRENCY_AFTER_RE.match(
        match.string, match.end()
    ):
        return match.group(0)  # "2500 EUR", "2500 in credit"
    if match.group("numberword") is None:
        if _YEAR_RE.fullmatch(identifier):
            return match.group(0)
        bare = match.group("sep") not in (":", "#", "=")
        word = " ".join(match.group("idword").lower().split())
        if (
            bare
            and word in _BARE_ID_WORDS
            and digits < _BARE_ID_DIGITS
            and "-" not in identifier
            and not any(char.isalpha() for char in identifier)
        ):
            return match.group(0)  # "my account is 2500"
    return _identifier(match)


def _last_word(text: str, end: int) -> str | None:
    """The word just before ``end`` on its line, lower-cased; "" at the start of a line,
    None after anything else (a digit, punctuation)."""
    before = text[max(0, end - 30) : end]
    found = _LAST_WORD_RE.search(before)
    if found is not None:
        return found.group(1).lower()
    stripped = before.rstrip(" \t")
    return "" if not stripped or stripped.endswith("\n") else None


def _is_product_name(name: str) -> bool:
    """Whether a street name's first word (after particles) names a product ("Windows",
    "Python") or is in capitals and not a Roman numeral ("USB"; "Via XX Settembre" is a
    street)."""
    for word in _NAME_WORD_RE.findall(name):
        if word.lower() in _PARTICLE_WORDS:
            continue
        if word.lower() in _PRODUCT_NAMES:
            return True
        return len(word) > 1 and word.isupper() and _ROMAN_RE.fullmatch(word) is None
    return False


def _replace_street(match: re.Match[str]) -> str:
    """``[ADDRESS]`` for a street address; the match as it was for a look-alike.

    An English "12 Main Street" must end there (a comma, a full stop, a line end, a unit, a
    town and postcode) unless a word like "at" comes before it ("3 Google Drive accounts"
    stays). A Romance street word that is English too ("via", "place") needs a comma, a full
    stop, a line end or a postcode after the number ("paid via PayPal 2 times" stays), a name
    that is not a product ("Via USB 3,") and, in lower case, a Romance preposition or a line
    start before it ("abito in via Garibaldi 7."; "installed it via Windows 11." stays)."""
    text = match.string
    word = match.group("word")
    if word is None:  # "12 Main Street"
        if _ENGLISH_STREET_END_RE.match(text, match.end()) is None and (
            _last_word(text, match.start()) not in _ADDRESS_WORDS
        ):
            return match.group(0)
        return "[ADDRESS]"
    if word.lower() not in _AMBIGUOUS_STREET_WORDS:
        return "[ADDRESS]"
    if match.group("postcode") is None and _STRICT_END_RE.match(text, match.end()) is None:
        return match.group(0)
    if _is_product_name(match.group("name")):
        return match.group(0)
    if word[0].islower() and not match.group(0)[0].isdigit():
        before = _last_word(text, match.start())
        if before is None or (before and before not in _STREET_PREPOSITIONS):
            return match.group(0)
    return "[ADDRESS]"


def _replace_suffix_street(match: re.Match[str]) -> str:
    """``[ADDRESS]`` for "Hauptstraße 72"; a "-platz" only with a postcode after it
    ("Marienplatz 1, 80331 München"), since "Platz 2", "Steckplatz 2" and "Sitzplatz 14" are a
    rank, a slot and a seat."""
    if match.group("postcode") is None and match.group("street").lower().endswith("platz"):
        return match.group(0)
    return "[ADDRESS]"


def _replace_uk_town(match: re.Match[str]) -> str:
    """``[ADDRESS]`` for "London SW7 4JJ" at an end, before punctuation, a country or another
    town and postcode; not before a word ("Ford Ranger T6 4WD service")."""
    if _UK_END_RE.match(match.string, match.end()) is None:
        return match.group(0)
    return "[ADDRESS]"


def _replace_unit(match: re.Match[str]) -> str:
    """``[ADDRESS]`` for "Apt 12B", "Suite 200" before a comma, a semicolon or a line end, and
    not with a year ("Office Suite 2019", "Apt 4 in the game")."""
    if _YEAR_RE.fullmatch(match.group("number")) or not _LINE_END_OR_COMMA_RE.match(
        match.string, match.end()
    ):
        return match.group(0)
    return "[ADDRESS]"


def _replace_us_city(match: re.Match[str]) -> str:
    """``[ADDRESS]`` for "City, ST 12345"; a state code that is also a word ("OR", "ID")
    only after an address or on a line of its own ("Hello, ID 12345 fails" stays)."""
    if match.group("state") in _US_WORD_STATES:
        text = match.string
        before = text[max(0, match.start() - 16) : match.start()].rstrip(" \t")
        after_address = before.endswith(("[ADDRESS]", "[ADDRESS],"))
        own_line = (not before or before.endswith("\n")) and _LINE_END_RE.match(text, match.end())
        if not (after_address or own_line):
            return match.group(0)
    return "[ADDRESS]"


def _address(_match: re.Match[str]) -> str:
    """``[ADDRESS]``, whatever the match."""
    return "[ADDRESS]"


def _ip(_match: re.Match[str]) -> str:
    """``[IP]``, whatever the match."""
    return "[IP]"


def _identifier(match: re.Match[str]) -> str:
    """The context word with ``[ID]`` for the identifier, unchecked."""
    return match.group(0)[: match.start("id") - match.start()] + "[ID]"


#: In order: the first whose replacement changes its match wins.
_NUMBER_RULES = (
    _Rule(None, None, _IPV4_RE, _replace_ipv4, _ip),
    _Rule(_ID_CHECK_RE, _ID_LEAD_RE, _IDENTIFIER_RE, _replace_identifier, _identifier, 70),
    _Rule(None, None, _NUMBER_FIRST_RE, _replace_street, _address),
    _Rule(
        _SUFFIX_STREET_CHECK_RE,
        _SUFFIX_STREET_LEAD_RE,
        _SUFFIX_STREET_RE,
        _replace_suffix_street,
        _address,
        120,
    ),
    _Rule(
        _ROMANCE_STREET_CHECK_RE,
        _ROMANCE_STREET_LEAD_RE,
        _ROMANCE_STREET_RE,
        _replace_street,
        _address,
        80,
    ),
    _Rule(_UNIT_CHECK_RE, _UNIT_LEAD_RE, _UNIT_RE, _replace_unit, _address, 20),
    _Rule(_UK_TOWN_CHECK_RE, _UK_TOWN_LEAD_RE, _UK_TOWN_RE, _replace_uk_town, _address, 100),
    _Rule(_US_CITY_CHECK_RE, _US_CITY_LEAD_RE, _US_CITY_RE, _replace_us_city, _address, 100),
)
#: Where one of _NUMBER_RULES can start (a quick "no" for most numbers): a dotted quad, four
#: digits or more, a number before a capitalised word or a French street word, after a word
#: and a space or a comma, after "Apt."/"Suite #", in a UK outward code, after a US state.
_NUMBER_HINT_RE = re.compile(
    r"[0-9](?:(?=[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9])"
    r"|(?<![0-9@][0-9])(?=(?:[A-Za-z\-./ ]{0,10}[0-9]){3})"
    r"|(?<![\w#$€£¥.,\-][0-9])(?=[0-9]{0,4}[A-Za-z]?(?:[ ]?(?:bis|ter))?,?[ \t]{1,4}"
    r"(?:[A-Z0-9]|(?i:rue|av|bd|bo|ch|al|im|qu|pl)))"
    r"|(?<=[^\W\d_][ \t][0-9])|(?<=[^\W\d_],[ \t][0-9])|(?<=\.[ \t][0-9])"
    r"|(?<=[TtEe][.#][0-9])|(?<=[TtEe][ .#][ #][0-9])|(?<=[TtEe][ .][ #][ ][0-9])"
    r"|(?<=[^\w\-.][A-PR-UWYZ][0-9])|(?<=[^\w\-.][A-PR-UWYZ][A-HK-Y][0-9])"
    r"|(?<=[A-Z][ \t][ \t][0-9]))"
)


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
    if _DIGIT_RE.search(text) is not None:
        if "::" in text or text.count(":") >= 7:
            text = _IPV6_RE.sub(_replace_ipv6, text)
        text = _redact_numbers(text)
        text = _redact_phones(text)
    if "[ADDRESS]" in text:  # what follows an address joins it
        text = _ADDRESS_TAIL_RE.sub("[ADDRESS]", text)
    return text


def redact_pii(text: str) -> str:
    """Replace personal data with placeholders.

    E-mail addresses become ``[EMAIL]``; URLs (with a scheme or ``www.``)
    ``[URL]``; Luhn-valid card numbers (13-19 digits, optional spaces or dashes, or dots
    between four groups of four) ``[CARD]``; mod-97-valid IBANs ``[IBAN]``; IPv4 and IPv6
    addresses ``[IP]`` (not a version: "version 1.2.3.4"); account and document numbers
    after their word ("account number: 2738-889-003", "SSN 123-45-6789") ``[ID]``; phone
    numbers (international, US and European layouts, 7-15 digits) ``[PHONE]``; street
    addresses ("12 Main Street", "Hauptstraße 72, 10115 Berlin", "32 rue de Rivoli", "London
    SW7 4JJ", "Springfield, IL 62701", "Apt 12B") ``[ADDRESS]``. Order numbers ("#123456",
    "order 1234567"), dates, years, prices, versions and counts are left alone. The
    passes repeat until nothing changes, so the function is idempotent. Person
    names are handled by :mod:`persona_mining.text.nlp`.

    Args:
        text: Any text.

    Returns:
        The text with placeholders instead of personal data.
    """
    return repeat_until_stable(_redact_once, text)
