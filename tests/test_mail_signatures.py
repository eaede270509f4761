"""Tests of the e-mail tails and greetings of real exports: legal notices, mobile lines, long
signature blocks, sign-offs and greetings in other languages."""

from __future__ import annotations

import time

import pytest

from persona_mining.text.cleaning import clean_text, strip_signature

BODY = "The export still fails on Chrome.\nIt worked last week."

DISCLAIMER = (
    "DISCLAIMER: This e-mail and any attachments are confidential and intended solely for the"
    " addressee. If you are not the intended recipient, please notify the sender immediately"
    " and delete this e-mail. Any unauthorised copying, disclosure or distribution is"
    " prohibited."
)
NOTICES = {
    "disclaimer": DISCLAIMER,
    "confidentiality notice": (
        "CONFIDENTIALITY NOTICE: The information contained in this email is intended only for"
        " the use of the individual or entity named above. If the reader of this message is not"
        " the intended recipient, you are hereby notified that any dissemination is prohibited."
    ),
    "this message": (
        "This message (including any attachments) is confidential and may be privileged. If you"
        " are not the intended recipient, please notify the sender and delete it."
    ),
    "wrapped with a heading alone": (
        "Disclaimer\n\nThis email and any files transmitted with it are confidential and\n"
        "intended solely for the use of the individual to whom they are addressed.\n"
        "If you have received this email in error please notify the sender.\n\n"
        "Any views or opinions presented in this email are solely those of the author and do"
        " not necessarily represent those of the company.\n\nContoso Ltd, registered in England"
    ),
    "environment": "Please consider the environment before printing this e-mail",
    "environment and disclaimer": "Please consider the environment before printing.\n" + DISCLAIMER,
    "german": (
        "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie"
        " nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben,"
        " informieren Sie bitte sofort den Absender und vernichten Sie diese Mail."
    ),
    "german, short": (
        "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen..."
    ),
    "french": (
        "Ce message et ses pièces jointes sont confidentiels et destinés exclusivement au"
        " destinataire. Si vous avez reçu ce message par erreur, merci de le détruire."
    ),
}


@pytest.mark.parametrize("name", sorted(NOTICES))
def test_a_trailing_legal_notice_is_removed(name: str) -> None:
    assert strip_signature(f"{BODY}\n\n{NOTICES[name]}") == BODY
    assert clean_text(f"{BODY}\n\n{NOTICES[name]}") == BODY


@pytest.mark.parametrize(
    "tail",
    [
        "Sent from my iPhone\n\n" + DISCLAIMER,
        "Thanks\nTomasz Martinez\nSent from my iPhone\n\n" + DISCLAIMER,
        "Best regards,\nAnn Lee\n\n-----\n" + NOTICES["this message"],
        "Kind regards,\nAnn Lee\nAcme Corp\n" + NOTICES["environment"] + "\n\n" + DISCLAIMER,
        "Atenciosamente,\nAna Souza\n\nEnviado do meu iPhone",
    ],
)
def test_a_signature_above_a_notice_or_a_mobile_line_goes_with_it(tail: str) -> None:
    assert strip_signature(f"{BODY}\n\n{tail}") == BODY
    assert "Martinez" not in clean_text(f"{BODY}\n{tail}")


@pytest.mark.parametrize(
    "line",
    [
        "Enviado do meu iPhone",
        "Inviato da iPhone",
        "Inviato dal mio Samsung Galaxy",
        "Verzonden vanaf mijn iPhone",
        "Verstuurd vanaf mijn iPad",
    ],
)
def test_mobile_lines_in_other_languages_are_removed(line: str) -> None:
    assert strip_signature(f"{BODY}\n\n{line}") == BODY


LONG_SIGNATURE = (
    "Best regards,\nAnna Schmidt\nSenior Account Manager\nContoso GmbH\n"
    "Hauptstraße 42, 10115 Berlin\nTel: +49 30 1234567\nMobile: +49 170 1234567\n"
    "anna.schmidt@contoso.com\nwww.contoso.com"
)


def test_a_long_signature_block_after_a_sign_off_is_removed() -> None:
    assert strip_signature(f"{BODY}\n\n{LONG_SIGNATURE}") == BODY
    assert clean_text(f"{BODY}\n\n{LONG_SIGNATURE}") == BODY


