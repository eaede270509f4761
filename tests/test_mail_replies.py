"""Quoted replies and forwarded messages in real-world e-mail shapes: forwards keep the
customer's words, replies lose their quoted history, in seven languages."""

from __future__ import annotations

import time

import pytest

from persona_mining.text.cleaning import clean_text, strip_quoted_reply

CUSTOMER = "The blender I bought arrived with a cracked jar and I want a replacement."
OUTLOOK_HEADER = (
    "From: Laura Chen <laura.chen@gmail.com>\nSent: Monday, June 3, 2024 10:02 AM\n"
    "To: Support <support@acme.com>\nSubject: {subject}\n\n"
)
LONG_MESSAGE = (
    "I have now tried everything that your colleague suggested on the phone yesterday, "
    "including the reset and the firmware update, and the mixer still stops after a few "
    "seconds every single time, which makes it completely useless for my cafe."
)  # 45 words, no forwarding phrase: a message of its own, not a covering note
HISTORY = (
    "\n\nOn Sun, Jun 2, 2024 at 9:00 AM Support <support@acme.com> wrote:\n"
    "> We are sorry to hear that. Which model is it?"
)


def outlook(note: str, subject: str, body: str = CUSTOMER) -> str:
    """A message with an Outlook header block below ``note``."""
    return f"{note}\n\n{OUTLOOK_HEADER.format(subject=subject)}{body}"


# --------------------------------------------------------------------------- #
# Forwards keep the covering note and the forwarded body                     #
# --------------------------------------------------------------------------- #

FORWARDS = {
    "outlook below a covering note": outlook(
        "Please see the customer's complaint below and advise.", "Broken blender"
    ),
    "outlook below a note without a phrase": outlook("Can you help with this one?", "Jar"),
    "gmail": (
        "Help needed.\n\n---------- Forwarded message ---------\n"
        "From: Laura Chen <laura.chen@gmail.com>\nDate: Mon, Jun 3, 2024 at 10:02 AM\n"
        f"Subject: Broken blender\nTo: <support@acme.com>\n\n{CUSTOMER}"
    ),
    "apple": (
        "Help needed.\n\nBegin forwarded message:\n\nFrom: Laura Chen <laura.chen@gmail.com>\n"
        "Subject: Broken blender\nDate: 3 June 2024 at 10:02:11 BST\nTo: support@acme.com\n\n"
        f"{CUSTOMER}"
    ),
    "german separator": (
        "Help needed.\n\n-------- Weitergeleitete Nachricht --------\nVon: Laura Chen "
        f"<laura@example.de>\nDatum: 03.06.2024 10:02\nBetreff: Mixer\nAn: support\n\n{CUSTOMER}"
    ),
    "french separator": (
        "Help needed.\n\n-------- Message transféré --------\nDe : Laura <laura@example.fr>\n"
        f"Date : lun. 3 juin 2024 10:02\nObjet : Mixeur\nÀ : support\n\n{CUSTOMER}"
    ),
    "spanish separator": (
        "Help needed.\n\n---------- Mensaje reenviado ---------\nDe: Laura <laura@example.es>\n"
        f"Date: lun, 3 jun 2024 a las 10:02\nSubject: Batidora\nTo: support\n\n{CUSTOMER}"
    ),
    "outlook FW: below a long note": outlook(LONG_MESSAGE, "FW: Broken blender"),
    "outlook Fwd: below a long note": outlook(LONG_MESSAGE, "Fwd: Broken blender"),
    "outlook WG: below a long note": outlook(LONG_MESSAGE, "WG: Mixer defekt"),
    "outlook TR: below a long note": outlook(LONG_MESSAGE, "TR: Mixeur cassé"),
    "outlook RV: below a long note": outlook(LONG_MESSAGE, "RV: Batidora rota"),
    "outlook Fw: with a tag": outlook(LONG_MESSAGE, "[EXTERNAL] Fw: Broken blender"),
    "outlook FYI in a longer note": outlook(
        f"FYI, this came in overnight. {LONG_MESSAGE}", "Broken blender"
    ),
}


@pytest.mark.parametrize("name", sorted(FORWARDS))
def test_a_forward_keeps_the_note_and_the_forwarded_body(name: str) -> None:
    text = FORWARDS[name]
    note = text.split("\n\n", 1)[0]
    assert strip_quoted_reply(text) == f"{note}\n\n{CUSTOMER}"


@pytest.mark.parametrize("name", sorted(FORWARDS))
def test_the_forwarded_body_ends_at_the_next_quote_header(name: str) -> None:
    text = FORWARDS[name]
    note = text.split("\n\n", 1)[0]
    assert strip_quoted_reply(text + HISTORY) == f"{note}\n\n{CUSTOMER}"


