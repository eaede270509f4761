"""Stage 1, ingest: tickets and customers from files into the warehouse.

Upsert on the id; a newer `updated_at` (or, at equal times, a changed row) wins. A ticket is
identified within its source (`tickets.source`), so two sources whose ids overlap both land
whole. Every input row ends up in `tickets`/`customers` or in `ingest_rejects` with a reason a
person can act on; all writes of one file happen in one transaction.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from persona_mining.config import CUSTOMER_DUPLICATES, TICKET_COLUMNS
from persona_mining.errors import ConfigError, InputFileError
from persona_mining.ingest.readers import (
    BAD_ENCODING,
    PARQUET_SUFFIXES,
    RAW,
    ROW,
    RawBatch,
    input_files_and_skipped,
    normalise_name,
    read_file,
)
from persona_mining.progress import Progress, no_progress
from persona_mining.warehouse import apply_views, quote_identifier, table_columns, transaction

#: Timestamps are read by DuckDB's cast (ISO 8601, with an offset or a zone name, in UTC)
#: once a day/month/year date is written year first (`_timestamp_sql`), and 12-hour times,
#: which the cast does not read, by these formats (`{date}`: the date in the column's day
#: order). A strptime list costs a failed parse per format tried, so it is kept to the values
#: that end in AM or PM: a million other values take about a second.
TIMESTAMP_FORMATS = ("{date} %I:%M:%S %p", "{date} %I:%M %p")
#: Twitter's `Tue Oct 31 22:10:47 +0000 2017`, tried on its own: in one list with formats
#: without %z, DuckDB (2.0) reads a value without an offset in the offset of the one before.
_TWITTER_FORMAT = "%a %b %d %H:%M:%S %z %Y"
#: Day orders of a column's day/month/year dates.
DAY_FIRST, MONTH_FIRST = "day", "month"
#: A date written day/month/year or month/day/year at the start of a value (a time may
#: follow): its first part, separator, second part, year, and what follows it.
_DAY_MONTH_DATE = r"^([0-9]{1,2})([/.-])([0-9]{1,2})[/.-]([0-9]{4})([ T]|$)"


#: Help-desk exports read without a mapping of their own: column mapping and columns not kept.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "zendesk": {
        "tickets": {
            "columns": {
                "ticket_id": "id",
                "customer_id": "requester_id",
                "body": "description",
                "channel": "via.channel",
            },
            "drop": ("url", "raw_subject", "via_source_*", "*_ids", "external_id"),
        },
        "customers": {
            "columns": {"customer_id": "id"},
            # Names, e-mails and phone numbers identify people: they never enter the warehouse.
            "drop": (
                "url",
                "name",
                "email",
                "phone",
                "shared_phone_number",
                "photo*",
                "signature",
                "details",
                "notes",
                "alias",
                "remote_photo_url",
                "external_id",
                "*_ids",
            ),
        },
    },
}
_TICKET_INTERNAL = (
    "source",
    "source_ticket_id",
    "source_file",
    "raw_hash",
    "row_hash",
    "ingested_at",
)
#: The name of the legacy source: tickets ingested before sources had names (migration 060).
DEFAULT_SOURCE = "tickets"
_CUSTOMER_INTERNAL = ("source", "ingested_at")


@dataclass(frozen=True)
class IngestResult:
    """What one ingest call did."""

    kind: str
    sources: tuple[str, ...]
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    rejects_by_reason: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: The ticket source the rows were stored under ("" for customers).
    source: str = ""
    #: Why every row was read again despite the watermark ("" when it was not).
    reread: str = ""
    #: What the caller should know, one line each ("" if nothing): why the tickets went to a
    #: source other than the one the file name gives, a column widened to hold new values, a
    #: day order assumed for dates such as 01/03/2024, tickets dated in the future or at the
    #: Unix epoch.
    note: str = ""

    def __add__(self, other: IngestResult) -> IngestResult:
        reasons = Counter(self.rejects_by_reason)
        reasons.update(other.rejects_by_reason)
        return IngestResult(
            kind=self.kind,
            sources=self.sources + other.sources,
            read=self.read + other.read,
            new=self.new + other.new,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            skipped=self.skipped + other.skipped,
            rejected=self.rejected + other.rejected,
            rejects_by_reason=dict(reasons),
            seconds=self.seconds + other.seconds,
            source=self.source or other.source,
            reread=self.reread or other.reread,
            note=_join_notes(self.note, other.note),
        )


def _join_notes(*notes: str) -> str:
    """Notes one per line, each once (the files of a folder may say the same)."""
    return "\n".join(dict.fromkeys(line for note in notes for line in note.splitlines() if line))


@dataclass(frozen=True)
class _UpsertCounts:
    new: int
    updated: int
    unchanged: int
    reasons: Counter[str]
    skipped: int = 0
    newest: datetime | None = None
    source: str = ""
    note: str = ""


def ingest_tickets(
    con: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    columns: Mapping[str, str] | None = None,
    max_text_chars: int = 50_000,
    preset: str = "",
    where: str = "",
    drop_columns: Sequence[str] = (),
    full: bool = False,
    source: str = "",
    progress: Progress = no_progress,
) -> IngestResult:
    """Upsert the tickets of a file (or of every file in a folder) into one source.

    A ticket is identified within its source: the same id in two sources is two tickets, and
    a ticket that moves between files of one source stays one ticket. Without `source`, a path
    ingested before keeps the source it had; a new path takes the source whose tickets it
    repeats (same ids with the same `created_at`), else the source named after the file or
    folder (`default_source_name`), unless that source holds other tickets under the file's
    ids: then a new source with a suffixed name (`tickets_2`), so that another help desk's
    `tickets.csv` never overwrites the first one's tickets.

    Rows whose `updated_at` is older than the path's watermark (the newest `updated_at` an
    earlier ingest of the same file or folder stored) that the warehouse holds unchanged (or
    in a newer version) were read before and are skipped, unless `full` is set or the
    settings (source, mapping, filter, dropped columns, text limit) differ from those the
    watermark was stored with: a fixed mapping then applies to every row. A row before the
    watermark that is new or was edited (a file without `updated_at` dates its rows by
    `created_at`) is read as any other.

    Args:
        con: warehouse connection.
        path: a CSV/JSONL/Parquet file, a help-desk export page, or a folder of them.
        columns: canonical column -> input column name, for exports with other names.
        max_text_chars: rows whose subject + body are longer are rejected.
        preset: "zendesk" for Zendesk's ticket export (mapping and dropped columns preset).
        where: a DuckDB condition over the input's (normalised) columns; other rows are
            recorded in `ingest_rejects` as excluded.
        drop_columns: input columns not to keep (glob patterns over normalised names).
        full: ignore the watermark and read every row.
        source: the name of the source the tickets belong to ("" to choose it as above).
        progress: told the lines read of each file, then its rows written.

    Raises:
        ConfigError: `source` is not a usable name.
    """
    options = _options("tickets", columns, preset, where, drop_columns, max_text_chars)
    requested = source.strip()
    if source and not _SOURCE_NAME.fullmatch(requested):
        raise ConfigError(
            f"ticket source {source!r}: use letters, digits, '_', '-', '.' or ':' (e.g. "
            "--source zendesk); the name is put before the source's ticket ids"
        )
    key = f"tickets:{Path(path).resolve()}"
    settings = json.dumps(
        {
            "source": requested,
            "columns": dict(sorted(options.mapping.items())),
            "where": options.where,
            "drop": list(options.drop),
            "max_text_chars": max_text_chars,
        },
        sort_keys=True,
    )
    mark = _watermark(con, key)
    _check_id_mapping(con, path, mark, options.mapping.get("ticket_id"), requested)
    watermark, reread = None, ""
    if mark is not None and not full:
        if mark.settings == settings:
            watermark = mark.watermark
        else:
            reread = (
                "the source, mapping, filter, dropped columns or text limit differ from those of "
                "the last ingest of this path: every row was read again"
            )
    choice = _SourceChoice(
        name=requested or (mark.source if mark and mark.source else default_source_name(path)),
        fixed=bool(requested or (mark and mark.source)),
    )
    total = IngestResult(kind="tickets", sources=(), reread=reread)
    newest: datetime | None = None
    files, skipped = input_files_and_skipped(Path(path))
    failed: list[str] = []
    for file in files:
        try:
            result, file_newest = _ingest_one(
                con, file, "tickets", options, watermark, choice, progress
            )
        except InputFileError as e:
            if len(files) == 1:
                raise
            failed.append(str(e))
            continue
        total = total + result
        if result.source:
            choice = _SourceChoice(name=result.source, fixed=True)
        newest = max(filter(None, [newest, file_newest]), default=None)
    if newest is not None:
        _store_watermark(con, key, newest, choice.name, settings)
    _stop_on_failed_files(path, len(files), failed, total, skipped)
    return replace(total, note=_join_notes(*skipped, total.note))


def _stop_on_failed_files(
    path: str | Path, files: int, failed: list[str], total: IngestResult, skipped: list[str]
) -> None:
    """After the other files of a folder are stored, stop on those that could not be read.

    One file that is not what its name says (empty, binary, not JSON) must neither keep the
    files after it from being read nor hide that the files before it were stored: the error
    says both, and a second ingest of the folder skips the rows already stored.

    Raises:
        InputFileError: naming each file that could not be read, what the others gave, and
            the folder's entries that were not read (`skipped`).
    """
    if not failed:
        return
    raise InputFileError(
        f"input folder {path}: {files - len(failed)} of {files} files ingested (read "
        f"{total.read:,}, new {total.new:,}, updated {total.updated:,}, rejected "
        f"{total.rejected:,}); not read: "
        + "; ".join(failed)
        + "; fix "
        + ("it" if len(failed) == 1 else "them")
        + " and ingest the folder again (the rows already stored are skipped)"
        + "".join(f"; {note}" for note in skipped)
    )


def _check_id_mapping(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    mark: _Watermark | None,
    ticket_id: str | None,
    requested: str,
) -> None:
    """Stop when the column that identifies tickets changed since this path was last read.

    Every ticket of the source would come in again under another id, beside the old ones: a
    silent duplicate of the whole source. Naming another source keeps both on purpose.

    Raises:
        ConfigError: the `ticket_id` mapping differs from the one the path was read with.
    """
    if mark is None or not mark.settings or not mark.source or requested not in ("", mark.source):
        return
    before = json.loads(mark.settings).get("columns", {}).get("ticket_id")
    if before == ticket_id:
        return
    (count,) = con.execute(
        "SELECT count(*) FROM tickets WHERE source = ?", [mark.source]
    ).fetchone() or (0,)
    if not count:
        return
    raise ConfigError(
        f"{path}: tickets were identified by {before or 'ticket_id'!r} when this file was last "
        f"ingested, now by {ticket_id or 'ticket_id'!r}: its {count} tickets in source "
        f"{mark.source!r} would come in again under new ids. Keep the old mapping, or ingest "
        "into a new source with --source NAME (and leave the old one out of your queries)"
    )


#: What a source name may hold: it is put before the source's ids in `tickets.ticket_id`.
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


#: A date at the end of a file name: a year (1900-2099), or a year and month, or a full date
#: with an optional time, written with '-', '_' or ' ' between the parts or without
#: (`2026`, `2026-01`, `2026_01`, `20260131`, `2026-01-31_1200`), after no other digit. A
#: bare number (`export1`, `cp1252`, `export_3`) is not a date: it names another data set.
_TRAILING_DATE = re.compile(
    r"[-_ ]*(?<![0-9])(?:19|20)[0-9]{2}"
    r"(?:[-_ ]?(?:0[1-9]|1[0-2])"
    r"(?:[-_ ]?(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:[-_ T]?(?:[01][0-9]|2[0-3])[-_]?[0-5][0-9](?:[-_]?[0-5][0-9])?)?)?)?$"
)


def default_source_name(path: Path) -> str:
    """The source a file or folder belongs to when none is named: its name, without extension
    and without a trailing date (`_TRAILING_DATE`; two for a range), in lower case with
    underscores.

    So `tickets-2026-01.csv` and `tickets-2026-02.csv` are one source (`tickets`), while
    `customer_support_tickets.csv` and `twcs.csv` are two, and so are `export1.csv` and
    `export2.csv`: a trailing number that is not a date tells data sets apart.
    """
    name = Path(path).name.split(".")[0]
    stripped = _TRAILING_DATE.sub("", _TRAILING_DATE.sub("", name))
    name = stripped or name  # a name that is only a date stays the date
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or DEFAULT_SOURCE


@dataclass(frozen=True)
class _SourceChoice:
    """The source an ingest stores its tickets under; unless `fixed`, a new `name` may give way
    to an existing source whose tickets the file repeats."""

    name: str
    fixed: bool


def ingest_customers(
    con: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    columns: Mapping[str, str] | None = None,
    preset: str = "",
    drop_columns: Sequence[str] = (),
    duplicates: str = "latest",
    progress: Progress = no_progress,
) -> IngestResult:
    """Upsert the customers of a file (or folder): `customer_id` plus attribute columns.

    Several rows of one customer (a ticket file read as customers has one per ticket) make one
    customer: each attribute takes its latest (or first) non-empty value, ordered by the
    mapped `updated_at`, else by the order of the rows in the file.

    Args:
        con: warehouse connection.
        path: a file, a help-desk users export page, or a folder of them.
        columns: canonical column -> input column name.
        preset: "zendesk" for Zendesk's users export (id as customer_id; names, emails and
            phone numbers are not kept).
        drop_columns: input columns not to keep (glob patterns over normalised names).
        duplicates: "latest" or "first" value of each attribute among a customer's rows, or
            "reject" to keep them only when they agree (the others go to ingest_rejects).
        progress: told the lines read of each file, then its rows written.

    Raises:
        ConfigError: `duplicates` is not one of `CUSTOMER_DUPLICATES`.
    """
    if duplicates not in CUSTOMER_DUPLICATES:
        raise ConfigError(
            f"customer duplicates {duplicates!r}: use one of {list(CUSTOMER_DUPLICATES)}"
        )
    options = _options("customers", columns, preset, "", drop_columns, 0)
    options = _Options(options.mapping, options.where, options.drop, 0, duplicates)
    total = IngestResult(kind="customers", sources=())
    files, skipped = input_files_and_skipped(Path(path))
    failed: list[str] = []
    for file in files:
        try:
            total = total + _ingest_one(con, file, "customers", options, None, None, progress)[0]
        except InputFileError as e:
            if len(files) == 1:
                raise
            failed.append(str(e))
    _stop_on_failed_files(path, len(files), failed, total, skipped)
    return replace(total, note=_join_notes(*skipped, total.note))


@dataclass(frozen=True)
class _Options:
    mapping: Mapping[str, str]
    where: str
    drop: tuple[str, ...]
    max_text_chars: int
    duplicates: str = "latest"


def _options(
    kind: str,
    columns: Mapping[str, str] | None,
    preset: str,
    where: str,
    drop_columns: Sequence[str],
    max_text_chars: int,
) -> _Options:
    if preset and preset not in PRESETS:
        raise ConfigError(f"ingest preset {preset!r}: unknown; known presets are {sorted(PRESETS)}")
    base = PRESETS[preset][kind] if preset else {"columns": {}, "drop": ()}
    return _Options(
        mapping={**base["columns"], **(columns or {})},
        where=where.strip(),
        drop=(*base["drop"], *drop_columns),
        max_text_chars=max_text_chars,
    )


@dataclass(frozen=True)
class _Watermark:
    watermark: datetime
    source: str | None  # the ticket source the path was stored under
    settings: str | None  # the settings it was read with; None: unknown (before migration 060)


def _watermark(con: duckdb.DuckDBPyConnection, key: str) -> _Watermark | None:
    rows = con.execute(
        "SELECT watermark, ticket_source, settings FROM ingest_watermarks WHERE source = ?", [key]
    ).fetchall()
    return _Watermark(*rows[0]) if rows else None


def _store_watermark(
    con: duckdb.DuckDBPyConnection,
    key: str,
    newest: datetime,
    source: str | None = None,
    settings: str | None = None,
) -> None:
    """Keep the newest `updated_at` read with these settings; other settings start afresh.

    Pulled sources (which resume from their own cursor) store theirs without a ticket source
    or settings, for `status` to show.
    """
    con.execute(
        """INSERT INTO ingest_watermarks (source, watermark, updated_at, ticket_source, settings)
        VALUES (?, ?, now(), ?, ?)
        ON CONFLICT (source) DO UPDATE SET
            watermark = CASE WHEN ingest_watermarks.settings IS NOT DISTINCT FROM excluded.settings
                THEN greatest(ingest_watermarks.watermark, excluded.watermark)
                ELSE excluded.watermark END,
            updated_at = excluded.updated_at, ticket_source = excluded.ticket_source,
            settings = excluded.settings""",
        [key, newest, source, settings],
    )


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: RawBatch,
    *,
    kind: str,
    source: str,
    columns: Mapping[str, str] | None = None,
    preset: str = "",
    where: str = "",
    drop_columns: Sequence[str] = (),
    max_text_chars: int = 50_000,
    duplicates: str = "latest",
    in_transaction: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> tuple[IngestResult, datetime | None]:
    """Upsert records that did not come from a file (a page of an API, rows of a database).

    The same rules as for files: the mapping, the rejects with their reasons, latest
    `updated_at` wins, an unchanged record changes nothing. Sources that pull keep their own
    cursor, so no watermark filters the batch.

    Args:
        con: warehouse connection.
        batch: the records (see `readers.records_batch`).
        kind: "tickets" or "customers".
        source: the name stored in `tickets.source`/`customers.source` and `ingest_rejects`.
        columns, preset, where, drop_columns, max_text_chars, duplicates: as for
            `ingest_tickets` and `ingest_customers`.
        in_transaction: called inside the transaction that writes the batch (a pull stores
            its cursor there, so the cursor never runs ahead of the rows it covers).

    Returns:
        What was done, and the newest valid `updated_at` of the batch (tickets).
    """
    options = _options(kind, columns, preset, where, drop_columns, max_text_chars)
    options = _Options(options.mapping, options.where, options.drop, max_text_chars, duplicates)
    choice = _SourceChoice(name=source, fixed=True)
    return _ingest_batch(con, batch, source, kind, options, None, choice, in_transaction)


def _ingest_one(
    con: duckdb.DuckDBPyConnection,
    file: Path,
    kind: str,
    options: _Options,
    watermark: datetime | None,
    choice: _SourceChoice | None = None,
    progress: Progress = no_progress,
) -> tuple[IngestResult, datetime | None]:
    choice = choice or _SourceChoice(name=default_source_name(file), fixed=False)
    batch = read_file(file, progress)
    step = f"writing {file.name}"
    progress(step, 0, None)  # one transaction: no count to tell until it commits
    result = _ingest_batch(con, batch, str(file.resolve()), kind, options, watermark, choice)
    progress(step, batch.table.num_rows, batch.table.num_rows)
    return result


def _ingest_batch(
    con: duckdb.DuckDBPyConnection,
    batch: RawBatch,
    source_file: str,
    kind: str,
    options: _Options,
    watermark: datetime | None,
    choice: _SourceChoice,
    in_transaction: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> tuple[IngestResult, datetime | None]:
    """Stage, check and upsert one batch; `source_file` is the file (or the pulled source)
    the rows came from, `choice` the ticket source they belong to."""
    started = time.perf_counter()
    file = batch.path
    table = _with_generated_columns(batch, options.mapping)
    renames = _resolve_mapping(
        batch, {k: v for k, v in options.mapping.items() if not v.startswith("@")}
    )
    generated = {k for k, v in options.mapping.items() if v.startswith("@")}
    table = _integral_ids(batch, table, renames, generated)
    dropped = {
        c
        for c in table.column_names
        if not c.startswith("__") and c not in renames and any(fnmatch(c, p) for p in options.drop)
    }
    stage = con  # temp tables are per connection: staging shares the writer's connection
    try:
        stage.register("__input", table)
        select = ", ".join(
            f"{quote_identifier(c)} AS {quote_identifier(renames.get(c, c))}"
            for c in table.column_names
            if c not in dropped
        )
        stage.execute(f"CREATE OR REPLACE TEMP TABLE __stage AS SELECT {select} FROM __input")
        stage.unregister("__input")
        present = set(table_columns(stage, "__stage"))
        if options.where:
            _check_where(stage, file, options.where)
        if kind == "tickets":
            _require(file, present, ("ticket_id", "created_at"), "ticket", "[ingest.columns]")
            if not present & {"subject", "body"}:
                raise InputFileError(
                    f"ticket file {file}: has neither a 'subject' nor a 'body' column; map the text "
                    'column with [ingest.columns] body = "..." (or --map body=COLUMN)'
                )
            with transaction(con):
                counts = _upsert_tickets(
                    con, stage, present, source_file, options, watermark, choice
                )
                _store_rejects(con, batch, source_file)
                if in_transaction is not None:
                    in_transaction(con)
        else:
            _require(file, present, ("customer_id",), "customer", "[ingest.customer_columns]")
            with transaction(con):
                counts = _upsert_customers(con, stage, present, source_file, options.duplicates)
                _store_rejects(con, batch, source_file)
                if in_transaction is not None:
                    in_transaction(con)
        apply_views(con)
        reasons = Counter(_reason_kind(r.reason) for r in batch.rejects)
        reasons.update(counts.reasons)
        result = IngestResult(
            kind=kind,
            sources=(str(file),),
            read=batch.table.num_rows + len(batch.rejects),
            new=counts.new,
            updated=counts.updated,
            unchanged=counts.unchanged,
            skipped=counts.skipped,
            rejected=sum(reasons.values()),
            rejects_by_reason=dict(reasons),
            seconds=time.perf_counter() - started,
            source=counts.source,
            note=_join_notes(*batch.notes, counts.note),
        )
        return result, counts.newest
    finally:
        stage.execute("DROP TABLE IF EXISTS __stage")
        stage.execute("DROP TABLE IF EXISTS __valid")
        stage.execute("DROP TABLE IF EXISTS __winners")
        stage.execute("DROP TABLE IF EXISTS __seen")


def _with_generated_columns(batch: RawBatch, mapping: Mapping[str, str]) -> pa.Table:
    """Add the columns a mapping generates: `@row` (file name and row) and `@file_time`."""
    table = batch.table
    rows = table.column(ROW).to_pylist()
    for target, value in mapping.items():
        if value == "@row":
            generated = pa.array([f"{batch.path.name}:{r}" for r in rows], pa.string())
        elif value == "@file_time":
            stamp = datetime.fromtimestamp(batch.path.stat().st_mtime, UTC).isoformat()
            generated = pa.array([stamp] * len(rows), pa.string())
        elif value.startswith("@"):
            raise ConfigError(
                f"mapping {target} = {value!r}: unknown generator; use '@row' (an id made of the "
                "file name and row number) or '@file_time' (the file's modification time)"
            )
        else:
            continue
        if target in table.column_names:
            table = table.drop_columns([target])
        table = table.append_column(target, generated)
    return table


#: The id columns of tickets and customers.
_ID_COLUMNS = ("ticket_id", "customer_id")


def _integral_ids(
    batch: RawBatch, table: pa.Table, renames: Mapping[str, str], generated: set[str]
) -> pa.Table:
    """The ids of a Parquet file that stores them as floating-point (or decimal) numbers, as
    the ids they stand for.

    The reader writes numbers as Python does: a pandas id column with a gap is a float column,
    so the same ticket would be `1` from a CSV export and `1.0` from a Parquet one (two
    tickets), and a NaN, pandas' missing value, the ticket `nan`. An integral value becomes the
    integer (`1`), NaN and infinity become missing, so the row is rejected as `missing
    ticket_id` (a missing `customer_id` makes a ticket anonymous); other values stay as read.
    `renames` maps input columns to warehouse columns; `generated` are those made by `@row`.
    """
    if batch.path.suffix.lower() not in PARQUET_SUFFIXES or not batch.path.is_file():
        return table
    schema = pq.read_schema(batch.path)
    for column, original in batch.original_names.items():
        target = renames.get(column, column)
        index = schema.get_field_index(original)  # -1 for a name the file holds twice
        if target not in _ID_COLUMNS or target in generated or index < 0:
            continue
        dtype = schema.field(index).type
        if not (pa.types.is_floating(dtype) or pa.types.is_decimal(dtype)):
            continue
        position = table.schema.get_field_index(column)
        if position < 0:
            continue
        values = [_integral_id(v) for v in table.column(position).to_pylist()]
        table = table.set_column(position, column, pa.array(values, pa.string()))
    return table


def _integral_id(value: str | None) -> str | None:
    """A number written as text (`1.0`, `1e+16`, `nan`) as an id: see `_integral_ids`."""
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if not number.is_finite():
        return None
    return str(int(number)) if number == number.to_integral_value() else value


def _check_where(stage: duckdb.DuckDBPyConnection, file: Path, where: str) -> None:
    try:
        dtype = stage.execute(f"DESCRIBE SELECT ({where}) AS keep FROM __stage").fetchall()[0][1]
    except duckdb.Error as e:
        raise ConfigError(
            f"ingest filter `{where}` on {file}: not a valid condition over the file's columns "
            f"({str(e).splitlines()[0]}); columns are compared as text, e.g. inbound = 'True'"
        ) from e
    if dtype != "BOOLEAN":
        raise ConfigError(
            f"ingest filter `{where}` on {file}: gives {dtype}, not true/false; columns are "
            "compared as text, e.g. inbound = 'True'"
        )


def _resolve_mapping(batch: RawBatch, mapping: Mapping[str, str]) -> dict[str, str]:
    """Input column (normalised) -> warehouse column, from the user's mapping."""
    by_original = {orig: norm for norm, orig in batch.original_names.items()}
    renames: dict[str, str] = {}
    for target, source_name in mapping.items():
        norm = by_original.get(source_name) or (
            normalise_name(source_name)
            if normalise_name(source_name) in batch.original_names
            else None
        )
        if norm is None:
            raise InputFileError(
                f"input file {batch.path}: the mapping {target} = {source_name!r} names a column "
                f"that is not in the file; its columns are {list(batch.original_names.values())}"
            )
        renames[norm] = target
    targets = set(renames.values())
    for norm in batch.original_names:
        if norm in targets and norm not in renames:
            # A column already named like a mapping target is displaced, not silently overwritten.
            renames[norm] = f"{norm}_original"
    return renames


