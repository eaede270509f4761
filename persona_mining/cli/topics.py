"""`persona-mining topics`: list the topics and curate them (rename, merge, split, ignore,
undo, export, import), and list the recorded edits.

The group's options (`--db`, `--config`, `--format`) may come before the subcommand
(`topics --db wh.duckdb ignore T0022`) as well as after it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from persona_mining.cli.common import (
    ConfigOption,
    DbOption,
    _config,
    _guard,
    _read,
    _show,
)
from persona_mining.errors import ConfigError, WarehouseError
from persona_mining.report import messages

topics_app = typer.Typer(
    help="List the topics, and curate them: rename, merge, split, ignore, undo, export, import; "
    "`topics edits` lists the recorded edits.",
    no_args_is_help=False,
)
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who makes the edit (default: the OS user).")
]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="table (the default), csv, json or markdown.")
]
#: What rebuilds on the topics after an edit, in the pipeline's order (segments stay as the
#: last run left them).
BUILT_ON_TOPICS = ("trends", "link", "negative", "impact", "personas")


@topics_app.callback(invoke_without_command=True)
def topics(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: FormatOption = None,
) -> None:
    """List the current model's topics: key, label, size, group, first seen, known or discovered."""
    if ctx.invoked_subcommand is not None:
        # `topics --db wh.duckdb ignore T0022`: the subcommand takes the group's options.
        ctx.obj = {"db": db, "config": config, "fmt": fmt}
        if fmt is not None and ctx.invoked_subcommand != "edits":
            _guard(lambda: _refuse_format(str(ctx.invoked_subcommand)))
        return

    def body() -> None:
        from persona_mining.report.terminal import topics_output
        from persona_mining.topics.taxonomy import list_topics

        cfg = _config(config, db)
        rows = _read(cfg, lambda con: list_topics(con))
        _show(topics_output(rows, fmt or "table"))

    _guard(body)


def _refuse_format(subcommand: str) -> None:
    raise ConfigError(
        f"topics {subcommand}: --format applies to the listings only (`persona-mining topics "
        "--format ...`, `persona-mining topics edits --format ...`); leave it out"
    )


def _options(
    ctx: typer.Context, db: Path | None, config: Path | None
) -> tuple[Path | None, Path | None]:
    """`--db` and `--config` given after the subcommand, else before it (to the group).

    Raises:
        ConfigError: one given before and after the subcommand, with two values.
    """
    group = ctx.obj if isinstance(ctx.obj, dict) else {}
    chosen = []
    for name, after, before in (
        ("--db", db, group.get("db")),
        ("--config", config, group.get("config")),
    ):
        if after is not None and before is not None and Path(after) != Path(before):
            raise ConfigError(
                f"topics {ctx.info_name}: {name} given twice, {before} before the subcommand and "
                f"{after} after it; give it once"
            )
        chosen.append(after if after is not None else before)
    return chosen[0], chosen[1]


def _curate(
    ctx: typer.Context,
    config: Path | None,
    db: Path | None,
    edit: Callable[[Any], list[Any]],
) -> None:
    """Apply one taxonomy change, then refresh everything built on the topics.

    Raises:
        WarehouseError: the warehouse file does not exist (curation never creates one).
    """
    from persona_mining import warehouse as warehouse
    from persona_mining.pipeline import run_pipeline

    db, config = _options(ctx, db, config)
    cfg = _config(config, db, writes=True)
    path = cfg.warehouse.path
    if str(path) != ":memory:" and not warehouse.is_remote(path) and not Path(path).is_file():
        raise WarehouseError(
            f"warehouse {path}: not found; topic edits change an existing warehouse. Create it "
            "with `persona-mining ingest` and `persona-mining run` (or try `persona-mining demo`), "
            "or pass --db PATH to the one you meant"
        )
    con = warehouse.connect(path)
    try:
        statuses = edit(con)
        run_pipeline(con, cfg, only=BUILT_ON_TOPICS)
    finally:
        con.close()
    _show(*messages.edit_lines(statuses))


def _record_edit(
    ctx: typer.Context,
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

    _guard(lambda: _curate(ctx, config, db, edit))


@topics_app.command("rename")
def topics_rename(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Topic key, e.g. T0003.")],
    label: Annotated[str, typer.Argument(help="The new label.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Give a topic the label you choose; it survives refits."""
    _record_edit(ctx, config, db, "rename", [key], value=label, by=by)


@topics_app.command("merge")
def topics_merge(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(help="Topic keys; the others merge into the first.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Merge topics into the first one given."""
    _record_edit(ctx, config, db, "merge", keys, by=by)


@topics_app.command("split")
def topics_split(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Topic key.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Re-cluster one topic into sub-topics KEY.1, KEY.2, ..."""
    _record_edit(ctx, config, db, "split", [key], by=by)


@topics_app.command("ignore")
def topics_ignore(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Topic key.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Keep a topic (thank-you notes, auto-replies...) but leave it out of persona tables."""
    _record_edit(ctx, config, db, "ignore", [key], by=by)


@topics_app.command("undo")
def topics_undo(ctx: typer.Context, db: DbOption = None, config: ConfigOption = None) -> None:
    """Undo the latest topic edit (the first line says which)."""
    from persona_mining.topics.taxonomy import undo_edit

    _guard(lambda: _curate(ctx, config, db, undo_edit))


@topics_app.command("edits")
def topics_edits(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: FormatOption = None,
) -> None:
    """List the recorded edits by id: who made each, when, and whether it still applies."""

    def body() -> None:
        from persona_mining.report.queries import Rows
        from persona_mining.report.terminal import rows_output
        from persona_mining.topics.taxonomy import list_edits

        chosen_db, chosen_config = _options(ctx, db, config)
        group_fmt = (ctx.obj or {}).get("fmt")
        if fmt is not None and group_fmt is not None and group_fmt != fmt:
            raise ConfigError(
                f"topics edits: --format given twice, {group_fmt} before the subcommand and "
                f"{fmt} after it; give it once"
            )
        shown = fmt or group_fmt or "table"
        cfg = _config(chosen_config, chosen_db)
        edits = _read(cfg, list_edits)
        columns = (
            list(edits[0])
            if edits
            else ["id", "action", "keys", "value", "by", "at", "status", "detail"]
        )
        _show(
            rows_output(
                Rows(columns, [tuple(e.values()) for e in edits]), shown, title="Topic edits"
            )
        )

    _guard(body)


@topics_app.command("export")
def topics_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="TOML file to write.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the taxonomy (known issues of the config and the warehouse, and edits) as TOML, to
    review and share."""

    def body() -> None:
        from persona_mining.topics.model import all_known_issues
        from persona_mining.topics.taxonomy import export_taxonomy

        chosen_db, chosen_config = _options(ctx, db, config)
        cfg = _config(chosen_config, chosen_db)

        def export(con: Any) -> tuple[int, int]:
            known = len(all_known_issues(con, cfg.known_issues))
            return known, export_taxonomy(con, known_issues=cfg.known_issues, out=out)

        known, edits = _read(cfg, export)
        _show(messages.taxonomy_written_line(out, known_issues=known, edits=edits))

    _guard(body)


@topics_app.command("import")
def topics_import(
    ctx: typer.Context,
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
        if known:
            _show(
                Text(
                    "note: new known issues take effect at the next refit: "
                    "`persona-mining run --refit`"
                )
            )
        return apply_edits(con)

    _guard(lambda: _curate(ctx, config, db, edit))
