"""A CSV file reads the same whichever reader takes it.

DuckDB's CSV reader takes a well-formed file; the `csv` module's row reader takes any file
DuckDB will not read strictly, and names each bad row. These tests hold the two to the same
table, row numbers and raw text, and check which of them read each file.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from persona_mining.ingest import readers
from persona_mining.ingest.readers import MAX_RAW_CHARS, read_file

LONG = "é🙂" * (MAX_RAW_CHARS // 2)  # wider than the raw text kept, in characters of 2 and 4 bytes

#: Files DuckDB reads: every field and raw text must be the row reader's.
WELL_FORMED = {
    "plain": "id,text\n1,hello\n2,world\n",
    "blank lines": "id,text\n1,x\n\n2,y\n\n\n",
    "no final newline": "id,text\n1,x\n2,y",
    "crlf and a quoted line break": 'id,text\r\n1,x\r\n2,"multi\r\nline"\r\n',
    "carriage returns alone": "id,text\r1,x\r2,y\r",
    "quotes inside an unquoted field": 'id,text\n1,He said "hi" ok\n',
    "doubled quotes and an empty quoted field": 'id,text\n1,"say ""hi"""\n2,""\n',
    "backslashes": 'id,text\n1,C:\\path\\"x\n',
    "spaces kept": "id,text\n 1 , x \n",
    "empty last columns": "id,text,extra\n1,x,\n2,,\n",
    "a header with a quoted line break": '"i\nd",text\n1,x\n',
    "a byte order mark": "\ufeffid,text\n1,x\n",
    "semicolons": "id;text\n1;x,z\n2;y\n",
    "a long field shortened in the raw text": f"id,text\n1,{LONG}\n2,short\n",
    "a comma inside quotes": 'id,text\n1,"a, b"\n',
    "a quoted line break and an empty last field": 'id,text,more\n1,"a\nb",\n2,,"c"\n',
}

#: Files DuckDB will not read strictly, or would read otherwise: the row reader reads them
#: and names the bad rows.
FOR_THE_ROW_READER = {
    "too many fields": "id,text\n1,x,z\n2,y\n",
    "too few fields": "id,text\n1\n2,y\n",
    "a whitespace-only line": "id,text\n1,x\n \n2,y\n",
    "text after a closing quote": 'id,text\n1,"abc"def\n2,y\n',
    "a quote never closed": 'id,text\n1,"open\n2,y\n',
    "bytes that are not UTF-8": b"id,text\n1,caf\xe9\n2,y\n",
    "a byte order mark, then a quote": '\ufeff"i\nd",text\n1,x\n',
    # DuckDB's strict mode lets a row end in empty fields beyond the header's.
    "an empty field too many at the end": "id,text\n1,x,\n2,y\n",
    "two empty fields too many at the end": "id,text\n1,x,,\n2,y\n",
    "an empty quoted field too many at the end": 'id,text\n1,"x",""\n2,y\n',
    # DuckDB reading on one thread drops a last row whose quote never closes.
    "a last row whose quote never closes": 'id,text\n1,x\n"abc\n',
    "a last field whose quote never closes": 'id,text\n1,x\n2,"abc',
    "a field that is DuckDB's null text here": f"id,text\n1,{readers._NEVER_NULL}\n",
}


def _write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "t.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def _by_rows(path: Path, monkeypatch: pytest.MonkeyPatch) -> readers.RawBatch:
    """The file as the row reader alone reads it."""
    with monkeypatch.context() as patched:
        patched.setattr(readers, "_read_csv_strictly", lambda *args: None)
        return read_file(path)


@pytest.mark.parametrize("content", WELL_FORMED.values(), ids=list(WELL_FORMED))
def test_a_well_formed_file_is_read_by_duckdb_as_the_row_reader_reads_it(
    content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, content)
    delimiter = ";" if content.split("\n", 1)[0].count(";") else ","
    names = read_file(path).columns
    assert readers._read_csv_strictly(path, names, delimiter, lambda read: None) is not None
    batch = read_file(path)
    expected = _by_rows(path, monkeypatch)
    assert batch.table.equals(expected.table), (batch.table.to_pylist(), expected.table.to_pylist())
    assert batch.table.schema == expected.table.schema
    assert batch.rejects == expected.rejects == ()
    assert batch.original_names == expected.original_names


