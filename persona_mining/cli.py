"""The `persona-mining` command line: the edge where config is loaded and results printed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from persona_mining.config import Config, load_config
from persona_mining.errors import ConfigError, PersonaMiningError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn support tickets into customer persona profiles, locally.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
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
        help="Named defaults under the config: 'default', or 'fast' (static embeddings, blank "
        "spaCy: about ten times faster, person names not redacted; see the README).",
    ),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Column mapping CANONICAL=COLUMN, e.g. --map ticket_id='Ticket ID'. Repeatable.",
    ),
]
DEMO_DIR = Path("warehouse/demo")


def _environment() -> None:
    """Offline and quiet: no model hub, no telemetry."""
    from persona_mining.environment import use_offline_environment

    use_offline_environment()


def _config(config: Path | None, db: Path | None, profile: str | None = None) -> Config:
    return load_config(config, db=db, profile=profile)


def _read(cfg: Config, action: Callable[[Any], T]) -> T:
    """Run `action` on a read-only connection to the warehouse, closed afterwards."""
    from persona_mining import warehouse as warehouse

    con = warehouse.connect(cfg.warehouse.path, read_only=True)
    try:
        return action(con)
    finally:
        con.close()


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


def _parse_map(pairs: Sequence[str] | None) -> dict[str, str]:
    mapping = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(
                f"--map {pair!r}: expected CANONICAL=COLUMN, e.g. --map ticket_id='Ticket ID'"
            )
        key, value = pair.split("=", 1)
        mapping[key.strip()] = value.strip()
    return mapping


@app.command()
def ingest(
    tickets: Annotated[
        Path | None, typer.Option("--tickets", help="Ticket file or folder (CSV, JSONL, Parquet).")
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
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Load tickets and/or customers into the warehouse (upsert; bad rows go to ingest_rejects)."""

    def body() -> None:
        from persona_mining import warehouse as warehouse
        from persona_mining.config import CUSTOMER_COLUMNS, TICKET_COLUMNS, check_mapping
        from persona_mining.ingest.load import ingest_customers, ingest_tickets

        if tickets is None and customers is None:
            raise ConfigError("ingest: give --tickets FILE and/or --customers FILE")
        cfg = _config(config, db)
        ticket_map = {**cfg.ingest.columns, **_parse_map(map_)}
        cust_map = {**cfg.ingest.customer_columns, **_parse_map(customer_map)}
        check_mapping(ticket_map, TICKET_COLUMNS, "--map")
        check_mapping(cust_map, CUSTOMER_COLUMNS, "--customer-map")
        con = warehouse.connect(cfg.warehouse.path)
        try:
            results = []
            chosen = preset if preset is not None else cfg.ingest.preset
            if customers is not None:
                with _progress(f"ingesting customers from {customers}"):
                    results.append(
                        ingest_customers(
                            con,
                            path=customers,
                            columns=cust_map,
                            preset=chosen,
                            drop_columns=cfg.ingest.drop_customer_columns,
                        )
                    )
            if tickets is not None:
                with _progress(f"ingesting tickets from {tickets}"):
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
                        )
                    )
        finally:
            con.close()
        for result in results:
            _print_ingest(result)
        if all(r.new + r.updated + r.unchanged == 0 for r in results):
            err_console.print(
                "error: no usable row was read; see the reasons above and ingest_rejects"
            )
            raise typer.Exit(1)

    _guard(body)


