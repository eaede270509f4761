"""Read input files (CSV, JSONL, Parquet) into an Arrow table of strings plus reject rows.

Every data row of a file comes back either as a row of the table (with its 1-based row
number and its raw text) or as a `Reject` with a reason; a file that is not what its name
claims raises `InputFileError` naming the file and what to do.

A well-formed UTF-8 CSV file is read by DuckDB's own CSV reader in strict mode (a million
tickets in about 2 s, where Python's `csv` module takes about 18 s). A file that DuckDB will
not read strictly (a row with the wrong number of fields, a stray quote, bytes that are not
UTF-8, a whitespace-only line) is read again row by row with the `csv` module, which keeps
every row it can and names each one it cannot, so that the rejects and their row numbers do
not depend on the reader. A quote that opens a field and never closes where the field should
end would make the `csv` module read the rows after it as that field's text; the row reader
finds where the next row starts, rejects the broken row alone and reads on from there.

A row that holds a NUL byte is rejected in every format (text does not hold one; the
cleaning would drop it, but the warehouse keeps the text as read). A file that starts with a
UTF-16 or UTF-32 byte order mark is decoded as such and read row by row. A CSV or JSON file
compressed with gzip (`.csv.gz`, `.jsonl.gz`) is read as the file it holds.

What a reader changes without it being an error is said in notes (`RawBatch.notes`, and
`folder_files` for the files of a folder it skips): a column without a header name is
kept as `column_N`, or dropped when it holds no value (Excel writes such empty columns);
a folder's files of other types are named. Hidden files (`.DS_Store`, Office's `~$` lock
files) are skipped without a word.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import itertools
import json
import re
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from persona_mining.config.base import CUSTOMER_COLUMNS, TICKET_COLUMNS, normalise_name
from persona_mining.errors import InputFileError
from persona_mining.progress import Progress, no_progress

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SUPPORTED_SUFFIXES = CSV_SUFFIXES | JSON_SUFFIXES | PARQUET_SUFFIXES
#: Suffixes of text files that may come gzip-compressed (`tickets.csv.gz`).
COMPRESSIBLE_SUFFIXES = CSV_SUFFIXES | JSON_SUFFIXES
_SUPPORTED_TYPES = (
    ".csv, .tsv, .jsonl/.ndjson/.json or .parquet, or a text one gzip-compressed (.csv.gz)"
)

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
    #: What the reader changed that the user should know (a column without a name renamed).
    notes: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """Data column names, without the special ones."""
        return [c for c in self.table.column_names if not c.startswith("__")]


def file_type(path: Path) -> tuple[str, bool]:
    """The suffix that says how a file is read (lower case), and whether it is gzip-compressed
    (`tickets.csv.gz` is `(".csv", True)`; `notes.gz` is `("", True)`)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return Path(path.stem).suffix.lower(), True
    return suffix, False


def _unsupported(path: Path) -> str | None:
    """Why a file is not read (its type), or None for a file a reader takes."""
    suffix, compressed = file_type(path)
    if compressed:
        if suffix in COMPRESSIBLE_SUFFIXES:
            return None
        if suffix in PARQUET_SUFFIXES:
            return "a gzip-compressed Parquet file; Parquet compresses its own data: decompress it"
        return f"unsupported type '{suffix}.gz'; use {_SUPPORTED_TYPES}"
    if suffix in SUPPORTED_SUFFIXES:
        return None
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods", ".numbers"):
        return f"unsupported type '{suffix}', a spreadsheet; save each sheet as CSV UTF-8"
    return f"unsupported type '{suffix or path.name}'; use {_SUPPORTED_TYPES}"


#: Files that systems and editors put beside the exports: skipped without a note.
_SYSTEM_FILES = {"thumbs.db", "desktop.ini"}


def _hidden(path: Path) -> bool:
    """A hidden file (`.DS_Store`), an Office lock file (`~$tickets.xlsx`) or a system one."""
    return path.name.startswith((".", "~$")) or path.name.lower() in _SYSTEM_FILES


def folder_files(path: Path) -> tuple[list[Path], list[str]]:
    """The files of a folder that are read, in name order, and a note for each other entry
    (a file of another type, a subfolder) that is not; hidden files get no note."""
    files: list[Path] = []
    skipped: list[str] = []
    for entry in sorted(path.iterdir()):
        if _hidden(entry):
            continue
        if entry.is_dir():
            reason: str | None = "a subfolder (its files are not read; ingest it on its own)"
        else:
            reason = _unsupported(entry)
        if reason is None:
            files.append(entry)
        else:
            skipped.append(f"skipped {entry.name}{'/' if entry.is_dir() else ''}: {reason}")
    return files, skipped