def _require(
    file: Path, present: set[str], needed: tuple[str, ...], what: str, section: str
) -> None:
    for column in needed:
        if column not in present:
            raise InputFileError(
                f"{what} file {file}: column '{column}' missing; map it with "
                f'{section} {column} = "<column in your file>" (or --map {column}=COLUMN)'
                + _GENERATED_HINTS.get(column, "")
            )


#: How to make up a required column a file does not have (`_with_generated_columns`).
_GENERATED_HINTS = {
    "ticket_id": "; a file without ids can number its rows: --map ticket_id=@row",
    "created_at": "; a file without dates can take the file's time: --map created_at=@file_time",
}


#: Characters stripped from both ends of ids: every Unicode whitespace, as Python's str.strip
#: (none lies above U+3000), as a regular expression class.
_WHITESPACE_CLASS = (
    "[" + "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x3001)) if c.isspace()) + "]"
)


def _strip(expression: str) -> str:
    """SQL that trims all whitespace (tabs, line breaks, NBSP...) from an id column.

    A regular expression: DuckDB's `trim` with a set of characters takes about 0.5 s per
    million values, five times as long.
    """
    return f"regexp_replace({expression}, '^{_WHITESPACE_CLASS}+|{_WHITESPACE_CLASS}+$', '', 'g')"