def test_the_raw_text_of_a_long_row_is_shortened_at_the_same_character(tmp_path: Path) -> None:
    batch = read_file(_write(tmp_path, WELL_FORMED["a long field shortened in the raw text"]))
    raw = batch.table.column(readers.RAW).to_pylist()
    assert raw[0] == ("1," + LONG)[:MAX_RAW_CHARS] + "…" and raw[1] == "2,short"
    assert batch.table.column("text")[0].as_py() == LONG


@pytest.mark.parametrize("content", FOR_THE_ROW_READER.values(), ids=list(FOR_THE_ROW_READER))
def test_a_file_duckdb_will_not_read_strictly_goes_to_the_row_reader(
    content: str | bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, content)
    assert readers._read_csv_strictly(path, ["id", "text"], ",", lambda read: None) is None
    batch = read_file(path)
    expected = _by_rows(path, monkeypatch)
    assert batch.table.equals(expected.table) and batch.rejects == expected.rejects


def test_bad_rows_keep_their_row_numbers_and_the_good_rows_around_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "id,text\n1,a\n2,b,extra\n\n3,c\n4\n5,e\n")
    batch = read_file(path)
    assert batch.table.column("id").to_pylist() == ["1", "3", "5"]
    assert batch.table.column(readers.ROW).to_pylist() == [1, 3, 5]
    assert [(r.row_number, r.raw) for r in batch.rejects] == [(2, "2,b,extra"), (4, "4")]
    assert all("expected 2 fields" in r.reason for r in batch.rejects)


def test_a_header_without_rows_is_still_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "id,text\n")
    with pytest.raises(readers.InputFileError, match="has a header but no data rows"):
        read_file(path)


def test_progress_is_told_every_10000_rows_as_by_the_row_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "id,text\n" + "".join(f"{i},t{i}\n" for i in range(35_001)))
    told: list[int] = []
    table = readers._read_csv_strictly(path, ["id", "text"], ",", told.append)
    assert table is not None and table.num_rows == 35_001
    by_rows: list[tuple[object, ...]] = []
    with monkeypatch.context() as patched:
        patched.setattr(readers, "_read_csv_strictly", lambda *args: None)
        read_file(path, progress=lambda *call: by_rows.append(call))
    # The lines read so far, the header's included; read_file adds the start and the end.
    assert told == [10_001, 20_001, 30_001] == [done for _, done, _ in by_rows][1:-1]


def test_a_tab_separated_file_reads_the_same_by_both_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.tsv"
    path.write_text('id\ttext\n1\t"a\tb"\n2\tc, d\n', encoding="utf-8", newline="")
    assert readers._read_csv_strictly(path, ["id", "text"], "\t", lambda read: None) is not None
    batch = read_file(path)
    assert batch.table.column("text").to_pylist() == ["a\tb", "c, d"]
    assert batch.table.equals(_by_rows(path, monkeypatch).table)