def input_files(path: Path) -> list[Path]:
    """The files to read: `path` itself, or the supported files of a folder in name order."""
    return input_files_and_skipped(path)[0]


def input_files_and_skipped(path: Path) -> tuple[list[Path], list[str]]:
    """The files to read (`input_files`), and a note for each entry of a folder that is not
    read (`folder_files`), from one listing of the folder."""
    if path.is_dir():
        files, skipped = folder_files(path)
        if not files:
            raise InputFileError(
                f"folder {path}: holds no .csv, .jsonl or .parquet file; point to a file or "
                "a folder of exports" + ("".join(f"; {note}" for note in skipped))
            )
        return files, [f"folder {path}: {note}" for note in skipped]
    if not path.exists():
        raise InputFileError(f"input file {path}: not found; check the path")
    return [path], []


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
        InputFileError: unknown suffix, empty file, binary content (many NUL and control
            bytes: a text file with a NUL byte in a row is read, and that row rejected),
            UTF-16 without a byte order mark, no header, or a format other than the suffix
            says.
    """
    unsupported = _unsupported(path)
    if unsupported is not None:
        raise InputFileError(f"input file {path}: {unsupported}")
    suffix, compressed = file_type(path)
    if path.stat().st_size == 0:
        raise InputFileError(f"input file {path}: is empty; export the data again")
    if suffix in PARQUET_SUFFIXES:
        batch = _read_parquet(path)
    else:
        batch = _read_text(path, suffix, compressed, progress)
    return _without_unnamed_empty_columns(batch)


def _read_text(path: Path, suffix: str, compressed: bool, progress: Progress) -> RawBatch:
    """Read a CSV or JSON file (gzip-compressed or not)."""
    data = path.read_bytes()
    if compressed:
        data = _gunzip(path, data)
    text, bad_lines, utf8 = _decode(path, suffix, data)
    # DuckDB's reader takes a UTF-8 file without NUL bytes; it would read UTF-16 as UTF-8
    # (its NUL bytes are valid UTF-8) and keep a NUL byte in the text.
    by_duckdb = utf8 and b"\x00" not in data
    del data
    lines = text.count("\n") + (not text.endswith("\n"))
    step = f"reading {path.name}"
    progress(step, 0, lines)
    if suffix in JSON_SUFFIXES:
        batch = _read_json(path, text, bad_lines, lambda done: progress(step, done, lines))
    else:
        batch = _read_csv(
            path, text, bad_lines, lambda done: progress(step, done, lines), by_duckdb
        )
    progress(step, lines, lines)
    return batch


def _gunzip(path: Path, data: bytes) -> bytes:
    """The bytes a gzip-compressed file holds.

    Raises:
        InputFileError: the file is not gzip data, is cut short, or holds nothing.
    """
    if not data.startswith(b"\x1f\x8b"):
        raise InputFileError(
            f"input file {path}: is not gzip-compressed, although its name ends in .gz; "
            f"rename it to {path.stem} (or compress it with gzip)"
        )
    try:
        data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise InputFileError(
            f"input file {path}: cannot be decompressed ({e}); the file is damaged or cut "
            "short: copy or export it again"
        ) from e
    if not data:
        raise InputFileError(f"input file {path}: is empty once decompressed; export it again")
    return data


#: Byte order marks of the Unicode encodings other than UTF-8, longest first (UTF-32 LE's
#: starts with UTF-16 LE's), with the codec that reads the text after them.
_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
#: Bytes that text does not hold: the C0 controls other than tab, the line breaks, form feed
#: and escape, and DEL. About one byte in nine of compressed or binary data is one of them.
_NOT_TEXT = bytes(sorted(set(range(32)) - {9, 10, 11, 12, 13, 27})) + b"\x7f"


def _decode(path: Path, suffix: str, data: bytes) -> tuple[str, set[int], bool]:
    """Decode UTF-8 (with or without BOM), or UTF-16/32 after its byte order mark.

    Undecodable UTF-8 bytes are kept as surrogates (an undecodable UTF-16 unit as U+FFFD), and
    the lines that hold them are named, so that each such row is rejected as bad encoding.

    Returns:
        The text, the 1-based line numbers that held undecodable bytes, and whether the file
        is UTF-8 (which DuckDB's CSV reader can read as it is).

    Raises:
        InputFileError: the file is binary, or UTF-16 without a byte order mark.
    """
    for mark, codec in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(codec), set(), False
            except UnicodeDecodeError:
                text = data.decode(codec, errors="replace")
                return text, _lines_holding(text, lambda ch: ch == "\ufffd"), False
    _refuse_binary(path, suffix, data[:8192])
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), set(), True
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")
        return text, _lines_holding(text, lambda ch: "\udc80" <= ch <= "\udcff"), True


def _lines_holding(text: str, bad: Callable[[str], bool]) -> set[int]:
    """The 1-based numbers of the lines of `text` that hold a character `bad` picks."""
    return {i + 1 for i, line in enumerate(text.split("\n")) if any(bad(ch) for ch in line)}


def _refuse_binary(path: Path, suffix: str, sample: bytes) -> None:
    """Stop on a file whose first bytes (`sample`) are not text.

    A NUL byte alone does not make a file binary: a text export may hold one in a row, and
    that row is rejected. Binary data (a spreadsheet, a database, a compressed or Parquet
    file) has many bytes that text does not hold; UTF-16 text without a byte order mark has a
    NUL byte in every other place.

    Raises:
        InputFileError: the sample is binary or UTF-16 without a byte order mark.
    """
    nuls = sample.count(0)
    if not nuls:
        return
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if max(even, odd) * 3 > len(sample) and min(even, odd) * 10 < max(even, odd):
        raise InputFileError(
            f"input file {path}: looks like UTF-16 text without a byte order mark, not UTF-8; "
            "save it again as UTF-8 (or as UTF-16 with a byte order mark)"
        )
    not_text = len(sample) - len(sample.translate(None, _NOT_TEXT))
    if not_text * 20 > len(sample):
        raise InputFileError(
            f"input file {path}: looks binary (NUL and control bytes), not "
            f"{suffix[1:].upper()} text; check that it is the right file, or give it its "
            "real suffix"
        )


def _shorten(raw: str) -> str:
    # A NUL byte is shown as U+FFFD: the row that holds one is rejected, and the warehouse
    # keeps no NUL byte, not even in a rejected row's raw text.
    raw = raw.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\ufffd")
    return raw if len(raw) <= MAX_RAW_CHARS else raw[:MAX_RAW_CHARS] + "…"


#: The reason of a row that holds a NUL byte, in every format.
NUL_REASON = (
    "NUL byte: the row holds a zero byte, which text does not (often binary data pasted into "
    "the export); remove it and export the file again"
)


def _holds_nul(values: Iterable[str | None]) -> bool:
    return any(v is not None and "\x00" in v for v in values)


def _is_named(name: str) -> bool:
    """Whether a column's name in the file holds a letter or a digit (Excel leaves a column
    that has values but no header empty)."""
    return any(ch.isalnum() for ch in name)


def _unique_names(path: Path, names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The columns' names as the warehouse stores them (`normalise_name`), and each one's name
    in the file. A column whose name holds no letter or digit (an empty header cell) is
    `column_N`, N its place in the header (`_without_unnamed_empty_columns` drops it when it
    holds no value, or notes it).

    Raises:
        InputFileError: two columns have the same name once normalised.
    """
    named = {normalise_name(name) for name in names if _is_named(name)}
    seen: dict[str, str] = {}
    out = []
    for position, name in enumerate(names, start=1):
        if _is_named(name):
            norm = normalise_name(name)
        else:
            norm = f"column_{position}"
            suffix = 2
            while norm in named or norm in seen:
                norm, suffix = f"column_{position}_{suffix}", suffix + 1
        if norm in seen:
            raise InputFileError(
                f"input file {path}: columns '{seen[norm]}' and '{name}' have the same name once "
                f"normalised ('{norm}'); rename one of them"
            )
        seen[norm] = name
        out.append(norm)
    return out, seen


