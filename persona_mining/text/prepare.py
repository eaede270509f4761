"""Stage 2, prepare: clean and redact ticket text by rules, and split it into sentences.

Every ticket gets the cheap part: HTML, quoted replies and signatures stripped, the PII rules
(e-mails, URLs, phones, cards, IBANs, street addresses), its language, and its sentences and
questions by rules (`persona_mining.text.sentences`). The statistical pipeline (names, noun phrases,
lemmas) runs only where its output is used, in `persona_mining.text.analysis`, so that its cost
grows with the number of topics and of tickets shown rather than with the help desk.

The prepared text is what is embedded, so it does not depend on whether a ticket was analysed:
analysing a ticket later never changes its `text_hash` nor forces it to be embedded again.

Only tickets whose subject or body changed since they were last prepared are processed.
Results are written chunk by chunk, each chunk in one transaction, so an interrupted run
keeps the chunks it finished and the next run picks up the rest.

The cleaning, the sentences and the language are our own Python and lingua (no spaCy), one
core's work per process: from 50,000 pending tickets they run in worker processes
(`persona_mining.parallel`, `[scale] processes`), chunk by chunk, while this process writes
the chunks back in order.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from persona_mining import parallel
from persona_mining.config import PrepareConfig
from persona_mining.progress import Progress, no_progress
from persona_mining.text.cleaning import (
    clean_text,
    content_hash,
    html_to_text,
    mask_references,
    redact_pii,
)
from persona_mining.text.language import UNDETERMINED, LanguageDetector
from persona_mining.text.sentences import SentenceSplit, split_sentences
from persona_mining.warehouse import transaction

EMPTY_TEXT = "(no text)"
#: What `prepared_tickets.spacy_model` records for rows prepared by rules alone; a new value
#: when the rules change what they write (rules-2: references and dates masked; rules-3: an
#: export's redaction masks dropped; rules-4: names a dash leads or in capitals taken off as
#: signatures; rules-5: subjects lose reply and forward marks and their references are masked,
#: e-mail furniture of more mail clients and languages taken off), so that rows prepared by
#: older rules are prepared again.
RULES_PIPELINE = "rules-5"
_DEFAULT = PrepareConfig()
#: Subject and body of one pending ticket.
Raw = tuple[str | None, str | None]
#: A chunk's prepared texts, their sentences and their languages, in the chunk's order.
Split = tuple[list[str], list[SentenceSplit], list[str]]


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
    chunk_size: int = 2_000,
    processes: int = 0,
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
        chunk_size: tickets per transaction.
        processes: `[scale] processes`: from `parallel.PARALLEL_FROM` pending tickets, the
            cleaning, splitting and language detection run in this many worker processes (0:
            one per CPU core; 1: in this process).
        progress: told of the tickets prepared so far ("prepare").
    """
    started = time.perf_counter()
    pending = _pending(con)
    languages = config.languages
    questions = 0
    other_languages: Counter[str] = Counter()
    workers = parallel.processes_for(processes, len(pending), parallel.PARALLEL_FROM)
    here = pending and workers == 1  # this process prepares: its detector
    detector = (
        LanguageDetector(mode=config.language_detection, preferred=languages)
        if here and config.language_detection != "off"
        else None
    )
    starts = range(0, len(pending), chunk_size)
    chunks = [pending[start : start + chunk_size] for start in starts]
    raws: Iterator[list[Raw]] = (
        [(subject, body) for _, _, subject, body in chunk] for chunk in chunks
    )
    split = functools.partial(
        _prepare_chunk,
        report_every=config.batch_size,
        max_chars=config.max_analysis_chars,
        languages=languages,
        detection=config.language_detection,
    )
    results: Generator[Split, None, None] = (
        parallel.map_in_processes(split, raws, workers)
        if workers > 1
        else (
            split(
                raw,
                detector=detector,
                on_split=functools.partial(_tell, progress, n, len(pending)),
            )
            for n, raw in zip(starts, raws, strict=True)
        )
    )
    with contextlib.closing(results):
        for start, chunk, (texts, splits, found) in zip(starts, chunks, results, strict=True):
            progress("prepare", start + len(chunk), len(pending))
            in_scope = [
                not languages or code in languages or code == UNDETERMINED for code in found
            ]
            other_languages.update(
                code for code, keep in zip(found, in_scope, strict=True) if not keep
            )
            questions += _write_chunk(con, chunk, texts, splits, found, in_scope)
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


