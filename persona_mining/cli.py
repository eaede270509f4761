"""The `persona-mining` command line: the edge where config is loaded and results printed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
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
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _config(config: Path | None, db: Path | None) -> Config:
    return load_config(config, db=db)


def _guard(action: Callable[[], T]) -> T:
    """Run a command body; library errors become one readable line and exit code 2."""
    try:
        return action()
    except PersonaMiningError as e:
        err_console.print(Text("error: ", style="bold red") + Text(str(e)), soft_wrap=True)
        raise typer.Exit(2) from e


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
        from persona_mining import db as warehouse
        from persona_mining.config import CUSTOMER_COLUMNS, TICKET_COLUMNS, check_mapping
        from persona_mining.ingest import ingest_customers, ingest_tickets

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
) -> None:
    """Run every stage after ingest as one Prefect flow: prepare, embed, topics, segments, link, personas."""

    def body() -> None:
        cfg = _config(config, db)
        summary = _run_flow(cfg, refit=refit)
        _print_run(summary)

    _guard(body)


def _run_flow(cfg: Config, *, refit: bool) -> dict[str, Any]:
    from flows.pipeline import persona_pipeline

    return persona_pipeline(
        config_path=str(cfg.source) if cfg.source else None,
        db_path=str(cfg.warehouse.path),
        refit=refit,
    )


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
        f"link: {link['significant']} significant cells of {link['cells']}",
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
) -> None:
    """Generate the demo help desk, ingest it, run the pipeline, and print the issue-by-persona table."""

    def body() -> None:
        from persona_mining import db as warehouse
        from persona_mining.demo import generate_demo
        from persona_mining.ingest import ingest_customers, ingest_tickets

        generated = generate_demo(out, seed=seed, n_customers=customers)
        console.print(
            f"demo data: {generated.n_customers} customers, {generated.n_tickets} tickets in {out}",
            soft_wrap=True,
        )
        cfg = _config(config or generated.config_path, db)
        con = warehouse.connect(cfg.warehouse.path)
        try:
            _print_ingest(ingest_customers(con, path=generated.customers_path))
            _print_ingest(
                ingest_tickets(
                    con, path=generated.tickets_path, max_text_chars=cfg.ingest.max_text_chars
                )
            )
        finally:
            con.close()
        _print_run(_run_flow(cfg, refit=False))
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
    from persona_mining import db as warehouse

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
    if column == "q_value" or column == "p_value":
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

        from persona_mining import db as warehouse
        from persona_mining.evaluate import evaluate_topics

        cfg = _config(config, db)
        con = warehouse.connect(cfg.warehouse.path, read_only=True)
        try:
            result = asdict(evaluate_topics(con, labels_column=labels_column))
        finally:
            con.close()
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

        from persona_mining import db as warehouse

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


def main() -> None:
    """Console-script entry point."""
    _environment()
    app()


if __name__ == "__main__":
    main()
