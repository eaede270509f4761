"""What every command shares: the consoles, the common options, loading the config, guarding
errors into one line, and showing what `report/` formats."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from persona_mining.config import Config
from persona_mining.errors import ConfigError, PersonaMiningError

if TYPE_CHECKING:
    from rich.progress import Task

    from persona_mining.progress import Progress

# Ticket text and labels are untrusted: never parse them as rich markup.
console = Console(markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False)
T = TypeVar("T")

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Warehouse file (default: [warehouse] path, else warehouse/persona.duckdb)."
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML config file (personas, column mapping, models)."),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Named defaults under the config: 'default', or 'fast' (static embeddings, spaCy's "
        "NER alone, a fit sample: faster, names still redacted in what it shows; see the README).",
    ),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Column mapping CANONICAL=COLUMN, e.g. --map ticket_id='Ticket ID'. Repeatable.",
    ),
]
ReplacePersonasOption = Annotated[
    bool,
    typer.Option(
        "--replace-personas",
        help="Let this config remove or change the personas of the warehouse's last run.",
    ),
]
LevelOption = Annotated[
    str,
    typer.Option(
        "--level", help="issue, or theme (the groups of issues: each theme's issues added up)."
    ),
]
DEMO_DIR = Path("warehouse/demo")


def _environment() -> None:
    """Offline and quiet: no model hub, no telemetry."""
    from persona_mining.environment import use_offline_environment

    use_offline_environment()


def _config(
    config: Path | None, db: Path | None, profile: str | None = None, *, writes: bool = False
) -> Config:
    """`--config`, else ./persona-mining.toml, else the warehouse's recorded setup, else defaults.

    A command that `writes` (run, ingest, serve, topic edits) waits for the recorded setup while
    another process writes to the warehouse (as long as a run waits for it, `[schedule]
    busy_timeout`), where one that only reads takes the defaults at once.
    """
    from persona_mining.config.orchestration import ScheduleConfig
    from persona_mining.config.recorded import resolve_config

    return resolve_config(
        config,
        db=db,
        profile=profile,
        wait_seconds=ScheduleConfig().busy_timeout if writes else 0.0,
        notify=lambda message: _show(message, stderr=True),
    )


def _read(cfg: Config, action: Callable[[Any], T]) -> T:
    """Run `action` on a read-only connection to the warehouse, closed afterwards."""
    from persona_mining import warehouse as warehouse

    con = warehouse.connect(cfg.warehouse.path, read_only=True)
    try:
        return action(con)
    finally:
        con.close()


def _show(*outputs: RenderableType, stderr: bool = False) -> None:
    """Print what `report.terminal` or `report.messages` built.

    A `str` is written as it is (CSV, JSON, Markdown), a `Text` is one soft-wrapped line, any
    other renderable (a table) is drawn by rich.
    """
    target = err_console if stderr else console
    for output in outputs:
        if isinstance(output, str):
            target.file.write(output)
        elif isinstance(output, Text):
            target.print(output, soft_wrap=True)
        else:
            target.print(output)


def _guard(action: Callable[[], T]) -> T:
    """Run a command body; library errors become one readable line and exit code 2."""
    try:
        return action()
    except PersonaMiningError as e:
        err_console.print(Text("error: ", style="bold red") + Text(str(e)), soft_wrap=True)
        raise typer.Exit(2) from e


@contextmanager
def _progress(message: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs; nothing when stderr is not a terminal."""
    if not err_console.is_terminal:
        yield
        return
    with err_console.status(message):
        yield


@contextmanager
def _progress_bars() -> Iterator[Progress | None]:
    """Progress bars on stderr for the long steps a run reports (count, rate, time left).

    Yields the callback to hand to the run, or None when stderr is not a terminal: logs and
    pipes get the run's structured log lines only.
    """
    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bars

    class RateColumn(ProgressColumn):
        """Items per second, e.g. `183/s`."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")

    bars = Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int | None) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        if total is not None:
            bars.update(tasks[step], total=total)
        bars.update(tasks[step], completed=done)

    with bars:
        yield report


def _parse_map(pairs: Sequence[str] | None, option: str = "--map") -> dict[str, str]:
    """`--map CANONICAL=COLUMN` options as a mapping; one target given two columns is an error
    (the last one would win silently)."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(
                f"{option} {pair!r}: expected CANONICAL=COLUMN, e.g. {option} ticket_id='Ticket ID'"
            )
        key, value = (part.strip() for part in pair.split("=", 1))
        if key in mapping and mapping[key] != value:
            raise ConfigError(
                f"{option} {key}: given twice ({mapping[key]!r} and {value!r}); a warehouse "
                f"column takes one input column, so give {option} {key}=... once"
            )
        mapping[key] = value
    return mapping


def _merge_map(
    configured: Mapping[str, str], given: Mapping[str, str], option: str, section: str
) -> tuple[dict[str, str], list[str]]:
    """The config's mapping with the command line's over it, and a note for each target the
    command line maps to another column than the config does (`Description` and
    `description` are one column)."""
    from persona_mining.config.base import normalise_name

    notes = [
        f"note: {option} {target}={column!r} replaces the config's {section} "
        f"{target} = {configured[target]!r}"
        for target, column in given.items()
        if target in configured and normalise_name(configured[target]) != normalise_name(column)
    ]
    return {**configured, **given}, notes
