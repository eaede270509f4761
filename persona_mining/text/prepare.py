"""Stage 2, prepare: clean and redact ticket text by rules, and split it into sentences.

Every ticket gets the cheap part: HTML, quoted replies and signatures stripped, the PII rules
(e-mails, URLs, phones, cards, IBANs, street addresses), its language, and its sentences and
questions from spaCy's rule-based sentencizer. The statistical pipeline (names, noun phrases,
lemmas) runs only where its output is used, in `persona_mining.text.analysis`, so that its cost
grows with the number of topics and of tickets shown rather than with the help desk.

The prepared text is what is embedded, so it does not depend on whether a ticket was analysed:
analysing a ticket later never changes its `text_hash` nor forces it to be embedded again.

Only tickets whose subject or body changed since they were last prepared are processed.
Results are written chunk by chunk, each chunk in one transaction, so an interrupted run
keeps the chunks it finished and the next run picks up the rest.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from spacy.language import Language

from persona_mining.config import PrepareConfig
from persona_mining.progress import Progress, no_progress
from persona_mining.text.cleaning import clean_text, content_hash, html_to_text, redact_pii
from persona_mining.text.language import UNDETERMINED, LanguageDetector
from persona_mining.text.nlp import sentence_pipeline, split_sentences
from persona_mining.warehouse import transaction

EMPTY_TEXT = "(no text)"
#: What `prepared_tickets.spacy_model` records for rows prepared by rules alone; a new value
#: when the rules change what they write (rules-2: references and dates masked), so that rows
#: prepared by older rules are prepared again.
RULES_PIPELINE = "rules-2"
_DEFAULT = PrepareConfig()


@dataclass(frozen=True)
class PrepareResult:
    """What one prepare call did."""

    tickets: int
    prepared: int
    questions: int
    spacy_model: str
    other_languages: Mapping[str, int]
    seconds: float
    warning: str | None = None


def prepare_tickets(
    con: duckdb.DuckDBPyConnection,
    *,
    config: PrepareConfig = _DEFAULT,
    nlp: Language | None = None,
    chunk_size: int = 2_000,
    progress: Progress = no_progress,
) -> PrepareResult:
    """Prepare every ticket that is new or changed since its last preparation.

    The language of each ticket is detected and recorded. Tickets in a language of
    `languages` (or too short to tell) go on to the embedding and topic stages; the others
    stay out of the topics, visible with their language in `prepared_tickets`. Every ticket
    gets the same cheap preparation whatever its language: the cleaning, the PII rules and
    rule-based sentences and questions (`ticket_questions`). Person names are redacted later,
    on what is shown (`persona_mining.text.analysis`); `lemmas` and `noun_phrases` stay
    empty here and are found there too.

    Args:
        con: warehouse connection.
        config: the `[prepare]` section: the languages kept for topics (empty: every ticket
            whatever its language), batch size, characters split into sentences, language
            detection. Its `spacy_model` is used by the analysis, not here.
        nlp: the sentence pipeline; default `nlp.sentence_pipeline()`, built here only when
            some ticket needs preparing.
        chunk_size: tickets per transaction.
        progress: told of the tickets prepared so far ("prepare").
    """
    started = time.perf_counter()
    pending = _pending(con)
    languages, batch_size = config.languages, config.batch_size
    max_analysis_chars, language_detection = config.max_analysis_chars, config.language_detection
    questions = 0
    other_languages: Counter[str] = Counter()
    detector = (
        LanguageDetector(mode=language_detection, preferred=languages)
        if pending and language_detection != "off"
        else None
    )
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        texts = [_ticket_text(subject, body) for _, _, subject, body in chunk]
        found = detector.detect(texts) if detector else [UNDETERMINED] * len(texts)
        in_scope = [not languages or code in languages or code == UNDETERMINED for code in found]
        other_languages.update(code for code, keep in zip(found, in_scope, strict=True) if not keep)
        if nlp is None:  # built only when something is pending
            nlp = sentence_pipeline()
        splits = split_sentences(
            texts,
            nlp,
            batch_size=batch_size,
            max_chars=max_analysis_chars,
            on_split=functools.partial(_tell, progress, start, len(pending)),
        )
        prepared_texts = [text or EMPTY_TEXT for text in texts]
        prepared = pa.table(
            {
                "ticket_id": [row[0] for row in chunk],
                "raw_hash": [row[1] for row in chunk],
                "text": prepared_texts,
                "text_hash": [content_hash(text) for text in prepared_texts],
                "n_sentences": pa.array([len(s.sentences) for s in splits], pa.int32()),
                "language": found,
                "in_scope": pa.array(in_scope, pa.bool_()),
            }
        )
        asked = [
            (row[0], position, question)
            for row, split in zip(chunk, splits, strict=True)
            for position, question in enumerate(split.questions)
        ]
        questions_table = pa.table(
            {
                "ticket_id": [a[0] for a in asked],
                "position": pa.array([a[1] for a in asked], pa.int32()),
                "question": [a[2] for a in asked],
                "question_hash": [content_hash(a[2]) for a in asked],
            }
        )
        questions += len(asked)
        with transaction(con):
            con.register("__prepared", prepared)
            con.register("__questions", questions_table)
            con.execute(
                "DELETE FROM prepared_tickets WHERE ticket_id IN (SELECT ticket_id FROM __prepared)"
            )
            con.execute(
                "DELETE FROM ticket_questions WHERE ticket_id IN (SELECT ticket_id FROM __prepared)"
            )
            con.execute(
                """INSERT INTO prepared_tickets (ticket_id, raw_hash, text, text_hash, lemmas, noun_phrases,
                    n_sentences, spacy_model, prepared_at, language, in_scope)
                SELECT ticket_id, raw_hash, text, text_hash, '', []::VARCHAR[], n_sentences, ?, now(),
                    language, in_scope
                FROM __prepared""",
                [RULES_PIPELINE],
            )
            con.execute(
                """INSERT INTO ticket_questions (ticket_id, position, question, question_hash)
                SELECT ticket_id, position, question, question_hash FROM __questions"""
            )
            con.unregister("__prepared")
            con.unregister("__questions")
    # fetchall: a result left unfinished would keep the connection from registering tables.
    total = con.execute("SELECT count(*) FROM prepared_tickets").fetchall()[0][0]
    return PrepareResult(
        tickets=total,
        prepared=len(pending),
        questions=questions,
        spacy_model=RULES_PIPELINE,
        other_languages=dict(other_languages),
        seconds=time.perf_counter() - started,
    )


def _tell(progress: Progress, before: int, total: int, done: int) -> None:
    progress("prepare", before + done, total)


def _ticket_text(subject: str | None, body: str | None) -> str:
    """Subject and cleaned body as one text; the subject carries much of the intent."""
    subject_text = redact_pii(html_to_text(subject or "")).strip()
    body_text = clean_text(body or "")
    if subject_text and body_text and not body_text.lower().startswith(subject_text.lower()):
        separator = "" if subject_text[-1:] in ".?!:" else "."
        return f"{subject_text}{separator}\n{body_text}"
    return body_text or subject_text


def _pending(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """Tickets new or changed since their preparation, or prepared before the preparation
    became rules alone (their rows hold the old full analysis; preparing them again leaves
    the text, and so the embedding, unchanged unless spaCy redacted a name in it)."""
    return con.execute(
        """SELECT t.ticket_id, t.raw_hash, t.subject, t.body FROM tickets t
        LEFT JOIN prepared_tickets p USING (ticket_id)
        WHERE p.ticket_id IS NULL OR p.raw_hash <> t.raw_hash OR p.spacy_model IS DISTINCT FROM ?
        ORDER BY t.ticket_id""",
        [RULES_PIPELINE],
    ).fetchall()
