"""The pipeline as a Prefect flow: every stage of `persona_mining.pipeline`, each as a task.

The library's runner owns the order of the stages; this flow only says how each step runs:
as a Prefect task (inputs are the open warehouse connection, so nothing is cached), retried
with backoff for ingest steps (`[schedule] retries`; an export may still be arriving, a
settings mistake is not retried), and recorded by `RunLog`. Every run waits while another
process writes to the warehouse, is recorded in `pipeline_runs`, logs each stage's counts and
time, sends the alerts not sent before (flows/alerts.py; a failed send never fails the run),
and publishes a summary artifact (flows/runlog.py); a stage that raises fails the run with the
stage named, its own writes rolled back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from flows.alerts import send_alerts
from flows.runlog import RunLog
from persona_mining import warehouse
from persona_mining.config import Config
from persona_mining.config.checks import check_run
from persona_mining.config.orchestration import ScheduleConfig
from persona_mining.config.recorded import record_setup, resolve_config
from persona_mining.errors import ConfigError
from persona_mining.ingest.coverage import link_coverage
from persona_mining.pipeline import Stage, StageContext, run_pipeline
from persona_mining.progress import Progress, no_progress

R = TypeVar("R")
#: Where a run tells how far its long steps are: the CLI's progress bars on a terminal;
#: nothing for scheduled runs, whose logs are the record. Not a flow parameter: a callback
#: is not something Prefect can store with a run.
_PROGRESS: ContextVar[Progress] = ContextVar("persona_mining_progress", default=no_progress)


@contextmanager
def reporting_progress(progress: Progress) -> Iterator[None]:
    """Runs of `persona_pipeline` inside this block tell `progress` how far they are."""
    token = _PROGRESS.set(progress)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def _retry_unless_config_error(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry a failed ingest (an export may still be arriving), but not a settings mistake."""
    try:
        state.result()
    except ConfigError:
        return False
    except Exception:
        return True
    return True


@flow(name="persona-pipeline", log_prints=False)
def persona_pipeline(
    config: Config | None = None,
    refit: bool = False,
    ingest: bool = False,
    auto_refit: bool = True,
    report: bool = False,
    config_path: str | None = None,
    db_path: str | None = None,
    profile: str | None = None,
    replace_personas: bool = False,
) -> dict[str, Any]:
    """Run every stage after ingest on the warehouse; refit the topic model when asked or due.

    Args:
        config: the validated config (the CLI and `serve` pass it).
        refit: fit a new topic model instead of assigning with the current one.
        ingest: first ingest what is new in the config's `[[sources]]` (scheduled runs).
        auto_refit: also refit when one is due (old model, drifted issues); when False a due
            refit is only logged (the weekly deployment does it), unless there is no model yet.
        report: end by rewriting the HTML report at `[schedule] report`.
        config_path, db_path, profile: for deployments declared in prefect.yaml, whose workers
            read the config file of their own checkout; used only without `config` (without
            `config_path` either: ./persona-mining.toml, else the warehouse's recorded setup).
        replace_personas: let this run's config remove or change the warehouse's personas.
    """
    if config is None:
        config = resolve_config(
            Path(config_path) if config_path else None,
            db=Path(db_path) if db_path else None,
            profile=profile,
            wait_seconds=ScheduleConfig().busy_timeout,
            notify=get_run_logger().warning,
        )
    return run_stages(
        config,
        refit=refit,
        ingest=ingest,
        auto_refit=auto_refit,
        report=report,
        replace_personas=replace_personas,
    )


def run_stages(
    config: Config,
    *,
    refit: bool = False,
    ingest: bool = False,
    auto_refit: bool = True,
    report: bool = False,
    only: Sequence[str] | None = None,
    replace_personas: bool = False,
) -> dict[str, Any]:
    """The flow body, callable from another flow with an already loaded config.

    `only` runs just those stages (see `persona_mining.pipeline.select_stages`). Before the
    first stage the config is checked against the warehouse (persona rules over the customers'
    columns; no persona removed or changed unless `replace_personas`) and recorded as its setup.
    """
    logger = get_run_logger()
    con = warehouse.connect_when_free(
        config.warehouse.path, timeout_seconds=config.schedule.busy_timeout, notify=logger.warning
    )
    try:
        check_run(con, config, replace_personas=replace_personas, ingest=ingest)
        with warehouse.transaction(con):
            record_setup(con, config)
    except ConfigError as e:
        # A scheduled run refused by its config leaves its trace in `status`, as a failed one.
        RunLog(con, kind="refit" if refit else "incremental", logger=logger).fail(e)
        con.close()
        raise
    except BaseException:
        con.close()
        raise
    coverage = link_coverage(con).warning()
    if coverage:
        logger.warning(coverage)
    run = RunLog(con, kind="refit" if refit else "incremental", logger=logger)
    schedule = config.schedule

    def as_task(stage: Stage, label: str, fn: Callable[[], R]) -> R:
        # A step `ingest tickets exports/t.csv` becomes the task `ingest-tickets`.
        options: dict[str, Any] = {"name": "-".join(label.split()[:2]), "cache_policy": NONE}
        if stage.retries:
            options |= {
                "retries": schedule.retries,
                "retry_delay_seconds": list(schedule.retry_delays) or 0,
                "retry_condition_fn": _retry_unless_config_error,
            }
        return run.stage(label, task(fn).with_options(**options))

    replace = {}
    if config.scale.executor == "dask":
        replace["embed"] = _embed_on_dask
    try:
        run_pipeline(
            con,
            config,
            only=only,
            include=[name for name, wanted in (("ingest", ingest), ("report", report)) if wanted],
            refit=refit,
            auto_refit=auto_refit,
            execute=as_task,
            logger=logger,
            replace=replace,
            environ=os.environ,
            progress=_PROGRESS.get(),
        )
        return run.finish(alerts=send_alerts(con, config, logger=logger))
    except BaseException as e:
        run.fail(e)
        raise
    finally:
        con.close()


def _embed_on_dask(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    """The embed stage with the encoding fanned out over Dask (`[scale] executor = "dask"`)."""
    from flows.scale import embed_on_dask

    config = ctx.config
    return {
        stage.name: stage.step(
            ctx,
            lambda: embed_on_dask(
                ctx.con, embedder=ctx.embedder, models=config.models, scale=config.scale
            ),
        )
    }