@pytest.mark.parametrize(
    "signature",
    [
        "Atenciosamente,\nAna Souza",
        "Cumprimentos,\nJoão da Silva",
        "Obrigado,\nAna Pereira",
        "Met vriendelijke groet,\nSanne de Vries",
        "Met vriendelijke groet, Sanne de Vries",
        "Groeten,\nJan van der Berg",
        "Groetjes,\nSanne",
        "LG\nAnna",
        "LG, Anna",
        "Liebe Grüße,\nAnna Müller",
        "Freundliche Grüße\nHans Müller",
        "MfG\nHans Müller",
        "Gruß,\nHans",
        "Cordiali saluti,\nMarco Rossi",
        "Distinti saluti,\nGiulia Bianchi",
        "Saluti,\nMarco",
        "Un saludo,\nJuan García",
        "Gracias,\nLucía",
        "Bien à vous,\nÉmilie Durand",
        "Salutations,\nJean Dupont",
    ],
)
def test_sign_offs_in_other_languages_take_the_name_with_them(signature: str) -> None:
    assert strip_signature(f"{BODY}\n\n{signature}") == BODY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hi ingrid, is it possible to obtain some invoices?",
            "is it possible to obtain some invoices?",
        ),
        ("hello tom, my order is late", "my order is late"),
        ("hi there anna, I need a refund", "I need a refund"),
        ("hey anna maria,\nthe app crashes", "the app crashes"),
        ("Sehr geehrte Frau Rossi,\nmeine Bestellung fehlt.", "meine Bestellung fehlt."),
        ("Sehr geehrter Herr Müller,\nmeine Bestellung fehlt.", "meine Bestellung fehlt."),
        ("Sehr geehrte Damen und Herren,\nmeine Bestellung fehlt.", "meine Bestellung fehlt."),
        ("Liebe Anna,\nmeine Bestellung fehlt.", "meine Bestellung fehlt."),
        ("Olá Ana Pereira,\nmeu pedido atrasou.", "meu pedido atrasou."),
        ("Prezados,\nmeu pedido atrasou.", "meu pedido atrasou."),
        ("Caro Marco,\nil mio ordine è in ritardo.", "il mio ordine è in ritardo."),
        ("Gentile Sig. Rossi,\nil mio ordine è in ritardo.", "il mio ordine è in ritardo."),
        ("Beste Sanne,\nmijn bestelling is te laat.", "mijn bestelling is te laat."),
        ("Estimado Sr. García,\nmi pedido llegó roto.", "mi pedido llegó roto."),
    ],
)
def test_greetings_in_lower_case_and_other_languages_are_removed(text: str, expected: str) -> None:
    assert clean_text(text) == expected


# Each text below is kept as it was but for a tail the new rules take off (a notice, a mobile
# line, a sign-off), so the over-removal these rules must not do is checked where they act.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a customer's sentence mentioning the intended recipient, mid-message
            "I am not the intended recipient of this parcel, it was left at my door.\n"
            "Please collect it.\n\n" + DISCLAIMER,
            "I am not the intended recipient of this parcel, it was left at my door.\n"
            "Please collect it.",
        ),
        (  # ... or in its last paragraph: one marker is not a notice
            "The parcel came today.\n\nIf you are not the intended recipient of this parcel,"
            " the label says to return it.\n\nEnviado do meu iPhone",
            "The parcel came today.\n\nIf you are not the intended recipient of this parcel,"
            " the label says to return it.",
        ),
        (
            "The app crashes.\n\nThis message is confidential, please do not share it.\n\n"
            "Liebe Grüße,\nAnna",
            "The app crashes.\n\nThis message is confidential, please do not share it.",
        ),
        (
            "I went to Best Buy yesterday.\nBest Buy\n\nVerzonden vanaf mijn iPhone",
            "I went to Best Buy yesterday.\nBest Buy",
        ),
        ("Thanks, Ann\n\n" + DISCLAIMER, "Thanks, Ann"),
        (
            "Bought:\n- Apple Watch\n- Mac Mini\n\n" + DISCLAIMER,
            "Bought:\n- Apple Watch\n- Mac Mini",
        ),
        ("My TV:\nLG\nModel 55UK6300\n\nInviato da iPhone", "My TV:\nLG\nModel 55UK6300"),
        (
            "Body.\nThanks,\nAnn\nIt also fails on Android\nand on iOS\nin Safari\nand Firefox\n"
            "since Monday\n\nEnviado do meu iPhone",
            "Body.\nThanks,\nAnn\nIt also fails on Android\nand on iOS\nin Safari\nand Firefox\n"
            "since Monday",
        ),
    ],
)
def test_what_a_customer_wrote_stays(text: str, expected: str) -> None:
    assert strip_signature(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello tom, my parcel says hi there, welcome", "my parcel says hi there, welcome"),
        ("hey can you, help me\n\nInviato da iPhone", "hey can you, help me"),
        ("The app crashes. Hi Ann, hello?\n\nGroetjes,\nSanne", "The app crashes. Hi Ann, hello?"),
    ],
)
def test_a_greeting_word_later_on_or_a_request_stays(text: str, expected: str) -> None:
    assert clean_text(text) == expected


