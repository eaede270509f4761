"""The pipeline as a Prefect flow: prepare, embed, topics, segments, link, negative, personas.

Each stage is a library function turned into a task; the flow body is the calls, in order.
Stages take the open warehouse connection, so task inputs are not cached (cache_policy NONE).
Scheduled runs (flows/deployments.py) first ingest the configured `[[sources]]`, each in a
task retried with backoff, and end by rewriting the HTML report. Every run waits while another
process writes to the warehouse, is recorded in `pipeline_runs`, logs each stage's counts and
time, and publishes a summary artifact (flows/runlog.py); a stage that raises fails the run
with the stage named, its own writes rolled back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from flows.runlog import RunLog
from persona_mining import warehouse as db
from persona_mining.config import Config, load_config
from persona_mining.errors import ConfigError
from persona_mining.ingest.sources import ingest_source, ordered_sources, source_label
from persona_mining.personas.discover import discover_segments
from persona_mining.personas.link import link_issues
from persona_mining.personas.negative import assess_negative_personas
from persona_mining.personas.profiles import build_profiles
from persona_mining.personas.segments import build_segments
from persona_mining.text.embed import embed_tickets, make_embedder
from persona_mining.text.nlp import BLANK_MODEL, load_pipeline
from persona_mining.text.prepare import prepare_tickets
from persona_mining.topics.model import assign_topics, current_model, fit_topics, refit_due
from persona_mining.topics.taxonomy import curate_topics
from persona_mining.topics.trends import compute_trends

prepare_task = task(prepare_tickets).with_options(name="prepare", cache_policy=NONE)
embed_task = task(embed_tickets).with_options(name="embed", cache_policy=NONE)
fit_task = task(fit_topics).with_options(name="topics-refit", cache_policy=NONE)
assign_task = task(assign_topics).with_options(name="topics-assign", cache_policy=NONE)
curation_task = task(curate_topics).with_options(name="curation", cache_policy=NONE)
trends_task = task(compute_trends).with_options(name="trends", cache_policy=NONE)
segments_task = task(build_segments).with_options(name="segments", cache_policy=NONE)
discover_task = task(discover_segments).with_options(name="discover", cache_policy=NONE)
link_task = task(link_issues).with_options(name="link", cache_policy=NONE)
negative_task = task(assess_negative_personas).with_options(name="negative", cache_policy=NONE)
profiles_task = task(build_profiles).with_options(name="personas", cache_policy=NONE)


def _retry_unless_config_error(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry a failed ingest (an export may still be arriving), but not a settings mistake."""
    try:
        state.result()
    except ConfigError:
        return False
    except Exception:
        return True
    return True


ingest_task = task(ingest_source).with_options(
    name="ingest", cache_policy=NONE, retry_condition_fn=_retry_unless_config_error
)


@flow(name="persona-pipeline", log_prints=False)
def persona_pipeline(
    config_path: str | None = None,
    db_path: str | None = None,
    refit: bool = False,
    ingest: bool = False,
    auto_refit: bool = True,
    report: bool = False,
    profile: str | None = None,
) -> dict[str, Any]:
    """Run every stage after ingest on the warehouse; refit the topic model when asked or needed.

    Args:
        config_path: the TOML config (read at the start of each run).
        db_path: the warehouse; default `[warehouse] path`.
        refit: fit a new topic model instead of assigning with the current one.
        ingest: first ingest what is new in the config's `[[sources]]` (scheduled runs).
        auto_refit: also refit when one is due (old model, drifted issues); when False a due
            refit is only logged (the weekly deployment does it), unless there is no model yet.
        report: end by rewriting the HTML report at `[schedule] report`.
        profile: named defaults under the config ("fast"); default: the config's `profile`.
    """
    config = load_config(
        Path(config_path) if config_path else None,
        db=Path(db_path) if db_path else None,
        profile=profile,
    )
    return run_stages(config, refit=refit, ingest=ingest, auto_refit=auto_refit, report=report)


def run_stages(
    config: Config,
    *,
    refit: bool = False,
    ingest: bool = False,
    auto_refit: bool = True,
    report: bool = False,
) -> dict[str, Any]:
    """The flow body, callable from another flow with an already loaded config."""
    logger = get_run_logger()
    con = db.connect_when_free(
        config.warehouse.path, timeout_seconds=config.schedule.busy_timeout, notify=logger.warning
    )
    run = RunLog(con, kind="refit" if refit else "incremental", logger=logger)
    try:
        _stages(con, config, run, refit=refit, ingest=ingest, auto_refit=auto_refit)
        if report:
            _write_report(con, config, run)
        return run.finish()
    except BaseException as e:
        run.fail(e)
        raise
    finally:
        con.close()