def _without_unnamed_empty_columns(batch: RawBatch) -> RawBatch:
    """The batch without the columns whose header is empty and which hold no value (Excel
    writes such columns after the last one), and with a note for each column without a name
    that holds values (kept as `column_N`)."""
    drop: list[str] = []
    notes = list(batch.notes)
    table = batch.table
    for position, (norm, original) in enumerate(batch.original_names.items(), start=1):
        if _is_named(original):
            continue
        if not original.strip() and table.column(norm).null_count == table.num_rows:
            drop.append(norm)
            continue
        what = "no name in the header" if not original.strip() else f"the name {original!r}"
        notes.append(
            f"{batch.path.name}: column {position} has {what}; its values are kept as {norm} "
            "(name it in the header, or map it by that name)"
        )
    if not drop and len(notes) == len(batch.notes):
        return batch
    original_names = {k: v for k, v in batch.original_names.items() if k not in drop}
    return dataclasses.replace(
        batch,
        table=table.drop_columns(drop),
        original_names=original_names,
        notes=tuple(notes),
    )


def _read_csv(
    path: Path,
    text: str,
    bad_lines: set[int],
    lines_read: Callable[[int], None],
    by_duckdb: bool,
) -> RawBatch:
    with _no_field_limit():
        return _read_csv_rows(path, text, bad_lines, lines_read, by_duckdb)