def _print_ingest(result: Any) -> None:
    console.print(
        f"{result.kind}: read {result.read}, new {result.new}, updated {result.updated}, "
        f"unchanged {result.unchanged}, rejected {result.rejected}"
        + (f", skipped {result.skipped} older than the watermark" if result.skipped else "")
        + f" ({result.seconds:.1f}s)",
        soft_wrap=True,
    )
    for reason, count in sorted(result.rejects_by_reason.items(), key=lambda kv: -kv[1]):
        console.print(f"  rejected {count}: {reason}", soft_wrap=True)


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
) -> None:
    """Run every stage after ingest as one Prefect flow: prepare, embed, topics, segments, link, personas."""

    def body() -> None:
        cfg = _config(config, db, profile)
        summary = _run_flow(cfg, refit=refit, ingest=ingest)
        _print_run(summary)

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
    """Find customer segments in the data (attributes and issue mix), then link and profile them."""

    def body() -> None:
        from persona_mining import warehouse as warehouse
        from persona_mining.pipeline import run_pipeline
        from persona_mining.topics.model import current_model

        cfg = _config(config, db)
        if k is not None:
            if k < 0 or k == 1:
                raise ConfigError(f"--k {k}: give 0 (choose from the data) or at least 2")
            cfg = cfg.model_copy(update={"discover": cfg.discover.model_copy(update={"k": k})})
        con = warehouse.connect(cfg.warehouse.path)
        try:
            linked = current_model(con) is not None
            # Discover, then rebuild what is built on segments; no links without topics.
            built = ["discover", "link", "negative", "personas"]
            if not linked:
                built.remove("link")
            result = run_pipeline(con, cfg, only=built)["discover"]
            rows = con.execute(
                """SELECT s.segment_id, s.name, s.kind, count(DISTINCT cs.customer_id),
                    (SELECT count(*) FROM v_issue_by_persona i
                     WHERE i.segment_id = s.segment_id AND i.significant AND i.lift > 1)
                FROM segments s LEFT JOIN customer_segments cs USING (segment_id)
                WHERE starts_with(s.segment_id, 'discovered-')
                GROUP BY ALL ORDER BY count(DISTINCT cs.customer_id) DESC, s.segment_id"""
            ).fetchall()
        finally:
            con.close()
        how = (
            f"chosen by silhouette ({result.scores[result.k]:.2f}; tried "
            f"{min(result.scores)}..{max(result.scores)})"
            if result.chosen_by == "silhouette"
            else "forced"
        )
        console.print(
            f"discover: {result.k} segments of {result.customers} customers, k {how}; "
            f"{len(result.attributes)} attributes, {result.topics} topics ({result.seconds:.1f}s)"
            + ("" if linked else "; no topic model yet, so no issue links (run the pipeline)"),
            soft_wrap=True,
        )
        _emit(
            ["segment", "name", "kind", "customers", "challenges"],
            rows,
            "table",
            title="Discovered segments",
        )

    _guard(body)


def _run_flow(cfg: Config, *, refit: bool, ingest: bool = False) -> dict[str, Any]:
    from flows.pipeline import persona_pipeline

    return persona_pipeline(config=cfg, refit=refit, ingest=ingest)


def _print_run(summary: dict[str, Any]) -> None:
    prepare, embed, topics, link = (
        summary["prepare"],
        summary["embed"],
        summary["topics"],
        summary["link"],
    )
    console.print(
        f"prepare: {prepare['prepared']} of {prepare['tickets']} tickets ({prepare['seconds']:.1f}s); "
        f"embed: {embed['embedded']} new, {embed['cached']} cached ({embed['seconds']:.1f}s); "
        f"topics: {topics['topics']} topics, {topics['unclustered']} unclustered, "
        f"{'refit' if topics['refit'] else 'assigned'} {topics['tickets']} tickets ({topics['seconds']:.1f}s); "
        f"link: {link['significant']} significant cells of {link['cells']}"
        + (
            f"; negative: {len(summary['negative']['negative'])} of "
            f"{summary['negative']['segments']} personas flagged"
            if "negative" in summary
            else ""
        ),
        soft_wrap=True,
    )


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
        console.print(
            f"demo data: {generated.n_customers} customers, {generated.n_tickets} tickets in {out}",
            soft_wrap=True,
        )
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
        with _progress("running the pipeline: prepare, embed, topics, segments, link, personas"):
            summary = _run_flow(cfg, refit=False)
        _print_run(summary)
        _print_table(cfg, show_all=False, limit=40, fmt="table", out_csv=None)

    _guard(body)


@app.command()
def table(
    db: DbOption = None,
    config: ConfigOption = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every cell, not only significant ones.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="Rows to print (0: all).")] = 40,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the whole table to this CSV file.")
    ] = None,
) -> None:
    """Print the issue-by-persona table: significant rows first, with lift, interval and q-value."""
    _guard(
        lambda: _print_table(
            _config(config, db), show_all=show_all, limit=limit, fmt=fmt, out_csv=csv_out
        )
    )


_TABLE_SQL = """SELECT persona, issue, tickets, customers, share, baseline_share, lift, ci_low, ci_high,
    q_value, significant FROM v_issue_by_persona"""


