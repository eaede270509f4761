"""What the pulled sources (Zendesk, SQL) share: their secrets, cursors, pages and progress.

A pull reads a stream page by page and commits each page in one transaction together with the
cursor that follows it, so a pull killed mid-stream resumes after the last committed page:
nothing is lost, and a page read again changes nothing (the upsert keeps the latest version of
each record). The pages go through the same load as files (`load.load_batch`): the same
mapping, rejects and idempotence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from persona_mining.config import SourceConfig
from persona_mining.errors import ConfigError
from persona_mining.ingest.load import IngestResult, _store_watermark, load_batch
from persona_mining.ingest.readers import records_batch
from persona_mining.warehouse import apply_views, transaction


@dataclass(frozen=True)
class PullProgress:
    """Where a pull stands after a committed page, for a progress display.

    Attributes:
        source: the source's name.
        stream: "tickets" or "customers".
        pages: pages committed by this pull so far.
        records: records read by this pull so far.
        seconds: since the pull started.
        done: the stream has no more pages for now.
    """

    source: str
    stream: str
    pages: int
    records: int
    seconds: float
    done: bool = False

    @property
    def rate(self) -> float:
        """Records per second so far."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


#: Called after each committed page (the CLI draws a progress bar with it on a terminal).
ProgressFn = Callable[[PullProgress], None]


def secret(environ: Mapping[str, str], variable: str, *, source: str, what: str) -> str:
    """The secret held by the environment variable `variable`.

    Raises:
        ConfigError: the variable is not set or empty (names the variable, never a value).
    """
    value = environ.get(variable, "")
    if not value.strip():
        raise ConfigError(
            f"source {source!r}: the environment variable {variable} is not set; export it "
            f"with the {what} (the config names the variable, never the secret itself)"
        )
    return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and any long part of one) replaced by `***`."""
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


def stored_cursor(con: duckdb.DuckDBPyConnection, source: str, stream: str) -> str | None:
    """The cursor after the last page of `stream` committed, or None before the first pull."""
    rows = con.execute(
        "SELECT cursor FROM source_cursors WHERE source = ? AND stream = ?", [source, stream]
    ).fetchall()
    return rows[0][0] if rows else None


def _store_cursor(
    con: duckdb.DuckDBPyConnection, source: str, stream: str, cursor: str, records: int
) -> None:
    con.execute(
        """INSERT INTO source_cursors (source, stream, cursor, pages, records, updated_at)
        VALUES (?, ?, ?, 1, ?, now() AT TIME ZONE 'UTC')
        ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor,
            pages = source_cursors.pages + 1, records = source_cursors.records + excluded.records,
            updated_at = excluded.updated_at""",
        [source, stream, cursor, records],
    )


def commit_page(
    con: duckdb.DuckDBPyConnection,
    records: Sequence[tuple[int, Any]],
    *,
    source: SourceConfig,
    stream: str,
    cursor: str | None,
    max_text_chars: int,
) -> IngestResult:
    """Upsert one page of records and store the cursor that follows it, in one transaction.

    Args:
        con: warehouse connection.
        records: (row number, record) pairs; the row number is what `ingest_rejects` shows.
        source: the configured source (its name, mapping and filters).
        stream: "tickets" or "customers".
        cursor: where the next page starts; None keeps the stored one.
        max_text_chars: tickets longer than this are rejected.
    """
    name = source.label

    def keep_cursor(c: duckdb.DuckDBPyConnection) -> None:
        if cursor is not None:
            _store_cursor(c, name, stream, cursor, len(records))

    if not records:
        with transaction(con):
            keep_cursor(con)
        return IngestResult(kind=stream, sources=(name,))
    preset = "zendesk" if source.type == "zendesk" else ""
    result, newest = load_batch(
        con,
        records_batch(name, records),
        kind=stream,
        source=name,
        columns=source.columns if stream == "tickets" or source.type != "zendesk" else {},
        preset=preset,
        where=source.where if stream == "tickets" else "",
        drop_columns=source.drop_columns if stream == "tickets" or source.type != "zendesk" else (),
        max_text_chars=max_text_chars,
        duplicates=source.customer_duplicates,
        in_transaction=keep_cursor,
    )
    if newest is not None:
        _store_watermark(con, f"{stream}:{name}", newest, name if stream == "tickets" else None)
    return result


class PageCounter:
    """Counts a stream's pages and records and reports each committed page to `progress`."""

    def __init__(self, source: str, stream: str, progress: ProgressFn | None):
        self.source = source
        self.stream = stream
        self.progress = progress
        self.pages = 0
        self.records = 0
        self.started = time.perf_counter()
        self.total = IngestResult(kind=stream, sources=())

    def add(self, result: IngestResult, records: int) -> None:
        """Count a committed page."""
        self.pages += 1
        self.records += records
        self.total = self.total + result
        self._report(done=False)

    def finish(self, con: duckdb.DuckDBPyConnection) -> IngestResult:
        """The stream's result: one line for the run record, whatever the number of pages."""
        self._report(done=True)
        apply_views(con)
        total = self.total
        return IngestResult(
            kind=total.kind,
            sources=(self.source,),
            read=total.read,
            new=total.new,
            updated=total.updated,
            unchanged=total.unchanged,
            skipped=total.skipped,
            rejected=total.rejected,
            rejects_by_reason=total.rejects_by_reason,
            seconds=time.perf_counter() - self.started,
        )

    def _report(self, *, done: bool) -> None:
        if self.progress is not None:
            self.progress(
                PullProgress(
                    source=self.source,
                    stream=self.stream,
                    pages=self.pages,
                    records=self.records,
                    seconds=time.perf_counter() - self.started,
                    done=done,
                )
            )