#: A character a reader sees: not whitespace (Unicode separators and ASCII whitespace), not a
#: control character (tabs, line breaks, NUL...), not an invisible format character (zero-width
#: space, byte order mark, direction marks), as an RE2 class.
_VISIBLE_CHARACTER = r"[^\s\p{Z}\p{Cc}\p{Cf}]"


def _shortened_id_sql(expression: str) -> str:
    """SQL true for an id a spreadsheet wrote in scientific notation (`1.23457E+17`): the
    digits after the sixth are gone, and ids that differed there now collide."""
    return f"regexp_full_match({expression}, '[0-9]\\.[0-9]+[eE]\\+[0-9]+')"


def _blank_sql(expression: str) -> str:
    """SQL that is true when a text column is NULL or holds nothing a reader would see.

    DuckDB's `trim` removes spaces only, so a subject of a tab or a line break would pass as
    text and reach the analysis as "(no text)". A search for the first visible character stops
    at the first character of an ordinary text.
    """
    return f"NOT regexp_matches(coalesce({expression}, ''), '{_VISIBLE_CHARACTER}')"


#: A day/month/year date with a two-digit year (5/3/24), which the cast reads as year 5.
_TWO_DIGIT_YEAR = r"^[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2}([ T]|$)"


def _year_first_sql(value: str, order: str) -> str:
    """SQL that writes a day/month/year (or month/day/year) date at the start of a text value
    year first, as the cast reads it: `2024-3-13 10:00` for `13/03/2024 10:00` read day
    first. `order` is DAY_FIRST or MONTH_FIRST; "": slashes month first (03/13/2024), dots and
    dashes day first (13.03.2024, 13-03-2024). A year-first date with slashes (2024/03/13)
    takes dashes, and an offset after a space (`14:22:11 +0100`, Zendesk's CSV) loses it."""
    rewritten = value
    for separator, default in (("/", MONTH_FIRST), ("[.-]", DAY_FIRST)):
        date = f"^([0-9]{{1,2}}){separator}([0-9]{{1,2}}){separator}([0-9]{{4}})([ T]|$)"
        year_first = "\\3-\\2-\\1\\4" if (order or default) == DAY_FIRST else "\\3-\\1-\\2\\4"
        rewritten = f"regexp_replace({rewritten}, '{date}', '{year_first}')"
    rewritten = (
        f"regexp_replace({rewritten}, '^([0-9]{{4}})/([0-9]{{1,2}})/([0-9]{{1,2}})([ T]|$)', "
        "'\\1-\\2-\\3\\4')"
    )
    return f"regexp_replace({rewritten}, ' ([+-][0-9]{{2}}(:?[0-9]{{2}})?)$', '\\1')"


