"""Read input files (CSV, JSONL, Parquet) into an Arrow table of strings plus reject rows.

Every data row of a file comes back either as a row of the table (with its 1-based row
number and its raw text) or as a `Reject` with a reason; a file that is not what its name
claims raises `InputFileError` naming the file and what to do.

A well-formed UTF-8 CSV file is read by DuckDB's own CSV reader in strict mode (a million
tickets in about 2 s, where Python's `csv` module takes about 18 s). A file that DuckDB will
not read strictly (a row with the wrong number of fields, a stray quote, bytes that are not
UTF-8, a whitespace-only line) is read again row by row with the `csv` module, which keeps
every row it can and names each one it cannot, so that the rejects and their row numbers do
not depend on the reader.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from persona_mining.errors import InputFileError
from persona_mining.progress import Progress, no_progress

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SUPPORTED_SUFFIXES = CSV_SUFFIXES | JSON_SUFFIXES | PARQUET_SUFFIXES

#: Keys under which help-desk exports wrap their records (Zendesk: tickets, users).
EXPORT_WRAPPER_KEYS = ("tickets", "users", "organizations", "results", "records", "data")

ROW = "__row"
RAW = "__raw"
BAD_ENCODING = "__bad_encoding"
MAX_RAW_CHARS = 2_000
_CSV_DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class Reject:
    """An input row that cannot become a warehouse row, and why."""

    row_number: int
    raw: str
    reason: str


@dataclass(frozen=True)
class RawBatch:
    """What one file holds: string columns (named as normalised by `normalise_name`) and rejects.

    `table` has the special columns `__row` (1-based data row), `__raw` (the row as read,
    shortened) and `__bad_encoding` (the row had bytes that are not UTF-8).
    """

    path: Path
    table: pa.Table
    rejects: tuple[Reject, ...]
    original_names: dict[str, str]

    @property
    def columns(self) -> list[str]:
        """Data column names, without the special ones."""
        return [c for c in self.table.column_names if not c.startswith("__")]


def normalise_name(name: str) -> str:
    """A column name as the warehouse stores it: lower case, words joined by underscores."""
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip().lstrip("\ufeff")).strip("_").lower()
    if not cleaned:
        cleaned = "column"
    if cleaned[0].isdigit():
        cleaned = "c_" + cleaned
    return cleaned


def input_files(path: Path) -> list[Path]:
    """The files to read: `path` itself, or the supported files of a folder in name order."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise InputFileError(
                f"folder {path}: holds no .csv, .jsonl or .parquet file; point to a file or "
                "a folder of exports"
            )
        return files
    if not path.exists():
        raise InputFileError(f"input file {path}: not found; check the path")
    return [path]


# Rows between two progress reports while a text file is read.
_REPORT_EVERY = 10_000
#: DuckDB's null text when it reads a CSV file: no field is read as null, so that a null can
#: only be a missing field. A field that is this text reads as missing, and the row reader
#: takes the file, which reads it right.
_NEVER_NULL = "\x01not a field\x01"


def read_file(path: Path, progress: Progress = no_progress) -> RawBatch:
    """Read one input file by its suffix.

    `progress` is told the lines read of a CSV or JSON-lines file (step `reading NAME`), every
    10,000 rows; a Parquet file is read by Arrow in one call.

    Raises:
        InputFileError: unknown suffix, empty file, binary content, no header, or a format
            other than the suffix says.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputFileError(
            f"input file {path}: unsupported type '{suffix}'; use .csv, .tsv, .jsonl/.ndjson/.json "
            "or .parquet"
        )
    if path.stat().st_size == 0:
        raise InputFileError(f"input file {path}: is empty; export the data again")
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path)
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise InputFileError(
            f"input file {path}: looks binary (NUL bytes), not {suffix[1:].upper()} text; "
            "check that it is the right file, or give it its real suffix"
        )
    text, bad_lines = _decode(data)
    del data
    lines = text.count("\n") + (not text.endswith("\n"))
    step = f"reading {path.name}"
    progress(step, 0, lines)
    if suffix in JSON_SUFFIXES:
        batch = _read_json(path, text, bad_lines, lambda done: progress(step, done, lines))
    else:
        batch = _read_csv(path, text, bad_lines, lambda done: progress(step, done, lines))
    progress(step, lines, lines)
    return batch


def _decode(data: bytes) -> tuple[str, set[int]]:
    """Decode UTF-8 (with or without BOM); undecodable bytes are kept as surrogates.

    Returns the text and the 1-based line numbers that held undecodable bytes.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), set()
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")
        bad = {
            i + 1
            for i, line in enumerate(text.split("\n"))
            if any("\udc80" <= ch <= "\udcff" for ch in line)
        }
        return text, bad


