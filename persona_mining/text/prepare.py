"""Stage 2, prepare: clean, redact and analyse ticket text with spaCy.

Only tickets whose subject or body changed since they were last prepared are processed.
Results are written chunk by chunk, each chunk in one transaction, so an interrupted run
keeps the chunks it finished and the next run picks up the rest.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import spacy
from spacy.language import Language

from persona_mining.config import PrepareConfig
from persona_mining.progress import Progress, no_progress
from persona_mining.text.cleaning import clean_text, content_hash, html_to_text, redact_pii
from persona_mining.text.language import UNDETERMINED, LanguageDetector
from persona_mining.text.nlp import BLANK_MODEL, TextAnalysis, analyze_texts, load_pipeline
from persona_mining.warehouse import transaction

EMPTY_TEXT = "(no text)"
_LOADING = "prepare: loading spaCy"
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
    """Prepare every ticket that is new or changed since its last preparation, or was
    prepared with another spaCy pipeline (e.g. before switching profile).

    The language of each ticket is detected and recorded. Tickets in a language of
    `languages` (or too short to tell) are analysed with `nlp` and go on to the embedding and
    topic stages; the others get the language-neutral analysis (rule-based sentences and
    questions; the regex PII redaction applies to every ticket) and stay out of the topics,
    visible with their language in `prepared_tickets`.

    Args:
        con: warehouse connection.
        config: the `[prepare]` section: the spaCy pipeline (its name is recorded with each
            prepared row), the languages it analyses (empty: every ticket whatever its
            language), batch size, characters analysed, language detection.
        nlp: an already loaded pipeline standing for `config.spacy_model`; default: loaded
            here, only when some ticket needs preparing. A pipeline that cannot be loaded
            falls back to the blank one, recorded as "blank", with `warning` saying why.
        chunk_size: tickets per transaction.
        progress: told of the tickets prepared so far ("prepare").
    """
    started = time.perf_counter()
    spacy_model, warning = config.spacy_model, None
    pending = _pending(con, spacy_model)
    if pending and nlp is None:
        progress(_LOADING, 0, 1)
        nlp, warning = load_pipeline(spacy_model)
        progress(_LOADING, 1, 1)
        if warning:
            spacy_model = BLANK_MODEL
            pending = _pending(con, spacy_model)
    languages, batch_size = config.languages, config.batch_size
    max_analysis_chars, language_detection = config.max_analysis_chars, config.language_detection
    questions = 0
    other_languages: Counter[str] = Counter()
    detector = (
        LanguageDetector(mode=language_detection, preferred=languages)
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
        analyses = _analyze(
            texts,
            in_scope,
            nlp,
            neutral,
            batch_size,
            max_analysis_chars,
            on_analysed=functools.partial(_tell, progress, start, len(pending)),
        )
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
        warning=warning,
    )


def _analyze(
    texts: list[str],
    in_scope: list[bool],
    nlp: Language | None,
    neutral: Language | None,
    batch_size: int,
    max_chars: int,
    on_analysed: Callable[[int], None] | None = None,
) -> list[TextAnalysis]:
    """The full analysis for tickets in scope, the language-neutral one for the others."""
    results: list[TextAnalysis | None] = [None] * len(texts)
    offset = 0
    for pipeline, keep in ((nlp, True), (neutral, False)):
        positions = [i for i, flag in enumerate(in_scope) if flag is keep]
        if not positions or pipeline is None:
            continue
        analysed = analyze_texts(
            [texts[i] for i in positions],
            pipeline,
            batch_size=batch_size,
            max_chars=max_chars,
            on_analysed=functools.partial(_after, on_analysed, offset) if on_analysed else None,
        )
        offset += len(positions)
        for i, analysis in zip(positions, analysed, strict=True):
            results[i] = analysis
    return [r for r in results if r is not None]


def _tell(progress: Progress, before: int, total: int, done: int) -> None:
    progress("prepare", before + done, total)


def _after(on_analysed: Callable[[int], None], before: int, done: int) -> None:
    on_analysed(before + done)


def _ticket_text(subject: str | None, body: str | None) -> str:
    """Subject and cleaned body as one text; the subject carries much of the intent."""
    subject_text = redact_pii(html_to_text(subject or "")).strip()
    body_text = clean_text(body or "")
    if subject_text and body_text and not body_text.lower().startswith(subject_text.lower()):
        separator = "" if subject_text[-1:] in ".?!:" else "."
        return f"{subject_text}{separator}\n{body_text}"
    return body_text or subject_text


def _pending(con: duckdb.DuckDBPyConnection, spacy_model: str) -> list[tuple[str, str, str, str]]:
    """Tickets new or changed since their preparation, or prepared with another pipeline."""
    return con.execute(
        """SELECT t.ticket_id, t.raw_hash, t.subject, t.body FROM tickets t
        LEFT JOIN prepared_tickets p USING (ticket_id)
        WHERE p.ticket_id IS NULL OR p.raw_hash <> t.raw_hash OR p.spacy_model IS DISTINCT FROM ?
        ORDER BY t.ticket_id""",
        [spacy_model],
    ).fetchall()
