"""The scheduled deployments of the pipeline flow, and serving them.

Two deployments of the `persona-pipeline` flow, with the schedules of `[schedule]`:

- `persona-pipeline/nightly`: ingest what is new in `[[sources]]`, prepare, embed and assign
  only that, relink, rebuild the profiles and the report; it never refits unless there is no
  model yet (a due refit is logged and left to the weekly run).
- `persona-pipeline/refit`: the same, with a new topic model.

Each allows one run at a time (a deployment concurrency limit); runs of different deployments
wait for each other at the warehouse (one writer). prefect.yaml declares the same deployments
for a Prefect server with a work pool.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from persona_mining.config import Config
from persona_mining.errors import ConfigError
from persona_mining.warehouse import is_remote

NIGHTLY, REFIT = "nightly", "refit"
TAGS = ["persona-mining"]


def deployment_parameters(config: Config, *, refit: bool) -> dict[str, Any]:
    """Flow parameters of a scheduled run: the validated config itself, as JSON.

    Paths are made absolute (warehouse, models, report, sources), so the run does not depend on
    its working directory. The config is the one `serve` started with: restart `serve` after
    editing the config file.
    """
    warehouse = config.warehouse.path
    absolute = config.model_copy(
        update={
            "warehouse": config.warehouse.model_copy(
                update={"path": warehouse if is_remote(warehouse) else Path(warehouse).resolve()}
            ),
            "models": config.models.model_copy(update={"dir": Path(config.models.dir).resolve()}),
            "schedule": config.schedule.model_copy(
                update={
                    "report": str(Path(config.schedule.report).resolve())
                    if config.schedule.report
                    else ""
                }
            ),
            "sources": tuple(
                s.model_copy(update={"path": Path(s.path).resolve()}) for s in config.sources
            ),
        }
    )
    return {
        "config": absolute.model_dump(mode="json"),
        "refit": refit,
        "ingest": True,
        "auto_refit": False,
        "report": bool(config.schedule.report),
    }


def build_deployments(config: Config) -> list[Any]:
    """The nightly and refit deployments of `config` (a cron expression "" leaves one out).

    Raises:
        ConfigError: a cron expression or the time zone is not valid, or both are empty.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.pipeline import persona_pipeline

    schedule = config.schedule
    wanted = [
        (NIGHTLY, schedule.nightly, False, "Nightly incremental run: ingest, assign, relink."),
        (REFIT, schedule.refit, True, "Weekly refit of the topic model, then relink."),
    ]
    deployments = []
    for name, expression, refit, description in wanted:
        if not expression.strip():
            continue
        try:
            cron = Cron(expression.strip(), timezone=schedule.timezone)
        except ValueError as e:
            raise ConfigError(
                f"[schedule] {name} = {expression!r} (timezone {schedule.timezone!r}): {e}"
            ) from e
        deployments.append(
            persona_pipeline.to_deployment(
                name=name,
                schedules=[cron],
                parameters=deployment_parameters(config, refit=refit),
                description=description,
                tags=TAGS,
                concurrency_limit=1,
                paused=False,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    if not deployments:
        raise ConfigError(
            "[schedule] nightly and refit are both empty: nothing to serve; set a cron expression"
        )
    return deployments


def serve_deployments(deployments: list[Any], *, api_url: str) -> None:
    """Serve the deployments against the server at `api_url` until interrupted (Ctrl-C, SIGTERM).

    Flow runs start as subprocesses of this one, in its working directory.
    """
    # Flow-run subprocesses inherit the environment; the settings of this process follow it.
    os.environ["PREFECT_API_URL"] = api_url
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        serve(*deployments, print_starting_message=False)
