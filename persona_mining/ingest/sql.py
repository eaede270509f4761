"""Pull tickets or customers from a table or query of any database SQLAlchemy reaches.

Incremental on a cursor column (`updated_at`, or an id that grows): a pull reads the rows at or
after the last value it committed, in the cursor's order, in batches of `page_size` rows; each
batch is committed with its last cursor value, so a pull killed mid-way resumes after the last
committed batch. Rows at the stored value are read again (a later row may share it): the
upsert finds them unchanged. PostgreSQL is tested (psycopg 3); the URL, password included,
comes from an environment variable and never appears in an error message.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import duckdb
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from persona_mining.config import SourceConfig
from persona_mining.errors import ConfigError, SourceAuthError, SourceError
from persona_mining.ingest.load import IngestResult
from persona_mining.ingest.pull import PageCounter, ProgressFn, commit_page, redact, stored_cursor


def pull_sql(
    con: duckdb.DuckDBPyConnection,
    *,
    source: SourceConfig,
    url: str,
    max_text_chars: int = 50_000,
    progress: ProgressFn | None = None,
) -> IngestResult:
    """Pull the new and changed rows of a SQL source into `tickets` or `customers`.

    Args:
        con: warehouse connection.
        source: a `[[sources]]` entry of type "sql".
        url: the SQLAlchemy URL (from the environment variable `source.url_env`).
        max_text_chars: tickets longer than this are rejected.
        progress: called after each committed batch.

    Raises:
        ConfigError: the URL, table, query or cursor column does not work (not retried).
        SourceAuthError: the database refused the credentials (not retried).
        SourceError: the database cannot be reached or failed mid-way (worth retrying); what
            was committed stays.
    """
    name = source.label
    secrets = _secrets(url)
    stream = source.kind
    counter = PageCounter(name, stream, progress)
    last = _decode(stored_cursor(con, name, stream))
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as e:
        raise ConfigError(
            f"sql source {name!r}: the URL in {source.url_env} is not a usable SQLAlchemy URL "
            f"({redact(str(e), secrets)}); e.g. postgresql+psycopg://user:password@host/db"
        ) from None
    try:
        with engine.connect() as db:
            statement = _statement(source, last)
            result = db.execution_options(stream_results=True, yield_per=source.page_size).execute(
                statement, {"last": last} if last is not None else {}
            )
            for partition in result.partitions(source.page_size):
                rows = [dict(row._mapping) for row in partition]
                if source.cursor not in rows[0]:
                    raise ConfigError(
                        f"sql source {name!r}: the rows have no column {source.cursor!r} (the "
                        f"cursor); columns are {sorted(rows[0])}"
                    )
                values = [row[source.cursor] for row in rows if row[source.cursor] is not None]
                records = [(_row_number(source, row), _plain(row)) for row in rows]
                page = commit_page(
                    con,
                    records,
                    source=source,
                    stream=stream,
                    cursor=_encode(max(values)) if values else None,
                    max_text_chars=max_text_chars,
                )
                counter.add(page, len(rows))
    except sa.exc.SQLAlchemyError as e:
        raise _source_error(source, e, secrets) from None
    finally:
        engine.dispose()
    return counter.finish(con)


def _statement(source: SourceConfig, last: Any) -> sa.Select[Any]:
    """SELECT * from the table or query, at or after the last cursor value, in cursor order."""
    if source.table:
        schema, _, table = source.table.rpartition(".")
        selectable: Any = sa.table(table, schema=schema or None)
    else:
        selectable = sa.text(source.query.strip().rstrip(";")).columns().subquery("q")
    cursor: sa.ColumnClause[Any] = sa.column(source.cursor)
    statement: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(selectable)
    if last is not None:
        statement = statement.where(cursor >= sa.bindparam("last"))
    return statement.order_by(cursor)


def _source_error(source: SourceConfig, error: Exception, secrets: list[str]) -> Exception:
    """A message naming the source, without the URL or password."""
    detail = redact(str(getattr(error, "orig", None) or error).strip().splitlines()[0], secrets)
    name = source.label
    if isinstance(error, sa.exc.OperationalError) and (
        "authentication" in detail.lower() or "password" in detail.lower()
    ):
        return SourceAuthError(
            f"sql source {name!r}: the database refused the credentials ({detail}); check the "
            f"URL in the environment variable {source.url_env}"
        )
    if isinstance(error, sa.exc.ProgrammingError):
        what = f"table {source.table!r}" if source.table else "the query"
        return ConfigError(
            f"sql source {name!r}: {what} with cursor column {source.cursor!r} cannot be read "
            f"({detail}); check table/query and cursor in [[sources]]"
        )
    return SourceError(
        f"sql source {name!r}: {type(error).__name__} ({detail}); the next run resumes after "
        "the last committed batch"
    )


def _secrets(url: str) -> list[str]:
    """The URL and its password, to be kept out of every message."""
    found = [url]
    try:
        password = make_url(url).password
    except (sa.exc.ArgumentError, ValueError):
        password = None
    if password:
        found.append(str(password))
    return found


def _row_number(source: SourceConfig, row: dict[str, Any]) -> int:
    """What `ingest_rejects.row_number` shows: the row's integer id, else a number from its content.

    Stable across pulls, so a rejected row read again is not recorded twice.
    """
    target = "ticket_id" if source.kind == "tickets" else "customer_id"
    value = row.get(source.columns.get(target, target))
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62:
        return value
    digest = hashlib.sha256(json.dumps(_plain(row), sort_keys=True, default=str).encode())
    return int(digest.hexdigest()[:12], 16)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """Values as the loader reads them: times in ISO 8601, numbers and ids as text."""
    return {key: _plain_value(value) for key, value in row.items()}


def _plain_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def _encode(value: Any) -> str:
    """A cursor value as stored in `source_cursors.cursor`: JSON with its type."""
    if isinstance(value, datetime):
        return json.dumps({"datetime": value.isoformat()})
    if isinstance(value, date):
        return json.dumps({"date": value.isoformat()})
    if isinstance(value, Decimal):
        return json.dumps({"decimal": str(value)})
    if isinstance(value, int | float | str):
        return json.dumps({"value": value})
    raise SourceError(
        f"cursor value of type {type(value).__name__}: use a column of times, dates, numbers "
        "or text as the cursor"
    )


def _decode(stored: str | None) -> Any:
    if stored is None:
        return None
    data = json.loads(stored)
    if "datetime" in data:
        return datetime.fromisoformat(data["datetime"])
    if "date" in data:
        return date.fromisoformat(data["date"])
    if "decimal" in data:
        return Decimal(data["decimal"])
    return data["value"]
