"""The `persona-mining` command line: the edge where config is loaded and results printed."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from persona_mining.cli.common import (
    DEMO_DIR,
    ConfigOption,
    DbOption,
    LevelOption,
    MapOption,
    ProfileOption,
    ReplacePersonasOption,
    _config,
    _environment,
    _guard,
    _merge_map,
    _parse_map,
    _progress,
    _progress_bars,
    _read,
    _show,
)
from persona_mining.cli.topics import topics_app
from persona_mining.config import Config
from persona_mining.errors import ConfigError
from persona_mining.report import messages

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn support tickets into customer persona profiles, locally.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
app.add_typer(topics_app, name="topics")


@app.command()
def ingest(
    tickets: Annotated[
        Path | None,
        typer.Option("--tickets", help="Ticket file or folder (CSV, TSV, JSON, JSONL, Parquet)."),
    ] = None,
    customers: Annotated[
        Path | None, typer.Option("--customers", help="Customer file or folder.")
    ] = None,
    map_: MapOption = None,
    customer_map: Annotated[
        list[str] | None,
        typer.Option("--customer-map", help="Customer column mapping CANONICAL=COLUMN."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="Help-desk export format: zendesk.")
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            help="Keep only ticket rows matching this condition, e.g. \"inbound = 'True'\".",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore the watermark: read every row again.")
    ] = False,
    sources: Annotated[
        bool,
        typer.Option(
            "--sources",
            help="Ingest the config's [[sources]] now (files, Zendesk, SQL): what is new only.",
        ),
    ] = False,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Name of the ticket source (tickets are identified within it); default: from "
            "the file or folder name, or the source this path was ingested under before.",
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Load tickets and/or customers into the warehouse (upsert; bad rows go to ingest_rejects)."""

    def body() -> None:
        from persona_mining import warehouse as warehouse
        from persona_mining.config import CUSTOMER_COLUMNS, TICKET_COLUMNS, check_mapping
        from persona_mining.ingest.coverage import link_coverage
        from persona_mining.ingest.load import ingest_customers, ingest_tickets
        from persona_mining.progress import no_progress

        if sources:
            if tickets is not None or customers is not None:
                raise ConfigError("ingest: give either --sources or --tickets/--customers")
            _ingest_sources(_config(config, db, writes=True))
            return
        if tickets is None and customers is None:
            raise ConfigError(
                "ingest: give --tickets FILE and/or --customers FILE, or --sources for the "
                "config's [[sources]]"
            )
        cfg = _config(config, db, writes=True)
        ticket_map, ticket_notes = _merge_map(
            cfg.ingest.columns, _parse_map(map_), "--map", "[ingest.columns]"
        )
        cust_map, cust_notes = _merge_map(
            cfg.ingest.customer_columns,
            _parse_map(customer_map, "--customer-map"),
            "--customer-map",
            "[ingest.customer_columns]",
        )
        check_mapping(ticket_map, TICKET_COLUMNS, _mapping_origin("--map", cfg.ingest.columns))
        check_mapping(
            cust_map,
            CUSTOMER_COLUMNS,
            _mapping_origin("--customer-map", cfg.ingest.customer_columns),
        )
        _show(*(Text(note) for note in cust_notes + ticket_notes), stderr=True)
        con = warehouse.connect(cfg.warehouse.path)
        try:
            results = []
            chosen = preset if preset is not None else cfg.ingest.preset
            with _progress_bars() as bars:
                progress = bars or no_progress
                if customers is not None:
                    results.append(
                        ingest_customers(
                            con,
                            path=customers,
                            columns=cust_map,
                            preset=chosen,
                            drop_columns=cfg.ingest.drop_customer_columns,
                            duplicates=cfg.ingest.customer_duplicates,
                            progress=progress,
                        )
                    )
                if tickets is not None:
                    results.append(
                        ingest_tickets(
                            con,
                            path=tickets,
                            columns=ticket_map,
                            max_text_chars=cfg.ingest.max_text_chars,
                            preset=chosen,
                            where=where if where is not None else cfg.ingest.where,
                            drop_columns=cfg.ingest.drop_columns,
                            full=full,
                            source=source or "",
                            progress=progress,
                        )
                    )
            coverage = link_coverage(con)
        finally:
            con.close()
        for result in results:
            _print_ingest(result)
        _warn_coverage(coverage)
        if all(r.new + r.updated + r.unchanged == 0 for r in results):
            _show(messages.nothing_ingested(), stderr=True)
            raise typer.Exit(1)

    _guard(body)