def test_clean_text_keeps_the_customers_words_of_a_forward() -> None:
    cleaned = clean_text(FORWARDS["outlook below a covering note"])
    assert cleaned.startswith("Please see the customer's complaint below and advise.")
    assert cleaned.endswith(CUSTOMER)
    assert "laura" not in cleaned.lower() and "Subject" not in cleaned


def test_the_covering_notes_sign_off_goes() -> None:
    text = outlook("FYI, see below.\n\nThanks,\nMike Jones\nSupport Lead", "Broken blender")
    assert strip_quoted_reply(text) == f"FYI, see below.\n\n{CUSTOMER}"


def test_a_forward_of_a_forward_keeps_both_bodies() -> None:
    inner = "Laura's cafe needs this fixed by Friday."
    text = outlook("FYI", "FW: Broken blender", f"{inner}\n\n" + outlook("", "Broken blender"))
    assert strip_quoted_reply(text) == f"FYI\n\n{inner}\n\n{CUSTOMER}"


def test_a_forward_without_a_note_keeps_its_body_not_its_history() -> None:
    text = FORWARDS["gmail"].split("\n\n", 1)[1] + HISTORY
    assert strip_quoted_reply(text) == CUSTOMER


# --------------------------------------------------------------------------- #
# Replies still lose their quoted history                                     #
# --------------------------------------------------------------------------- #
# Each case pairs a reply with the forward it would be with another subject or note, so
# that a rule that drops (or keeps) everything fails one half.

REPLY_SUBJECTS = ["RE: Broken blender", "AW: Mixer", "SV: Mixer", "Antw: Mixer", "R: Frullatore"]


@pytest.mark.parametrize("subject", REPLY_SUBJECTS)
def test_an_outlook_reply_subject_drops_the_block(subject: str) -> None:
    note = "Still broken."
    assert strip_quoted_reply(outlook(note, subject)) == note
    assert strip_quoted_reply(outlook(note, "Broken blender")) == f"{note}\n\n{CUSTOMER}"


def test_an_outlook_block_below_a_substantial_message_is_a_reply() -> None:
    assert strip_quoted_reply(outlook(LONG_MESSAGE, "Broken blender")) == LONG_MESSAGE
    assert strip_quoted_reply(outlook(LONG_MESSAGE, "FW: Broken blender")) == (
        f"{LONG_MESSAGE}\n\n{CUSTOMER}"
    )


@pytest.mark.parametrize(
    "header",
    [
        "On Mon, Jun 3, 2024 at 10:02 AM Laura Chen <laura.chen@gmail.com> wrote:\n\n",
        "-----Original Message-----\n" + OUTLOOK_HEADER.format(subject="Broken blender"),
        "---------- Forwarded message ---------\nFrom: Laura <l@example.com>\nDate: Mon\n\n",
    ],
    ids=["attribution", "original message", "forward header without a subject"],
)
def test_a_reply_header_still_drops_everything_below(header: str) -> None:
    note = "Please see the customer's complaint below and advise."
    assert strip_quoted_reply(f"{note}\n\n{header}{CUSTOMER}") == note
    assert strip_quoted_reply(outlook(note, "Broken blender")) == f"{note}\n\n{CUSTOMER}"


# --------------------------------------------------------------------------- #
# Attributions and Outlook blocks in Dutch, Portuguese, Italian and Spanish   #
# --------------------------------------------------------------------------- #

ATTRIBUTIONS = {
    "dutch": "Op ma 3 jun. 2024 om 10:02 schreef Sanne de Vries <sanne@example.nl>:",
    "dutch wrapped": "Op ma 3 jun. 2024 om 10:02 schreef Sanne de Vries <\nsanne@example.nl>:",
    "portuguese": "Em seg., 3 de jun. de 2024 às 10:02, Ana Souza <ana@example.com> escreveu:",
    "portuguese wrapped": "Em seg., 3 de jun. de 2024 às 10:02, Ana Souza <\nana@example.com> escreveu:",
    "italian": (
        "Il giorno lun 3 giu 2024 alle ore 10:02 Marco Rossi <marco@example.it> ha scritto:"
    ),
    "italian short": "Il 03/06/2024 10:02, Marco Rossi ha scritto:",
}
OUTLOOK_BLOCKS = {
    "spanish": (
        "De: Soporte <soporte@acme.es>\nEnviado el: lunes, 3 de junio de 2024 10:02\n"
        "Para: Juan\nAsunto: RE: Pedido 4411\n"
    ),
    "italian": (
        "Da: Supporto <supporto@acme.it>\nInviato: lunedì 3 giugno 2024 10:02\nA: Marco\n"
        "Oggetto: R: Ordine 4411\n"
    ),
    "dutch": (
        "Van: Support <support@acme.nl>\nVerzonden: maandag 3 juni 2024 10:02\nAan: Sanne\n"
        "Onderwerp: RE: Bestelling 4411\n"
    ),
    "portuguese": (
        "De: Suporte <suporte@acme.pt>\nEnviada em: segunda-feira, 3 de junho de 2024 10:02\n"
        "Para: Ana\nAssunto: RES: Pedido 4411\n"
    ),
}
MESSAGE = "The export still fails on Chrome."
QUOTED = "Did you try turning it off and on again?"


