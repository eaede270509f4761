"""Sentences and questions by rules alone (`persona_mining.text.sentences`)."""

from __future__ import annotations

import pytest

from persona_mining.text.sentences import SentenceSplit, sentences_of, split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("My order is late. Where is it?", ("My order is late.", "Where is it?")),
        ("my order is late. where is it", ("my order is late.", "where is it")),
        ("Wait!!! Why?", ("Wait!!!", "Why?")),
        ('Is it "done?" Yes.', ('Is it "done?"', "Yes.")),
        ("(It broke.) Then what?", ("(It broke.)", "Then what?")),
        ("Mr. Smith called. He was angry.", ("Mr. Smith called.", "He was angry.")),
        (
            "We are in the U.S. and it is 5 p.m. here.",
            ("We are in the U.S. and it is 5 p.m. here.",),
        ),
        ("Call me at 5 p.m. Thanks!", ("Call me at 5 p.m.", "Thanks!")),
        ("Use e.g. the app. Or the site.", ("Use e.g. the app.", "Or the site.")),
        (
            "It costs approx. 3 dollars. Order No. 5 is late.",
            ("It costs approx. 3 dollars.", "Order No. 5 is late."),
        ),
        ("I tried restarting etc. Nothing works.", ("I tried restarting etc.", "Nothing works.")),
        (
            "I need the one for Wi-Fi 6E. Can you help?",
            ("I need the one for Wi-Fi 6E.", "Can you help?"),
        ),
        ("See if... is free on Monday.", ("See if... is free on Monday.",)),
        ("I waited... Nothing happened.", ("I waited...", "Nothing happened.")),
        ("Version 2.0 of file.txt fails", ("Version 2.0 of file.txt fails",)),
        (
            "Can you show me some information?, please",
            ("Can you show me some information?, please",),
        ),
        (
            "Hello\n\nMy card was charged twice\nand nobody answers",
            ("Hello", "My card was charged twice and nobody answers"),
        ),
        ("谢谢。我的订单在哪里？", ("谢谢。", "我的订单在哪里？")),
        ("¿Dónde está mi pedido? Gracias.", ("¿Dónde está mi pedido?", "Gracias.")),
        ("", ()),
        (" ... ", ()),
    ],
)
def test_sentences_end_where_a_reader_would_end_them(text: str, sentences: tuple[str, ...]) -> None:
    assert sentences_of(text) == sentences


def test_questions_texts_in_order_and_the_first_characters_only() -> None:
    told: list[int] = []
    texts = [
        "Hi. How do I reset my password? Thanks",
        "What I need is a refund.",
        "",
        "Hi. How do I reset my password? Thanks",
        "Where is my parcel? " + "x" * 100,
    ]
    splits = split_sentences(texts, max_chars=40, report_every=1, on_split=told.append)
    assert splits[0] == SentenceSplit(
        ("Hi.", "How do I reset my password?", "Thanks"), ("How do I reset my password?",)
    )
    assert splits[1] == SentenceSplit(("What I need is a refund.",), ())
    assert splits[2] == SentenceSplit((), ())
    assert splits[3] == splits[0]
    assert splits[4].sentences == ("Where is my parcel?",)  # the rest is beyond max_chars
    assert told[-1] == len(texts) and told == sorted(told)
    long = "Could you tell me " + "why " * 100 + "it fails?"
    (only,) = split_sentences([long], max_chars=0)
    assert only.sentences == (long,) and len(only.questions[0]) <= 301
    assert only.questions[0].endswith("…")


# A megabyte of each shape that makes a careless regex backtrack: what the rules make of it
# (their speed is measured in bench/; a quadratic pattern would show here as a run that never
# ends).
MEGABYTE = 1_000_000


@pytest.mark.parametrize("mark", ["!", ".", "。", ".)"])
def test_a_huge_run_of_punctuation_that_ends_no_sentence_is_one_sentence(mark: str) -> None:
    text = mark * (MEGABYTE // len(mark)) + "x"
    (split,) = split_sentences([text], max_chars=0)
    # An ideographic full stop ends a sentence at once: the run, without a word, is dropped.
    assert split.sentences == ((text,) if mark != "。" else ("x",))


def test_a_huge_run_of_short_sentences_is_split_into_each() -> None:
    text = "Hi! " * (MEGABYTE // 4)
    assert sentences_of(text) == ("Hi!",) * (MEGABYTE // 4)


@pytest.mark.parametrize(
    ("sentence", "question"),
    [
        ("Should you need further information, please contact me.", False),
        ("Should there be any problem, call us.", False),
        ("Had you told me earlier, I would have waited.", False),
        ("Should you need anything?", True),
        ("Should I cancel the order", True),
        ("Can you send me the invoice", True),
    ],
)
def test_a_condition_a_letter_closes_with_is_no_question(sentence: str, question: bool) -> None:
    from persona_mining.text.sentences import is_question

    assert is_question(sentence) is question