def _read_csv_rows(
    path: Path,
    text: str,
    bad_lines: set[int],
    lines_read: Callable[[int], None],
    by_duckdb: bool,
) -> RawBatch:
    sample = text[:65536]
    header_line = sample.split("\n", 1)[0]
    tsv = file_type(path)[0] == ".tsv"
    delimiter = "\t" if tsv else _sniff_delimiter(header_line)
    tap = _LineTap(_lines(text))
    reader = csv.reader(tap, delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration as e:
        raise InputFileError(f"input file {path}: has no header row; add one") from e
    except csv.Error as e:
        raise InputFileError(f"input file {path}: cannot parse the header ({e})") from e
    _refuse_title(
        path, header, tap.ahead(_TITLE_LOOKAHEAD), delimiter if tsv or len(header) > 1 else None
    )
    if len(header) < 2:
        raise InputFileError(
            f"input file {path}: the header has a single column ({header[:1]!r}); is the "
            "delimiter one of , ; tab |? Export as comma-separated CSV with a header row"
        )
    names, original = _unique_names(path, header)
    if by_duckdb and not bad_lines:
        strict = _read_csv_strictly(path, names, delimiter, lines_read)
        if strict is not None:
            return RawBatch(path, strict, (), original)
    columns: list[list[str | None]] = [[] for _ in names]
    rows: list[int] = []
    raws: list[str] = []
    bads: list[bool] = []
    rejects: list[Reject] = []
    row_number = 0
    # The file's line number is `line_base + reader.line_num`: after an unclosed quote the
    # lines it took are read again by a new reader, which counts from 0.
    line_base = 0
    line_start = reader.line_num + 1
    # The fields of the last rows kept, to know a row of the file by its shape.
    last_kept: deque[list[str]] = deque(maxlen=_SHAPE_ROWS)
    nul = "\x00" in text
    closing = re.compile(f'"[^"\r\n{re.escape(delimiter)}]')
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
                    f"unparseable CSV near line {line_base + reader.line_num} ({e}); check the "
                    "quoting around that line",
                )
            )
            line_start = line_base + reader.line_num + 1
            continue
        line_end = line_base + reader.line_num
        if not fields:
            line_start = line_end + 1
            continue
        row_number += 1
        if row_number % _REPORT_EVERY == 0:
            lines_read(line_end)
        # A quoted field that does not end where a field can end (at the end of the file, or
        # before text after its closing quote, or with the row's field count wrong) is a
        # quote opened by mistake: the `csv` module has read the rows after it as its text.
        # A legit quoted line break ends its field cleanly, so it never gets here.
        if tap.ended or (
            tap.lines_taken() > 1
            and (len(fields) != len(names) or _stray_quote(tap.taken(), delimiter, closing))
        ):
            taken = tap.taken()
            ahead = tap.ahead(_ROW_INSIDE_MAX_LINES)
            cut = _row_inside(taken, ahead, delimiter, len(names), last_kept)
            if cut is not None:
                rejects.append(
                    Reject(
                        row_number,
                        _shorten("".join(taken[:cut]).rstrip("\r\n")),
                        f"unclosed quote: the quoted field that starts on line {line_start} "
                        f"does not close before line {line_start + cut}, where the next row "
                        f"starts; close the quote on line {line_start} (a quote inside a "
                        'quoted field is written twice: "") and export again',
                    )
                )
                tap.push_back(taken[cut:])
                reader = csv.reader(tap, delimiter=delimiter, strict=False)
                line_base = line_start + cut - 1
                line_start = line_base + 1
                continue
            if tap.ended:
                rejects.append(
                    Reject(
                        row_number,
                        _shorten(tap.row_start()),
                        f"unclosed quote: the quoted field that starts on line {line_start} "
                        f"never closes (it runs to the end of the file); close the quote on "
                        f'line {line_start} (a quote inside a quoted field is written twice: "") '
                        "and export again",
                    )
                )
                line_start = line_end + 1
                continue
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
        if nul and _holds_nul(fields):
            rejects.append(Reject(row_number, raw, NUL_REASON))
            continue
        rows.append(row_number)
        raws.append(raw)
        bads.append(bool(lines & bad_lines))
        last_kept.append(fields)
        for column, value in zip(columns, fields, strict=True):
            column.append(value if value != "" else None)
    if row_number == 0:
        raise InputFileError(f"input file {path}: has a header but no data rows")
    return RawBatch(path, _table(names, columns, rows, raws, bads), tuple(rejects), original)