def _ingest_sources(cfg: Config) -> None:
    from persona_mining.cli.pull import pull_sources
    from persona_mining.ingest.coverage import link_coverage

    if not cfg.sources:
        raise ConfigError("ingest --sources: the config has no [[sources]]; add one (see README)")

    def said(label: str, result: Any) -> None:
        _show(Text(label.removeprefix("ingest ")))
        _print_ingest(result)

    pull_sources(cfg, on_result=said)
    _warn_coverage(_read(cfg, link_coverage))


def _mapping_origin(option: str, configured: Mapping[str, str]) -> str:
    """Where a merged mapping comes from, for its errors."""
    section = "[ingest.customer_columns]" if option == "--customer-map" else "[ingest.columns]"
    return f"{option} (with the config's {section})" if configured else option


def _print_ingest(result: Any) -> None:
    _show(*messages.ingest_lines(result))


def _warn_coverage(coverage: Any) -> None:
    """Say on stderr when few tickets match a known customer (personas would see none), or
    many are in languages not analysed (`ingest.coverage`)."""
    line = messages.coverage_line(coverage)
    if line is not None:
        _show(line, stderr=True)


@app.command()
def run(
    db: DbOption = None,
    config: ConfigOption = None,
    refit: Annotated[
        bool,
        typer.Option(
            "--refit", help="Fit a new topic model instead of assigning with the current one."
        ),
    ] = False,
    ingest: Annotated[
        bool,
        typer.Option(
            "--ingest", help="First ingest what is new in the config's [[sources]] (as nightly)."
        ),
    ] = False,
    profile: ProfileOption = None,
    replace_personas: ReplacePersonasOption = False,
) -> None:
    """Run every stage after ingest as one Prefect flow: prepare, embed, topics, curation, trends,
    segments, link, negative, impact, personas (and the report where [schedule] report says)."""

    def body() -> None:
        cfg = _config(config, db, profile, writes=True)
        from persona_mining.ingest.coverage import language_coverage, link_coverage

        pending = _pending(cfg, refit=refit, ingest=ingest)
        if pending is not None and pending.tickets == 0 and not ingest:
            # Every stage would run on nothing, and the topic stage stop for want of tickets;
            # a problem of the config is said first, as it would stop the run after an ingest.
            _check_run(cfg, replace_personas=replace_personas)
            raise ConfigError(
                f"warehouse {cfg.warehouse.path} holds no tickets yet: ingest some first "
                "(`persona-mining ingest --tickets FILE`), or pull the config's [[sources]] "
                "with `run --ingest`"
            )
        if pending is not None and pending.reason is None:
            _record_idle_run(cfg)
            _show(_nothing_new_line(pending))
            return
        summary = _run_flow(cfg, refit=refit, ingest=ingest, replace_personas=replace_personas)
        _print_run(summary)
        coverage, languages = _read(cfg, lambda con: (link_coverage(con), language_coverage(con)))
        _warn_coverage(coverage)
        _warn_coverage(languages)

    _guard(body)


@app.command()
def discover(
    db: DbOption = None,
    config: ConfigOption = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", help="Number of segments (default: [discover] k; 0 chooses it by silhouette)."
        ),
    ] = None,
) -> None:
    """Find customer segments in the customers' attributes (not their tickets), then link,
    assess and profile them like any persona."""

    def body() -> None:
        from persona_mining import warehouse as warehouse
        from persona_mining.pipeline import run_pipeline
        from persona_mining.report.queries import discovered_segments
        from persona_mining.report.terminal import rows_output
        from persona_mining.topics.model import current_model

        cfg = _config(config, db, writes=True)
        if k is not None:
            if k < 0 or k == 1:
                raise ConfigError(f"--k {k}: give 0 (choose from the data) or at least 2")
            cfg = cfg.model_copy(update={"discover": cfg.discover.model_copy(update={"k": k})})
        con = warehouse.connect(cfg.warehouse.path)
        try:
            linked = current_model(con) is not None
            # Discover, then rebuild what is built on segments (the pipeline runs them in its
            # own order); no links and no issue impact without topics.
            built = ["discover", "link", "negative", "impact", "personas"]
            if not linked:
                built = [s for s in built if s not in ("link", "impact")]
            result = run_pipeline(con, cfg, only=built)["discover"]
            segments = discovered_segments(con)
        finally:
            con.close()
        _show(
            messages.discover_line(result, linked=linked),
            rows_output(segments, "table", title="Discovered segments"),
        )

    _guard(body)


