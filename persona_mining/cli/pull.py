"""`persona-mining ingest --sources`: ingest the config's `[[sources]]` now, as a nightly run
would, with the pulls' progress (pages, records, rate) drawn on a terminal only."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, TypeVar

from rich.progress import Progress, TextColumn, TimeElapsedColumn

from persona_mining import warehouse
from persona_mining.cli.common import err_console
from persona_mining.config import Config
from persona_mining.config.recorded import record_setup
from persona_mining.ingest.pull import ProgressFn, PullProgress
from persona_mining.pipeline import Stage, run_pipeline
from persona_mining.run_history import fail_run, finish_run, start_run

R = TypeVar("R")


def pull_sources(
    cfg: Config, on_result: Callable[[str, Any], None] | None = None
) -> dict[str, Any]:
    """Ingest every `[[sources]]` entry, recorded in `pipeline_runs` like a scheduled run.

    Secrets are read from this process's environment (the variables the sources name).
    `on_result` is told each source's label and result as soon as it is stored, so that what
    the sources before a failing one stored is said too.
    """
    con = warehouse.connect(cfg.warehouse.path)
    try:
        with warehouse.transaction(con):
            record_setup(con, cfg)
        run_id = start_run(con, kind="ingest")
        stages: dict[str, Any] = {}
        current: list[str] = []

        def recorded(stage: Stage, label: str, fn: Callable[[], R]) -> R:
            current.append(label)
            result = fn()
            stages[label] = asdict(result)  # type: ignore[call-overload]
            if on_result is not None:
                on_result(label, result)
            return result

        try:
            with _progress() as progress:
                results = run_pipeline(
                    con,
                    cfg,
                    only=["ingest"],
                    execute=recorded,
                    environ=os.environ,
                    pull_progress=progress,
                )
        except Exception as e:
            fail_run(
                con,
                run_id=run_id,
                stage=current[-1] if current else "ingest",
                error=str(e) or type(e).__name__,
                stages=stages,
            )
            raise
        finish_run(con, run_id=run_id, stages=stages)
        return results
    finally:
        con.close()


@contextmanager
def _progress() -> Iterator[ProgressFn | None]:
    """A progress line per pulled stream on stderr; None (nothing drawn) off a terminal."""
    if not err_console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}", markup=False),
        TextColumn("{task.fields[pages]} pages, {task.completed:,.0f} records", markup=False),
        TextColumn("{task.fields[rate]:,.0f}/s", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console) as bar:
        tasks: dict[tuple[str, str], Any] = {}

        def update(step: PullProgress) -> None:
            key = (step.source, step.stream)
            if key not in tasks:
                tasks[key] = bar.add_task(f"{step.stream} from {step.source}", pages=0, rate=0.0)
            bar.update(tasks[key], completed=step.records, pages=step.pages, rate=step.rate)
            if step.done:
                bar.update(tasks[key], total=step.records)

        yield update