def test_the_row_reader_takes_lines_as_a_file_opened_with_newline_empty_gives_them() -> None:
    import io
    import random

    pieces = ["a", "b", ",", '"', "\r", "\n", "\r\n", "é", "\u2028", "\x0b"]
    rng = random.Random(7)
    for _ in range(5_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        assert list(readers._lines(text)) == list(io.StringIO(text, newline="")), repr(text)


def _random_csv(rng: random.Random) -> str:
    """A small CSV text of tricky pieces: quotes, delimiters, line breaks of every kind,
    empty fields, rows a field short or long, blank lines."""
    pieces = [
        "a",
        "xy",
        " ",
        ",",
        ";",
        "\t",
        '"',
        "\n",
        "\r\n",
        "\r",
        "\\",
        "é",
        "🙂",
        "\u2028",
        "\x0b",
        "\x85",
    ]
    delimiter = rng.choice([",", ";", "\t"])
    width = rng.randint(1, 4)
    lines = [delimiter.join(f"h{i}" for i in range(width))]
    for _ in range(rng.randint(1, 6)):
        fields = []
        for _ in range(width if rng.random() < 0.9 else rng.randint(1, width + 2)):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
            if rng.random() < 0.5 or any(c in text for c in ',;\t"\r\n'):
                text = '"' + text.replace('"', '""') + '"' if rng.random() < 0.9 else text
            fields.append(text)
        lines.append(delimiter.join(fields))
        if rng.random() < 0.1:
            lines.append("")
    newline = rng.choice(["\n", "\r\n", "\r"])
    return newline.join(lines) + (newline if rng.random() < 0.7 else "")


def test_both_readers_give_the_same_rows_and_rejects_on_random_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(11)
    by_duckdb = 0
    for i in range(300):
        content = _random_csv(rng)
        path = tmp_path / f"r{i}.csv"
        path.write_text(content, encoding="utf-8", newline="")
        try:
            expected = _by_rows(path, monkeypatch)
        except readers.InputFileError:
            with pytest.raises(readers.InputFileError):
                read_file(path)
            continue
        batch = read_file(path)
        assert batch.table.equals(expected.table), repr(content)
        assert batch.rejects == expected.rejects, repr(content)
        delimiter = readers._sniff_delimiter(content.split("\n")[0].split("\r")[0])
        by_duckdb += (
            readers._read_csv_strictly(path, batch.columns, delimiter, lambda read: None)
            is not None
        )
    assert by_duckdb >= 30  # enough of them well-formed for DuckDB's reader to take


HEADER = "ticket_id,created_at,subject,body\n"
GOOD = "".join(f"{i},2024-01-{i:02d},Subj {i},Body of ticket {i}\n" for i in range(2, 9))

#: Files with a quote opened by mistake, the ids the good rows around it keep and the rows
#: rejected. The `csv` module reads the rows after such a quote as the field's text (up to
#: the next quote, or the end of the file); DuckDB refuses the file, so the row reader
#: takes it.
UNCLOSED = {
    "in the last field, never closed": (
        HEADER + '1,2024-01-01,Refund,"I want my money back\n' + GOOD,
        ["2", "3", "4", "5", "6", "7", "8"],
        [1],
    ),
    "closed by a later row's quote": (
        HEADER + '1,2024-01-01,Refund,"I want my money back\n2,2024-01-02,Late,late\n'
        '3,2024-01-03,Crash,"the app crashes"\n4,2024-01-04,Ok,fine\n',
        ["2", "3", "4"],
        [1],
    ),
    "in the middle, before a field with the delimiter": (
        HEADER + GOOD + '9,2024-01-09,"Refund,I want my money back\n'
        '10,2024-01-10,Subj 10,"Quoted, body 10"\n11,2024-01-11,Subj 11,Body 11\n',
        ["2", "3", "4", "5", "6", "7", "8", "10", "11"],
        [8],
    ),
    "before the id of the first row": (
        HEADER + '"1,2024-01-01,Refund,money back\n' + GOOD,
        ["2", "3", "4", "5", "6", "7", "8"],
        [1],
    ),
    "before a row with a quoted line break": (
        HEADER + '1,2024-01-01,Refund,"I want my money back\n'
        '2,2024-01-02,Late,"my order\nis late"\n3,2024-01-03,Ok,fine\n',
        ["2", "3"],
        [1],
    ),
    "two rows in a row": (
        HEADER + '1,2024-01-01,Refund,"money\n2,2024-01-02,Late,"late\n' + GOOD[GOOD.index("3,") :],
        ["3", "4", "5", "6", "7", "8"],
        [1, 2],
    ),
    "with CRLF line ends": (
        (HEADER + '1,2024-01-01,Refund,"I want my money back\n' + GOOD).replace("\n", "\r\n"),
        ["2", "3", "4", "5", "6", "7", "8"],
        [1],
    ),
}


@pytest.mark.parametrize(("content", "kept", "rejected"), UNCLOSED.values(), ids=list(UNCLOSED))
def test_an_unclosed_quote_is_rejected_alone_and_the_rows_after_it_are_kept(
    content: str, kept: list[str], rejected: list[int], tmp_path: Path
) -> None:
    batch = read_file(_write(tmp_path, content))
    assert batch.table.column("ticket_id").to_pylist() == kept
    # Each good row is whole: the broken row took none of the lines after it.
    bodies = batch.table.column("body").to_pylist()
    assert all("\n" not in body or body == "my order\nis late" for body in bodies)
    assert [r.row_number for r in batch.rejects] == rejected
    assert all(r.reason.startswith("unclosed quote: ") for r in batch.rejects)
    assert all("\n" not in r.raw for r in batch.rejects)  # the broken row's line alone


def test_the_reject_of_an_unclosed_quote_names_its_line_and_the_fix(tmp_path: Path) -> None:
    batch = read_file(_write(tmp_path, HEADER + GOOD + '9,2024-01-09,Refund,"money back\n' + GOOD))
    (reject,) = batch.rejects
    assert (reject.row_number, reject.raw) == (8, '9,2024-01-09,Refund,"money back')
    assert reject.reason == (
        "unclosed quote: the quoted field that starts on line 9 does not close before line 10, "
        "where the next row starts; close the quote on line 9 (a quote inside a quoted field "
        'is written twice: "") and export again'
    )
    assert batch.table.column(readers.ROW).to_pylist() == [*range(1, 8), *range(9, 16)]


def test_bad_rows_after_an_unclosed_quote_keep_their_own_rejects(tmp_path: Path) -> None:
    content = (
        HEADER + GOOD + '9,2024-01-09,Refund,"money back\n10,2024-01-10,Late,late,extra\n'
        '"11,2024-01-11,Ok,fine\n12,2024-01-12,Ok,"fine"\n'
    )
    batch = read_file(_write(tmp_path, content))
    assert batch.table.column("ticket_id").to_pylist()[-1] == "12"
    assert [(r.row_number, r.reason.split(":")[0].split(" (")[0]) for r in batch.rejects] == [
        (8, "unclosed quote"),
        (9, "expected 4 fields, found 5"),
        (10, "unclosed quote"),
    ]


def test_a_last_row_whose_quote_never_closes_is_rejected(tmp_path: Path) -> None:
    batch = read_file(_write(tmp_path, HEADER + '1,2024-01-01,A,x\n2,2024-01-02,B,"y'))
    assert batch.table.column("ticket_id").to_pylist() == ["1"]
    (reject,) = batch.rejects
    assert reject.raw == '2,2024-01-02,B,"y'
    assert reject.reason.startswith(
        "unclosed quote: the quoted field that starts on line 3 never closes (it runs to the "
        "end of the file)"
    )


#: Quoted line breaks that hold what looks like rows of the file, doubled quotes, lines with
#: the header's number of fields: text, kept whole by both readers.
LEGIT = (
    HEADER + '1,2024-01-01,Export,"my file has:\n2,2024-01-02,Late,my order is late\n'
    '3,2024-01-03,Crash,""the app"""\n4,2024-01-04,Hi,"Hello, my order, from May,\n'
    'is late, again, and again"\n5,2024-01-05,Ok,"""quoted"" at the start\nand, the end"\n'
)


def test_quoted_line_breaks_holding_rows_of_the_file_are_kept_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, LEGIT)
    expected = [
        ["1", 'my file has:\n2,2024-01-02,Late,my order is late\n3,2024-01-03,Crash,"the app"'],
        ["4", "Hello, my order, from May,\nis late, again, and again"],
        ["5", '"quoted" at the start\nand, the end'],
    ]
    names = ["ticket_id", "created_at", "subject", "body"]
    assert readers._read_csv_strictly(path, names, ",", lambda read: None) is not None
    for batch in (read_file(path), _by_rows(path, monkeypatch)):
        assert batch.rejects == ()
        assert [[r["ticket_id"], r["body"]] for r in batch.table.to_pylist()] == expected
    # The row reader keeps them whole too when another row sends the file to it.
    path.write_bytes(LEGIT.encode() + b"6,2024-01-06,Caf\xe9,latin-1\n")
    batch = read_file(path)
    assert [[r["ticket_id"], r["body"]] for r in batch.table.to_pylist()][:3] == expected
    assert batch.table.column(readers.BAD_ENCODING).to_pylist() == [False] * 3 + [True]