def _print_table(
    cfg: Config, *, show_all: bool, limit: int, fmt: str, out_csv: Path | None
) -> None:
    from persona_mining import warehouse as warehouse

    if fmt not in {"table", "csv", "json", "markdown"}:
        raise ConfigError(f"--format {fmt!r}: use table, csv, json or markdown")
    con = warehouse.connect(cfg.warehouse.path, read_only=True)
    try:
        if out_csv is not None:
            out_csv.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY ({_TABLE_SQL}) TO '{_sql_path(out_csv)}' (HEADER, DELIMITER ',')")
            err_console.print(f"wrote {out_csv}", soft_wrap=True)
        query = _TABLE_SQL + ("" if show_all else " WHERE significant")
        if limit > 0:
            query += f" LIMIT {int(limit)}"
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    _emit(
        columns, rows, fmt, title="Issue by persona" + ("" if show_all else " (significant cells)")
    )


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _emit(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, *, title: str) -> None:
    if fmt == "json":
        sys.stdout.write(
            json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str, indent=2)
            + "\n"
        )
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    cells = [[_format(c, v) for c, v in zip(columns, row, strict=True)] for row in rows]
    if fmt == "markdown":
        sys.stdout.write("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n")
        for row in cells:
            sys.stdout.write("| " + " | ".join(v.replace("|", "\\|") for v in row) + " |\n")
        return
    if not rows:
        console.print(f"{title}: no rows" if title else "no rows")
        return
    if columns == _TABLE_COLUMNS:
        columns, cells = _compact(rows)
    view = Table(title=title or None, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for column in columns:
        if column in _NUMERIC:
            view.add_column(column, justify="right", no_wrap=True)
        else:
            view.add_column(column, overflow="fold", ratio=1)
    for row in cells:
        view.add_row(*row)
    console.print(view)


_TABLE_COLUMNS = [
    "persona",
    "issue",
    "tickets",
    "customers",
    "share",
    "baseline_share",
    "lift",
    "ci_low",
    "ci_high",
    "q_value",
    "significant",
]
_NUMERIC = {
    "tickets",
    "customers",
    "share",
    "baseline_share",
    "lift",
    "ci_low",
    "ci_high",
    "q_value",
    "p_value",
    "95% CI",
    "cust",
    "sig",
    "repeat",
    "recent",
    "before",
    "growth",
    "q",
    # short identifiers and dates of the topics listing: never folded
    "key",
    "size",
    "first_seen",
    "kind",
}


def _compact(rows: list[tuple[Any, ...]]) -> tuple[list[str], list[list[str]]]:
    """The issue-by-persona table narrowed to fit 80 columns: the interval in one cell."""
    out = []
    for persona, issue, tickets, customers, _share, _base, lift, low, high, q, significant in rows:
        interval = f"{low:.2f}-{high:.2f}" if low is not None and high is not None else ""
        out.append(
            [
                str(persona),
                str(issue),
                str(tickets),
                str(customers),
                _format("lift", lift),
                interval,
                _format("q_value", q),
                "*" if significant else "",
            ]
        )
    return ["persona", "issue", "tickets", "cust", "lift", "95% CI", "q", "sig"], out


def _format(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if column in {"share", "baseline_share"}:
        return f"{value:.1%}"
    if column in {"q_value", "p_value", "q"}:
        return f"{value:.0e}" if value < 0.001 else f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


@app.command()
def evaluate(
    labels_column: Annotated[
        str, typer.Option("--labels-column", help="Ticket column holding known labels (intents).")
    ],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
) -> None:
    """Score the current topics against a label column: NMI, ARI, purity, coverage, topic count."""

    def body() -> None:
        from dataclasses import asdict

        from persona_mining.topics.evaluate import evaluate_topics

        cfg = _config(config, db)
        result = _read(cfg, lambda con: asdict(evaluate_topics(con, labels_column=labels_column)))
        _emit(["metric", "value"], [(k, v) for k, v in result.items()], fmt, title="Topic quality")

    _guard(body)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the warehouse.")],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
) -> None:
    """Run a read-only SQL query on the warehouse and print the result."""

    def body() -> None:
        import duckdb

        from persona_mining import warehouse as warehouse

        cfg = _config(config, db)
        con = warehouse.connect(cfg.warehouse.path, read_only=True)
        try:
            cursor = con.execute(query)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = cursor.fetchall() if columns else []
        except duckdb.Error as e:
            raise PersonaMiningError(f"sql: {str(e).splitlines()[0]}") from e
        finally:
            con.close()
        _emit(columns, rows, fmt, title="")

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
        console.print(
            f"wrote {result.path} ({result.bytes / 1024:.0f} KiB): {result.personas} personas, "
            f"{result.issues} issues, {result.significant_cells} significant cells, "
            f"{result.example_tickets} example tickets",
            soft_wrap=True,
        )

    _guard(body)


@app.command()
def persona(
    name: Annotated[str, typer.Argument(help="Persona name (any case; a unique part is enough).")],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
) -> None:
    """Print one persona's profile: summary, challenges with lift, interval and q, questions."""

    def body() -> None:
        from persona_mining.report.profile_records import find_profile
        from persona_mining.report.terminal import persona_markdown, persona_view

        if fmt not in {"table", "json", "markdown"}:
            raise ConfigError(f"--format {fmt!r}: use table, json or markdown")
        cfg = _config(config, db)
        profile = _read(cfg, lambda con: find_profile(con, name))
        if fmt == "json":
            sys.stdout.write(json.dumps(profile.to_dict(), default=str, indent=2) + "\n")
        elif fmt == "markdown":
            sys.stdout.write(persona_markdown(profile) + "\n")
        else:
            console.print(persona_view(profile))

    _guard(body)


@app.command()
def trends(
    db: DbOption = None,
    config: ConfigOption = None,
    period: Annotated[str, typer.Option("--period", help="week or month.")] = "week",
    top: Annotated[int, typer.Option("--top", help="Number of issues (largest first).")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Recurring and emerging issues instead: repeat contacts, growth test, emerging flag.",
        ),
    ] = False,
) -> None:
    """Print tickets per week (or month) of the top issues, with the change vs the period before."""

    def body() -> None:
        from persona_mining.report.issue_series import issue_trends
        from persona_mining.report.terminal import trends_data, trends_rows, trends_view

        if fmt not in {"table", "csv", "json", "markdown"}:
            raise ConfigError(f"--format {fmt!r}: use table, csv, json or markdown")
        cfg = _config(config, db)
        if status:
            _print_issue_status(cfg, top=top, fmt=fmt)
            return
        result = _read(cfg, lambda con: issue_trends(con, period=period, top=top))
        if fmt == "table":
            console.print(trends_view(result))
        elif fmt == "json":
            sys.stdout.write(json.dumps(trends_data(result), indent=2) + "\n")
        else:
            columns, rows = trends_rows(result)
            _emit(columns, rows, fmt, title="")

    _guard(body)


