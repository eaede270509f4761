"""Tests of the pure-Python text cleaners (property-based and by example)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_mining.text.cleaning import (
    clean_text,
    content_hash,
    html_to_text,
    redact_pii,
    strip_quoted_reply,
    strip_signature,
)

CLEANERS = (html_to_text, strip_quoted_reply, strip_signature, redact_pii, clean_text)

# Fragments that exercise every rule; joined at random they make "ticket soup" that
# reaches the interesting branches far more often than uniform random text.
FRAGMENTS = [
    *"ab1234567890 .-+()@:/<>\n,#$&;\t\r\u00a0é_=*?",
    "On ", "Le ", "Am ", "El ", "wrote:", "a écrit :", "schrieb", "escribió:",
    "Thanks,", "Best regards,", "Cheers", "Hi,", "Hello", "Dear", " Team", " John",
    "<p>", "</p>", "<b>", "<br>", "<li>", "<blockquote>", "</blockquote>", "<script>",
    "</script>", "<!--", "-->", "&lt;", "&gt;", "&amp;", "&nbsp;", "> ", "-- \n", "--",
    "www.", "http://", "DE89", "3704 0044 0532 0130 00", "From: x\n", "Sent: y\n",
    "To: z\n", "Street", " Main", " St", "-----Original Message-----",
    "---------- Forwarded message ---------", "Sent from my iPhone", "\n\n",
    "4111 1111 1111 1111", "+1 555 123 4567", "john@example.com", "2026-03-01",
    "[EMAIL]", "[PHONE]", "P.S.",
]  # fmt: skip
ticket_soup = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
any_text = st.one_of(st.text(), ticket_soup)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

PLANTED_PII = [
    "john.doe@example.com",
    "+1 555 123 4567",
    "(555) 123-4567",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",  # Luhn-valid test card numbers
    "5500-0000-0000-0004",
    "4012888888881881",
    "DE89 3704 0044 0532 0130 00",
    "https://evil.example.com/x?y=1",
]


# --------------------------------------------------------------------------- #
# Properties                                                                  #
# --------------------------------------------------------------------------- #


@PROPERTY_SETTINGS
@given(any_text)
def test_every_cleaner_is_total(text: str) -> None:
    for cleaner in CLEANERS:
        assert isinstance(cleaner(text), str)
    assert len(content_hash(text)) == 64


@PROPERTY_SETTINGS
@given(any_text)
def test_redact_pii_is_idempotent(text: str) -> None:
    once = redact_pii(text)
    assert redact_pii(once) == once


@PROPERTY_SETTINGS
@given(any_text)
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once


def test_a_clean_text_takes_one_pass_and_a_raw_one_a_confirming_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from persona_mining.text import cleaning

    passes: list[str] = []
    once = cleaning._clean_once

    def counted(text: str) -> str:
        passes.append(text)
        return once(text)

    monkeypatch.setattr(cleaning, "_clean_once", counted)
    assert clean_text("Where is my order?") == "Where is my order?" and len(passes) == 1
    passes.clear()
    assert clean_text("Hi team,\n\nWhere is my order?") == "Where is my order?"
    assert passes == ["Hi team,\n\nWhere is my order?", "Where is my order?"]


@PROPERTY_SETTINGS
@given(st.text(), st.text(), st.sampled_from(PLANTED_PII))
def test_planted_pii_never_survives_redaction(before: str, after: str, pii: str) -> None:
    tail = pii[-8:]
    if tail in before or tail in after:  # the random text itself holds the secret
        return
    redacted = redact_pii(f"{before} {pii} {after}")
    assert pii not in redacted
    assert tail not in redacted
    cleaned = clean_text(f"{before}\n{pii}\n{after}")
    assert tail not in cleaned


@PROPERTY_SETTINGS
@given(any_text)
def test_html_to_text_never_leaves_script(text: str) -> None:
    assert "<script" not in html_to_text(text).lower()


@PROPERTY_SETTINGS
@given(st.text(), st.text())
def test_script_content_is_dropped(before: str, after: str) -> None:
    payload = "steal_cookies_payload()"
    if payload in before or payload in after:
        return
    converted = html_to_text(f"{before}<script type='x'>{payload}</script>{after}")
    assert payload not in converted
    assert "<script" not in converted.lower()


@given(st.text())
def test_content_hash_is_sha256_of_utf8(text: str) -> None:
    expected = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    assert content_hash(text) == expected


def test_content_hash_accepts_lone_surrogates() -> None:
    assert len(content_hash("broken \ud800 text")) == 64


# --------------------------------------------------------------------------- #
# Huge, hostile input                                                         #
# --------------------------------------------------------------------------- #
# A megabyte of each shape that makes a careless regex backtrack. The tests check what the
# cleaners make of it; their speed on it is measured in bench/, not asserted here (a
# quadratic regex would still show here as a run that never ends).

MEGABYTE = 1_000_000
HOSTILE_INPUTS = {
    "letters": "a" * MEGABYTE,
    "unclosed tags": "<a " * (MEGABYTE // 3),
    "angle brackets": "<b>" + "<" * MEGABYTE,
    "number dump": "1 " * (MEGABYTE // 2),
    "card-shaped dump": "1111 " * (MEGABYTE // 5),
    "dates": "2026-03-01 " * (MEGABYTE // 11),
    "redaction masks": "XXXX XX/XX/XXXX " * (MEGABYTE // 16),
    "at signs": "a@" * (MEGABYTE // 2),
    "attribution starts": "On 1\n" * (MEGABYTE // 5),
    "sign-offs": "Thanks,\n" * (MEGABYTE // 8),
    "quote markers": ">\n" * (MEGABYTE // 2),
    "unclosed comments": "<!--" * (MEGABYTE // 4),
}
# Plain text without PII, quotes or signatures comes back as it was, trimmed.
UNCHANGED = ("letters", "unclosed tags", "number dump", "at signs", "attribution starts")


def test_clean_text_masks_a_huge_dump_of_dates() -> None:
    text = HOSTILE_INPUTS["dates"]
    assert clean_text(text) == ("[DATE] " * (MEGABYTE // 11)).strip()


@pytest.mark.parametrize("name", UNCHANGED)
def test_clean_text_keeps_huge_hostile_plain_text(name: str) -> None:
    text = HOSTILE_INPUTS[name]
    assert clean_text(text) == text.strip()


def test_clean_text_drops_the_tag_of_huge_angle_bracket_soup() -> None:
    assert clean_text(HOSTILE_INPUTS["angle brackets"]) == "<" * MEGABYTE


def test_clean_text_fails_closed_on_a_huge_dump_of_card_shaped_numbers() -> None:
    # 16 ones fail the Luhn check; past the checking budget the rest is redacted unchecked.
    words = clean_text(HOSTILE_INPUTS["card-shaped dump"]).split(" ")
    assert set(words) == {"1111", "[CARD]"}
    assert words[-1] == "[CARD]" and words[0] == "1111"
    first = words.index("[CARD]")
    assert set(words[first:]) == {"[CARD]"}


def test_clean_text_strips_only_a_signature_from_a_huge_run_of_sign_offs() -> None:
    text = HOSTILE_INPUTS["sign-offs"]
    cleaned = clean_text(text)
    assert cleaned and text.startswith(cleaned)
    assert set(cleaned.split("\n")) == {"Thanks,"}
    assert len(cleaned) < len(text.strip())


EMPTIED = ["quote markers", "unclosed comments", "redaction masks"]


@pytest.mark.parametrize("name", EMPTIED)
def test_clean_text_empties_huge_input_without_content(name: str) -> None:
    assert clean_text(HOSTILE_INPUTS[name]) == ""


def test_every_hostile_input_is_checked() -> None:
    checked = {*UNCHANGED, "angle brackets", "card-shaped dump", "sign-offs", "dates"}
    assert checked | set(EMPTIED) == set(HOSTILE_INPUTS)


# --------------------------------------------------------------------------- #
# HTML                                                                        #
# --------------------------------------------------------------------------- #


def test_html_to_text_converts_markup() -> None:
    html_text = (
        "<html><head><title>Ticket</title><style>p {color: red}</style></head><body>"
        "<p>Hello&nbsp;there &amp; welcome</p><div>Line one<br>Line   two</div>"
        "<ul><li>first</li><li>second</li></ul><script>track()</script></body></html>"
    )
    assert html_to_text(html_text) == (
        "Hello there & welcome\n\nLine one\nLine two\n\nfirst\nsecond"
    )


def test_html_to_text_drops_unclosed_script() -> None:
    assert html_to_text("<p>Help</p><script>alert(1) and more") == "Help"


def test_html_blockquote_becomes_quote_lines() -> None:
    converted = html_to_text("<p>New answer</p><blockquote><p>old message</p></blockquote>")
    assert converted == "New answer\n\n> old message"
    assert strip_quoted_reply(converted) == "New answer"


def test_html_entities_that_spell_tags_stay_inert() -> None:
    converted = html_to_text("<p>type &lt;b&gt; or &lt;script&gt;</p>")
    assert "<b>" not in converted
    assert html_to_text(converted) == converted


def test_plain_text_character_references_are_decoded() -> None:
    # Social-media and web-form exports escape plain text; "&amp;" must not become a keyword.
    tweet = "@AmericanAir delayed &amp; rebooked, it&#39;s &quot;fine&quot; &#x2192; &gt;3h"
    assert html_to_text(tweet) == '@AmericanAir delayed & rebooked, it\'s "fine" \u2192 >3h'
    assert "amp" not in clean_text(tweet)
    # Only complete references: no semicolon, no decoding ("&para" is not a pilcrow here).
    for text in ("https://x.example/?id=1&para=2", "R&D and Q&A", "AT&T &amp", "&unknown;"):
        assert html_to_text(text) == text


def test_plain_text_references_that_spell_tags_stay_inert() -> None:
    converted = html_to_text("type &lt;b&gt;bold&lt;/b&gt; or &lt;script&gt;alert(1)")
    assert "<b>" not in converted and "<script" not in converted
    assert "bold" in converted and "alert(1)" in converted
    assert html_to_text(converted) == converted


@pytest.mark.parametrize(
    "text",
    [
        "a < b and c > d",
        "Reply to <john@example.com> please",
        "if x<3 then y>2",
        "Plain text, nothing to do.",
    ],
)
def test_plain_text_passes_unchanged(text: str) -> None:
    assert html_to_text(text) == text


def test_plain_text_line_endings_are_normalised() -> None:
    assert html_to_text("one\r\ntwo\rthree") == "one\ntwo\nthree"


# --------------------------------------------------------------------------- #
# Quoted replies                                                              #
# --------------------------------------------------------------------------- #

QUOTED_REPLIES = {
    "gmail": "On Mon, Mar 2, 2026 at 10:14 AM John Doe <john@example.com> wrote:\n> old",
    "gmail split": "On Mon, Mar 2, 2026 at 10:14 AM John Doe <\njohn@example.com> wrote:\n> x",
    "apple": "On Mar 2, 2026, at 10:14, John Doe <john@example.com> wrote:\n\n> old",
    "french": "Le lun. 2 mars 2026 à 10:14, Jean Dupont <jean@example.fr> a écrit :\n> x",
    "german": "Am 02.03.2026 um 10:14 schrieb Hans Müller <hans@example.de>:\n> alt",
    "spanish": "El lun, 2 mar 2026 a las 10:14, Juan (<juan@example.es>) escribió:\n> x",
    "original message": "-----Original Message-----\nFrom: Support\nSent: Monday\nold text",
    "forwarded": "---------- Forwarded message ---------\nFrom: A <a@b.com>\nDate: Mon\nold",
    "outlook": (
        "________________________________\nFrom: Support <support@example.com>\n"
        "Sent: Monday, March 2, 2026 10:14 AM\nTo: Ann\nSubject: RE: Ticket 4411\n\nold text"
    ),
    "quote lines only": "> Could you send a screenshot?\n> Thanks",
}


@pytest.mark.parametrize("name", sorted(QUOTED_REPLIES))
def test_quoted_reply_is_removed(name: str) -> None:
    message = "The export still fails on Chrome."
    assert strip_quoted_reply(f"{message}\n\n{QUOTED_REPLIES[name]}") == message


def test_interleaved_quote_lines_are_dropped() -> None:
    text = "See my answers:\n> Which browser?\nChrome 120\n> Which plan?\nBusiness"
    assert strip_quoted_reply(text) == "See my answers:\nChrome 120\nBusiness"


def test_whole_quote_keeps_its_content() -> None:
    text = "On Mon, Mar 2, 2026 at 10:14 AM Ann <ann@example.com> wrote:\n> The app\n> > crashes"
    assert strip_quoted_reply(text) == "The app\ncrashes"


def test_forward_only_keeps_forwarded_content() -> None:
    text = (
        "---------- Forwarded message ---------\nFrom: Ann <ann@example.com>\n"
        "Date: Mon, 2 Mar 2026\nSubject: Bug\nTo: support@example.com\n\n"
        "The export button does nothing."
    )
    assert strip_quoted_reply(text) == "The export button does nothing."


@pytest.mark.parametrize(
    "text",
    [
        "On Monday I tried again and the app wrote: nothing",  # no date, no e-mail
        "On my iPhone 12 the app crashes.",
        "From: my experience this fails\nTo: be honest, often",  # no Sent:/Date:
        "The value must be > 5 to work",
    ],
)
def test_non_quotes_are_kept(text: str) -> None:
    assert strip_quoted_reply(text) == text


# --------------------------------------------------------------------------- #
# Signatures                                                                  #
# --------------------------------------------------------------------------- #

SIGNATURES = {
    "dash-dash": "-- \nJohn Smith\nAcme Corp",
    "dash-dash trimmed": "--\nJohn",
    "iphone": "Sent from my iPhone",
    "android": "Sent from my Android phone",
    "galaxy": "Sent from my Galaxy",
    "thanks block": "Thanks,\nJohn Smith\nSenior Engineer\nAcme Corp\n+1 555 123 4567",
    "best regards": "Best regards,\nAnn Lee",
    "kind regards": "Kind regards,\nAnn",
    "cheers": "Cheers,\nTom",
    "regards": "Regards,\nAnn Lee\nAcme",
    "sincerely": "Sincerely,\nAnn",
    "thanks alone": "Thanks!",
    "one-line": "Thanks, John",
    "sign-off and phone": "Best,\nJohn\n\nSent from my iPhone",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_is_removed(name: str) -> None:
    body = "The export still fails on Chrome.\nIt worked last week."
    assert strip_signature(f"{body}\n\n{SIGNATURES[name]}") == body


@pytest.mark.parametrize(
    "text",
    [
        "Thanks,\nJohn",  # nothing but a sign-off: never remove the body
        "The app crashes.\n\nThanks for the quick help, it works now",
        "Thanks, the export works now.\nBut the import still fails.",
        "Body.\nRegards,\nAnn\nThis line is a long sentence that explains the issue in much"
        " more detail than any signature line would",
        "Body.\nThanks,\nAnn\nP.S. it also fails on Android",
        "Body.\nThanks,\nJohn\nDo you need more logs?",
    ],
)
def test_signature_stripping_is_conservative(text: str) -> None:
    assert strip_signature(text) == text


# --------------------------------------------------------------------------- #
# PII                                                                         #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail john.doe+tag@mail.example.co.uk now", "mail [EMAIL] now"),
        ("see https://example.com/a?b=1.", "see [URL]."),
        ("(www.example.com/path)", "([URL])"),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("iban DE89 3704 0044 0532 0130 00 ok", "iban [IBAN] ok"),
        ("iban GB82WEST12345698765432", "iban [IBAN]"),
        ("call +1 (555) 123-4567", "call [PHONE]"),
        ("call 555-123-4567 or 555.123.4567", "call [PHONE] or [PHONE]"),
        ("tel +44 20 7946 0958", "tel [PHONE]"),
        ("portable 06 12 34 56 78", "portable [PHONE]"),
        ("Handy 0171 1234567", "Handy [PHONE]"),
        ("ruf +49 (0)30 1234567 an", "ruf [PHONE] an"),
        ("call me at 5551234567", "call me at [PHONE]"),
        ("I live at 12 Main Street.", "I live at [ADDRESS]."),
        ("221B Baker St, London", "[ADDRESS], London"),
    ],
)
def test_pii_is_redacted(text: str, expected: str) -> None:
    assert redact_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order #123456 arrived",
        "order 1234567 arrived",
        "ticket 12345678901",
        "2 items for $49.99",
        "since 2026-03-01 and 01.03.2026 and 1/3/2026",
        "at 10:30 in 2026",
        "total 1,299.00 EUR for 10 000 000 users",
        "version 10.2.3.4 of the app",
        "card 1234 5678 9012 3456 fails Luhn",
        "between 1000-2000 rows",
        "step 1 2 3 4 5 6 7",
    ],
)
def test_non_pii_numbers_are_left_alone(text: str) -> None:
    assert redact_pii(text) == text


# --------------------------------------------------------------------------- #
# Whole pipeline                                                              #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi,\nMy app crashes", "My app crashes"),
        ("Hello team,\n\nThe export fails.", "The export fails."),
        ("Dear Support,\nI cannot log in.", "I cannot log in."),
        ("Dear Support, I cannot log in.", "I cannot log in."),
        ("Hi John,\nHello,\nThe app crashes", "The app crashes"),
        ("Good morning!\nThe app crashes", "The app crashes"),
    ],
)
def test_leading_greeting_is_removed(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Hello World app crashes on start", "Hi-res images are blurry", "Highlights are gone"],
)
def test_non_greetings_are_kept(text: str) -> None:
    assert clean_text(text) == text


def test_clean_text_runs_the_whole_pipeline() -> None:
    raw = (
        "<html><body><p>Hi team,</p><p>The   export fails &amp; the app crashes.</p>"
        "<p>Call me on +1 (555) 123-4567 or mail ann.lee@example.com.</p>"
        "<p>Best regards,<br>Ann Lee<br>Acme Corp</p>"
        "<div>On Mon, Mar 2, 2026 at 10:14 AM Support &lt;support@example.com&gt; wrote:</div>"
        "<blockquote>Could you send more details?</blockquote></body></html>"
    )
    assert clean_text(raw) == (
        "The export fails & the app crashes.\n\nCall me on [PHONE] or mail [EMAIL]."
    )


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t", "\x00\x01\ufeff"])
def test_clean_text_of_nothing_is_empty(text: str) -> None:
    assert clean_text(text) == ""


def test_clean_text_drops_control_characters_and_keeps_punctuation() -> None:
    assert clean_text("Why\x00 does it\u200b fail?\r\n\r\n\r\n\r\nNo idea!") == (
        "Why does it fail?\n\nNo idea!"
    )


def test_a_bare_name_after_a_blank_line_is_a_signature() -> None:
    text = "Why should I keep shopping here?\n\nOlivia"
    assert strip_signature(text) == "Why should I keep shopping here?"
    assert strip_signature("The app crashes.\n\nPlease help") == "The app crashes.\n\nPlease help"


@pytest.mark.parametrize(
    "signed",
    [
        "The blender arrived broken.\n\n- Margaret Thompson",
        "The blender arrived broken.\n-Margaret Thompson",
        "The blender arrived broken.\n\n\u2014 Jonathan Whitaker",
        "The blender arrived broken.\n\n~ Priya",
        "The blender arrived broken.\n\nMARGARET THOMPSON",
        "The blender arrived broken. - Margaret Thompson",
        "The blender arrived broken. Regards - Margaret Thompson",
    ],
)
def test_a_name_a_dash_leads_or_in_capitals_is_a_signature(signed: str) -> None:
    # spaCy's NER finds none of these names, so the rules must take them off.
    assert clean_text(signed) == "The blender arrived broken."


@pytest.mark.parametrize(
    "text",
    [
        "Still no refund.\n\nPLEASE HELP",
        "My router is dead.\n\nNOT WORKING",
        "Bought:\n- Apple Watch\n\n- Mac Mini",
        "Bought:\n- Apple Watch\n- Mac Mini",
        "I bought the X - Pro Max",
        "Help me.\nOlivia",
    ],
)
def test_a_plea_in_capitals_or_a_list_is_not_a_signature(text: str) -> None:
    assert strip_signature(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is order NW-313219?", "Where is order [ID]?"),
        ("I placed order #6644209 yesterday", "I placed order [ID] yesterday"),
        ("invoice INV-2024-0042 please", "invoice [ID] please"),
        ("ticket 12345678901 again", "ticket [ID] again"),
        ("bought on 09/22/2025 and 2026-03-01", "bought on [DATE] and [DATE]"),
        ("card expiry 05/27.", "card expiry [DATE]."),
        (
            "On XX/XX/XXXX I called XXXX about account XXXX, again on XX/XX/2019.",
            "On I called about account, again on.",
        ),
        ("book a taxi from XXX to XXX", "book a taxi from to"),
    ],
)
def test_references_and_dates_are_masked(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2 items for $49.99",
        "at 10:30 in 2026",
        "HDMI 2.1 and Bluetooth 5.3 on version 10.2.3",
        "between 1000-2000 rows, open 24/7, postcode 90210",
        "play 107.5 FM on a Windows 11 laptop",
        "Super Bowl XX in size XXL for $XX, code XXXX1234",
    ],
)
def test_prices_versions_times_and_short_numbers_stay(text: str) -> None:
    assert clean_text(text) == text


def test_what_attachments_leave_in_the_text_is_dropped() -> None:
    from persona_mining.text.markup import html_to_text

    data = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\n"
    mail = (
        "The app crashes on launch. Log attached:\n\n--000000000000a1b2c3d4\n"
        'Content-Type: text/plain; charset="UTF-8"\n\tname="log.txt"\n'
        "Content-Transfer-Encoding: base64\n\n" + data * 5 + "--000000000000a1b2c3d4--\n"
        "Screenshot: [cid:image001.png@01DAB5C3.1F2E3D40] [image: logo.png]"
    )
    assert clean_text(mail) == "The app crashes on launch. Log attached:\n\nScreenshot:"
    html = f"<p>See [cid:image002.jpg@01DA.2E] below</p><pre>{data * 3}</pre>"
    assert html_to_text(html) == "See below"
    # One line of an id, a Content-Type question, a "--" in prose: the customer's words.
    kept = "My key is ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn0123 - what is Content-Type?"
    assert clean_text(kept) == kept
    quoted = "The server says:\nContent-Type: application/json is not supported\nHow do I fix it?"
    assert clean_text(quoted) == quoted  # one header line alone: the customer's own words


def test_attachment_rules_are_linear_on_adversarial_input() -> None:
    import time

    from persona_mining.text.markup import strip_attachments

    started = time.perf_counter()
    strip_attachments(("A" * 100 + "\n") * 20_000 + "x" * 1_000_000)
    strip_attachments("--" + "a" * 500_000 + "\n[cid:" + "b" * 1_000_000)
    strip_attachments(("Content-Type:" + " " * 1000 + "\n\t") * 2_000)
    assert time.perf_counter() - started < 1.0
