"""Stage 2, prepare: clean, redact and analyse ticket text with spaCy.

Only tickets whose subject or body changed since they were last prepared are processed.
Results are written chunk by chunk, each chunk in one transaction, so an interrupted run
keeps the chunks it finished and the next run picks up the rest.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import spacy
from spacy.language import Language

from persona_mining.text.cleaning import clean_text, content_hash, html_to_text, redact_pii
from persona_mining.text.language import UNDETERMINED, LanguageDetector
from persona_mining.text.nlp import TextAnalysis, analyze_texts
from persona_mining.warehouse import transaction

EMPTY_TEXT = "(no text)"


@dataclass(frozen=True)
class PrepareResult:
    """What one prepare call did."""

    tickets: int
    prepared: int
    questions: int
    spacy_model: str
    other_languages: Mapping[str, int]
    seconds: float


def prepare_tickets(
    con: duckdb.DuckDBPyConnection,
    *,
    nlp: Language,
    spacy_model: str,
    languages: Sequence[str] = ("en",),
    batch_size: int = 256,
    max_analysis_chars: int = 5_000,
    chunk_size: int = 2_000,
    language_detection: str = "accurate",
) -> PrepareResult:
    """Prepare every ticket that is new or changed since its last preparation, or was
    prepared with another spaCy pipeline (e.g. before switching profile).

    The language of each ticket is detected and recorded. Tickets in a language of
    `languages` (or too short to tell) are analysed with `nlp` and go on to the embedding and
    topic stages; the others get the language-neutral analysis (rule-based sentences and
    questions; the regex PII redaction applies to every ticket) and stay out of the topics,
    visible with their language in `prepared_tickets`.

    Args:
        con: warehouse connection.
        nlp: the loaded spaCy pipeline (see `persona_mining.text.nlp.load_pipeline`).
        spacy_model: the name recorded with each prepared row.
        languages: ISO 639-1 codes the pipeline analyses (those of `nlp` and the embedding
            model); empty to analyse every ticket whatever its language.
        batch_size: texts per `nlp.pipe` batch.
        max_analysis_chars: characters of each ticket given to spaCy.
        chunk_size: tickets per transaction.
        language_detection: "accurate", "fast" (lingua's fast mode for every text) or "off"
            (every ticket in scope, recorded as "und").
    """
    started = time.perf_counter()
    pending = con.execute(
        """SELECT t.ticket_id, t.raw_hash, t.subject, t.body FROM tickets t
        LEFT JOIN prepared_tickets p USING (ticket_id)
        WHERE p.ticket_id IS NULL OR p.raw_hash <> t.raw_hash OR p.spacy_model IS DISTINCT FROM ?
        ORDER BY t.ticket_id""",
        [spacy_model],
    ).fetchall()
    questions = 0
    other_languages: Counter[str] = Counter()
    detector = (
        LanguageDetector(mode=language_detection)
        if pending and language_detection != "off"
        else None
    )
    neutral = spacy.blank("xx") if pending else None
    if neutral is not None:
        neutral.add_pipe("sentencizer")
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        texts = [_ticket_text(subject, body) for _, _, subject, body in chunk]
        found = detector.detect(texts) if detector else [UNDETERMINED] * len(texts)
        in_scope = [not languages or code in languages or code == UNDETERMINED for code in found]
        other_languages.update(code for code, keep in zip(found, in_scope, strict=True) if not keep)
        analyses = _analyze(texts, in_scope, nlp, neutral, batch_size, max_analysis_chars)
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
                "language": found,
                "in_scope": pa.array(in_scope, pa.bool_()),
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
                    n_sentences, spacy_model, prepared_at, language, in_scope)
                SELECT ticket_id, raw_hash, text, text_hash, lemmas, noun_phrases, n_sentences, ?, now(),
                    language, in_scope
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
        other_languages=dict(other_languages),
        seconds=time.perf_counter() - started,
    )


def _analyze(
    texts: list[str],
    in_scope: list[bool],
    nlp: Language,
    neutral: Language | None,
    batch_size: int,
    max_chars: int,
) -> list[TextAnalysis]:
    """The full analysis for tickets in scope, the language-neutral one for the others."""
    results: list[TextAnalysis | None] = [None] * len(texts)
    for pipeline, keep in ((nlp, True), (neutral, False)):
        positions = [i for i, flag in enumerate(in_scope) if flag is keep]
        if not positions or pipeline is None:
            continue
        analysed = analyze_texts(
            [texts[i] for i in positions], pipeline, batch_size=batch_size, max_chars=max_chars
        )
        for i, analysis in zip(positions, analysed, strict=True):
            results[i] = analysis
    return [r for r in results if r is not None]


def _ticket_text(subject: str | None, body: str | None) -> str:
    """Subject and cleaned body as one text; the subject carries much of the intent."""
    subject_text = redact_pii(html_to_text(subject or "")).strip()
    body_text = clean_text(body or "")
    if subject_text and body_text and not body_text.lower().startswith(subject_text.lower()):
        separator = "" if subject_text[-1:] in ".?!:" else "."
        return f"{subject_text}{separator}\n{body_text}"
    return body_text or subject_text