def _print_issue_status(cfg: Config, *, top: int, fmt: str) -> None:
    from persona_mining import warehouse as warehouse

    con = warehouse.connect(cfg.warehouse.path, read_only=True)
    try:
        cursor = con.execute(
            """SELECT issue, tickets, customers AS cust, round(repeat_rate, 2) AS repeat,
                      recent_tickets AS recent, previous_tickets AS before, round(growth, 2) AS growth,
                      q_value AS q, CASE WHEN new_topic THEN 'new' WHEN emerging THEN 'rising' ELSE '' END AS flag
            FROM v_issue_status LIMIT ?""",
            [max(1, top)],
        )
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    _emit(columns, rows, fmt, title="Recurring and emerging issues")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files to.")],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Write the issue-by-persona table and the persona profiles to CSV or Parquet files."""

    def body() -> None:
        from persona_mining.report.export import export_tables

        cfg = _config(config, db)
        result = _read(cfg, lambda con: export_tables(con, out_dir=out, fmt=fmt))
        for path, rows in result.files:
            console.print(f"wrote {path} ({rows} rows)", soft_wrap=True)

    _guard(body)


topics_app = typer.Typer(
    help="List the topics, and curate them: rename, merge, split, ignore, undo, export, import.",
    no_args_is_help=False,
)
app.add_typer(topics_app, name="topics")
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
        from persona_mining.topics.taxonomy import list_topics

        cfg = _config(config, db)
        rows = _read(cfg, lambda con: list_topics(con))
        if fmt == "table":
            # 80 columns: the group stays in csv/json/markdown; state and curation share a cell.
            shown = [
                (
                    r["key"],
                    r["label"],
                    r["size"],
                    r["first_seen"],
                    r["kind"],
                    r["state"] or r["curation"],
                )
                for r in rows
            ]
            _emit(
                ["key", "label", "size", "first_seen", "kind", "note"], shown, fmt, title="Topics"
            )
            return
        columns = list(rows[0]) if rows else ["key", "label"]
        _emit(columns, [tuple(r.values()) for r in rows], fmt, title="Topics")

    _guard(body)