def _timestamp_sql(column: str, order: str = "") -> str:
    """SQL that reads a text column as a timestamp in UTC, NULL when it is none: ISO 8601 (an
    offset or zone converted to UTC), a day/month/year date with an optional time of 24 or 12
    hours in the day `order` of the column (`_date_order`), `YYYY/MM/DD`, Twitter's dates,
    Unix seconds or milliseconds. Each step runs only on the values the ones before left."""
    value = f"trim({quote_identifier(column)})"
    dates = ["%Y-%m-%d"]
    for separator, default in (("/", MONTH_FIRST), ("-", DAY_FIRST), (".", DAY_FIRST)):
        parts = ("%d", "%m") if (order or default) == DAY_FIRST else ("%m", "%d")
        dates.append(separator.join((*parts, "%Y")))
    formats = ", ".join(f"'{f.format(date=d)}'" for d in dates for f in TIMESTAMP_FORMATS)
    # The rewritten value is used once: DuckDB would compute a repeated expression for every
    # row, ISO ones included.
    return (
        # DuckDB's cast reads 5/3/24 as the year 5: a two-digit year is no date here.
        f"CASE WHEN regexp_matches({value}, '{_TWO_DIGIT_YEAR}') THEN NULL::TIMESTAMP ELSE "
        f"coalesce(try_cast({value} AS TIMESTAMPTZ)::TIMESTAMP, "
        f"try_cast({_year_first_sql(value, order)} AS TIMESTAMPTZ)::TIMESTAMP, "
        f"CASE WHEN regexp_matches({value}, '[AaPp][Mm]$') "
        f"THEN try_strptime({value}, [{formats}]) END, "
        f"try_strptime({value}, '{_TWITTER_FORMAT}')::TIMESTAMP, "
        # Unix seconds (1973-2286), with a fraction or not, and milliseconds (13 digits, as
        # JavaScript writes them).
        f"CASE WHEN regexp_full_match({value}, '[1-9]\\d{{8,9}}(\\.\\d{{1,9}})?') "
        f"THEN to_timestamp({value}::DOUBLE)::TIMESTAMP "
        f"WHEN regexp_full_match({value}, '[1-9]\\d{{12}}') "
        f"THEN to_timestamp({value}::BIGINT / 1000)::TIMESTAMP END) END"
    )


@dataclass(frozen=True)
class _DateOrder:
    """The day order of one column's day/month/year dates in one file.

    Attributes:
        order: DAY_FIRST or MONTH_FIRST when a date tells (a part above 12), else "".
        day_first: (row, value) of the first date that can only be day first (13/03/2024).
        month_first: the same for month first (03/13/2024).
        ambiguous: how many dates could be either (two different parts up to 12: 01/03/2024).
        example: (row, value) of the first of those.
        slashes: whether some of those are written with '/' (month first when nothing tells).
        others: whether some are written with '.' or '-' (day first when nothing tells).
    """

    order: str = ""
    day_first: tuple[int, str] | None = None
    month_first: tuple[int, str] | None = None
    ambiguous: int = 0
    example: tuple[int, str] | None = None
    slashes: bool = False
    others: bool = False

    def conflict(self, column: str) -> str:
        """Why the column's dates cannot be read in one order ("" when they can)."""
        if self.day_first is None or self.month_first is None:
            return ""
        (day_row, day), (month_row, month) = self.day_first, self.month_first
        return (
            f"column {column} mixes day-first and month-first dates: {day!r} (row {day_row}) "
            f"can only be day/month/year, {month!r} (row {month_row}) only month/day/year"
        )

    def assumed(self, column: str, label: str) -> str:
        """The note that the order of dates such as 01/03/2024 was assumed ("" if it was not)."""
        if self.order or not self.ambiguous or self.example is None:
            return ""
        if self.slashes and self.others:
            read = "read as month/day with '/' and as day/month with '.' or '-'"
        elif self.slashes:
            read = "read as month/day (MM/DD/YYYY)"
        else:
            read = "read as day/month (DD.MM.YYYY)"
        row, value = self.example
        dates = f"{self.ambiguous:,} date{'s' if self.ambiguous != 1 else ''}"
        return (
            f"column {column}: {dates} such as {value!r} (row {row} of {label}) could be "
            f"day/month or month/day, and no date of the file has a day above 12: {read}; "
            "if that is wrong, export the column as ISO 8601 (YYYY-MM-DD)"
        )


def _date_order(stage: duckdb.DuckDBPyConnection, column: str) -> _DateOrder:
    """The day order of a staged column's day/month/year dates, decided for the whole column.

    A date whose first part is above 12 (13/03/2024) is day first, one whose second part is
    above 12 (03/13/2024) month first; a file of one help desk writes all its dates one way,
    so one telling date decides for the dates such as 01/03/2024 that could be either (read
    row by row, days 1-12 would become months and the others be rejected). One scan of the
    column; the pattern fails on the first characters of other values.
    """
    value = f"trim({quote_identifier(column)})"
    day = "a BETWEEN 13 AND 31 AND b BETWEEN 1 AND 12"
    month = "b BETWEEN 13 AND 31 AND a BETWEEN 1 AND 12"
    either = "a <> b AND a BETWEEN 1 AND 12 AND b BETWEEN 1 AND 12"
    row = stage.execute(
        f"""WITH dates AS (
            SELECT {ROW} AS r, {value} AS s,
                   regexp_extract({value}, '{_DAY_MONTH_DATE}', ['a', 'sep', 'b']) AS m
            FROM __stage WHERE regexp_matches({value}, '{_DAY_MONTH_DATE}')
        ), parts AS (SELECT r, s, m.a::INTEGER AS a, m.b::INTEGER AS b, m.sep AS sep FROM dates)
        SELECT min(r) FILTER (WHERE {day}), arg_min(s, r) FILTER (WHERE {day}),
               min(r) FILTER (WHERE {month}), arg_min(s, r) FILTER (WHERE {month}),
               count(*) FILTER (WHERE {either}), min(r) FILTER (WHERE {either}),
               arg_min(s, r) FILTER (WHERE {either}),
               coalesce(bool_or(sep = '/') FILTER (WHERE {either}), false),
               coalesce(bool_or(sep <> '/') FILTER (WHERE {either}), false)
        FROM parts"""
    ).fetchall()[0]
    day_row, day_value, month_row, month_value, ambiguous, row_, example, slashes, others = row
    day_first = (day_row, day_value) if day_row is not None else None
    month_first = (month_row, month_value) if month_row is not None else None
    order = ""
    if day_first and not month_first:
        order = DAY_FIRST
    elif month_first and not day_first:
        order = MONTH_FIRST
    return _DateOrder(
        order=order,
        day_first=day_first,
        month_first=month_first,
        ambiguous=ambiguous,
        example=(row_, example) if row_ is not None else None,
        slashes=slashes,
        others=others,
    )


def _core_date_order(
    stage: duckdb.DuckDBPyConnection, column: str, source_file: str, what: str
) -> _DateOrder:
    """The day order of `created_at` or `updated_at` in this file.

    Raises:
        InputFileError: the column holds both day-first and month-first dates.
    """
    dates = _date_order(stage, column)
    conflict = dates.conflict(column)
    if conflict:
        raise InputFileError(
            f"{what} file {source_file}: {conflict}; a file must write its dates one way: "
            "export the column in one format (ISO 8601 such as 2024-03-13 is never ambiguous)"
        )
    return dates