#: Lines after the first read to find the header under a title (blank lines may sit between).
_TITLE_LOOKAHEAD = 5
#: Column names that a header holds and a title or a row of data does not.
_KNOWN_COLUMNS = frozenset(TICKET_COLUMNS + CUSTOMER_COLUMNS)


def _refuse_title(
    path: Path, header: Sequence[str], following: Sequence[str], delimiter: str | None
) -> None:
    """Stop on a file whose first line is a title (or a row of merged header cells) above its
    header, as spreadsheets export them: every data row would be read under the wrong names.
    `following` are the lines after the first; `delimiter` is None when the first line has
    none (the next line's own is used).

    The first line is taken for a title when it holds a single non-empty cell, its first, and
    the next line that holds anything has more non-empty fields (`Ticket report,,` above
    `ticket_id,created_at,body`); or when it has empty cells and the next line holds two
    column names the warehouse knows that the first line does not (`Ticket,,Customer,`
    above `ticket_id,created_at,customer_id,body`). A header with an empty cell at its start
    (pandas' index) is not a title.

    Raises:
        InputFileError: saying the first line looks like a title, and what to do.
    """
    filled = [cell for cell in header if cell.strip()]
    if len(filled) == len(header) > 1:
        return
    for number, line in enumerate(following, start=2):
        try:
            fields = next(
                csv.reader([line], delimiter=delimiter or _sniff_delimiter(line), strict=False),
                [],
            )
        except csv.Error:
            return
        values = [field for field in fields if field.strip()]
        if not values:
            continue
        names = {normalise_name(value) for value in values} & _KNOWN_COLUMNS
        names -= {normalise_name(cell) for cell in filled}
        shown = ",".join(header)
        shown = shown if len(shown) <= 80 else shown[:80] + "…"
        if len(filled) == 1 and header[0].strip() and len(values) > 1:
            raise InputFileError(
                f"input file {path}: the first line looks like a title: remove the lines above "
                f"the header (line 1, {shown!r}, holds one cell; line {number} holds "
                f"{len(values)} fields)"
            )
        if len(names) >= 2:
            raise InputFileError(
                f"input file {path}: the first line looks like a title: remove the lines above "
                f"the header (line 1, {shown!r}, has empty cells, as merged header cells "
                f"leave; line {number} holds the column names {sorted(names)})"
            )
        return


def _stray_quote(lines: Sequence[str], delimiter: str, closing: re.Pattern[str]) -> bool:
    """Whether the row made of `lines` has text after a closing quote (which the row reader,
    not strict, takes as part of the field).

    The quote that closes a field spanning lines is on a line after the first; `closing`
    finds a quote followed by text there (or an opening quote, or a doubled one), and only
    then is the row parsed again, strictly: most rows with a quoted line break have none.
    """
    if not closing.search("".join(lines[1:])):
        return False
    try:
        for _ in csv.reader(lines, delimiter=delimiter, strict=True):
            pass
    except csv.Error:
        return True
    return False


#: The most lines a row may span to count as the row that starts inside an unclosed quote:
#: the search for it stays linear in the lines the quote took.
_ROW_INSIDE_MAX_LINES = 100
#: The rows kept last whose values show the shape of the file's rows.
_SHAPE_ROWS = 20


