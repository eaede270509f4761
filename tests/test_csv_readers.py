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