def _remembered_order(
    con: duckdb.DuckDBPyConnection, dates: _DateOrder, source: str, column: str, label: str
) -> tuple[_DateOrder, str]:
    """The file's day order, with what earlier files of the same source showed or assumed.

    A help desk writes its dates one way in every export, but a daily export (every day up to
    the 12th) cannot show which: it is read as the source's earlier files were, where reading
    it by the default would shift its dates and make its tickets "another help desk's". The
    order a file shows is remembered (`ingest_date_orders`); one that contradicts what was
    assumed before says that the earlier files' dates were misread.

    Returns:
        The order to read the file in, and a note ("" when there is nothing to say).
    """
    if not dates.ambiguous and not dates.order:
        return dates, ""  # no day/month/year date in the column
    row = con.execute(
        "SELECT day_order, shown FROM ingest_date_orders WHERE source = ? AND column_name = ?",
        [source, column],
    ).fetchall()
    stored, shown = row[0] if row else (None, False)
    note = ""
    if not dates.order and stored and shown:
        dates = replace(dates, order=stored)
        note = (
            f"column {column}: dates such as {dates.example[1]!r} (row {dates.example[0]} of "
            f"{label}) read {stored}-first, as earlier files of source {source} showed"
            if dates.example
            else ""
        )
    elif dates.order and stored and dates.order != stored:
        note = (
            f"warning: column {column} of {label} is {dates.order}-first, but earlier files of "
            f"source {source} were {'shown' if shown else 'assumed'} {stored}-first: the "
            "tickets they held dated up to the 12th of a month keep day and month swapped "
            "(a newer date wins over a re-read one); ingest every file of the source into a "
            "fresh warehouse to correct them"
        )
    order = dates.order or _default_order(dates)
    if order and (not row or (dates.order and (dates.order != stored or not shown))):
        con.execute(
            """INSERT INTO ingest_date_orders VALUES (?, ?, ?, ?, now())
            ON CONFLICT (source, column_name) DO UPDATE SET day_order = excluded.day_order,
                shown = excluded.shown, decided_at = excluded.decided_at""",
            [source, column, order, bool(dates.order)],
        )
    return dates, note


def _default_order(dates: _DateOrder) -> str:
    """The order a file's ambiguous dates are read in when nothing tells: month first with
    slashes, day first with dots or dashes ("" when it writes both, or has no such date)."""
    if dates.slashes and not dates.others:
        return MONTH_FIRST
    if dates.others and not dates.slashes:
        return DAY_FIRST
    return ""


def _label(source_file: str) -> str:
    """How a note names where rows came from: a file by its name, a pulled source as is."""
    path = Path(source_file)
    return path.name if path.is_absolute() else source_file


def _extras(present: set[str], core: tuple[str, ...]) -> list[str]:
    return sorted(c for c in present if not c.startswith("__") and c not in core)


#: A decimal number as written (NaN and infinity as Python and pandas write them); a leading
#: zero ('007', '00.5') marks a code, not a number.
_DECIMAL_NUMBER = (
    r"[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)"
)
#: A number written with a leading zero: a zip code, a case number.
_LEADING_ZERO = re.compile(r"[+-]?0[0-9]+(\.[0-9]*)?")
#: What an extra column's timestamp starts with: a year-first date, a day/month/year date,
#: Twitter's weekday and month, or Unix seconds or milliseconds (no leading zero). DuckDB's
#: cast also reads '1-2-3' (the year 1), 'epoch' and 'infinity': codes, not dates.
_DATE_SHAPE = (
    r"^([0-9]{4}[-/][0-9]|[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{4}|[A-Za-z]{3} [A-Za-z]{3} [0-9]"
    r"|[1-9][0-9]{8,9}(\.[0-9]+)?$|[1-9][0-9]{12}$)"
)
#: Types tried, in order, for a new column; VARCHAR when none fits every value.
_INFERRED_TYPES = ("BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP")
#: Not a type: what `_fits_sql` checks before TIMESTAMP, a value's shape (`_DATE_SHAPE`).
_DATE_SHAPED = "date-shaped"


def _fits_sql(column: str, dtype: str, order: str = "") -> str:
    """SQL that is true when a staged value (not empty) fits a column of type `dtype` exactly:
    a BIGINT takes whole numbers only, never a rounded 2.5; a number with a leading zero fits
    no number type; a TIMESTAMP takes what `_timestamp_sql` reads in the file's day `order`."""
    value = f"trim({quote_identifier(column)})"
    if dtype == "VARCHAR":
        return "true"
    if dtype == "BIGINT":
        # A whole number as written, without '+', fraction, exponent or leading zero: the
        # number gives the text back. (`try_cast` alone rounds 2.5 to 3 and reads '1e3', '0x10',
        # '1_000' and '01234' as numbers.)
        return f"(try_cast({value} AS BIGINT)::VARCHAR = {value})"
    if dtype == "DOUBLE":
        return (
            f"(regexp_full_match({value}, '{_DECIMAL_NUMBER}', 'i') "
            f"AND try_cast({value} AS DOUBLE) IS NOT NULL)"
        )
    if dtype == _DATE_SHAPED:
        return f"regexp_matches({value}, '{_DATE_SHAPE}')"
    if dtype == "TIMESTAMP":
        return (
            f"(regexp_matches({value}, '{_DATE_SHAPE}') "
            f"AND {_timestamp_sql(column, order)} IS NOT NULL)"
        )
    return f"(try_cast({value} AS {dtype}) IS NOT NULL)"


@dataclass(frozen=True)
class _Misfit:
    """How the non-empty staged values of a column fit a type: how many there are, how many do
    not fit, and the row and value of the first that does not."""

    values: int
    count: int
    row: int | None
    value: str | None


def _misfits(
    stage: duckdb.DuckDBPyConnection,
    checks: Sequence[tuple[str, str, str]],
    *,
    examples: bool = True,
) -> list[_Misfit]:
    """How the staged values fit each (column, type, day order), in one scan for all checks;
    the first value that does not fit is looked for only with `examples`."""
    if not checks:
        return []
    flags, parts = [f"{ROW} AS r"], []
    for i, (column, dtype, order) in enumerate(checks):
        value = f"trim({quote_identifier(column)})"
        flags += [
            f"{value} <> '' AS n{i}",
            f"{value} <> '' AND NOT coalesce({_fits_sql(column, dtype, order)}, false) AS m{i}",
        ]
        parts += [f"count(*) FILTER (WHERE n{i})", f"count(*) FILTER (WHERE m{i})"]
        if examples:
            flags.append(f"{value} AS v{i}")
            parts += [f"min(r) FILTER (WHERE m{i})", f"arg_min(v{i}, r) FILTER (WHERE m{i})"]
        else:
            parts += ["NULL", "NULL"]
    row = stage.execute(
        f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(flags)} FROM __stage)"
    ).fetchall()[0]
    return [_Misfit(*row[i : i + 4]) for i in range(0, len(row), 4)]


@dataclass(frozen=True)
class _TypedColumns:
    """The extra columns of a batch as stored: column -> type, the day order of each TIMESTAMP
    column's dates in this batch, and notes for the ingest result (a column widened...)."""

    types: dict[str, str]
    orders: dict[str, str]
    notes: list[str]


def _add_typed_columns(
    con: duckdb.DuckDBPyConnection,
    stage: duckdb.DuckDBPyConnection,
    table: str,
    extras: list[str],
    label: str,
) -> _TypedColumns:
    """Add the extra input columns to `table`, typed from the data, and widen a stored column
    whose type the new values do not fit, so that no row is lost to a column's first type.

    A new column is BIGINT when every non-empty value is a whole number as written, else
    DOUBLE, BOOLEAN or TIMESTAMP when every one is such, else VARCHAR (a number with a leading
    zero is a code: '01234' stays text). A stored column takes the batch's values as they are
    when they fit its type; else a BIGINT column becomes DOUBLE when they are numbers, any
    other becomes VARCHAR (`ALTER TABLE`, in the batch's transaction; the stored values are
    kept, as text or decimals), and a note says which value did it (`label` names the file).
    Stored columns are never made TIMESTAMP: existing warehouses keep their types.
    """
    existing = table_columns(con, table)
    types: dict[str, str] = {}
    orders: dict[str, str] = {}
    notes: list[str] = []
    new = [c for c in extras if c not in existing]
    # Day orders: of the new columns that may be timestamps, and of stored TIMESTAMP columns.
    dates = {c: _date_order(stage, c) for c in extras if existing.get(c) == "TIMESTAMP"}
    # New columns: each type in turn, for the columns no earlier type fits (one scan each).
    inferred = {c: "VARCHAR" for c in new}
    undecided = new
    for dtype in _INFERRED_TYPES:
        if dtype == "TIMESTAMP":
            # Only the columns whose every value looks like a date (one scan for all) are
            # read for their day order, then parsed.
            shapes = _misfits(stage, [(c, _DATE_SHAPED, "") for c in undecided], examples=False)
            undecided = [c for c, fit in zip(undecided, shapes, strict=True) if not fit.count]
            dates.update((c, _date_order(stage, c)) for c in undecided)
            undecided = [c for c in undecided if not dates[c].conflict(c)]
        checks = [(c, dtype, dates[c].order if c in dates else "") for c in undecided]
        fits = list(zip(undecided, _misfits(stage, checks, examples=False), strict=True))
        # A column without a value stays VARCHAR.
        inferred.update((c, dtype) for c, fit in fits if fit.values and not fit.count)
        undecided = [c for c, fit in fits if fit.values and fit.count]
    conflicts = {c: d.conflict(c) for c, d in dates.items() if d.conflict(c)}
    for column in new:
        dtype = inferred[column]
        if dtype == "TIMESTAMP":
            orders[column] = dates[column].order
            notes.append(dates[column].assumed(column, label))
        elif column in conflicts:
            notes.append(f"{conflicts[column]} (in {label}): it is stored as text")
        types[column] = dtype
        con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_identifier(column)} {dtype}")
    # Stored columns: widened when a value of the batch does not fit.
    stored = [c for c in extras if existing.get(c, "VARCHAR") != "VARCHAR" and c not in conflicts]
    checks = [(c, existing[c], dates[c].order if c in dates else "") for c in stored]
    found = dict(zip(((c, t) for c, t, _ in checks), _misfits(stage, checks), strict=True))
    # A whole-number column that does not hold a value may hold decimals.
    checks = [
        (c, "DOUBLE", "") for c in stored if existing[c] == "BIGINT" and found[(c, "BIGINT")].count
    ]
    found.update(
        zip(((c, t) for c, t, _ in checks), _misfits(stage, checks, examples=False), strict=True)
    )
    for column in extras:
        if column in new:
            continue
        dtype = types[column] = existing[column]
        if dtype == "VARCHAR":
            continue
        if column in conflicts:
            types[column] = "VARCHAR"
            notes.append(f"column {column} is text from now on: {conflicts[column]} (in {label})")
        elif not found[(column, dtype)].count:
            if column in dates:
                orders[column] = dates[column].order
                notes.append(dates[column].assumed(column, label))
            continue
        else:
            whole = dtype == "BIGINT" and not found[(column, "DOUBLE")].count
            types[column] = "DOUBLE" if whole else "VARCHAR"
            notes.append(_widened_note(column, dtype, types[column], found[(column, dtype)], label))
        con.execute(
            f"ALTER TABLE {table} ALTER COLUMN {quote_identifier(column)} TYPE {types[column]}"
        )
    return _TypedColumns(types, orders, [n for n in notes if n])


