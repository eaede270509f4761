"""The statistical spaCy analysis, where its output is used: redaction for display.

The prepare stage cleans every ticket by rules alone. Names (NER), noun phrases (the parser)
and lemmas are needed only for what describes topics (a bounded sample of tickets per topic)
and for what a person sees (representative and example tickets, common questions), so this
module analyses exactly those texts and stores the result in `text_analysis`, keyed by the
hash of the analysed text. The cost grows with the number of topics and of tickets shown,
not with the number of tickets.

What is shown reads the views over that table, `v_analysed_tickets` and
`v_analysed_questions`, never `prepared_tickets.text`: a ticket that was not analysed cannot be
shown, so a person never sees a name the analysis did not get the chance to redact.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from spacy.language import Language

from persona_mining import parallel
from persona_mining.config import PrepareConfig
from persona_mining.text.cleaning import content_hash
from persona_mining.text.nlp import BLANK_MODEL, TextAnalysis, analyze_texts, load_pipeline
from persona_mining.warehouse import transaction

__all__ = [
    "AnalysisResult",
    "Loaded",
    "analyse_ahead",
    "load_analysis_pipeline",
    "redact_for_display",
    "start_helpers",
]

#: A loaded pipeline, with the name recorded for it and a warning when it fell back to blank.
Loaded = tuple[Language, str, str | None]

_DEFAULT = PrepareConfig()


@dataclass(frozen=True)
class AnalysisResult:
    """What one analysis call did.

    Attributes:
        asked: distinct texts asked for (tickets' prepared texts and questions).
        analysed: those analysed now; the others were analysed before with the same pipeline.
        spacy_model: the pipeline recorded with them ("blank" after a fallback).
        seconds: wall time.
        warning: why the configured pipeline could not be loaded, if it could not.
    """

    asked: int
    analysed: int
    spacy_model: str
    seconds: float
    warning: str | None = None


def load_analysis_pipeline(config: PrepareConfig = _DEFAULT) -> Loaded:
    """The `[prepare] spacy_model` pipeline, its recorded name, and the fallback warning.

    A pipeline that cannot be loaded falls back to the blank one, recorded as "blank".
    """
    nlp, warning = load_pipeline(config.spacy_model)
    return nlp, BLANK_MODEL if warning else config.spacy_model, warning


def redact_for_display(
    con: duckdb.DuckDBPyConnection,
    *,
    ticket_ids: Iterable[str] = (),
    questions: Iterable[str] = (),
    config: PrepareConfig = _DEFAULT,
    load: Callable[[], Loaded] | None = None,
    processes: int = 1,
    helpers: parallel.Helpers | None = None,
) -> AnalysisResult:
    """Analyse the prepared texts of `ticket_ids` and the question sentences `questions`
    that were not analysed yet with the configured pipeline, and store the results.

    Names become `[NAME]`; noun phrases, lemmas and questions are recorded for the topics'
    labels. Texts are keyed by their hash, so a ticket's text analysed for a topic sample is
    not analysed again when it is shown, and a question asked by many tickets is analysed
    once. Analyses by another pipeline (before a profile switch) are dropped, so that the views
    hold only what the current pipeline redacted. Idempotent.

    Args:
        con: warehouse connection.
        ticket_ids: tickets whose prepared text is used for labels or shown (unknown or
            unprepared ids are ignored).
        questions: question sentences of `ticket_questions` that may be shown.
        config: the `[prepare]` section: `spacy_model`, batch size, characters analysed.
        load: gives the loaded pipeline (`load_analysis_pipeline` by default), called only
            when something needs analysing; a run shares one across its stages.
        processes: `[scale] processes`: from `parallel.ANALYSIS_PARALLEL_FROM` characters of
            text to analyse, this process shares the analysis with worker processes that load
            the same pipeline by name (0: one process per CPU core; 1: this process alone).
        helpers: such workers, started ahead (`start_helpers`): used whatever the size.
    """
    started = time.perf_counter()
    wanted = _texts(con, ticket_ids, questions)
    model = config.spacy_model.strip() or BLANK_MODEL
    pending = _not_analysed(con, wanted, model)
    warning = None
    if wanted:
        if pending:
            nlp, model, warning = (load or (lambda: load_analysis_pipeline(config)))()
            pending = _not_analysed(con, wanted, model)
            _store(con, pending, nlp, model, config, processes, helpers)
        if con.execute(
            "SELECT count(*) FROM text_analysis WHERE spacy_model <> ?", [model]
        ).fetchall()[0][0]:
            # Another pipeline's analyses (before a profile switch) are stale: had they stayed,
            # a text the current pipeline never saw could be shown with its names.
            with transaction(con):
                con.execute("DELETE FROM text_analysis WHERE spacy_model <> ?", [model])
    return AnalysisResult(
        asked=len(wanted),
        analysed=len(pending),
        spacy_model=model,
        seconds=time.perf_counter() - started,
        warning=warning,
    )


def _store(
    con: duckdb.DuckDBPyConnection,
    pending: Sequence[tuple[str, str]],
    nlp: Language,
    model: str,
    config: PrepareConfig,
    processes: int = 1,
    helpers: parallel.Helpers | None = None,
) -> None:
    """Analyse the `pending` (hash, text) pairs with `nlp` and store them, in one transaction.

    From `parallel.ANALYSIS_PARALLEL_FROM` characters of text, and unless `nlp` is the blank
    pipeline (rules alone, cheap), worker processes load the pipeline that `model` names and
    take chunks of the texts beside this process (`parallel.map_sharing_work`), or `helpers`
    started for `model` ahead of the work (`start_helpers`) do, whatever its size, after
    handing over what they analysed ahead (`analyse_ahead`); the analyses are the same.
    """
    if not pending:
        return
    texts = [text for _, text in pending]
    ahead = helpers if helpers is not None and helpers.key == model != BLANK_MODEL else None
    done: dict[str, TextAnalysis] = {}
    if ahead is not None:  # what its workers analysed while this process was busy
        needed = set(texts)
        taken: list[tuple[list[str], list[TextAnalysis]]] = ahead.ahead_results(
            lambda chunk: not needed.isdisjoint(chunk)
        )
        for chunk, results in taken:
            done.update(zip(chunk, results, strict=True))
    rest = [text for text in texts if text not in done]
    workers = (
        1
        if model == BLANK_MODEL
        else parallel.processes_for(processes, sum(map(len, rest)), parallel.ANALYSIS_PARALLEL_FROM)
    )
    size, chars = config.batch_size, config.max_analysis_chars
    here = functools.partial(analyze_texts, nlp=nlp, batch_size=size, max_chars=chars)
    there = _in_worker(model, config)
    step = len(rest) if workers == 1 and ahead is None else max(1, min(size, _CHUNK))
    chunks = [rest[start : start + step] for start in range(0, len(rest), step)]
    analysed = (
        ahead.map(here, there, chunks)
        if ahead is not None
        else parallel.map_sharing_work(
            here, there, chunks, workers, start=functools.partial(_loads, model)
        )
    )
    done.update(zip(rest, (analysis for chunk in analysed for analysis in chunk), strict=True))
    analyses = [done[text] for text in texts]
    table = pa.table(
        {
            "text_hash": [h for h, _ in pending],
            "text": [a.text for a in analyses],
            "lemmas": [a.lemmas for a in analyses],
            "noun_phrases": pa.array(
                [list(a.noun_phrases) for a in analyses], pa.list_(pa.string())
            ),
            "questions": pa.array([list(a.questions) for a in analyses], pa.list_(pa.string())),
        }
    )
    with transaction(con):
        con.register("__analysed", table)
        con.execute(
            "DELETE FROM text_analysis WHERE text_hash IN (SELECT text_hash FROM __analysed)"
        )
        con.execute(
            """INSERT INTO text_analysis (text_hash, spacy_model, text, lemmas, noun_phrases,
                questions, analysed_at)
            SELECT text_hash, ?, text, lemmas, noun_phrases, questions, now() FROM __analysed""",
            [model],
        )
        con.unregister("__analysed")


#: Texts per chunk of an analysis shared with worker processes: a fraction of a second's work,
#: so that the last chunks keep both processes busy.
_CHUNK = 128
#: Texts per chunk analysed ahead (`analyse_ahead`): when the work is named, a worker may be
#: busy with one chunk nobody needs, and it is small.
_AHEAD_CHUNK = 32


@functools.cache
def _worker_pipeline(model: str) -> Language | None:
    """A worker process's pipeline `model`, loaded once; None where it falls back to blank."""
    nlp, warning = load_pipeline(model)
    return None if warning else nlp


def start_helpers(
    config: PrepareConfig, processes: int, characters: int
) -> parallel.Helpers | None:
    """Worker processes loading the `[prepare] spacy_model` pipeline now, for an analysis of
    about `characters` of text that is coming (`redact_for_display`'s `helpers`), so that
    they are ready when it starts; None where it would stay in this process (the blank
    pipeline, `processes` 1 or one core, or less than `parallel.ANALYSIS_PARALLEL_FROM`).
    They run in the background (`parallel.Helpers`): until the analysis comes, they take only
    what the calling process leaves of the CPU."""
    model = config.spacy_model  # the name `load_analysis_pipeline` records
    workers = parallel.processes_for(processes, characters, parallel.ANALYSIS_PARALLEL_FROM)
    if model.strip().lower() in ("", BLANK_MODEL) or workers <= 1:
        return None
    return parallel.Helpers(workers, functools.partial(_loads, model), key=model, background=True)


def analyse_ahead(
    con: duckdb.DuckDBPyConnection,
    ticket_ids: Sequence[str],
    config: PrepareConfig,
    processes: int,
) -> parallel.Helpers | None:
    """Worker processes for an analysis of some of `ticket_ids` that is coming (as
    `start_helpers`), which analyse their prepared texts now, in the order given, until it
    comes.

    The topic stage calls this before its clustering, with its fit sample in the order its
    label samples are drawn in (`topics.model.label_sample`): a topic's label sample is the
    first of its tickets in that order, so the texts a worker analyses while the clustering
    holds the other core are the ones most likely asked for. `redact_for_display`, given the
    helpers, takes those it asks for (`parallel.Helpers.ahead_results`); the others are not
    stored. Texts analysed before with the same pipeline are not analysed again, and the
    workers start only for `parallel.ANALYSIS_PARALLEL_FROM` characters of texts left.
    """
    model = config.spacy_model
    pending = [text for _, text in _not_analysed(con, _texts_in_order(con, ticket_ids), model)]
    helpers = start_helpers(config, processes, sum(map(len, pending)))
    if helpers is not None:
        helpers.ahead(
            _in_worker(model, config),
            (
                pending[start : start + _AHEAD_CHUNK]
                for start in range(0, len(pending), _AHEAD_CHUNK)
            ),
        )
    return helpers


def _in_worker(model: str, config: PrepareConfig) -> Callable[[list[str]], list[TextAnalysis]]:
    """A worker's analysis of a chunk of texts with the pipeline `model` names, as the calling
    process analyses them: the same for work shared (`_store`) and work done ahead
    (`analyse_ahead`), whose results `_store` takes as its own."""
    return functools.partial(
        _analyse_chunk,
        model=model,
        batch_size=config.batch_size,
        max_chars=config.max_analysis_chars,
    )


def _loads(model: str) -> bool:
    """Whether a worker process loads the pipeline `model` as the calling process did."""
    return _worker_pipeline(model) is not None


def _analyse_chunk(
    texts: Sequence[str], *, model: str, batch_size: int, max_chars: int
) -> list[TextAnalysis]:
    """`analyze_texts` in a worker process, with the pipeline `model` (`_loads` checked it)."""
    nlp = _worker_pipeline(model)
    if nlp is None:  # `_loads` said it loads; only a worker that never ran it can get here
        raise RuntimeError(f"analysis worker: the spaCy pipeline {model!r} did not load")
    return analyze_texts(texts, nlp, batch_size=batch_size, max_chars=max_chars)


def _texts(
    con: duckdb.DuckDBPyConnection, ticket_ids: Iterable[str], questions: Iterable[str]
) -> dict[str, str]:
    """The distinct texts to analyse, by hash: the tickets' prepared texts, then questions."""
    wanted = _texts_in_order(con, sorted(set(ticket_ids)))
    for question in questions:
        wanted.setdefault(content_hash(question), question)
    return wanted


def _texts_in_order(con: duckdb.DuckDBPyConnection, ticket_ids: Sequence[str]) -> dict[str, str]:
    """The distinct prepared texts of `ticket_ids`, by hash, in the order of their first ticket."""
    if not ticket_ids:
        return {}
    con.register(
        "__wanted",
        pa.table(
            {
                "ticket_id": pa.array(ticket_ids, pa.string()),
                "position": pa.array(range(len(ticket_ids)), pa.int64()),
            }
        ),
    )
    try:
        rows = con.execute(
            """SELECT p.text_hash, any_value(p.text), min(w.position) AS first_position
            FROM __wanted w JOIN prepared_tickets p USING (ticket_id)
            GROUP BY p.text_hash ORDER BY first_position"""
        ).fetchall()
    finally:
        con.unregister("__wanted")
    return {text_hash: text for text_hash, text, _ in rows}


def _not_analysed(
    con: duckdb.DuckDBPyConnection, wanted: dict[str, str], model: str
) -> Sequence[tuple[str, str]]:
    """The texts of `wanted` without an analysis by `model`."""
    if not wanted:
        return []
    con.register("__hashes", pa.table({"text_hash": pa.array(list(wanted), pa.string())}))
    try:
        done = {
            h
            for (h,) in con.execute(
                """SELECT h.text_hash FROM __hashes h
                JOIN text_analysis a ON a.text_hash = h.text_hash AND a.spacy_model = ?""",
                [model],
            ).fetchall()
        }
    finally:
        con.unregister("__hashes")
    return [(h, text) for h, text in wanted.items() if h not in done]
