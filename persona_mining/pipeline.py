"""The pipeline: the ordered list of stages, and the only code that runs them.

Every caller asks `run_pipeline` for a slice of `STAGES` rather than calling stages itself: the
Prefect flow (every stage, each wrapped as a task through the `execute` hook), the CLI's
`discover` ("discover, then what is built on segments") and topic edits ("from trends on"), and
bench/run.py (every stage, timed). Adding a stage means adding it here, once.

Each stage is a library function `verb_noun(con, *, config=<its section>, ...)`; the small
adapters below hand it its own section of the one validated `Config`. Stages never import
Prefect: wrapping a stage as a task, retrying it and recording it are the caller's business,
done in `execute`.

Optional stages run only when asked for: `ingest` (the config's `[[sources]]`, as scheduled
runs do), `discover` (also when `[discover] run_with_pipeline` is set) and `report`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb

from persona_mining.config import Config
from persona_mining.errors import ConfigError
from persona_mining.progress import Progress, no_progress

R = TypeVar("R")
_LOG = logging.getLogger("persona_mining.pipeline")
_LOADING_SPACY = "analysis: loading spaCy"


class Execute(Protocol):
    """Runs one step of a stage: `fn()` under the name `label`; the flow makes it a task."""

    def __call__(self, stage: Stage, label: str, fn: Callable[[], R]) -> R: ...


def call_directly(stage: Stage, label: str, fn: Callable[[], R]) -> R:
    """The plain `execute`: run the step in this process, nothing around it."""
    return fn()


@dataclass
class StageContext:
    """What a stage's adapter may use: the warehouse, the config, the run's options.

    The embedding model and the spaCy pipeline are loaded on first use and shared by the stages
    of one run, so a slice that needs neither loads neither.
    """

    con: duckdb.DuckDBPyConnection
    config: Config
    refit: bool = False
    auto_refit: bool = True
    logger: logging.Logger | logging.LoggerAdapter[Any] = _LOG
    execute: Execute = call_directly
    environ: Mapping[str, str] = field(default_factory=dict)
    progress: Progress = no_progress
    pull_progress: Callable[[Any], None] | None = None

    @functools.cached_property
    def embedder(self) -> Any:
        from persona_mining.text.embed import make_embedder

        return make_embedder(self.config.models)

    @functools.cached_property
    def spacy_pipeline(self) -> Any:
        """The `[prepare] spacy_model` pipeline of the analysis (`text.analysis.Loaded`);
        a fallback to the blank one is logged once."""
        from persona_mining.text.analysis import load_analysis_pipeline

        self.progress(_LOADING_SPACY, 0, 1)
        loaded = load_analysis_pipeline(self.config.prepare)
        self.progress(_LOADING_SPACY, 1, 1)
        if loaded[2]:
            self.logger.warning(loaded[2])
        return loaded

    def load_spacy(self) -> Any:
        """`spacy_pipeline`, as the `load` callable of `text.analysis.redact_for_display`."""
        return self.spacy_pipeline


StageFn = Callable[[StageContext, "Stage"], Mapping[str, Any]]


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    Attributes:
        name: the stage's name in logs, run records and slices.
        run: adapter that calls the library function(s) of the stage through `ctx.execute`
            and returns their results by label (one for most stages, one per source for
            ingest).
        optional: runs only when asked for (see the module docstring).
        retries: a failed step is worth retrying (an export still arriving); the flow applies
            `[schedule] retries` to it.
        doc: one line for `persona-mining --help` and the README.
    """

    name: str
    run: StageFn = field(repr=False)
    optional: bool = False
    retries: bool = False
    doc: str = ""

    def step(self, ctx: StageContext, fn: Callable[[], R], label: str | None = None) -> R:
        """Run one step of this stage through the caller's `execute` hook."""
        return ctx.execute(self, label or self.name, fn)