def _widened_note(column: str, before: str, after: str, misfit: _Misfit, label: str) -> str:
    """The note that a stored column was widened to hold a batch's values, with an example."""
    value = misfit.value or ""
    where = f"{value!r} (row {misfit.row} of {label})"
    if misfit.count > 1:
        where += f" and {misfit.count - 1:,} other value{'s' if misfit.count > 2 else ''}"
    verb = "are" if misfit.count > 1 else "is"
    if after == "DOUBLE":
        return (
            f"column {column} holds decimal numbers from now on: {where} {verb} not a whole number"
        )
    if before in ("BIGINT", "DOUBLE"):
        what = (
            f"{'have' if misfit.count > 1 else 'has'} a leading zero, which a number would drop"
            if _LEADING_ZERO.fullmatch(value)
            else f"{verb} not a number"
        )
        return (
            f"column {column} is text from now on: {where} {what}; its numbers are kept as "
            f"text: compare them as numbers with TRY_CAST({column} AS DOUBLE)"
        )
    what = {"BOOLEAN": "true or false", "TIMESTAMP": "a date"}.get(before, f"a {before}")
    return f"column {column} is text from now on: {where} {verb} not {what}"


def _typed_value_sql(column: str, dtype: str, order: str = "") -> str:
    """SQL giving a staged value in its column's type (NULL when empty). `_add_typed_columns`
    typed or widened the column so that every value of the batch fits exactly (`_fits_sql`):
    a cast never rounds 2.5 to 3 or drops the zero of '01234', and no row is rejected for
    its extra columns."""
    c = quote_identifier(column)
    if dtype == "VARCHAR":
        return c
    if dtype == "TIMESTAMP":
        return _timestamp_sql(column, order)
    return f"try_cast(nullif(trim({c}), '') AS {dtype})"


def _upsert_tickets(
    con: duckdb.DuckDBPyConnection,
    stage: duckdb.DuckDBPyConnection,
    present: set[str],
    source_file: str,
    options: _Options,
    watermark: datetime | None,
    choice: _SourceChoice,
) -> _UpsertCounts:
    max_text_chars = options.max_text_chars
    excluded = (
        f"WHEN NOT coalesce(({options.where}), false) THEN 'excluded by the ingest filter: "
        + options.where.replace("'", "''")
        + "'"
        if options.where
        else ""
    )
    extras = [c for c in _extras(present, TICKET_COLUMNS) if c not in _TICKET_INTERNAL]
    renamed_internal = [c for c in _extras(present, TICKET_COLUMNS) if c in _TICKET_INTERNAL]
    for column in renamed_internal:
        stage.execute(
            f"ALTER TABLE __stage RENAME COLUMN {quote_identifier(column)} TO {quote_identifier(column + '_input')}"
        )
        extras.append(column + "_input")
    # The day order of each date column is decided for the whole file, before any change.
    label = _label(source_file)
    created_dates, created_note = _remembered_order(
        con,
        _core_date_order(stage, "created_at", source_file, "ticket"),
        choice.name,
        "created_at",
        label,
    )
    updated_dates, updated_note = (
        _remembered_order(
            con,
            _core_date_order(stage, "updated_at", source_file, "ticket"),
            choice.name,
            "updated_at",
            label,
        )
        if "updated_at" in present
        else (_DateOrder(), "")
    )
    typed = _add_typed_columns(con, stage, "tickets", sorted(extras), label)
    types = typed.types
    notes = [
        created_note,
        updated_note,
        created_dates.assumed("created_at", label),
        updated_dates.assumed("updated_at", label),
        *typed.notes,
    ]

    def col(name: str) -> str:
        return quote_identifier(name) if name in present else "NULL"

    created = _timestamp_sql("created_at", created_dates.order)
    updated = (
        _timestamp_sql("updated_at", updated_dates.order) if "updated_at" in present else created
    )
    text_len = f"coalesce(length({col('subject')}), 0) + coalesce(length({col('body')}), 0)"
    extra_values = ", ".join(
        f"{_typed_value_sql(c, t, typed.orders.get(c, ''))} AS {quote_identifier(c)}"
        for c, t in types.items()
    )
    row_hash_parts = ", ".join(
        [f"{c}::VARCHAR" if c.endswith("_at") else c for c in TICKET_COLUMNS]
        + [f"{quote_identifier(c)}::VARCHAR" for c in types]
    )
    reason = f"""CASE
        {excluded}
        WHEN {BAD_ENCODING} THEN 'bad encoding: the row is not UTF-8; re-export the file as UTF-8'
        WHEN nullif({_strip("ticket_id")}, '') IS NULL THEN 'missing ticket_id: every ticket needs an id'
        WHEN {_shortened_id_sql(_strip("ticket_id"))} THEN 'ticket_id ' || {_strip("ticket_id")} || ' is a long number a spreadsheet shortened: export the ids as text (in Excel, format the column as Text before saving)'
        WHEN nullif(trim(created_at), '') IS NULL THEN 'missing created_at: every ticket needs a creation time'
        WHEN {created} IS NULL THEN 'unparseable created_at ''' || left(created_at, 40) || ''': use ISO 8601 such as 2026-03-01T09:30:00Z'
        WHEN {col("updated_at")} IS NOT NULL AND {updated} IS NULL THEN 'unparseable updated_at ''' || left({col("updated_at")}, 40) || ''': use ISO 8601 or leave it empty'
        WHEN {_blank_sql(col("subject"))} AND {_blank_sql(col("body"))} THEN 'empty text: subject and body are both empty'
        WHEN {text_len} > {int(max_text_chars)} THEN 'text too long: ' || format('{{:,}}', {text_len}) || ' characters, over the limit of {int(max_text_chars):,}; raise [ingest] max_text_chars to keep such tickets'
    END"""
    stage.execute(
        f"""CREATE OR REPLACE TEMP TABLE __valid AS
        WITH parsed AS (
            SELECT {ROW} AS row_number, {RAW} AS raw, {reason} AS reason,
                   {_strip("ticket_id")} AS ticket_id, nullif({_strip(col("customer_id"))}, '') AS customer_id,
                   {created} AS created_at, greatest({updated}, {created}) AS updated_at,
                   nullif(trim({col("channel")}), '') AS channel,
                   {col("subject")} AS subject, {col("body")} AS body
                   {", " + extra_values if extra_values else ""}
            FROM __stage
        ), hashed AS (
            SELECT *, sha256(coalesce(subject, '') || chr(31) || coalesce(body, '')) AS raw_hash,
                   sha256(concat_ws(chr(31), {row_hash_parts})) AS row_hash
            FROM parsed
        )
        SELECT * FROM hashed"""
    )
    # Several versions of one id with the same updated_at cannot be ordered: reject them. The
    # versions are counted over every row (a rejected one too) by a grouped count, which moves
    # three columns: a window over `__valid` would move every column, texts included.
    stage.execute(
        """UPDATE __valid SET reason = 'duplicate ticket_id ' || __valid.ticket_id || ' with conflicting data at the same updated_at; keep one version in the export'
        FROM (
            SELECT ticket_id, updated_at FROM __valid GROUP BY ALL HAVING count(DISTINCT row_hash) > 1
        ) d
        WHERE __valid.reason IS NULL AND __valid.ticket_id = d.ticket_id
            AND __valid.updated_at = d.updated_at"""
    )
    # A ticket's creation time never changes: rows of one id with different ones are tickets
    # that share an id (ids a spreadsheet rounded, two exports merged), not versions. Keeping
    # the latest would drop the others without a word.
    stage.execute(
        """UPDATE __valid SET reason = 'duplicate ticket_id ' || __valid.ticket_id
            || ' with different created_at (' || d.first::VARCHAR || ' and ' || d.last::VARCHAR
            || '): two tickets share this id; give each ticket its own id in the export'
        FROM (
            SELECT ticket_id, min(created_at) AS first, max(created_at) AS last FROM __valid
            WHERE reason IS NULL GROUP BY ALL HAVING count(DISTINCT created_at) > 1
        ) d
        WHERE __valid.reason IS NULL AND __valid.ticket_id = d.ticket_id"""
    )
    source, prefix, note = _ticket_source(con, stage, choice)
    stage.execute("ALTER TABLE __valid ADD COLUMN source_ticket_id VARCHAR")
    stage.execute(
        "UPDATE __valid SET source_ticket_id = ticket_id, ticket_id = ? || ticket_id", [prefix]
    )
    # A key held by another source's ticket is never overwritten (only possible when an id
    # of the unprefixed first source looks like 'name:id').
    stage.execute(
        """UPDATE __valid SET reason = 'ticket_id ' || __valid.ticket_id || ' is taken by a ticket of source '
            || t.source || '; ingest this file with --source ' || t.source || ' if it comes from the same help desk'
        FROM tickets t
        WHERE __valid.reason IS NULL AND t.ticket_id = __valid.ticket_id AND t.source <> ?""",
        [source],
    )
    _insert_rejects_from_stage(con, source_file)
    columns = [*TICKET_COLUMNS, "source_ticket_id", "raw_hash", "row_hash", *types]
    listed = ", ".join(quote_identifier(c) for c in columns)
    fresh = "reason IS NULL"
    if watermark:
        # Rows before the watermark were read before, but a date says nothing of an edit or of
        # a ticket added late (a file without updated_at dates its rows by created_at): only
        # those that cannot change the warehouse are skipped, the ones it holds unchanged or
        # in a newer version, found by one join on the id (about 0.2 s per million rows).
        # The watermark comes from the warehouse itself (a timestamp), never from input text.
        stage.execute(
            f"""CREATE OR REPLACE TEMP TABLE __seen AS
            SELECT v.row_number FROM __valid v JOIN tickets t USING (ticket_id)
            WHERE v.reason IS NULL
                AND v.updated_at < TIMESTAMP '{watermark.isoformat(sep=" ")}'
                AND (t.row_hash = v.row_hash OR t.updated_at > v.updated_at)"""
        )
        fresh += " AND row_number NOT IN (SELECT row_number FROM __seen)"
    # The latest version of each id: chosen by its row number over four columns, then joined
    # (a window over every column would move the texts through the sort).
    winners = f"""SELECT v.* FROM __valid v SEMI JOIN (
            SELECT row_number FROM __valid WHERE {fresh}
            QUALIFY row_number() OVER (PARTITION BY ticket_id ORDER BY updated_at DESC, row_number DESC) = 1
        ) w USING (row_number)"""
    values = ", ".join("w." + quote_identifier(c) for c in columns)
    # The changed tickets replace their stored version, then the new ones go in with a plain
    # insert (the conflict check costs about a second per million rows). An INSERT returns the
    # number of rows it wrote.
    updated = con.execute(
        f"""INSERT INTO tickets ({listed}, source, source_file, ingested_at)
        SELECT {values}, ?, ?, now()
        FROM ({winners}) w JOIN tickets t USING (ticket_id)
        WHERE w.updated_at >= t.updated_at AND w.row_hash <> t.row_hash
        ON CONFLICT (ticket_id) DO UPDATE SET
        {", ".join(f"{quote_identifier(c)} = excluded.{quote_identifier(c)}" for c in columns if c != "ticket_id")},
        source = excluded.source, source_file = excluded.source_file,
        ingested_at = excluded.ingested_at""",
        [source, source_file],
    ).fetchall()[0][0]
    new = con.execute(
        f"""INSERT INTO tickets ({listed}, source, source_file, ingested_at)
        SELECT {values}, ?, ?, now()
        FROM ({winners}) w LEFT JOIN tickets t USING (ticket_id)
        WHERE t.ticket_id IS NULL""",
        [source, source_file],
    ).fetchall()[0][0]
    valid = stage.execute(
        f"SELECT count(*) FILTER (WHERE {fresh}), count(*) FILTER (WHERE reason IS NULL), "
        "max(updated_at) FILTER (WHERE reason IS NULL) FROM __valid"
    ).fetchone()
    assert valid is not None
    return _UpsertCounts(
        new=new,
        updated=updated,
        unchanged=valid[0] - new - updated,
        reasons=_stage_reasons(stage),
        skipped=valid[1] - valid[0],
        newest=valid[2],
        source=source,
        note=_join_notes(note, *notes, *_date_warnings(stage, label)),
    )