def test_a_quoted_line_break_in_a_row_with_a_wrong_field_count_keeps_its_reason(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        HEADER + '1,2024-01-01,Hi,"Hello, my order,\nthe one, from May, is late",extra\n'
        "2,2024-01-02,Ok,fine\n",
    )
    batch = read_file(path)
    assert batch.table.column("ticket_id").to_pylist() == ["2"]
    (reject,) = batch.rejects
    assert reject.reason.startswith("expected 4 fields, found 5 (line 3)")


def test_an_unclosed_quote_in_any_field_of_any_row_loses_no_other_row(tmp_path: Path) -> None:
    rng = random.Random(5)
    words = ["word", "two words", "é", "x y z", "7 2024-01-07 Subj body", " "]
    for _ in range(80):
        rows = [
            [
                str(i),
                f"2024-01-{i:02d}",
                rng.choice(["Refund", "Late order", "x"]),
                "".join(rng.choice(words) for _ in range(rng.randint(0, 4))),
            ]
            for i in range(1, rng.randint(3, 12))
        ]
        broken, column = rng.randrange(len(rows)), rng.randrange(4)
        lines = [
            ",".join(row)
            if i != broken
            else ",".join([*row[:column], '"' + row[column], *row[column + 1 :]])
            for i, row in enumerate(rows)
        ]
        tail = ""
        if rng.random() < 0.5:  # a good row with a quoted line break after them
            tail = '99,2024-02-01,Multi,"line one\nline, two ""quoted"""\n'
            rows.append(["99", "2024-02-01", "Multi", 'line one\nline, two "quoted"'])
        content = HEADER + "\n".join(lines) + "\n" + tail
        batch = read_file(_write(tmp_path, content))
        got = [
            [r[c] or "" for c in ("ticket_id", "created_at", "subject", "body")]
            for r in batch.table.to_pylist()
        ]
        assert got == [row for i, row in enumerate(rows) if i != broken], repr(content)
        assert [r.row_number for r in batch.rejects] == [broken + 1], repr(content)
        assert batch.rejects[0].reason.startswith("unclosed quote"), repr(content)


