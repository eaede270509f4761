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

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from persona_mining.config import Config
from persona_mining.errors import ConfigError
from persona_mining.warehouse import is_remote

NIGHTLY, REFIT = "nightly", "refit"
TAGS = ["persona-mining"]


@dataclass(frozen=True)
class ServeEvent:
    """A step of `serve_schedules` for whoever shows it: starting, serving or stopped.

    Attributes:
        step: "starting" (a server of its own, before it starts), "serving" (the deployments
            are about to be served) or "stopped" (the server of its own was stopped).
        api_url: the Prefect API, ending in /api.
        own_server: whether the server was started here.
        schedules: (deployment, cron, time zone) of each deployment, while serving.
    """

    step: str
    api_url: str
    own_server: bool
    schedules: tuple[tuple[str, str, str], ...] = ()


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
                s.model_copy(update={"path": Path(s.path).resolve()}) if s.path else s
                for s in config.sources
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


def serve_deployments(
    deployments: list[Any], *, api_url: str, on_ready: Callable[[], None] = lambda: None
) -> None:
    """Serve the deployments against the server at `api_url` until interrupted (Ctrl-C, SIGTERM).

    What `prefect.serve` does, with `on_ready` called once every deployment is registered on
    the server, so that whoever is told "serving" can run them at once. Flow runs start as
    subprocesses of this one, in its working directory.
    """
    # Flow-run subprocesses inherit the environment; the settings of this process follow it.
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        runner = Runner(pause_on_shutdown=True)
        for deployment in deployments:
            runner.add_deployment(deployment)  # registers it on the server
        on_ready()
        try:
            asyncio.run(runner.start())
        except TerminationSignal as e:
            raise KeyboardInterrupt from e


def serve_schedules(
    config: Config, *, port: int | None = None, on_event: Callable[[ServeEvent], None]
) -> None:
    """Serve the deployments of `config` on their schedules until Ctrl-C or SIGTERM.

    Uses the Prefect server of PREFECT_API_URL (or of the active profile), or starts one on
    127.0.0.1 (its database under PREFECT_HOME, default ./.prefect) and stops it on exit.

    Args:
        config: the config; its `[schedule]` and its source file go into the deployments.
        port: the port of a server started here; None picks a free one.
        on_event: called at each step, to tell people where the deployments are served.

    Raises:
        OrchestrationError: PREFECT_API_URL names no live server, or the server started here
            does not get healthy.
        ConfigError: the schedule is not valid.
    """
    os.environ.setdefault("PREFECT_HOME", str(Path(".prefect").resolve()))
    from flows.server import choose_server

    api_url, server = choose_server(home=Path(os.environ["PREFECT_HOME"]), port=port)
    if server is not None:
        on_event(ServeEvent("starting", server.api_url, own_server=True))

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if server is not None:
            api_url = server.start()
        deployments = build_deployments(config)
        schedule = config.schedule
        schedules = tuple(
            (f"{d.flow_name}/{d.name}", getattr(schedule, d.name), schedule.timezone)
            for d in deployments
        )
        serve_deployments(
            deployments,
            api_url=api_url,
            on_ready=lambda: on_event(
                ServeEvent("serving", api_url, server is not None, schedules)
            ),
        )
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            server.stop()
            on_event(ServeEvent("stopped", api_url, own_server=True))