def _run_flow(
    cfg: Config, *, refit: bool, ingest: bool = False, replace_personas: bool = False
) -> dict[str, Any]:
    from persona_mining.text import embed, language

    _use_running_server()
    from flows.pipeline import persona_pipeline, reporting_progress

    previous = _stop_on_sigterm()
    try:
        _check_run(cfg, replace_personas=replace_personas, ingest=ingest)
        # After Prefect's import, so that no module is imported by two threads at once, and
        # after the check, whose warehouse connection would wait on an import's hold of
        # the interpreter: beside the server start, in which this process only waits.
        _preload_models(cfg, refit=refit, ingest=ingest)
        with (
            _progress_bars() as progress,
            contextlib.nullcontext() if progress is None else reporting_progress(progress),
        ):
            return persona_pipeline(
                config=cfg, refit=refit, ingest=ingest, replace_personas=replace_personas
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
        embed.finish_preloads()
        language.finish_preloads()


def _stop_on_sigterm() -> Any:
    """Let SIGTERM stop a run as Ctrl-C does, and return the handler it replaces.

    Python's default ends the process at once: the temporary Prefect server the run started
    was left running, a child of nobody, holding its port and a few hundred MB. As an
    interrupt, the run is recorded as interrupted and the server stopped on the way out.
    """

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


def _preload_models(cfg: Config, *, refit: bool, ingest: bool) -> None:
    """Load the models the run will need in the background while Prefect and its server start:
    where it has tickets to prepare (or a source may bring some), the language detection's
    (`text.language.preload`) and the embedding model (`text.embed.preload_embedder`); for a
    refit, the embedding model."""
    import duckdb

    from persona_mining.errors import WarehouseError
    from persona_mining.text.embed import preload_embedder
    from persona_mining.text.language import preload
    from persona_mining.text.prepare import has_tickets_to_prepare

    preparing = ingest
    if not preparing:
        try:
            preparing = _read(cfg, has_tickets_to_prepare)
        except (WarehouseError, duckdb.Error):
            preparing = True  # the run decides; the models may be needed
    if preparing and cfg.prepare.language_detection != "off":
        preload(cfg.prepare.language_detection)
    if preparing or refit:
        preload_embedder(cfg.models)


def _use_running_server() -> None:
    """Point Prefect at the server `serve` runs here, if any, before Prefect is imported.

    Saves the temporary server (several seconds) a lone flow run otherwise starts; a
    PREFECT_API_URL set by the user always wins. An empty one counts as unset: Prefect would run
    the flow on a temporary server but fail to send each of its events there, logging an error
    for every one.
    """
    import os

    if os.environ.get("PREFECT_API_URL"):
        return
    os.environ.pop("PREFECT_API_URL", None)
    from flows.server import running_server_url

    home = Path(os.environ.get("PREFECT_HOME") or ".prefect").resolve()
    api_url = running_server_url(home)
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url


def _pending(cfg: Config, *, refit: bool, ingest: bool) -> Any:
    """What a run would have to do, asked before Prefect is imported or a server started.

    None when the warehouse cannot be read now (missing, or another process writes it): the
    flow then decides, waiting for the writer.
    """
    from persona_mining.errors import WarehouseError
    from persona_mining.pipeline import pending_work

    if refit:
        return None
    try:
        return _read(cfg, lambda con: pending_work(con, cfg, refit=refit, ingest=ingest))
    except WarehouseError:
        return None


def _record_idle_run(cfg: Config) -> None:
    """Leave the idle run in `pipeline_runs`, unless another process has the warehouse open."""
    from persona_mining import warehouse as warehouse
    from persona_mining.errors import WarehouseError
    from persona_mining.run_history import record_idle_run

    try:
        con = warehouse.connect(cfg.warehouse.path)
    except WarehouseError:
        return  # busy: the answer stands, only its record is skipped
    try:
        record_idle_run(con)
    finally:
        con.close()


def _nothing_new_line(pending: Any) -> Text:
    when = f" ({pending.last_run_at:%Y-%m-%d %H:%M} UTC)" if pending.last_run_at else ""
    return Text(
        f"nothing new since run {str(pending.last_run_id)[:8]}{when}: {pending.tickets or 0:,} "
        "tickets prepared, embedded and assigned, no refit due; `run --refit` fits anew"
    )


def _check_run(cfg: Config, *, replace_personas: bool, ingest: bool = False) -> None:
    """Check the config against the warehouse before the flow starts: one line, no traceback.

    The flow checks again before its first stage (scheduled runs start it directly); a
    warehouse that is busy or not yet created is left to the flow.
    """
    from persona_mining import warehouse as warehouse
    from persona_mining.config.checks import check_run
    from persona_mining.errors import WarehouseBusyError, WarehouseError

    try:
        con = warehouse.connect(cfg.warehouse.path, read_only=True)
    except WarehouseBusyError:
        return  # the flow waits for the other writer, then checks
    except WarehouseError:
        con = warehouse.connect(":memory:")  # no warehouse yet: check against an empty one
    try:
        check_run(con, cfg, replace_personas=replace_personas, ingest=ingest)
    finally:
        con.close()


def _print_run(summary: dict[str, Any]) -> None:
    _show(messages.run_line(summary))


@app.command()
def demo(
    db: DbOption = None,
    config: ConfigOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the generated demo files.")
    ] = DEMO_DIR,
    customers: Annotated[int, typer.Option("--customers", help="Number of demo customers.")] = 1500,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo generator.")] = 7,
    profile: ProfileOption = None,
) -> None:
    """Generate the demo help desk, ingest it, run the pipeline, and print the issue-by-persona table."""

    def body() -> None:
        from persona_mining import warehouse as warehouse
        from persona_mining.demo.generate import generate_demo
        from persona_mining.ingest.load import ingest_customers, ingest_tickets

        with _progress("generating the demo help desk"):
            generated = generate_demo(out, seed=seed, n_customers=customers)
        _show(messages.demo_line(generated.n_customers, generated.n_tickets, out))
        cfg = _config(config or generated.config_path, db, profile)
        con = warehouse.connect(cfg.warehouse.path)
        try:
            with _progress("ingesting the demo customers"):
                _print_ingest(ingest_customers(con, path=generated.customers_path))
            with _progress("ingesting the demo tickets"):
                _print_ingest(
                    ingest_tickets(
                        con, path=generated.tickets_path, max_text_chars=cfg.ingest.max_text_chars
                    )
                )
        finally:
            con.close()
        summary = _run_flow(cfg, refit=False)
        _print_run(summary)
        _print_table(cfg, show_all=False, limit=40, fmt="table", out_csv=None, level="issue")

    _guard(body)