def _ingest_sources(con: Any, config: Config, run: RunLog) -> None:
    """Each configured source in its own task, retried with backoff (`[schedule] retries`)."""
    schedule = config.schedule
    retrying = ingest_task.with_options(
        retries=schedule.retries, retry_delay_seconds=list(schedule.retry_delays) or 0
    )
    if not config.sources:
        run.logger.warning("ingest: no [[sources]] in the config; nothing to ingest")
    for source in ordered_sources(config.sources):
        run.stage(
            source_label(source),
            retrying.with_options(name=f"ingest-{source.kind}"),
            con,
            source=source,
            max_text_chars=config.ingest.max_text_chars,
        )


def _write_report(con: Any, config: Config, run: RunLog) -> None:
    """Rewrite the HTML report, when the report module is there and a path is configured."""
    if not config.schedule.report:
        return
    try:
        from persona_mining.report.html import write_report
    except ImportError as e:  # the report ships separately in some builds
        run.logger.warning("report: not written (%s)", e)
        return
    run.stage("report", write_report, con, out=Path(config.schedule.report))


def _stages(
    con: Any, config: Config, run: RunLog, *, refit: bool, ingest: bool, auto_refit: bool
) -> None:
    """Every stage after the optional ingest, in order, each recorded by `run`."""
    logger = run.logger
    if ingest:
        _ingest_sources(con, config, run)
    nlp, warning = load_pipeline(config.prepare.spacy_model)
    if warning:
        logger.warning(warning)
    elif config.prepare.spacy_model == BLANK_MODEL:
        logger.info(
            "prepare: blank spaCy pipeline (profile %s): person names in ticket text are not "
            "redacted and topics have no noun phrases",
            config.profile,
        )
    results: dict[str, Any] = {}
    results["prepare"] = run.stage(
        "prepare",
        prepare_task,
        con,
        nlp=nlp,
        spacy_model=config.prepare.spacy_model if not warning else "blank",
        languages=config.prepare.languages,
        batch_size=config.prepare.batch_size,
        max_analysis_chars=config.prepare.max_analysis_chars,
        language_detection=config.prepare.language_detection,
    )
    embedder = make_embedder(config.models)
    if config.scale.executor == "dask":
        from flows.scale import embed_on_dask

        results["embed"] = run.stage(
            "embed", embed_on_dask, con, embedder=embedder, models=config.models, scale=config.scale
        )
    else:
        results["embed"] = run.stage("embed", embed_task, con, embedder=embedder)
    due = refit_due(con, config=config.topics, embedding_model=embedder.name)
    current = current_model(con)
    # A model of other embeddings cannot assign: refit now, even where refits are scheduled.
    switched = current is not None and current[2] != embedder.name
    if due and not refit and not auto_refit and not switched and current is not None:
        logger.info("topics: a refit is due (%s); the refit deployment will do it", due)
        due = None
    if refit or due:
        logger.info("topics: refit (%s)", "asked for" if refit else due)
        results["topics"] = run.stage(
            "topics",
            fit_task,
            con,
            config=config.topics,
            embedding_model=embedder.name,
            models_dir=config.models.dir,
            embedder=embedder,
            known_issues=config.known_issues,
        )
    else:
        results["topics"] = run.stage(
            "topics", assign_task, con, config=config.topics, embedding_model=embedder.name
        )
    results["curation"] = run.stage("curation", curation_task, con)
    for vanished in results["curation"].vanished:
        logger.warning("topic edit no longer applies: %s", vanished)
    results["trends"] = run.stage("trends", trends_task, con, config=config.trends)
    results["segments"] = run.stage("segments", segments_task, con, personas=config.personas)
    if config.discover.run_with_pipeline:
        results["discover"] = run.stage("discover", discover_task, con, config=config.discover)
    results["link"] = run.stage("link", link_task, con, config=config.link)
    results["negative"] = run.stage("negative", negative_task, con, config=config.negative)
    results["personas"] = run.stage("personas", profiles_task, con)