def _row_inside(
    lines: Sequence[str],
    ahead: Sequence[str],
    delimiter: str,
    width: int,
    last_kept: Iterable[Sequence[str]],
) -> int | None:
    """Where a row of the file starts inside the row made of `lines`, whose quote is broken.

    A row of the file starts at `lines[i]` (i > 0) when the row read from there, strictly
    (it may run into the lines `ahead` of the broken row), has the file's shape. The shape is
    that of the columns whose values are all short and of one word in the rows kept last and
    in the broken row's first line (ids, dates, codes): the digits, letters and punctuation
    of `2024-01-31` or `T-1234`. A row with the header's number of fields has it when most
    such columns have a value of a shape seen in them, or half of them with the first among
    them (most often the id: a single row to learn from has one-word subjects or texts too).
    A row that is itself bad (another number of fields, or a quote of its own that does not
    close in sight) needs more: two such columns at least, and most of them, before its
    open quote. Text that a quoted field legitimately holds rarely passes: it would need the
    file's ids and dates in the same places.

    Returns:
        The index in `lines` of the first such row, or None when there is none (or no column
        to know the file's rows by).
    """
    shapes: list[set[str] | None] = [set() for _ in range(width)]  # None: not all one word

    def learn(values: Sequence[str]) -> None:
        for c, value in enumerate(values[:width]):
            shape, known = _shape(value), shapes[c]
            if shape is None:
                shapes[c] = None
            elif known is not None:
                known.add(shape)

    def fits(values: Sequence[str], bad: bool = False) -> bool:
        same = [_shape(v) in known for known, v in zip(shapes, values, strict=False) if known]
        alike = sum(same)
        if bad:
            return alike >= 2 and alike * 2 > len(same)
        return alike * 2 > len(same) or (bool(same) and same[0] and alike * 2 == len(same))

    for kept in last_kept:
        learn(kept)
    first = next(csv.reader(lines[:1], delimiter=delimiter, strict=False), [])
    learn(_around_quote(first, delimiter))  # the broken row's first line
    if not any(shapes):
        return None
    for i in range(1, len(lines)):
        if lines[i].count(delimiter) < width - 1 and '"' not in lines[i]:
            continue  # too few fields for a row (cheap check of most lines of text)
        # The lines from i on, at most `_ROW_INSIDE_MAX_LINES`, without copying `lines`.
        window = itertools.islice(
            itertools.chain((lines[j] for j in range(i, len(lines))), ahead),
            _ROW_INSIDE_MAX_LINES,
        )
        try:
            fields = next(csv.reader(window, delimiter=delimiter, strict=True), [])
        except csv.Error:
            fields = []
        if fields and fits(fields[:width], bad=len(fields) != width):
            return i
        line = _LineTap([lines[i]])
        start = next(csv.reader(line, delimiter=delimiter, strict=False), [])
        if line.ended and fits(_around_quote(start, delimiter)[:width], bad=True):
            return i  # a row whose quote opens on this line and does not close in sight
    return None


def _around_quote(fields: Sequence[str], delimiter: str) -> list[str]:
    """The fields of a line whose last field opens a quote that does not close on it: the
    fields before the quote, then the text after the quote read as fields too (a quote
    opened by mistake before an id leaves the row after it as it was)."""
    if not fields:
        return []
    return [*fields[:-1], *next(csv.reader([fields[-1]], delimiter=delimiter), [])]