@app.command()
def table(
    db: DbOption = None,
    config: ConfigOption = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every cell, not only significant ones.")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            help="Rows to print (0: all; default: 40 in the table, all in other formats).",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the whole table to this CSV file.")
    ] = None,
    level: LevelOption = "issue",
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            help="lift (significant over-indexed first) or impact (what each issue costs each "
            "persona: CSAT, resolution time, reopens; rows without outcome data listed apart).",
        ),
    ] = "lift",
) -> None:
    """Print the issue-by-persona (or theme-by-persona) table: significant rows first, with lift, interval and q-value."""

    def body() -> None:
        if sort not in ("lift", "impact"):
            raise ConfigError(f"--sort {sort!r}: use lift or impact")
        cfg = _config(config, db)
        if sort == "impact":
            _print_impact(cfg, show_all=show_all, limit=limit, fmt=fmt)
            return
        _print_table(cfg, show_all=show_all, limit=limit, fmt=fmt, out_csv=csv_out, level=level)

    _guard(body)


def _print_impact(cfg: Config, *, show_all: bool, limit: int | None, fmt: str) -> None:
    from persona_mining.report.queries import impact_coverage, issue_impact
    from persona_mining.report.terminal import TABLE_ROWS, impact_table_output

    if fmt not in {"table", "csv", "json", "markdown"}:
        raise ConfigError(f"--format {fmt!r}: use table, csv, json or markdown")
    # The terminal table shows the first rows; csv, json and markdown are whole unless asked.
    shown = (TABLE_ROWS if fmt == "table" else 0) if limit is None else limit
    if fmt in ("csv", "json"):
        shown = 0
    rows, (measure, _, unmeasured), segments = _read(
        cfg,
        lambda con: (
            issue_impact(con, all_rows=show_all, limit=shown),
            impact_coverage(con),
            con.execute("SELECT count(*) FROM segments").fetchall()[0][0],
        ),
    )
    if not segments and not rows.rows and fmt in ("table", "markdown"):
        # No persona to cost anything for: that, not the tickets' columns, is what is missing.
        _show(Text("What to fix first: no rows"), messages.no_personas_line())
        return
    _show(impact_table_output(rows, fmt, measure=measure, unmeasured=unmeasured))