#: Tickets created before this are dated at the Unix epoch (a zero or missing date) or before.
_EPOCH_DAY_END = "1970-01-02"


def _date_warnings(stage: duckdb.DuckDBPyConnection, label: str) -> list[str]:
    """Warnings about the valid tickets of `__valid` dated after now (a day of slack for
    local times written without an offset) or at the Unix epoch and before: they are kept, but
    a date in 2099 makes every later period of `trends` empty, and one in 1970 stretches it over
    decades; usually a format read the wrong way, or a missing date written as 0."""
    future = "created_at > now()::TIMESTAMP + INTERVAL 1 DAY"
    epoch = f"created_at < TIMESTAMP '{_EPOCH_DAY_END}'"
    later = f"updated_at > now()::TIMESTAMP + INTERVAL 1 DAY AND NOT ({future})"
    parts = ", ".join(
        f"count(*) FILTER (WHERE {c}), min(row_number) FILTER (WHERE {c}), "
        f"arg_min({column}, row_number) FILTER (WHERE {c})"
        for c, column in ((future, "created_at"), (epoch, "created_at"), (later, "updated_at"))
    )
    # fetchall: a result left unfinished keeps the connection from registering the rejects.
    row = stage.execute(f"SELECT {parts} FROM __valid WHERE reason IS NULL").fetchall()[0]
    messages = (
        (
            "dated after now",
            "kept, but left out of the windows of trends and alerts; check the created_at "
            "column's format",
        ),
        (
            "dated at the Unix epoch or before",
            "kept, but left out of the windows of trends and alerts; a missing date written "
            "as 0 reads as 1970-01-01: check the created_at column",
        ),
        (
            "updated after now",
            "a later export will look older and not update them; check the updated_at "
            "column's format",
        ),
    )
    warnings = []
    for i, (what, advice) in enumerate(messages):
        count, first, when = row[3 * i : 3 * i + 3]
        if count:
            tickets = f"{count:,} ticket{' is' if count == 1 else 's are'}"
            example = f"{'e.g. ' if count > 1 else ''}{when:%Y-%m-%d}, row {first} of {label}"
            warnings.append(f"warning: {tickets} {what} ({example}): {advice}")
    return warnings


def _ticket_source(
    con: duckdb.DuckDBPyConnection, stage: duckdb.DuckDBPyConnection, choice: _SourceChoice
) -> tuple[str, str, str]:
    """The source the staged tickets (`__valid`, ids not yet prefixed) belong to, its key
    prefix, and a note when the name had to change; a new source is registered in
    `ticket_sources`.

    A name not fixed by the caller gives way to the existing source that holds most of the
    file's ids with the same `created_at`, if that is most of the ids the warehouse already
    holds: a help desk's next export under another file name is the same source, while a
    second data set that happens to reuse ids 1, 2, 3... is not. Else the file joins the
    source of its name (next month's export, all of its tickets new), unless that source holds
    the file's ids with other `created_at` (another help desk's `tickets.csv`): joining it would
    overwrite its tickets, so the file becomes a new source under the name with a suffix.
    """
    known = dict(con.execute("SELECT source, key_prefix FROM ticket_sources").fetchall())
    name, note = choice.name, ""
    if not choice.fixed and known:
        # Per source: the file's ids it holds, and how many of them with the same created_at.
        overlap = stage.execute(
            """WITH ids AS (SELECT DISTINCT ticket_id, created_at FROM __valid WHERE reason IS NULL),
            matches AS (
                SELECT t.source, i.ticket_id, t.created_at = i.created_at AS same
                FROM ids i JOIN tickets t ON t.source_ticket_id = i.ticket_id
            )
            SELECT source, count(DISTINCT ticket_id) AS shared,
                   count(DISTINCT ticket_id) FILTER (WHERE same) AS same,
                   (SELECT count(DISTINCT ticket_id) FROM matches) AS found
            FROM matches GROUP BY source ORDER BY same DESC, source"""
        ).fetchall()
        shared = {source: (ids, same) for source, ids, same, _ in overlap}
        if overlap and overlap[0][2] * 2 > overlap[0][3]:
            name = overlap[0][0]
        elif name in shared and shared[name][1] * 2 < shared[name][0]:
            # Most of the shared ids hold other tickets: another help desk's file of the same
            # name (a tie stays: a monthly export with a few tickets re-dated is the same desk).
            taken = name
            other = shared[taken][0] - shared[taken][1]
            name = next(f"{taken}_{n}" for n in itertools.count(2) if f"{taken}_{n}" not in known)
            note = (
                f"source {taken} holds other tickets under {other} of these ids (with "
                f"another created_at): stored as the new source {name}; name it with --source"
            )
    if name in known:
        return name, known[name], note
    prefix = f"{name}:" if known else ""
    if not stage.execute("SELECT count(*) FROM __valid WHERE reason IS NULL").fetchall()[0][0]:
        return name, prefix, ""  # nothing to store: a file of rejects names no source
    con.execute(
        "INSERT INTO ticket_sources (source, key_prefix, created_at) VALUES (?, ?, now())",
        [name, prefix],
    )
    return name, prefix, note