@pytest.mark.parametrize("name", sorted(ATTRIBUTIONS))
def test_attribution_in_more_languages_drops_the_history(name: str) -> None:
    text = f"{MESSAGE}\n\n{ATTRIBUTIONS[name]}\n\n{QUOTED}"
    assert strip_quoted_reply(text) == MESSAGE
    assert clean_text(text) == MESSAGE


@pytest.mark.parametrize("name", sorted(OUTLOOK_BLOCKS))
def test_outlook_block_in_more_languages_drops_the_history(name: str) -> None:
    text = f"{MESSAGE}\n\n________________________________\n{OUTLOOK_BLOCKS[name]}\n{QUOTED}"
    assert strip_quoted_reply(text) == MESSAGE
    assert clean_text(text) == MESSAGE


@pytest.mark.parametrize("name", sorted(OUTLOOK_BLOCKS))
def test_outlook_block_in_more_languages_forwards_the_body(name: str) -> None:
    block = OUTLOOK_BLOCKS[name].replace(": RE: ", ": FW: ").replace(": R: ", ": I: ")
    block = block.replace(": RES: ", ": ENC: ")
    text = f"FYI\n\n{block}\n{CUSTOMER}{HISTORY}"
    assert strip_quoted_reply(text) == f"FYI\n\n{CUSTOMER}"


@pytest.mark.parametrize(
    "text",
    [
        "Op 3 juni schreef ik u al\nover dit probleem, zie mijn mail.",
        "Em 2023 o suporte escreveu: nada.",
        "Il 3 giugno il tecnico ha scritto: tutto a posto.",
        "Il giorno dopo ha scritto:",  # no digit, no address
    ],
)
def test_sentences_that_look_like_attributions_are_kept(text: str) -> None:
    assert strip_quoted_reply(text) == text
    # The real attribution in the same language is recognised (the rule is not just off).
    assert strip_quoted_reply(f"{text}\n\n{ATTRIBUTIONS['italian short']}\n{QUOTED}") == text


# --------------------------------------------------------------------------- #
# Hostile input                                                               #
# --------------------------------------------------------------------------- #
# 200 KB of each shape, with the result the rules give: linear time, never a regex that
# splits a line of spaces in every way.

SIZE = 200_000
HOSTILE = {
    "dutch attributions": ("Op 1 schreef a@b:\n" * (SIZE // 18), ""),
    "dutch outlook blocks": ("Van: x\nVerzonden: 10:02\n" * (SIZE // 25), ""),
    "forwards": (
        "---------- Forwarded message ---------\nFrom: x\nSubject: y\n\nhelp\n" * (SIZE // 63),
        "\n\n".join(["help"] * (SIZE // 63)),
    ),
    "spaces after Sent": ("From: x\nSent" + " " * SIZE, "From: x\nSent" + " " * SIZE),
    "spaces after a field": ("From: x\nSent: 10:02\nTo" + " " * SIZE, "To"),  # only the header
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_fast(name: str) -> None:
    text, expected = HOSTILE[name]
    started = time.perf_counter()
    result = strip_quoted_reply(text)
    elapsed = time.perf_counter() - started
    assert result == expected
    assert elapsed < 1.0, f"{elapsed:.2f} s for {len(text):,} characters"


@pytest.mark.parametrize(
    "text",
    [
        # A customer quoting an agent in their own words, not a mail client's attribution.
        "Ik heb al eerder gemaild.\nOp 12 maart schreef uw medewerker Jan:\nU krijgt uw geld "
        "terug.\nIk heb nog steeds niets ontvangen. Wanneer krijg ik het?",
        "Já reclamei antes.\nEm 3 de maio o suporte escreveu:\nSeu reembolso foi aprovado.\n"
        "Mas até agora nada. Quando vou receber?",
        # Booking details, not an Outlook header (no year, time or address on the date line).
        "Olá, preciso alterar minha viagem:\nDe: Lisboa\nPara: Porto\nData: 12 de maio\n"
        "É possível?",
        "I need to change my trip:\nFrom: Lisbon\nTo: Porto\nDate: May 12\nIs it possible?",
    ],
)
def test_a_customer_s_own_words_that_look_like_headers_are_kept(text: str) -> None:
    assert strip_quoted_reply(text) == text