def _print_table(
    cfg: Config, *, show_all: bool, limit: int | None, fmt: str, out_csv: Path | None, level: str
) -> None:
    from persona_mining.report.export import write_issue_table_csv
    from persona_mining.report.queries import LEVELS, issue_by_persona, theme_by_persona
    from persona_mining.report.terminal import TABLE_ROWS, issue_table_output

    if fmt not in {"table", "csv", "json", "markdown"}:
        raise ConfigError(f"--format {fmt!r}: use table, csv, json or markdown")
    if level not in LEVELS:
        raise ConfigError(f"--level {level!r}: use issue or theme")
    if out_csv is not None:
        written = _read(cfg, lambda con: write_issue_table_csv(con, out=out_csv, level=level))
        _show(messages.wrote_line(written), stderr=True)
    read = theme_by_persona if level == "theme" else issue_by_persona
    cells, segments = _read(
        cfg,
        lambda con: (
            read(con, significant_only=not show_all),
            con.execute("SELECT count(*) FROM segments").fetchall()[0][0],
        ),
    )
    if limit is None:
        limit = TABLE_ROWS if fmt == "table" else 0
    _show(issue_table_output(cells, fmt, significant_only=not show_all, level=level, limit=limit))
    if fmt == "table" and not cells.rows and not segments:
        _show(messages.no_personas_line(), stderr=True)


@app.command()
def evaluate(
    labels_column: Annotated[
        str, typer.Option("--labels-column", help="Ticket column holding known labels (intents).")
    ] = "",
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    level: Annotated[
        str,
        typer.Option(
            "--level", help="issue, or theme: score the themes against a coarser label column."
        ),
    ] = "issue",
) -> None:
    """Score the current topics against a label column: NMI, ARI, purity, coverage, topic count."""

    def body() -> None:
        from persona_mining.report.terminal import evaluation_output
        from persona_mining.topics.evaluate import evaluate_topics

        cfg = _config(config, db)
        result = _read(
            cfg, lambda con: evaluate_topics(con, labels_column=labels_column, level=level)
        )
        _show(evaluation_output(result, fmt))

    _guard(body)


# A query may open with a comment ("-- tickets per source"), which click would take for an
# option: unknown options are passed on as the query.
@app.command(context_settings={"ignore_unknown_options": True})
def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the warehouse.")],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    limit: Annotated[
        int, typer.Option("--limit", help="Rows in the table (0: all; other formats print all).")
    ] = 40,
) -> None:
    """Run a read-only SQL query on the warehouse and print the result."""

    def body() -> None:
        from persona_mining.report.queries import run_query
        from persona_mining.report.terminal import query_output

        cfg = _config(config, db)
        result = _read(cfg, lambda con: run_query(con, query))
        _show(query_output(result, fmt, limit=limit))

    _guard(body)


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    db: DbOption = None,
    config: ConfigOption = None,
    top: Annotated[int, typer.Option("--top", help="Issues in the trend chart.")] = 8,
    examples: Annotated[int, typer.Option("--examples", help="Example tickets per challenge.")] = 2,
    period: Annotated[str, typer.Option("--period", help="Trend period: week or month.")] = "week",
) -> None:
    """Write the self-contained HTML report: heatmap, persona cards, trends, issue table."""

    def body() -> None:
        from persona_mining.report.html import write_report

        cfg = _config(config, db)
        result = _read(
            cfg,
            lambda con: write_report(
                con, out=out, top_issues=top, examples=examples, period=period
            ),
        )
        _show(messages.report_line(result))

    _guard(body)


