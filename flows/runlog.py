"""What a flow run leaves behind: per-stage logs, a `pipeline_runs` record, a summary artifact.

`RunLog.stage` runs one stage (a task or, for fan-out, a plain function), logs a structured
line (logfmt: stage, status, seconds and every count) and keeps its result; a stage that raises
becomes a `StageFailedError` naming it. `finish` records the run and publishes the Markdown
artifact with the run's summary, the top changes of the issue-by-persona table since the
previous run and the alerts this run sent (or could not send); `fail` records the failure and
publishes its own artifact.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any, TypeVar

import duckdb
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import deployment, flow_run

from persona_mining.errors import StageFailedError
from persona_mining.personas.alerts import AlertOutcome, alerts_markdown
from persona_mining.run_history import (
    fail_run,
    failure_markdown,
    finish_run,
    run_markdown,
    start_run,
)

ARTIFACT_KEY = "persona-pipeline-summary"
R = TypeVar("R")


class RunLog:
    """One pipeline run's record keeping; create it once the warehouse is open for writing."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        kind: str,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ):
        self.con = con
        self.logger = logger
        self.results: dict[str, dict[str, Any]] = {}
        name = deployment.name
        self.deployment = f"{flow_run.flow_name}/{name}" if name else None
        self.run_id = start_run(con, kind=kind, flow_run_id=flow_run.id, deployment=self.deployment)
        self.logger.info(
            logfmt(
                event="run",
                status="started",
                run_id=self.run_id,
                kind=kind,
                deployment=self.deployment,
            )
        )

    def stage(self, name: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run one stage, log its counts and time, keep its result; name it if it raises."""
        started = time.perf_counter()
        self.logger.info(logfmt(stage=name, status="started"))
        try:
            result = fn(*args, **kwargs)
        except Exception as e:
            seconds = time.perf_counter() - started
            self.logger.error(
                logfmt(stage=name, status="failed", seconds=round(seconds, 3), error=str(e))
            )
            raise StageFailedError(name, e) from e
        values = asdict(result) if is_dataclass(result) and not isinstance(result, type) else {}
        values.setdefault("seconds", time.perf_counter() - started)
        self.results[name] = values
        self.logger.info(logfmt(stage=name, status="completed", **values))
        return result

    def finish(self, *, alerts: Sequence[AlertOutcome] = ()) -> dict[str, dict[str, Any]]:
        """Record the run as completed; publish its summary with the top changes and alerts."""
        outcome = finish_run(self.con, run_id=self.run_id, stages=self.results)
        seconds = outcome.run.seconds or 0.0
        self.logger.info(
            logfmt(
                event="run",
                status="completed",
                run_id=self.run_id,
                kind=outcome.run.kind,  # a run that fitted a model is a refit, asked or due
                seconds=round(seconds, 3),
                changes=len(outcome.changes),
                alerts=len(alerts),
            )
        )
        create_markdown_artifact(
            key=ARTIFACT_KEY,
            markdown=run_markdown(outcome) + "\n" + "\n".join(alerts_markdown(alerts)) + "\n",
            description=f"persona-mining run {self.run_id}: summary and top changes",
        )
        return self.results

    def fail(self, error: BaseException) -> None:
        """Record the run as failed (best effort: the original error is what matters)."""
        stage = error.stage if isinstance(error, StageFailedError) else None
        message = str(error) or type(error).__name__
        try:
            record = fail_run(
                self.con, run_id=self.run_id, stage=stage, error=message, stages=self.results
            )
            create_markdown_artifact(
                key=ARTIFACT_KEY,
                markdown=failure_markdown(record),
                description=f"persona-mining run {self.run_id} failed in {stage}",
            )
        except Exception as e:  # the warehouse may be what broke; keep the first error
            self.logger.warning("could not record the failed run %s: %s", self.run_id, e)
        self.logger.error(
            logfmt(event="run", status="failed", run_id=self.run_id, stage=stage, error=message)
        )


def logfmt(**fields: Any) -> str:
    """`key=value` pairs (logfmt): numbers as they are, text quoted when needed, nested as JSON."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, float):
            shown = f"{value:.3f}"
        elif isinstance(value, bool | int):
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        elif isinstance(value, Mapping | list | tuple):
            shown = json.dumps(value, default=str, separators=(",", ":"))
        else:
            shown = str(value)
        if not shown or any(c in shown for c in ' "='):
            shown = json.dumps(shown)
        parts.append(f"{key}={shown}")
    return " ".join(parts)