def _write_chunk(
    con: duckdb.DuckDBPyConnection,
    chunk: Sequence[tuple[str, str, str, str]],
    texts: Sequence[str],
    splits: Sequence[SentenceSplit],
    found: Sequence[str],
    in_scope: Sequence[bool],
) -> int:
    """Write one prepared chunk and its questions in one transaction; the questions' count."""
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
    return len(asked)


def _tell(progress: Progress, before: int, total: int, done: int) -> None:
    progress("prepare", before + done, total)


def _prepare_chunk(
    raws: Sequence[Raw],
    *,
    report_every: int,
    max_chars: int,
    languages: Sequence[str],
    detection: str,
    detector: LanguageDetector | None = None,
    on_split: Callable[[int], None] | None = None,
) -> Split:
    """Clean and redact one chunk of tickets by rules, split each into sentences and detect
    its language ("und" for every ticket when `detection` is "off").

    `detector` is this process's own (built once per call of `prepare_tickets`); a worker
    process builds its own on its first chunk and keeps it.
    """
    texts = [_ticket_text(subject, body) for subject, body in raws]
    splits = split_sentences(
        texts, max_chars=max_chars, report_every=report_every, on_split=on_split
    )
    found = (
        [UNDETERMINED] * len(texts)
        if detection == "off"
        else (detector or _detector(detection, tuple(languages))).detect(texts)
    )
    return texts, splits, found


@functools.cache
def _detector(mode: str, preferred: tuple[str, ...]) -> LanguageDetector:
    """This process's language detector, built on its first chunk (lingua loads its models
    once)."""
    return LanguageDetector(mode=mode, preferred=preferred)


#: What mail clients put before a subject: reply and forward marks in the languages of the
#: rules' quote headers ("RE:", "Fwd:", "AW:", "WG:", "TR:", "RV:", "SV:", "Re[2]:"), and the
#: tags a mail gateway adds ("[EXTERNAL]"). They say nothing about the issue.
_SUBJECT_PREFIX_RE = re.compile(
    r"(?:[^\S\n]*(?:(?i:re|fw|fwd|aw|wg|sv|vs|tr|rv|r|antw|ref)(?:\[[0-9]{1,3}\])?[^\S\n]*:"
    r"|\[(?i:external|ext|extern|externe?|spam|suspicious|caution|warning)\]))+[^\S\n]*"
)


def _subject_text(subject: str | None) -> str:
    """A subject as the body is treated: HTML read, reply and forward marks dropped, PII
    redacted, references masked (`RE: [Ticket #615580]` -> `[Ticket [ID]]`)."""
    text = html_to_text(subject or "").strip()
    prefix = _SUBJECT_PREFIX_RE.match(text)
    if prefix is not None:
        text = text[prefix.end() :]
    return mask_references(redact_pii(text)).strip()


def _ticket_text(subject: str | None, body: str | None) -> str:
    """Subject and cleaned body as one text; the subject carries much of the intent."""
    subject_text = _subject_text(subject)
    body_text = clean_text(body or "")
    if subject_text and body_text and not body_text.lower().startswith(subject_text.lower()):
        separator = "" if subject_text[-1:] in ".?!:" else "."
        return f"{subject_text}{separator}\n{body_text}"
    return body_text or subject_text


#: The tickets `_pending` prepares: new or changed since their preparation, or prepared with
#: another pipeline than the rules (the parameter: `RULES_PIPELINE`).
_TO_PREPARE = """FROM tickets t LEFT JOIN prepared_tickets p USING (ticket_id)
    WHERE p.ticket_id IS NULL OR p.raw_hash <> t.raw_hash OR p.spacy_model IS DISTINCT FROM ?"""


def _pending(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """Tickets new or changed since their preparation, or prepared before the preparation
    became rules alone (their rows hold the old full analysis; preparing them again leaves
    the text, and so the embedding, unchanged unless spaCy redacted a name in it)."""
    return con.execute(
        f"SELECT t.ticket_id, t.raw_hash, t.subject, t.body {_TO_PREPARE} ORDER BY t.ticket_id",
        [RULES_PIPELINE],
    ).fetchall()


def has_tickets_to_prepare(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the prepare stage has tickets to prepare (those of `_pending`)."""
    return bool(
        con.execute(f"SELECT EXISTS (SELECT 1 {_TO_PREPARE})", [RULES_PIPELINE]).fetchall()[0][0]
    )