def _curate(config: Path | None, db: Path | None, edit: Callable[[Any], list[Any]]) -> None:
    """Apply one taxonomy change, then refresh everything built on the topics."""
    from persona_mining import warehouse as warehouse
    from persona_mining.pipeline import run_pipeline

    cfg = _config(config, db)
    con = warehouse.connect(cfg.warehouse.path)
    try:
        statuses = edit(con)
        # Rebuild what is built on the topics; segments stay as the last run left them.
        run_pipeline(con, cfg, only=("trends", "link", "negative", "personas"))
    finally:
        con.close()
    for status in statuses:
        console.print(
            f"#{status.edit_id} {status.action} {' '.join(status.topic_keys)}: {status.status}, {status.detail}",
            soft_wrap=True,
        )


@topics_app.command("rename")
def topics_rename(
    key: Annotated[str, typer.Argument(help="Topic key, e.g. T0003.")],
    label: Annotated[str, typer.Argument(help="The new label.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Give a topic the label you choose; it survives refits."""
    from persona_mining.topics.taxonomy import record_edit

    _guard(
        lambda: _curate(
            config,
            db,
            lambda con: record_edit(con, action="rename", topic_keys=[key], value=label, by=by),
        )
    )


@topics_app.command("merge")
def topics_merge(
    keys: Annotated[list[str], typer.Argument(help="Topic keys; the others merge into the first.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Merge topics into the first one given."""
    from persona_mining.topics.taxonomy import record_edit

    _guard(
        lambda: _curate(
            config, db, lambda con: record_edit(con, action="merge", topic_keys=keys, by=by)
        )
    )


@topics_app.command("split")
def topics_split(
    key: Annotated[str, typer.Argument(help="Topic key.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Re-cluster one topic into sub-topics KEY.1, KEY.2, ..."""
    from persona_mining.topics.taxonomy import record_edit

    _guard(
        lambda: _curate(
            config, db, lambda con: record_edit(con, action="split", topic_keys=[key], by=by)
        )
    )


@topics_app.command("ignore")
def topics_ignore(
    key: Annotated[str, typer.Argument(help="Topic key.")],
    by: ByOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Keep a topic (thank-you notes, auto-replies...) but leave it out of persona tables."""
    from persona_mining.topics.taxonomy import record_edit

    _guard(
        lambda: _curate(
            config, db, lambda con: record_edit(con, action="ignore", topic_keys=[key], by=by)
        )
    )


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
        console.print(
            f"wrote {out}: {len(cfg.known_issues)} known issues, {edits} edits", soft_wrap=True
        )

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
        console.print(
            f"imported {added} edits and {known} known issues from {path}", soft_wrap=True
        )
        return apply_edits(con)

    _guard(lambda: _curate(config, db, edit))


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
        import signal

        from persona_mining.errors import OrchestrationError

        cfg = _config(config, db)
        os.environ.setdefault("PREFECT_HOME", str(Path(".prefect").resolve()))
        from flows.server import LocalPrefectServer, is_healthy, profile_api_url

        api_url = os.environ.get("PREFECT_API_URL", "") or profile_api_url()
        server = None
        if api_url:
            if not is_healthy(api_url, timeout=5.0):
                raise OrchestrationError(
                    f"PREFECT_API_URL={api_url}: no Prefect server answers there; start it "
                    "(`prefect server start`), or unset PREFECT_API_URL to let serve start one"
                )
        else:
            server = LocalPrefectServer(home=Path(os.environ["PREFECT_HOME"]), port=port)
            err_console.print(f"starting a Prefect server on 127.0.0.1:{server.port} ...")

        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            if server is not None:
                api_url = server.start()
            from flows.deployments import build_deployments, serve_deployments

            deployments = build_deployments(cfg, config_path=cfg.source)
            schedule = cfg.schedule
            console.print(
                "serving "
                + ", ".join(
                    f"persona-pipeline/{d.name} ({getattr(schedule, d.name)} {schedule.timezone})"
                    for d in deployments
                )
                + f" on {api_url}"
                + (" (a server started here; its UI at " + api_url[: -len("/api")] + ")")
                * (server is not None)
                + "; Ctrl-C stops",
                soft_wrap=True,
            )
            sys.stdout.flush()
            serve_deployments(deployments, api_url=api_url)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if server is not None:
                server.stop()
                err_console.print("stopped the Prefect server")

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
        from dataclasses import asdict

        from persona_mining import warehouse as warehouse
        from persona_mining.errors import WarehouseBusyError
        from persona_mining.run_history import warehouse_status

        if fmt not in {"table", "json"}:
            raise ConfigError(f"--format {fmt!r}: use table or json")
        cfg = _config(config, db)
        try:
            con = warehouse.connect(cfg.warehouse.path, read_only=True)
        except WarehouseBusyError:
            message = (
                f"warehouse {cfg.warehouse.path}: a run or an ingest is writing to it right now "
                "(DuckDB lets no reader in meanwhile); ask again when it has finished, or look "
                "at the run in the Prefect UI"
            )
            if fmt == "json":
                sys.stdout.write(json.dumps({"busy": True, "message": message}) + "\n")
            else:
                console.print(message, soft_wrap=True)
            return
        try:
            state = warehouse_status(con, topics=cfg.topics, limit=limit)
        finally:
            con.close()
        if fmt == "json":
            data = asdict(state)
            data["busy"] = False
            sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")
            return
        _print_status(cfg, state)

    _guard(body)


def _print_status(cfg: Config, state: Any) -> None:
    console.print(
        f"warehouse: {cfg.warehouse.path}"
        + (
            f" ({len(state.pending_migrations)} migrations pending: the next run or ingest "
            "applies them)"
            if state.pending_migrations
            else ""
        ),
        soft_wrap=True,
    )
    model = state.model
    if model is None:
        console.print("topic model: none yet (the next run fits one)")
    else:
        console.print(
            f"topic model: {model['model_id']}, fitted {model['created_at']:%Y-%m-%d %H:%M} UTC "
            f"on {model['n_tickets']} tickets, {model['n_topics']} topics",
            soft_wrap=True,
        )
    console.print(
        f"refit due: {state.refit_due}" if state.refit_due else "refit due: no", soft_wrap=True
    )
    view = Table(title="Recent runs", box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    view.add_column("started (UTC)", no_wrap=True)
    view.add_column("run", overflow="fold")
    view.add_column("status", no_wrap=True)
    view.add_column("s", justify="right", no_wrap=True)
    view.add_column("tickets", overflow="fold", ratio=1)
    for r in state.runs:
        view.add_row(
            f"{r.started_at:%Y-%m-%d %H:%M}",
            f"{r.deployment.rsplit('/', 1)[-1] if r.deployment else 'by hand'} {r.kind}",
            r.status + (f" in {r.failed_stage}" if r.failed_stage else ""),
            "" if r.seconds is None else f"{r.seconds:.0f}",
            _run_counts(r.stages),
        )
    if state.runs:
        console.print(view)
    else:
        console.print("runs: none recorded yet")
    for r in state.runs:
        if r.error:
            console.print(
                Text(f"{r.started_at:%Y-%m-%d %H:%M} {r.status}: ", style="bold") + Text(r.error),
                soft_wrap=True,
            )
    _emit(
        ["source", "watermark (UTC)", "updated (UTC)"],
        [
            (w.source, f"{w.watermark:%Y-%m-%d %H:%M:%S}", f"{w.updated_at:%Y-%m-%d %H:%M}")
            for w in state.watermarks
        ],
        "table",
        title="Ingest watermarks",
    )


def _run_counts(stages: Any) -> str:
    """New and updated tickets ingested, tickets prepared and assigned, from a run's stages."""
    ingested = sum(
        int(v.get("new", 0)) + int(v.get("updated", 0))
        for k, v in stages.items()
        if k.startswith("ingest tickets") and isinstance(v, dict)
    )
    parts = [f"{ingested} ingested"] if any(k.startswith("ingest tickets") for k in stages) else []
    if isinstance(stages.get("prepare"), dict):
        parts.append(f"{stages['prepare'].get('prepared', 0)} prepared")
    if isinstance(stages.get("topics"), dict):
        topics = stages["topics"]
        parts.append(f"{topics.get('tickets', 0)} {'refit' if topics.get('refit') else 'assigned'}")
    return ", ".join(parts)


def main() -> None:
    """Console-script entry point."""
    _environment()
    app()


if __name__ == "__main__":
    main()
