"""`persona-mining topics`: list the topics and curate them (rename, merge, split, ignore,
undo, export, import)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from persona_mining.cli.common import (
    ConfigOption,
    DbOption,
    _config,
    _guard,
    _read,
    _show,
)
from persona_mining.report import messages

topics_app = typer.Typer(
    help="List the topics, and curate them: rename, merge, split, ignore, undo, export, import.",
    no_args_is_help=False,
)
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who makes the edit (default: the OS user).")
]


@topics_app.callback(invoke_without_command=True)
def topics(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
) -> None:
    """List the current model's topics: key, label, size, group, first seen, known or discovered."""
    if ctx.invoked_subcommand is not None:
        return

    def body() -> None:
        from persona_mining.report.terminal import topics_output
        from persona_mining.topics.taxonomy import list_topics

        cfg = _config(config, db)
        rows = _read(cfg, lambda con: list_topics(con))
        _show(topics_output(rows, fmt))

    _guard(body)


def _curate(config: Path | None, db: Path | None, edit: Callable[[Any], list[Any]]) -> None:
    """Apply one taxonomy change, then refresh everything built on the topics."""
    from persona_mining import warehouse as warehouse
    from persona_mining.pipeline import run_pipeline

    cfg = _config(config, db, writes=True)
    con = warehouse.connect(cfg.warehouse.path)
    try:
        statuses = edit(con)
        # Rebuild what is built on the topics; segments stay as the last run left them.
        run_pipeline(con, cfg, only=("trends", "link", "negative", "personas"))
    finally:
        con.close()
    _show(*messages.edit_lines(statuses))


def _record_edit(
    config: Path | None,
    db: Path | None,
    action: str,
    keys: list[str],
    *,
    value: str = "",
    by: str | None,
) -> None:
    """Record one topic edit, then refresh everything built on the topics."""
    from persona_mining.topics.taxonomy import record_edit

    def edit(con: Any) -> list[Any]:
        return record_edit(con, action=action, topic_keys=keys, value=value, by=by)

    _guard(lambda: _curate(config, db, edit))


@topics_app.command("rename")
def topics_rename(
    key: Annotated[str, typer.Argument(help="Topic key, e.g. T0003.")],
    label: Annotated[str, typer.Argument(help="The new label.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Give a topic the label you choose; it survives refits."""
    _record_edit(config, db, "rename", [key], value=label, by=by)


@topics_app.command("merge")
def topics_merge(
    keys: Annotated[list[str], typer.Argument(help="Topic keys; the others merge into the first.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Merge topics into the first one given."""
    _record_edit(config, db, "merge", keys, by=by)


@topics_app.command("split")
def topics_split(
    key: Annotated[str, typer.Argument(help="Topic key.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Re-cluster one topic into sub-topics KEY.1, KEY.2, ..."""
    _record_edit(config, db, "split", [key], by=by)


@topics_app.command("ignore")
def topics_ignore(
    key: Annotated[str, typer.Argument(help="Topic key.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Keep a topic (thank-you notes, auto-replies...) but leave it out of persona tables."""
    _record_edit(config, db, "ignore", [key], by=by)


@topics_app.command("undo")
def topics_undo(db: DbOption = None, config: ConfigOption = None) -> None:
    """Undo the latest topic edit."""
    from persona_mining.topics.taxonomy import undo_edit

    _guard(lambda: _curate(config, db, undo_edit))


@topics_app.command("export")
def topics_export(
    out: Annotated[Path, typer.Option("--out", help="TOML file to write.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the taxonomy (known issues and edits) as TOML, to review and share."""

    def body() -> None:
        from persona_mining.topics.taxonomy import export_taxonomy

        cfg = _config(config, db)
        edits = _read(cfg, lambda con: export_taxonomy(con, known_issues=cfg.known_issues, out=out))
        _show(messages.taxonomy_written_line(out, known_issues=len(cfg.known_issues), edits=edits))

    _guard(body)


@topics_app.command("import")
def topics_import(
    path: Annotated[Path, typer.Argument(help="A taxonomy TOML file written by `topics export`.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Add the edits and known issues of a taxonomy file that this warehouse lacks."""
    from persona_mining.topics.taxonomy import import_taxonomy

    def edit(con: Any) -> list[Any]:
        from persona_mining.topics.taxonomy import apply_edits

        added, known = import_taxonomy(con, path=path, by=by)
        _show(messages.taxonomy_imported_line(path, edits=added, known_issues=known))
        return apply_edits(con)

    _guard(lambda: _curate(config, db, edit))