def _shorten(raw: str) -> str:
    raw = raw.encode("utf-8", errors="replace").decode("utf-8")
    return raw if len(raw) <= MAX_RAW_CHARS else raw[:MAX_RAW_CHARS] + "…"


def _unique_names(path: Path, names: list[str]) -> tuple[list[str], dict[str, str]]:
    seen: dict[str, str] = {}
    out = []
    for name in names:
        norm = normalise_name(name)
        if norm in seen:
            raise InputFileError(
                f"input file {path}: columns '{seen[norm]}' and '{name}' have the same name once "
                "normalised; rename one of them"
            )
        seen[norm] = name
        out.append(norm)
    return out, seen


def _read_csv(
    path: Path, text: str, bad_lines: set[int], lines_read: Callable[[int], None]
) -> RawBatch:
    with _no_field_limit():
        return _read_csv_rows(path, text, bad_lines, lines_read)


def _read_csv_rows(
    path: Path, text: str, bad_lines: set[int], lines_read: Callable[[int], None]
) -> RawBatch:
    sample = text[:65536]
    header_line = sample.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(header_line)
    tap = _LineTap(_lines(text))
    reader = csv.reader(tap, delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration as e:
        raise InputFileError(f"input file {path}: has no header row; add one") from e
    except csv.Error as e:
        raise InputFileError(f"input file {path}: cannot parse the header ({e})") from e
    if len(header) < 2:
        raise InputFileError(
            f"input file {path}: the header has a single column ({header[:1]!r}); is the "
            "delimiter one of , ; tab |? Export as comma-separated CSV with a header row"
        )
    names, original = _unique_names(path, header)
    if not bad_lines:
        strict = _read_csv_strictly(path, names, delimiter, lines_read)
        if strict is not None:
            return RawBatch(path, strict, (), original)
    columns: list[list[str | None]] = [[] for _ in names]
    rows: list[int] = []
    raws: list[str] = []
    bads: list[bool] = []
    rejects: list[Reject] = []
    row_number = 0
    line_start = reader.line_num + 1
    while True:
        tap.start_row()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            row_number += 1
            rejects.append(
                Reject(
                    row_number,
                    _shorten(tap.row_start()),
                    f"unparseable CSV near line {reader.line_num} ({e}); check the quoting "
                    "around that line",
                )
            )
            line_start = reader.line_num + 1
            continue
        line_end = reader.line_num
        if not fields:
            line_start = line_end + 1
            continue
        row_number += 1
        if row_number % _REPORT_EVERY == 0:
            lines_read(line_end)
        raw = _shorten(delimiter.join(fields))
        lines = set(range(line_start, line_end + 1))
        line_start = line_end + 1
        if len(fields) != len(names):
            rejects.append(
                Reject(
                    row_number,
                    raw,
                    f"expected {len(names)} fields, found {len(fields)} (line {line_end}); "
                    "check the quoting of text that contains the delimiter or line breaks",
                )
            )
            continue
        rows.append(row_number)
        raws.append(raw)
        bads.append(bool(lines & bad_lines))
        for column, value in zip(columns, fields, strict=True):
            column.append(value if value != "" else None)
    if row_number == 0:
        raise InputFileError(f"input file {path}: has a header but no data rows")
    return RawBatch(path, _table(names, columns, rows, raws, bads), tuple(rejects), original)


def _read_csv_strictly(
    path: Path, names: Sequence[str], delimiter: str, lines_read: Callable[[int], None]
) -> pa.Table | None:
    """The table of a well-formed CSV file read by DuckDB, as the row reader would give it.

    DuckDB reads every field as text, with the header's number of columns, the row reader's
    quoting (a double quote, doubled inside a quoted field) and no field padded or dropped.
    Empty fields, quoted or not, are null and blank lines are skipped, as in the row reader;
    each row's raw text is its fields joined by the delimiter, shortened as the row reader
    shortens it.

    Returns:
        The table (`_table`'s columns), or None when DuckDB rejects the file or finds no row:
        the row reader then reads it and names what is wrong. Also None for a file that
        starts with a byte order mark and a quote: DuckDB does not see that quote open a
        field, and would end a header with a quoted line break elsewhere.
    """
    with path.open("rb") as file:
        if file.read(4) == b'\xef\xbb\xbf"':
            return None
    # The columns are named c0, c1, ... here: nothing of the file's header enters the SQL.
    header = {f"c{i}": "VARCHAR" for i in range(len(names))}
    fields = list(header)
    # Two reads. The first checks the file's shape with the header's columns, on every core:
    # a wrong field count, a stray or unclosed quote is an error. But it lets a row end in
    # empty fields beyond the header's. The second, with one column more, padded with null
    # and no text read as null, shows such a row (or a row a field short) as a value in the
    # last column or a null before it. Read on one thread, as padding needs, it would drop a
    # last row whose quote never closes, which the first read refuses.
    generic = header | {f"c{len(names)}": "VARCHAR"}
    extra = f"c{len(names)}"
    options = """delim = $delimiter, quote = '"', escape = '"', header = true,
        auto_detect = false, strict_mode = true, ignore_errors = false, encoding = 'utf-8'"""
    try:
        with duckdb.connect() as con:
            checked = con.sql(
                f"""SELECT count(*) FROM read_csv($path, columns = $columns, {options},
                    null_padding = false)""",
                params={"path": str(path), "columns": header, "delimiter": delimiter},
            ).fetchall()[0][0]
            reader = con.sql(
                f"""SELECT CASE WHEN length(raw) > $limit THEN left(raw, $limit) || '…'
                        ELSE raw END AS raw,
                    {", ".join(f"nullif({c}, '') AS {c}" for c in fields)},
                    {extra} IS NOT NULL {"".join(f" OR {c} IS NULL" for c in fields)} AS misfit
                FROM (
                    SELECT concat_ws($delimiter, {", ".join(fields)}) AS raw, *
                    FROM read_csv($path, columns = $columns, {options},
                        null_padding = true, nullstr = $never, parallel = false)
                )""",
                params={
                    "path": str(path),
                    "columns": generic,
                    "delimiter": delimiter,
                    "limit": MAX_RAW_CHARS,
                    "never": _NEVER_NULL,
                },
            ).to_arrow_reader(_REPORT_EVERY)
            batches = []
            read = 0
            for batch in reader:
                if pc.any(batch.column("misfit")).as_py():
                    return None
                batches.append(batch.drop_columns(["misfit"]))
                read += batch.num_rows
                if read % _REPORT_EVERY == 0:
                    lines_read(read + 1)  # as the row reader tells it: the header's line too
    except duckdb.Error:
        return None
    if not batches:
        return None
    source = pa.Table.from_batches(batches)
    n = source.num_rows
    if n == 0 or n != checked:
        return None
    arrays = {
        ROW: pa.array(range(1, n + 1), pa.int64()),
        RAW: source.column("raw"),
        BAD_ENCODING: pa.array([False] * n, pa.bool_()),
    }
    arrays.update(zip(names, source.columns[1:], strict=True))
    return pa.table(arrays)


#: A line with its terminator, as `io.StringIO(text, newline="")` splits lines.
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` one at a time, each with its terminator, as a file opened with
    `newline=""` gives them to the csv module. A `StringIO` of the text would copy it whole
    (4 bytes a character: 1 GiB for a million tickets) even when only the header is read,
    because DuckDB reads the rest."""
    return (match.group() for match in _LINE_RE.finditer(text))


class _LineTap:
    """The lines a CSV reader takes, so that a row it cannot parse is kept as it was read."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self._taken: list[str] = []
        self._size = 0

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        if self._size < MAX_RAW_CHARS:  # only the start of a row is ever shown
            self._taken.append(line)
            self._size += len(line)
        return line

    def start_row(self) -> None:
        """Forget the lines of the row before."""
        self._taken.clear()
        self._size = 0

    def row_start(self) -> str:
        """The start of the row being read (its first lines, up to `MAX_RAW_CHARS`)."""
        return "".join(self._taken).rstrip("\r\n")


@contextmanager
def _no_field_limit() -> Iterator[None]:
    """Let the csv module read fields of any length while a file is read.

    Its default limit (131,072 characters) would reject a long ticket as unparseable CSV; a
    long text is kept here and rejected by ingest with its real reason (text too long) and
    the limit that applies. The module's setting is process-wide, so it is put back after
    the file is read.
    """
    before = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _CSV_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_json(
    path: Path, text: str, bad_lines: set[int], lines_read: Callable[[int], None]
) -> RawBatch:
    stripped = text.lstrip()
    records: list[tuple[int, str, Any]] = []
    rejects: list[Reject] = []
    whole = _whole_json(path, stripped)
    if whole is not None:
        records = [
            (i + 1, _shorten(json.dumps(item, ensure_ascii=False)), item)
            for i, item in enumerate(whole)
        ]
        if not records:
            raise InputFileError(f"input file {path}: holds no JSON records")
    else:
        row_number = 0
        for line_number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            row_number += 1
            if row_number % _REPORT_EVERY == 0:
                lines_read(line_number)
            if line_number in bad_lines:
                rejects.append(
                    Reject(
                        row_number,
                        _shorten(line),
                        "bad encoding: the line is not UTF-8; re-export the file as UTF-8",
                    )
                )
                continue
            try:
                records.append((row_number, _shorten(line), json.loads(line)))
            except json.JSONDecodeError as e:
                rejects.append(
                    Reject(
                        row_number,
                        _shorten(line),
                        f"line {line_number} is not valid JSON ({e.msg}); fix or remove it",
                    )
                )
        if row_number == 0:
            raise InputFileError(f"input file {path}: holds no JSON records")
        if not records and row_number > 1:
            raise InputFileError(
                f"input file {path}: no line is a JSON object; expected one JSON object per line"
            )
    flat_records: list[tuple[int, str, dict[str, str | None]]] = []
    for row_number, raw, item in records:
        if not isinstance(item, dict):
            rejects.append(
                Reject(row_number, raw, "not a JSON object; each record must be an object")
            )
            continue
        flat_records.append((row_number, raw, _flatten(item)))
    order: list[str] = []
    for _, _, flat in flat_records:
        for key in flat:
            if key not in order:
                order.append(key)
    if not order:
        raise InputFileError(f"input file {path}: no JSON object with fields was found")
    names, original = _unique_names(path, order)
    columns = [[flat.get(key) for _, _, flat in flat_records] for key in order]
    rows = [r for r, _, _ in flat_records]
    raws = [raw for _, raw, _ in flat_records]
    table = _table(names, columns, rows, raws, [False] * len(rows))
    return RawBatch(path, table, tuple(sorted(rejects, key=lambda r: r.row_number)), original)


def records_batch(name: str, records: Sequence[tuple[int, Any]]) -> RawBatch:
    """Records pulled from an API or a database, as a batch the loader takes like a file's.

    Nested objects are flattened as in JSON files (`user_fields.plan` becomes the column
    `user_fields_plan`); a record that is not an object becomes a reject.

    Args:
        name: the source's name, shown where a file name would be.
        records: (row number, record) pairs; the row number is what `ingest_rejects` shows.

    Raises:
        InputFileError: two fields have the same name once normalised.
    """
    path = Path(name)
    rejects: list[Reject] = []
    flat_records: list[tuple[int, str, dict[str, str | None]]] = []
    for row_number, item in records:
        raw = _shorten(json.dumps(item, ensure_ascii=False, default=str))
        if not isinstance(item, dict):
            rejects.append(
                Reject(row_number, raw, "not a JSON object; each record must be an object")
            )
            continue
        flat_records.append((row_number, raw, _flatten(item)))
    order: list[str] = []
    for _, _, flat in flat_records:
        for key in flat:
            if key not in order:
                order.append(key)
    names, original = _unique_names(path, order)
    columns = [[flat.get(key) for _, _, flat in flat_records] for key in order]
    rows = [r for r, _, _ in flat_records]
    raws = [raw for _, raw, _ in flat_records]
    table = _table(names, columns, rows, raws, [False] * len(rows))
    return RawBatch(path, table, tuple(rejects), original)


def _whole_json(path: Path, stripped: str) -> list[Any] | None:
    """The records of a file that is one JSON document, or None for JSON Lines.

    A document is an array of records, a help-desk export page that wraps them
    (Zendesk's `{"tickets": [...]}` or `{"users": [...]}`), or a single record.
    """
    if not stripped.startswith(("[", "{")):
        return None
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as e:
        if stripped.startswith("{") and e.msg == "Extra data":
            return None  # several objects: JSON Lines
        if stripped.startswith("{") and "\n" in stripped.strip():
            return None  # JSON Lines with a broken line: rejected line by line
        raise InputFileError(
            f"input file {path}: is not valid JSON ({e}); a JSON array of objects, an export "
            "page such as Zendesk's, or one object per line (JSONL) is expected"
        ) from e
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in EXPORT_WRAPPER_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key])
        return [document]
    raise InputFileError(f"input file {path}: holds a JSON {type(document).__name__}, not records")


def _flatten(item: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    flat: dict[str, str | None] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif value is None or value == "":
            flat[name] = None
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif isinstance(value, list):
            flat[name] = json.dumps(value, ensure_ascii=False)
        else:
            flat[name] = str(value)
    return flat


def _read_parquet(path: Path) -> RawBatch:
    try:
        source = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputFileError(
            f"input file {path}: is not a readable Parquet file ({e}); export it again"
        ) from e
    names, original = _unique_names(path, source.column_names)
    columns: list[list[str | None]] = []
    for column in source.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = column.to_pylist()
        elif pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            values = [None if v is None else v.isoformat() for v in column.to_pylist()]
        elif pa.types.is_nested(column.type):
            values = [
                None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                for v in column.to_pylist()
            ]
        elif pa.types.is_boolean(column.type):
            values = [None if v is None else ("true" if v else "false") for v in column.to_pylist()]
        else:
            values = [None if v is None else str(v) for v in column.to_pylist()]
        columns.append([None if v == "" else v for v in values])
    n = source.num_rows
    if n == 0:
        raise InputFileError(f"input file {path}: has no rows")
    rows = list(range(1, n + 1))
    raws = [
        _shorten(
            json.dumps(dict(zip(source.column_names, values, strict=True)), ensure_ascii=False)
        )
        for values in zip(*columns, strict=True)
    ]
    return RawBatch(path, _table(names, columns, rows, raws, [False] * n), (), original)


def _table(
    names: list[str],
    columns: list[list[str | None]],
    rows: list[int],
    raws: list[str],
    bads: list[bool],
) -> pa.Table:
    arrays = {
        ROW: pa.array(rows, pa.int64()),
        RAW: pa.array(raws, pa.string()),
        BAD_ENCODING: pa.array(bads, pa.bool_()),
    }
    for name, values in zip(names, columns, strict=True):
        arrays[name] = pa.array(
            [
                v.encode("utf-8", "replace").decode("utf-8") if v is not None else None
                for v in values
            ],
            pa.string(),
        )
    return pa.table(arrays)
