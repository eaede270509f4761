"""Stage 2, prepare: clean, redact and analyse ticket text with spaCy.

Only tickets whose subject or body changed since they were last prepared are processed.
Results are written chunk by chunk, each chunk in one transaction, so an interrupted run
keeps the chunks it finished and the next run picks up the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from spacy.language import Language

from persona_mining.cleaning import clean_text, content_hash, html_to_text, redact_pii
from persona_mining.db import transaction
from persona_mining.nlp import analyze_texts

EMPTY_TEXT = "(no text)"


@dataclass(frozen=True)
class PrepareResult:
    """What one prepare call did."""

    tickets: int
    prepared: int
    questions: int
    spacy_model: str
    seconds: float


def prepare_tickets(
    con: duckdb.DuckDBPyConnection,
    *,
    nlp: Language,
    spacy_model: str,
    batch_size: int = 256,
    max_analysis_chars: int = 5_000,
    chunk_size: int = 2_000,
) -> PrepareResult:
    """Prepare every ticket that is new or changed since its last preparation.

    Args:
        con: warehouse connection.
        nlp: the loaded spaCy pipeline (see `persona_mining.nlp.load_pipeline`).
        spacy_model: the name recorded with each prepared row.
        batch_size: texts per `nlp.pipe` batch.
        max_analysis_chars: characters of each ticket given to spaCy.
        chunk_size: tickets per transaction.
    """
    started = time.perf_counter()
    pending = con.execute(
        """SELECT t.ticket_id, t.raw_hash, t.subject, t.body FROM tickets t
        LEFT JOIN prepared_tickets p USING (ticket_id)
        WHERE p.ticket_id IS NULL OR p.raw_hash <> t.raw_hash
        ORDER BY t.ticket_id"""
    ).fetchall()
    questions = 0
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        texts = [_ticket_text(subject, body) for _, _, subject, body in chunk]
        analyses = analyze_texts(texts, nlp, batch_size=batch_size, max_chars=max_analysis_chars)
        prepared = pa.table(
            {
                "ticket_id": [row[0] for row in chunk],
                "raw_hash": [row[1] for row in chunk],
                "text": [a.text or EMPTY_TEXT for a in analyses],
                "text_hash": [content_hash(a.text or EMPTY_TEXT) for a in analyses],
                "lemmas": [a.lemmas for a in analyses],
                "noun_phrases": pa.array(
                    [list(a.noun_phrases) for a in analyses], pa.list_(pa.string())
                ),
                "n_sentences": pa.array([len(a.sentences) for a in analyses], pa.int32()),
            }
        )
        asked = pa.table(
            {
                "ticket_id": [
                    row[0] for row, a in zip(chunk, analyses, strict=True) for _ in a.questions
                ],
                "position": pa.array(
                    [i for a in analyses for i in range(len(a.questions))], pa.int32()
                ),
                "question": [q for a in analyses for q in a.questions],
            }
        )
        questions += asked.num_rows
        with transaction(con):
            con.register("__prepared", prepared)
            con.register("__questions", asked)
            con.execute(
                "DELETE FROM prepared_tickets WHERE ticket_id IN (SELECT ticket_id FROM __prepared)"
            )
            con.execute(
                "DELETE FROM ticket_questions WHERE ticket_id IN (SELECT ticket_id FROM __prepared)"
            )
            con.execute(
                """INSERT INTO prepared_tickets (ticket_id, raw_hash, text, text_hash, lemmas, noun_phrases,
                    n_sentences, spacy_model, prepared_at)
                SELECT ticket_id, raw_hash, text, text_hash, lemmas, noun_phrases, n_sentences, ?, now()
                FROM __prepared""",
                [spacy_model],
            )
            con.execute(
                "INSERT INTO ticket_questions SELECT ticket_id, position, question FROM __questions"
            )
            con.unregister("__prepared")
            con.unregister("__questions")
    total = con.execute("SELECT count(*) FROM prepared_tickets").fetchone()
    return PrepareResult(
        tickets=total[0] if total else 0,
        prepared=len(pending),
        questions=questions,
        spacy_model=spacy_model,
        seconds=time.perf_counter() - started,
    )


def _ticket_text(subject: str | None, body: str | None) -> str:
    """Subject and cleaned body as one text; the subject carries much of the intent."""
    subject_text = redact_pii(html_to_text(subject or "")).strip()
    body_text = clean_text(body or "")
    if subject_text and body_text and not body_text.lower().startswith(subject_text.lower()):
        separator = "" if subject_text[-1:] in ".?!:" else "."
        return f"{subject_text}{separator}\n{body_text}"
    return body_text or subject_text