@pytest.mark.parametrize("at", [1, 2_500])
def test_a_nul_byte_in_a_text_file_rejects_its_row_alone(tmp_path: Path, at: int) -> None:
    rows = [f"{i},2024-01-01,Subj,Body of ticket {i} about a late order\n" for i in range(1, 3001)]
    rows[at - 1] = f"{at},2024-01-01,Subj,Body with a NUL \x00 byte\n"
    path = tmp_path / "t.csv"
    path.write_bytes((HEADER + "".join(rows)).encode())
    batch = read_file(path)
    assert batch.table.num_rows == 2_999
    assert at not in batch.table.column(readers.ROW).to_pylist()
    (reject,) = batch.rejects
    assert (reject.row_number, reject.reason) == (at, readers.NUL_REASON)
    assert reject.raw == f"{at},2024-01-01,Subj,Body with a NUL \ufffd byte"  # no NUL kept
    assert not any("\x00" in (b or "") for b in batch.table.column("body").to_pylist())


def test_a_binary_file_still_stops_as_a_whole(tmp_path: Path) -> None:
    import zlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "export.csv"
    pq.write_table(pa.table({"ticket_id": ["1", "2"], "body": ["a", "b"]}), parquet)
    compressed = tmp_path / "zipped.csv"
    compressed.write_bytes(
        b"PK\x03\x04\x14\x00\x00\x00" + zlib.compress(random.Random(3).randbytes(9_000))
    )
    for path in (parquet, compressed):
        with pytest.raises(readers.InputFileError, match=r"looks binary .*give it its real suffix"):
            read_file(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_or_utf32_file_with_a_byte_order_mark_is_read(
    tmp_path: Path, encoding: str
) -> None:
    text = HEADER + '1,2024-01-01,Café,"très\n""déçu"""\n2,2024-01-02,Refund,naïve “quotes”\n'
    path = tmp_path / "t.csv"
    path.write_bytes(
        ("\ufeff" if encoding == "utf-16-be" else "").encode(encoding) + text.encode(encoding)
    )
    batch = read_file(path)
    assert batch.rejects == ()
    assert batch.columns == ["ticket_id", "created_at", "subject", "body"]
    assert batch.table.column("body").to_pylist() == ['très\n"déçu"', "naïve “quotes”"]
    assert batch.table.column("subject").to_pylist() == ["Café", "Refund"]


def test_utf16_without_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes((HEADER + "1,2024-01-01,Hi,late order\n").encode("utf-16-le"))
    with pytest.raises(readers.InputFileError, match=r"UTF-16 .*save it again as UTF-8"):
        read_file(path)