def _upsert_customers(
    con: duckdb.DuckDBPyConnection,
    stage: duckdb.DuckDBPyConnection,
    present: set[str],
    source: str,
    duplicates: str = "latest",
) -> _UpsertCounts:
    for column in [c for c in present if c in _CUSTOMER_INTERNAL]:
        stage.execute(
            f"ALTER TABLE __stage RENAME COLUMN {quote_identifier(column)} TO {quote_identifier(column + '_input')}"
        )
    present = set(table_columns(stage, "__stage"))
    timed = "updated_at" in present
    label = _label(source)
    dates, order_note = (
        _remembered_order(
            con,
            _core_date_order(stage, "updated_at", source, "customer"),
            "customers",
            "updated_at",
            label,
        )
        if timed
        else (_DateOrder(), "")
    )
    typed = _add_typed_columns(con, stage, "customers", _extras(present, ("customer_id",)), label)
    types = typed.types
    notes = [order_note, dates.assumed("updated_at", label), *typed.notes]
    extra_values = ", ".join(
        f"{_typed_value_sql(c, t, typed.orders.get(c, ''))} AS {quote_identifier(c)}"
        for c, t in types.items()
    )
    # When the rows of one customer held: the mapped updated_at, else only their file order.
    when = _timestamp_sql("updated_at", dates.order) if timed else "NULL::TIMESTAMP"
    unparseable_time = (
        f"WHEN nullif(trim(updated_at::VARCHAR), '') IS NOT NULL AND {when} IS NULL "
        "THEN 'unparseable updated_at ''' || left(updated_at::VARCHAR, 40) || "
        "''': use ISO 8601 such as 2026-03-01T09:30:00Z'"
        if timed
        else ""
    )
    reason = f"""CASE
        WHEN {BAD_ENCODING} THEN 'bad encoding: the row is not UTF-8; re-export the file as UTF-8'
        WHEN nullif({_strip("customer_id")}, '') IS NULL THEN 'missing customer_id: every customer needs an id'
        WHEN {_shortened_id_sql(_strip("customer_id"))} THEN 'customer_id ' || {_strip("customer_id")} || ' is a long number a spreadsheet shortened: export the ids as text (in Excel, format the column as Text before saving)'
        {unparseable_time}
    END"""
    stage.execute(
        f"""CREATE OR REPLACE TEMP TABLE __valid AS
        WITH parsed AS (
            SELECT {ROW} AS row_number, {RAW} AS raw, {reason} AS reason, {when} AS __when,
                   {_strip("customer_id")} AS customer_id {", " + extra_values if extra_values else ""}
            FROM __stage
        )
        SELECT *, {_row_hash("", types)} AS row_hash,
               count(DISTINCT {_row_hash("", types)}) OVER (PARTITION BY customer_id) AS versions
        FROM parsed"""
    )
    if duplicates == "reject":
        stage.execute(
            """UPDATE __valid SET reason = 'duplicate customer_id ' || customer_id || ' with conflicting attributes; keep one row per customer'
            WHERE reason IS NULL AND versions > 1"""
        )
    _insert_rejects_from_stage(con, source)
    columns = ["customer_id", *types]
    _merge_customer_rows(stage, types, latest=duplicates != "first")
    listed = ", ".join(quote_identifier(c) for c in columns)
    current_hash = _row_hash("c.", types)
    # A row dated before the version the warehouse holds (an older export read after a newer
    # one) is not applied, as for tickets.
    stored_when = (
        "TRY_CAST(c.updated_at AS TIMESTAMP)"
        if timed and "updated_at" in table_columns(con, "customers")
        else "NULL::TIMESTAMP"
    )
    older = f"(w.__when IS NOT NULL AND {stored_when} > w.__when)"
    counts = con.execute(
        f"""SELECT count(*) FILTER (WHERE c.customer_id IS NULL),
                   count(*) FILTER (WHERE c.customer_id IS NOT NULL
                                    AND w.row_hash <> {current_hash} AND NOT {older}),
                   count(*) FILTER (WHERE c.customer_id IS NOT NULL
                                    AND w.row_hash <> {current_hash} AND {older})
            FROM __winners w LEFT JOIN customers c USING (customer_id)"""
    ).fetchall()[0]
    if counts[2]:
        notes.append(
            f"{counts[2]:,} customers' rows are dated before the version the warehouse holds "
            "(updated_at) and were not applied"
        )
    con.execute(
        f"""INSERT INTO customers ({listed}, source, ingested_at)
        SELECT {", ".join("w." + quote_identifier(c) for c in columns)}, ?, now()
        FROM __winners w LEFT JOIN customers c USING (customer_id)
        WHERE c.customer_id IS NULL OR (w.row_hash <> {current_hash} AND NOT {older})
        ON CONFLICT (customer_id) DO UPDATE SET
        {", ".join(f"{quote_identifier(c)} = excluded.{quote_identifier(c)}" for c in columns if c != "customer_id") or "customer_id = excluded.customer_id"},
        source = excluded.source, ingested_at = excluded.ingested_at""",
        [source],
    )
    valid_rows = stage.execute("SELECT count(*) FROM __valid WHERE reason IS NULL").fetchall()[0]
    return _UpsertCounts(
        new=counts[0],
        updated=counts[1],
        unchanged=valid_rows[0] - counts[0] - counts[1],
        reasons=_stage_reasons(stage),
        note=_join_notes(*notes),
    )


def _row_hash(prefix: str, types: Mapping[str, str]) -> str:
    """A customer row's content hash (`prefix` qualifies the columns, e.g. "c.")."""
    return (
        "sha256(concat_ws(chr(31), "
        + ", ".join(
            [f"{prefix}customer_id"]
            + [f"coalesce({prefix}{quote_identifier(c)}::VARCHAR, '')" for c in types]
        )
        + "))"
    )


def _merge_customer_rows(
    stage: duckdb.DuckDBPyConnection, types: Mapping[str, str], *, latest: bool
) -> None:
    """`__winners`: one row per customer, each attribute its latest (or first) non-empty value.

    The rows of a customer are ordered by their time (undated rows before dated ones), then by
    their place in the file, so a ticket file read as customers gives each customer the
    values of their latest ticket, and a blank cell never erases a known value.
    """
    pick = "arg_max" if latest else "arg_min"
    values = ", ".join(
        f"{pick}({quote_identifier(c)}, __order) FILTER (WHERE {quote_identifier(c)} IS NOT NULL) "
        f"AS {quote_identifier(c)}"
        for c in types
    )
    stage.execute(
        f"""CREATE OR REPLACE TEMP TABLE __winners AS
        WITH ordered AS (
            SELECT *, row_number() OVER (
                PARTITION BY customer_id ORDER BY __when ASC NULLS FIRST, row_number
            ) AS __order
            FROM __valid WHERE reason IS NULL
        ), merged AS (
            SELECT customer_id, max(__when) AS __when {", " + values if values else ""}
            FROM ordered GROUP BY customer_id
        )
        SELECT *, {_row_hash("", types)} AS row_hash FROM merged"""
    )


def _insert_rejects_from_stage(con: duckdb.DuckDBPyConnection, source: str) -> None:
    con.execute(
        """INSERT INTO ingest_rejects (source, row_number, raw, reason, ingested_at)
        SELECT ?, v.row_number, v.raw, v.reason, now() FROM __valid v
        WHERE v.reason IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM ingest_rejects r
            WHERE r.source = ? AND r.row_number = v.row_number AND r.raw = v.raw AND r.reason = v.reason)""",
        [source, source],
    )


def _store_rejects(con: duckdb.DuckDBPyConnection, batch: RawBatch, source: str) -> None:
    """Rows the reader could not parse; re-ingesting the same file adds no duplicates."""
    if not batch.rejects:
        return
    rejects = pa.table(
        {
            "row_number": [r.row_number for r in batch.rejects],
            "raw": [r.raw for r in batch.rejects],
            "reason": [r.reason for r in batch.rejects],
        }
    )
    con.register("__reader_rejects", rejects)
    con.execute(
        """INSERT INTO ingest_rejects (source, row_number, raw, reason, ingested_at)
        SELECT ?, n.row_number, n.raw, n.reason, now() FROM __reader_rejects n
        WHERE NOT EXISTS (
            SELECT 1 FROM ingest_rejects r WHERE r.source = ? AND r.row_number = n.row_number
            AND r.raw = n.raw AND r.reason = n.reason)""",
        [source, source],
    )
    con.unregister("__reader_rejects")


def _stage_reasons(stage: duckdb.DuckDBPyConnection) -> Counter[str]:
    rows = stage.execute("SELECT reason FROM __valid WHERE reason IS NOT NULL").fetchall()
    return Counter(_reason_kind(r[0]) for r in rows)


def _reason_kind(reason: str) -> str:
    """The reason's category for summaries: the words before the first ':' or detail."""
    head = re.sub(r" '.*$", "", reason.split(":", 1)[0])
    if head.startswith("expected ") and "fields" in head:
        return "wrong number of fields"
    if head.startswith("duplicate ") and "with different created_at" in head:
        return "duplicate id: two tickets share it (different created_at)"
    if head.startswith("duplicate "):
        return "duplicate id with conflicting data"
    if head.startswith("column "):
        return "value does not fit the column type"
    if head.startswith("line ") or head.startswith("unparseable CSV"):
        return "unparseable row"
    return head