def _shape(value: str) -> str | None:
    """A short one-word value with its letters and digits generalised (`T-1234` -> `a-9`);
    None for text, empty or long values, which say nothing of a row's shape."""
    value = value.strip()
    if not value or len(value) > 40 or '"' in value or any(ch.isspace() for ch in value):
        return None
    return re.sub(r"\d+", "9", re.sub(r"[^\W\d_]+", "a", value))


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
    compressed = file_type(path)[1]
    with gzip.open(path, "rb") if compressed else path.open("rb") as file:
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
    compression = "gzip" if compressed else "none"
    options = f"""delim = $delimiter, quote = '"', escape = '"', header = true,
        auto_detect = false, strict_mode = true, ignore_errors = false, encoding = 'utf-8',
        compression = '{compression}'"""
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
    """The lines a CSV reader takes, so that a row it cannot parse is kept as it was read,
    and lines taken by an unclosed quote can be read again."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self._again: deque[str] = deque()  # lines given back, to give before `_lines`
        self._taken: list[str] = []
        #: Whether the reader asked for a line after the last: a row read then ended inside
        #: an open quote (the `csv` module, not strict, returns it as it is).
        self.ended = False

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        if self._again:
            line = self._again.popleft()
        else:
            try:
                line = next(self._lines)
            except StopIteration:
                self.ended = True
                raise
        self._taken.append(line)
        return line

    def start_row(self) -> None:
        """Forget the lines of the row before."""
        self._taken.clear()

    def taken(self) -> list[str]:
        """The lines of the row being read, with their terminators."""
        return list(self._taken)

    def lines_taken(self) -> int:
        """How many lines the row being read spans so far."""
        return len(self._taken)

    def row_start(self) -> str:
        """The start of the row being read (its first lines, up to `MAX_RAW_CHARS`)."""
        sizes = itertools.accumulate(len(line) for line in self._taken)
        count = next((i + 1 for i, size in enumerate(sizes) if size >= MAX_RAW_CHARS), None)
        return "".join(self._taken[:count]).rstrip("\r\n")

    def ahead(self, count: int) -> list[str]:
        """The next `count` lines (fewer at the end), left to be read."""
        while len(self._again) < count:
            line = next(self._lines, None)
            if line is None:
                break
            self._again.append(line)
        return list(itertools.islice(self._again, count))

    def push_back(self, lines: Sequence[str]) -> None:
        """Give `lines` again, before the lines not taken yet."""
        self._again.extendleft(reversed(lines))
        self.ended = False


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
            if "\x00" in line:
                rejects.append(Reject(row_number, _shorten(line), NUL_REASON))
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
        flat = _flatten(item)
        if _holds_nul(flat.values()):  # a "\u0000" escape
            rejects.append(Reject(row_number, raw, NUL_REASON))
            continue
        flat_records.append((row_number, raw, flat))
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
    return _without_unnamed_empty_columns(RawBatch(path, table, tuple(rejects), original))


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
        # Another API's page (Intercom's {"type": "conversation.list", "conversations": [...],
        # "pages": {...}}): its one list of objects holds the records.
        lists = [
            key
            for key, value in document.items()
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ]
        if len(lists) == 1:
            return list(document[lists[0]])
        if len(lists) > 1:
            raise InputFileError(
                f"input file {path}: holds several lists of records ({', '.join(lists)}); "
                "export one kind of record per file, or write the list you want as a JSON array"
            )
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
    """Read a Parquet file; every value becomes text, as a CSV file gives it.

    A binary column holds text as UTF-8 bytes (some writers store strings so): its values are
    decoded, and a row with bytes that are not UTF-8 is rejected as bad encoding, as in CSV.
    A row that holds a NUL byte is rejected.
    """
    try:
        source = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputFileError(
            f"input file {path}: is not a readable Parquet file ({e}); export it again"
        ) from e
    names, original = _unique_names(path, source.column_names)
    n = source.num_rows
    bads = [False] * n
    columns: list[list[str | None]] = []
    for column in source.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = column.to_pylist()
        elif _is_binary(column.type):
            values = []
            for i, v in enumerate(column.to_pylist()):
                try:
                    values.append(None if v is None else v.decode("utf-8"))
                except UnicodeDecodeError:
                    values.append(v.decode("utf-8", errors="replace"))
                    bads[i] = True
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
    if n == 0:
        raise InputFileError(f"input file {path}: has no rows")
    kept: list[int] = []
    rejects: list[Reject] = []
    raws: list[str] = []
    for i, values in enumerate(zip(*columns, strict=True)):
        raw = _shorten(
            json.dumps(dict(zip(source.column_names, values, strict=True)), ensure_ascii=False)
        )
        if _holds_nul(values):
            rejects.append(Reject(i + 1, raw, NUL_REASON))
        else:
            kept.append(i)
            raws.append(raw)
    if rejects:
        columns = [[column[i] for i in kept] for column in columns]
    rows = [i + 1 for i in kept]
    table = _table(names, columns, rows, raws, [bads[i] for i in kept])
    return RawBatch(path, table, tuple(rejects), original)


def _is_binary(kind: pa.DataType) -> bool:
    """Whether a Parquet column holds bytes of any length (not fixed-size ones, which are
    ids such as UUIDs rather than text)."""
    view = getattr(pa.types, "is_binary_view", None)
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or (view is not None and view(kind))
    )


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