@app.command()
def persona(
    name: Annotated[str, typer.Argument(help="Persona name (any case; a unique part is enough).")],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
) -> None:
    """Print one persona's profile: summary, challenges (issues, then themes) with lift, interval and q, questions."""

    def body() -> None:
        from persona_mining.report.profile_records import find_profile
        from persona_mining.report.terminal import persona_output

        if fmt not in {"table", "json", "markdown"}:
            raise ConfigError(f"--format {fmt!r}: use table, json or markdown")
        cfg = _config(config, db)
        profile = _read(cfg, lambda con: find_profile(con, name))
        _show(persona_output(profile, fmt))

    _guard(body)


@app.command()
def trends(
    db: DbOption = None,
    config: ConfigOption = None,
    period: Annotated[str, typer.Option("--period", help="week or month.")] = "week",
    top: Annotated[
        int, typer.Option("--top", help="Number of issues, or themes (largest first).")
    ] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Recurring and emerging issues instead: repeat contacts, growth test, emerging flag.",
        ),
    ] = False,
    level: LevelOption = "issue",
) -> None:
    """Print tickets per week (or month) of the top issues (or themes), with the change vs the period before."""

    def body() -> None:
        from persona_mining.report.issue_series import issue_trends
        from persona_mining.report.queries import issue_status
        from persona_mining.report.terminal import issue_status_output, trends_output

        if fmt not in {"table", "csv", "json", "markdown"}:
            raise ConfigError(f"--format {fmt!r}: use table, csv, json or markdown")
        if status and level != "issue":
            raise ConfigError("--status is per issue; leave out --level theme")
        cfg = _config(config, db)
        if status:
            _show(issue_status_output(_read(cfg, lambda con: issue_status(con, top=top)), fmt))
            return
        result = _read(cfg, lambda con: issue_trends(con, period=period, top=top, level=level))
        _show(trends_output(result, fmt))

    _guard(body)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files to.")],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Write the issue-by-persona tables (issues and themes), the persona profiles and the issue
    impact to CSV or Parquet files."""

    def body() -> None:
        from persona_mining.report.export import export_tables

        cfg = _config(config, db)
        result = _read(cfg, lambda con: export_tables(con, out_dir=out, fmt=fmt))
        _show(*messages.export_lines(result))

    _guard(body)


@app.command()
def serve(
    db: DbOption = None,
    config: ConfigOption = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Port of the Prefect server started here when PREFECT_API_URL names none "
            "(default: a free one).",
        ),
    ] = None,
) -> None:
    """Serve the nightly and refit deployments on their [schedule] until Ctrl-C.

    Uses the Prefect server of PREFECT_API_URL, or starts one on 127.0.0.1 (its database
    under PREFECT_HOME, default ./.prefect) and stops it on exit.
    """

    def body() -> None:
        from flows.deployments import ServeEvent, serve_schedules

        def show(event: ServeEvent) -> None:
            _show(messages.serve_line(event), stderr=event.step != "serving")
            sys.stdout.flush()  # the address, before serving blocks

        serve_schedules(_config(config, db, writes=True), port=port, on_event=show)

    _guard(body)


@app.command()
def status(
    db: DbOption = None,
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Runs to show.")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Show the last runs, the current topic model, each source's watermark and whether a refit is due."""

    def body() -> None:
        from persona_mining import warehouse
        from persona_mining.errors import WarehouseBusyError
        from persona_mining.report.terminal import busy_output, status_output
        from persona_mining.run_history import warehouse_status

        if fmt not in {"table", "json"}:
            raise ConfigError(f"--format {fmt!r}: use table or json")
        cfg = _config(config, db)
        # Opened read-only, a local file has no writer: a run still `running` died.
        local = not warehouse.is_remote(cfg.warehouse.path)
        try:
            state = _read(
                cfg,
                lambda con: warehouse_status(
                    con,
                    topics=cfg.topics,
                    known_issues=cfg.known_issues,
                    limit=limit,
                    no_writer=local,
                ),
            )
        except WarehouseBusyError:
            _show(busy_output(cfg.warehouse.path, fmt))
            return
        _show(*status_output(cfg.warehouse.path, state, fmt))

    _guard(body)


def main() -> None:
    """Console-script entry point."""
    _environment()
    app()


if __name__ == "__main__":
    main()
