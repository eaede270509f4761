"""The DuckDB warehouse: opening it, migrating it, and writing to it in transactions."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from persona_mining.errors import WarehouseBusyError, WarehouseError

WAREHOUSE_DIR = Path(__file__).resolve().parent.parent / "warehouse"
SCHEMA_DIR = WAREHOUSE_DIR / "schema"
VIEWS_DIR = WAREHOUSE_DIR / "views"

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        VARCHAR NOT NULL,
    applied_at  TIMESTAMP NOT NULL DEFAULT now()
)
"""
#: Write-ahead log size from which DuckDB checkpoints a writable warehouse (its default 16 MB).
CHECKPOINT_THRESHOLD = "1GB"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (creating it and its folder if needed) and migrate it.

    Args:
        path: the .duckdb file, ":memory:", or a MotherDuck database ("md:NAME"; needs the
            motherduck extension and a token, and a network connection).
        read_only: open without write access (several readers may share the file).

    Raises:
        WarehouseBusyError: another process is writing to the file.
        WarehouseError: the file is missing (read-only) or is not a DuckDB database.
    """
    target = str(path)
    if target != ":memory:" and not is_remote(target):
        file = Path(target)
        if read_only and not file.exists():
            raise WarehouseError(
                f"warehouse {file}: not found; run `persona-mining ingest` or `persona-mining demo` "
                "first, or pass --db PATH"
            )
        file.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise WarehouseBusyError(
                f"warehouse {target}: another persona-mining process is writing to it; "
                "wait for that run to finish (only one writer at a time), then retry"
            ) from e
        raise WarehouseError(f"warehouse {target}: cannot open ({e})") from e
    except duckdb.Error as e:
        raise WarehouseError(f"warehouse {target}: cannot open ({e})") from e
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        if not is_remote(target):
            # DuckDB folds its write-ahead log into the file once the log passes 16 MB: the
            # stages' chunked writes (vectors, prepared texts) then checkpoint again and again
            # (15-20 s of checkpoints while embedding a million tickets, bench/RESULTS.md). The
            # log now grows to 1 GB first; it is folded in when the run closes the warehouse
            # (and replayed if the run crashed).
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        migrate(con)
    return con


def is_remote(path: Path | str) -> bool:
    """Whether the warehouse is a MotherDuck database ("md:NAME") rather than a local file."""
    return str(path).startswith(("md:", "motherduck:"))


def connect_when_free(
    path: Path | str,
    *,
    timeout_seconds: float,
    notify: Callable[[str], None] | None = None,
    poll_seconds: float = 2.0,
    notify_every: float = 60.0,
    read_only: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (for writing, unless `read_only`), waiting while another process
    writes to it.

    DuckDB allows one writing process per file: a second pipeline run (a scheduled run while
    one started by hand is still going, say) waits here instead of failing at once.

    Args:
        path: the warehouse, as for `connect`.
        timeout_seconds: how long to wait before giving up; 0 tries once.
        notify: called with a message for whoever waits: when the wait starts, then every
            `notify_every` seconds.
        poll_seconds: pause between attempts.
        notify_every: seconds between two messages.
        read_only: open it read-only (as soon as no other process writes).

    Raises:
        WarehouseBusyError: the warehouse was still busy after `timeout_seconds`.
    """
    started = time.monotonic()
    told = -notify_every
    while True:
        try:
            return connect(path, read_only=read_only)
        except WarehouseBusyError as e:
            waited = time.monotonic() - started
            if waited >= timeout_seconds:
                raise WarehouseBusyError(
                    f"warehouse {path}: still busy after waiting {waited:.0f}s for another "
                    "persona-mining process (a run or an ingest) to finish writing; check "
                    "`persona-mining status` for a run in progress, or raise [schedule] "
                    "busy_timeout"
                ) from e
            if notify is not None and waited - told >= notify_every:
                notify(
                    f"warehouse {path}: another persona-mining process is writing to it; "
                    f"waiting for it to finish (waited {waited:.0f}s of at most "
                    f"{timeout_seconds:.0f}s)"
                )
                told = waited
            time.sleep(min(poll_seconds, max(0.0, timeout_seconds - waited)))


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All writes inside the block commit together, or none do."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the numbered schema migrations not yet applied, then (re)create the views.

    Returns:
        The names of the migrations applied by this call.
    """
    con.execute(_MIGRATIONS_TABLE)
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for file in sorted(SCHEMA_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(file.name)
        if not match:
            raise WarehouseError(f"migration {file}: name must look like 001_description.sql")
        version = int(match.group(1))
        if version in done:
            continue
        with transaction(con):
            con.execute(file.read_text(encoding="utf-8"))
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, file.name]
            )
        applied.append(file.name)
    apply_views(con)
    return applied


def apply_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create every view of warehouse/views/, in file-name order."""
    for file in sorted(VIEWS_DIR.glob("*.sql")):
        con.execute(file.read_text(encoding="utf-8"))


def view_names() -> list[str]:
    """Names of the public views shipped with the warehouse."""
    names = []
    for file in sorted(VIEWS_DIR.glob("*.sql")):
        names += re.findall(r"CREATE OR REPLACE VIEW\s+(\w+)", file.read_text(encoding="utf-8"))
    return names


def plausible_time_sql(column: str) -> str:
    """SQL true where a ticket's time can be when it came in: after the Unix epoch (a missing
    date written as 0) and no later than a day from now (a year typed 2099). Ingest keeps such
    tickets and warns; the windows of trends and alerts end at the latest plausible one, so
    that one mistyped year does not make every recent window empty."""
    return (
        f"({column} > TIMESTAMP '1970-01-01 00:00:00' "
        f"AND {column} <= now()::TIMESTAMP + INTERVAL 1 DAY)"
    )


def quote_identifier(name: str) -> str:
    """Quote a column or table name for SQL (identifiers cannot be bound as parameters)."""
    return '"' + name.replace('"', '""') + '"'


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of a table, in table order."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return {name: dtype for name, dtype in rows}