# 200 KB of each shape the new rules could backtrack on; what is left is checked and the time
# bounded loosely (tens of milliseconds here).
KILOBYTES_200 = 200_000
HOSTILE = {
    "notice openings": (
        "Body.\n" + "DISCLAIMER: confidential intended recipient\n" * (KILOBYTES_200 // 44),
        "confidential intended recipient",
    ),
    "a notice in one line": (
        "Body.\n\nThis e-mail is " + "confidential and privileged " * (KILOBYTES_200 // 28),
        "Body.",
    ),
    "signature lines": (
        "Body.\n" + "Ann Lee\n" * (KILOBYTES_200 // 8) + LONG_SIGNATURE + "\nSent from my iPhone",
        "Ann Lee",
    ),
    "greetings": ("hi anna, " * (KILOBYTES_200 // 9) + "the app crashes", "the app crashes"),
    "blanks after a sign-off": (
        "The app crashes.\n" * (KILOBYTES_200 // 20) + "Thanks" + " " * 20_000 + "- Ann",
        "The app crashes.",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_tails_and_greetings_are_cleaned_fast(name: str) -> None:
    text, expected_end = HOSTILE[name]
    started = time.perf_counter()
    cleaned = clean_text(text)
    elapsed = time.perf_counter() - started
    assert cleaned.endswith(expected_end)
    assert len(cleaned) < len(text.strip())
    assert elapsed < 1.0


# Regressions a reviewer found: ordinary customer text the rules above took words from.
@pytest.mark.parametrize(
    "text",
    [
        "I received someone else's package.\nThis email contains their invoice, which I"
        " received in error. It has confidential data, so who should I send it to?",
        "The delivery was late again.\n\nIf you are not able to deliver on time, please tell me"
        " so I can cancel. This is confidential information about my address, please do not"
        " disclose it.",
        "My parcel was left outside and got wet.\n\nThis message is to say that if you are not"
        " able to refund me, I will dispute the charge with my bank. Unauthorized charges are"
        " prohibited.",
    ],
)
def test_a_customer_paragraph_with_notice_words_is_no_notice(text: str) -> None:
    # A notice speaks of "the sender", "you", "we": never "I", "my", nor asks a question.
    assert clean_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "The app keeps crashing.\n\nDanke\nAber das Problem besteht weiterhin seit dem Update",
        "The refund is missing.\nGracias\nPero todavía no me han devuelto el dinero",
        "Il prodotto è rotto.\nGrazie\nMa voglio sapere quando arriva il sostituto",
        "Pedido chegou quebrado.\nObrigado\nMas preciso de uma resposta urgente",
        "Bestelling is kapot aangekomen.\nBedankt\nMaar ik wil wel mijn geld terug",
        "Die Lieferung fehlt.\nGrüße\nund bitte um schnelle Rückmeldung",
        "The app crashes.\nThanks\nbut I still need a refund",
        "Thanks\nbut I still need a refund",
    ],
)
def test_a_line_continuing_the_message_keeps_the_sign_off_above(text: str) -> None:
    assert clean_text(text) == text


def test_a_sign_off_with_mail_and_label_lines_still_goes() -> None:
    tail = "Thanks,\nAnn Lee\nann.lee@example.com\nE: support@example.com"
    assert strip_signature(f"{BODY}\n\n{tail}") == BODY


@pytest.mark.parametrize(
    "text",
    [
        "Hola necesito ayuda, no puedo entrar a mi cuenta",
        "Hi need help, my account is locked",
        "hey everything broke, please help",
        "hey the app, it keeps crashing",
        "hey quick question, does the Pro plan include SSO?",
        "Hallo bitte helfen, mein Konto ist gesperrt.",
        "Dear god, this is the third time",
        "Liebe die App, aber seit dem Update stürzt sie ab.",
        "Beste app ooit, maar de laatste update is traag.",
        "Cher mais efficace, je recommande",
        "Caro ma funziona, peccato per la batteria.",
    ],
)
def test_a_greeting_takes_no_words_of_the_request(text: str) -> None:
    assert clean_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Liebe Frau Weber,\nmeine Bestellung fehlt.", "meine Bestellung fehlt."),
        ("Querida Ana, mi pedido llegó roto.", "mi pedido llegó roto."),
        ("Chère Madame,\nma commande est en retard.", "ma commande est en retard."),
        ("hi ingrid, need help", "need help"),
        ("Cher service client,\nma commande est en retard.", "ma commande est en retard."),
        ("Beste klant, de app werkt niet.", "de app werkt niet."),
        ("Bonjour service clientèle, j'ai besoin d'aide", "j'ai besoin d'aide"),
    ],
)
def test_an_ambiguous_greeting_before_a_name_still_goes(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@pytest.mark.parametrize(
    "last", ["TERRIBLE SERVICE", "NEVER AGAIN", "DELTA SUCKS", "CANCEL SUBSCRIPTION"]
)
def test_a_complaint_in_capitals_on_the_last_line_stays(last: str) -> None:
    text = f"My flight was cancelled.\n\n{last}"
    assert clean_text(text) == text


@pytest.mark.parametrize("signed", ["Thanks,\nANN LEE", "- ANN LEE", "ANN LEE"])
def test_a_name_in_capitals_still_goes(signed: str) -> None:
    assert strip_signature(f"{BODY}\n\n{signed}") == BODY


def test_a_sign_off_word_inside_the_sentence_stays_before_a_dashed_name() -> None:
    text = "@116170 Oh behalf of Chipotle, thank YOU! -Becky"
    assert clean_text(text) == "@[ID] Oh behalf of Chipotle, thank YOU!"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@1 Yes! Shawn's cards are the best. -Becky", "@1 Yes! Shawn's cards are the best."),
        ("They're available now :) Thanks - Emma", "They're available now :)"),
    ],
)
def test_a_dashed_name_goes_and_the_sentence_before_it_stays(text: str, expected: str) -> None:
    assert strip_signature(text) == expected