def _one(ctx: StageContext, stage: Stage, fn: Callable[[], Any]) -> dict[str, Any]:
    return {stage.name: stage.step(ctx, fn)}


def _ingest(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.ingest.sources import ingest_source, ordered_steps, source_label

    if not ctx.config.sources:
        ctx.logger.warning("ingest: no [[sources]] in the config; nothing to ingest")
    results = {}
    max_text_chars = ctx.config.ingest.max_text_chars
    for source, kind in ordered_steps(ctx.config.sources):
        label = source_label(source, kind)
        results[label] = stage.step(
            ctx,
            functools.partial(
                ingest_source,
                ctx.con,
                source=source,
                kind=kind,
                max_text_chars=max_text_chars,
                environ=ctx.environ,
                progress=ctx.pull_progress or functools.partial(_pulled, ctx.progress),
                file_progress=ctx.progress,
            ),
            label,
        )
    return results


def _pulled(progress: Progress, step: Any) -> None:
    """A pulled source's committed page (`ingest.pull.PullProgress`) as a step of `progress`."""
    progress(f"{step.stream} from {step.source}", step.records, step.records if step.done else None)


def _prepare(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.text.prepare import prepare_tickets

    settings = ctx.config.prepare
    return _one(
        ctx,
        stage,
        lambda: prepare_tickets(
            ctx.con,
            config=settings,
            processes=ctx.config.scale.processes,
            progress=ctx.progress,
        ),
    )


def _blank_notice(ctx: StageContext, analysed: Any) -> None:
    """Say once per run that the blank pipeline, chosen on purpose, redacts no names."""
    from persona_mining.text.nlp import BLANK_MODEL

    if ctx.config.prepare.spacy_model.strip().lower() == BLANK_MODEL and analysed.analysed:
        ctx.logger.info(
            "analysis: blank spaCy pipeline (profile %s): person names in the text shown are "
            "not redacted and topics have no noun phrases",
            ctx.config.profile,
        )


def _embed(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.text.embed import embed_tickets

    if "embedder" not in vars(ctx):  # loading the model takes seconds: say so
        ctx.progress("embed: loading the model", 0, 1)
        _ = ctx.embedder
        ctx.progress("embed: loading the model", 1, 1)
    return _one(
        ctx, stage, lambda: embed_tickets(ctx.con, embedder=ctx.embedder, progress=ctx.progress)
    )


def _topics(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.text.analysis import analyse_ahead, redact_for_display
    from persona_mining.topics.model import update_topics

    # Worker processes for the analysis of the label samples, started when a fit begins its
    # clustering (which leaves a core free: UMAP runs on one), so that they are ready for it,
    # and analysing meanwhile the tickets the label samples most likely hold.
    helpers: list[Any] = []

    def close_helpers() -> None:
        for started in helpers:
            if started is not None:
                started.close()
        helpers.clear()

    def coming(ticket_ids: Any) -> None:
        close_helpers()  # a retried fit's, if any
        helpers.append(
            analyse_ahead(ctx.con, ticket_ids, ctx.config.prepare, ctx.config.scale.processes)
        )

    def analyse(ticket_ids: Any) -> Any:
        # Inside the topic fit, before the topics are described: the label samples and the
        # representative tickets.
        analysed = redact_for_display(
            ctx.con,
            ticket_ids=ticket_ids,
            config=ctx.config.prepare,
            load=ctx.load_spacy,
            processes=ctx.config.scale.processes,
            helpers=helpers[-1] if helpers else None,
        )
        _blank_notice(ctx, analysed)
        return analysed

    try:
        result = _one(
            ctx,
            stage,
            lambda: update_topics(
                ctx.con,
                config=ctx.config.topics,
                embedder=ctx.embedder,
                models_dir=ctx.config.models.dir,
                known_issues=ctx.config.known_issues,
                refit=ctx.refit,
                auto_refit=ctx.auto_refit,
                progress=ctx.progress,
                analyse=analyse,
                coming=coming,
            ),
        )
    finally:
        close_helpers()
    topics = result[stage.name]
    if topics.refit:
        ctx.logger.info("topics: refit (%s)", topics.refit_reason)
    elif topics.refit_reason:
        ctx.logger.info(
            "topics: a refit is due (%s); the refit deployment will do it", topics.refit_reason
        )
    return result


def _curation(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.topics.taxonomy import curate_topics

    result = _one(ctx, stage, lambda: curate_topics(ctx.con))
    for vanished in result[stage.name].vanished:
        ctx.logger.warning("topic edit no longer applies: %s", vanished)
    return result


def _trends(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.topics.trends import compute_trends

    return _one(ctx, stage, lambda: compute_trends(ctx.con, config=ctx.config.trends))


def _segments(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.personas.segments import build_segments

    return _one(ctx, stage, lambda: build_segments(ctx.con, personas=ctx.config.personas))


def _discover(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.personas.discover import discover_segments

    return _one(ctx, stage, lambda: discover_segments(ctx.con, config=ctx.config.discover))


def _link(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.personas.link import link_issues

    return _one(ctx, stage, lambda: link_issues(ctx.con, config=ctx.config.link))


def _negative(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.personas.negative import assess_negative_personas

    config = ctx.config
    return _one(
        ctx,
        stage,
        lambda: assess_negative_personas(
            ctx.con,
            config=config.negative,
            repeat_days=config.trends.repeat_days,
            processes=config.scale.processes,
        ),
    )


def _impact(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.personas.impact import measure_issue_impact

    config = ctx.config
    return _one(
        ctx,
        stage,
        lambda: measure_issue_impact(
            ctx.con, config=config.link, repeat_days=config.trends.repeat_days
        ),
    )


def _personas(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from persona_mining.personas.profiles import build_profiles
    from persona_mining.personas.shown import analyse_shown

    # What the profiles and the report can show is analysed (names redacted) before they pick.
    analysed = stage.step(
        ctx,
        lambda: analyse_shown(
            ctx.con,
            config=ctx.config.prepare,
            load=ctx.load_spacy,
            processes=ctx.config.scale.processes,
        ),
        "analysis",
    )
    _blank_notice(ctx, analysed)
    return {"analysis": analysed, **_one(ctx, stage, lambda: build_profiles(ctx.con))}


def _report(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    from pathlib import Path

    from persona_mining.report.html import write_report

    if not ctx.config.schedule.report:
        return {}
    out = Path(ctx.config.schedule.report)
    return _one(ctx, stage, lambda: write_report(ctx.con, out=out))


#: The stages, in the order they run. The only list of them.
STAGES: tuple[Stage, ...] = (
    Stage("ingest", _ingest, optional=True, retries=True, doc="the config's [[sources]]"),
    Stage("prepare", _prepare, doc="clean, redact by rules and split new and changed tickets"),
    Stage("embed", _embed, doc="embed text never embedded before"),
    Stage("topics", _topics, doc="refit the topic model when asked or due, else assign"),
    Stage("curation", _curation, doc="replay the recorded topic edits"),
    Stage("trends", _trends, doc="weekly volumes, repeat contacts, emerging issues"),
    Stage("segments", _segments, doc="rule personas"),
    Stage("discover", _discover, optional=True, doc="segments found in the data"),
    Stage("link", _link, doc="issue-by-persona statistics"),
    Stage("negative", _negative, doc="negative personas"),
    Stage("impact", _impact, doc="what each issue costs each persona (CSAT, resolution, reopens)"),
    Stage("personas", _personas, doc="analyse what is shown, then the persona profiles"),
    Stage("report", _report, optional=True, doc="the HTML report at [schedule] report"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def select_stages(
    config: Config,
    *,
    start: str | None = None,
    only: Iterable[str] | None = None,
    include: Iterable[str] = (),
) -> tuple[Stage, ...]:
    """The slice of `STAGES` to run, in pipeline order.

    Args:
        config: decides whether `discover` runs with the pipeline.
        start: run from this stage on ("from trends on").
        only: run exactly these stages (optional ones included).
        include: optional stages to run as well (e.g. "ingest", "report").

    Raises:
        ConfigError: a stage name is unknown.
    """
    named = set(only or ()) | set(include) | ({start} if start else set())
    unknown = sorted(named - set(STAGE_NAMES))
    if unknown:
        raise ConfigError(
            f"unknown pipeline stage {', '.join(map(repr, unknown))}; "
            f"stages: {', '.join(STAGE_NAMES)}"
        )
    wanted = set(include)
    if config.discover.run_with_pipeline:
        wanted.add("discover")
    first = STAGE_NAMES.index(start) if start else 0
    if only is not None:
        chosen = set(only)
        return tuple(s for s in STAGES if s.name in chosen)
    return tuple(s for s in STAGES[first:] if not s.optional or s.name in wanted or s.name == start)


def run_pipeline(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    start: str | None = None,
    only: Iterable[str] | None = None,
    include: Iterable[str] = (),
    refit: bool = False,
    auto_refit: bool = True,
    execute: Execute = call_directly,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    replace: Mapping[str, StageFn] | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Progress = no_progress,
    pull_progress: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Run a slice of the pipeline on an open warehouse connection; results by step label.

    Args:
        con: the warehouse, open for writing.
        config: the one validated config; each stage gets its own section.
        start, only, include: the slice (see `select_stages`); default every stage that is
            not optional.
        refit: fit a new topic model instead of assigning with the current one.
        auto_refit: also refit when one is due (old model, drifted issues); when False a due
            refit is only logged, unless there is no usable model.
        execute: runs each step; the flow wraps steps as Prefect tasks and records them.
        logger: where stages' warnings go (the flow passes its run logger).
        replace: another adapter for a stage, by name: how the flow runs `embed` on a Dask
            cluster without the library knowing of Prefect.
        environ: where the secrets of pulled `[[sources]]` are read (`token_env`,
            `url_env`): the caller's process environment; the library never reads it itself.
        progress: told how far the long steps are (prepare, embed, topic fit, assign, pulled
            sources); the CLI draws it on a terminal.
        pull_progress: called after each committed page of a pulled source, instead of
            `progress` (`ingest --sources` draws pages and records with it).

    Returns:
        Each step's result (a frozen dataclass), keyed by its label: the stage name, or
        `ingest <kind> <path>` for each source.
    """
    ctx = StageContext(
        con=con,
        config=config,
        refit=refit,
        auto_refit=auto_refit,
        logger=logger or _LOG,
        execute=execute,
        environ=environ or {},
        pull_progress=pull_progress,
        progress=progress,
    )
    results: dict[str, Any] = {}
    for stage in select_stages(config, start=start, only=only, include=include):
        adapter = (replace or {}).get(stage.name, stage.run)
        results.update(adapter(ctx, stage))
    return results


@dataclass(frozen=True)
class PendingWork:
    """Whether a run would change anything, decided from the warehouse alone (no model loaded).

    Attributes:
        reason: why a run has work to do; None when nothing is new since the last run.
        last_run_id: the latest run's id, if any.
        last_run_at: when it started (naive UTC, as the warehouse stores it).
        tickets: tickets in the warehouse; None where they were not counted (a refit asked
            for, migrations to apply, an unreadable warehouse).
    """

    reason: str | None
    last_run_id: str | None = None
    last_run_at: datetime | None = None
    tickets: int | None = None


def pending_work(
    con: duckdb.DuckDBPyConnection, config: Config, *, refit: bool = False, ingest: bool = False
) -> PendingWork:
    """Whether `run_pipeline` (with `auto_refit`) would change anything; cheap enough to ask first.

    Every stage is incremental, so a run changes nothing when its inputs are as the last
    completed run left them: no ticket, customer or topic edit written since it finished, the
    same setup, no refit asked for or due, every prepared ticket assigned, and (with `ingest`)
    no source file modified since. Anything that cannot be told cheaply (a source that is not
    a local file, a warehouse of an older version, a failed last run) counts as work.

    Args:
        con: the warehouse (a read-only connection will do).
        config: the config the run would use.
        refit: the run is asked to refit (always work).
        ingest: the run first ingests the config's `[[sources]]`.
    """
    from persona_mining.config.recorded import is_recorded_setup
    from persona_mining.topics.model import refit_due
    from persona_mining.warehouse import SCHEMA_DIR

    if refit:
        return PendingWork("a refit was asked for")
    try:
        done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
        if any(int(f.name[:3]) not in done for f in SCHEMA_DIR.glob("*.sql")):
            return PendingWork("the warehouse has migrations to apply")
        tickets = con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]
        rows = con.execute(
            "SELECT run_id, status, started_at, finished_at FROM pipeline_runs "
            "ORDER BY started_at DESC, run_id LIMIT 1"
        ).fetchall()
        if not rows:
            return PendingWork("no run yet", tickets=tickets)
        run_id, status, started, finished = rows[0]
        last = functools.partial(
            PendingWork, last_run_id=run_id, last_run_at=started, tickets=tickets
        )
        if status != "completed":
            return last(f"the last run is {status}")
        if ingest:
            changed = next((s for s in config.sources if _source_changed(s.path, started)), None)
            if changed is not None:
                return last(f"source {changed.path or changed.type} may have new rows")
        if not is_recorded_setup(con, config):
            return last("the config differs from the last run's")
        written = con.execute(
            """SELECT (SELECT count(*) FROM tickets WHERE ingested_at >= $since),
                (SELECT count(*) FROM customers WHERE ingested_at >= $since),
                (SELECT count(*) FROM topic_edits WHERE edited_at >= $since),
                (SELECT count(*) FROM tickets t LEFT JOIN prepared_tickets p USING (ticket_id)
                    WHERE p.ticket_id IS NULL OR p.raw_hash <> t.raw_hash),
                (SELECT count(*) FROM prepared_tickets p
                    LEFT JOIN ticket_topics tt ON tt.ticket_id = p.ticket_id
                        AND tt.text_hash = p.text_hash
                        AND tt.model_id = (SELECT model_id FROM v_current_model)
                    WHERE p.in_scope AND tt.ticket_id IS NULL)""",
            # Written after the run finished: what the run itself ingested, it also prepared.
            {"since": finished},
        ).fetchall()[0]
        for count, what in zip(
            written,
            (
                "tickets new or changed",
                "customers new or changed",
                "topic edits",
                "tickets to prepare",
                "prepared tickets to assign",
            ),
            strict=True,
        ):
            if count:
                return last(f"{count} {what}")
        due = refit_due(con, config=config.topics, known_issues=config.known_issues)
        return last(f"a refit is due ({due})" if due else None)
    except duckdb.Error as e:
        return PendingWork(f"cannot tell from the warehouse ({type(e).__name__})")


def _source_changed(path: Path | None, since: datetime) -> bool:
    """Whether a source file (or any file of a source folder) was modified at or after `since`.

    `since` is naive UTC, as the warehouse stores it. A source that is not a local file or
    folder (a pulled one: Zendesk, SQL) counts as changed: only its pull can tell.
    """
    if path is None:
        return True
    try:
        if path.is_dir():
            stamps = [f.stat().st_mtime for f in path.rglob("*") if f.is_file()]
        elif path.is_file():
            stamps = [path.stat().st_mtime]
        else:
            return True
    except OSError:
        return True
    cutoff = since.replace(tzinfo=UTC).timestamp()
    return any(stamp >= cutoff for stamp in stamps) or not stamps
