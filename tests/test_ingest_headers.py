"""Headers and files as exports come: folders with other files, gzip, Excel's header quirks,
column names in any script, and column mappings that contradict themselves."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona_mining.cli import app
from persona_mining.config import PersonaRule, config_from_dict
from persona_mining.config.checks import persona_rule_problems
from persona_mining.errors import ConfigError, InputFileError
from persona_mining.ingest.load import ingest_customers, ingest_tickets
from persona_mining.ingest.readers import (
    folder_files,
    input_files,
    normalise_name,
    read_file,
)
from tests.conftest import write

runner = CliRunner()
TICKETS = "ticket_id,created_at,body\n1,2024-03-05,hello there\n2,2024-03-06,second ticket\n"


def values(path: Path) -> tuple[list[str], list[dict[str, object]]]:
    """A file's columns and rows as `read_file` gives them, without the special columns."""
    batch = read_file(path)
    return batch.columns, batch.table.select(batch.columns).to_pylist()


# Folders: every file that is not read is named; gzip-compressed text files are read.


def test_a_folder_names_each_file_it_does_not_read_and_not_its_hidden_ones(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in ("a.csv", "b.txt", "c.CSV"):
        write(folder / name, TICKETS)
    (folder / "d.xlsx").write_bytes(b"PK\x03\x04 a spreadsheet")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.7")
    (folder / "f.csv.gz").write_bytes(gzip.compress(TICKETS.encode()))
    (folder / "old").mkdir()
    for hidden in (".DS_Store", "~$d.xlsx", "Thumbs.db"):
        (folder / hidden).write_bytes(b"\x00\x01")
    files = input_files(folder)
    assert [f.name for f in files] == ["a.csv", "b.txt", "c.CSV", "f.csv.gz"]
    notes = [f"folder {folder}: {note}" for note in folder_files(folder)[1]]
    assert len(notes) == 3
    assert (
        "skipped d.xlsx: unsupported type '.xlsx', a spreadsheet; save each sheet as CSV"
        in (notes[0])
    )
    assert "skipped notes.pdf: unsupported type '.pdf'" in notes[1]
    assert "skipped old/: a subfolder" in notes[2]
    assert all(str(folder) in note for note in notes)


def test_a_folder_of_other_files_only_says_what_it_holds(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(InputFileError, match=r"holds no \.csv.*skipped d\.xlsx"):
        input_files(tmp_path)


def test_ingest_prints_the_files_a_folder_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "a.csv", TICKETS)
    (folder / "d.xlsx").write_bytes(b"PK\x03\x04")
    (folder / ".DS_Store").write_bytes(b"\x00")
    result = runner.invoke(
        app, ["ingest", "--tickets", str(folder), "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 0, result.output
    assert "new 2" in result.output
    assert "skipped d.xlsx: unsupported type '.xlsx'" in result.output
    assert "DS_Store" not in result.output


@pytest.mark.parametrize("bad_row", [False, True], ids=["by DuckDB", "by the row reader"])
def test_a_gzip_compressed_csv_file_reads_as_the_file_it_holds(
    tmp_path: Path, bad_row: bool
) -> None:
    text = TICKETS + ("3,2024-03-07,one field too many,x\n" if bad_row else "")
    plain = write(tmp_path / "t.csv", text)
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert values(packed) == values(plain)
    assert read_file(packed).rejects == read_file(plain).rejects
    assert len(read_file(packed).rejects) == bad_row


def test_gzip_compressed_json_lines_are_read(tmp_path: Path) -> None:
    text = '{"ticket_id": 1, "created_at": "2024-03-05", "body": "hello"}\n'
    packed = tmp_path / "t.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert values(packed) == (
        ["ticket_id", "created_at", "body"],
        [{"ticket_id": "1", "created_at": "2024-03-05", "body": "hello"}],
    )


def test_a_gz_file_that_is_not_gzip_names_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv.gz", TICKETS)
    with pytest.raises(
        InputFileError, match=r"e\.csv\.gz: is not gzip-compressed.*rename it to e\.csv"
    ):
        read_file(path)


# Excel's header quirks.


def test_trailing_columns_without_a_name_or_a_value_are_dropped_silently(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        "ticket_id,created_at,body,,\n1,2024-03-05,hello there,,\n2,2024-03-06,second,,\n",
    )
    batch = read_file(path)
    assert batch.columns == ["ticket_id", "created_at", "body"]
    assert batch.notes == ()
    assert list(batch.original_names) == ["ticket_id", "created_at", "body"]


@pytest.mark.parametrize("bad_row", [False, True], ids=["by DuckDB", "by the row reader"])
def test_a_column_without_a_name_but_with_values_is_kept_as_column_n(
    tmp_path: Path, bad_row: bool
) -> None:
    path = write(
        tmp_path / "t.csv",
        ",ticket_id,created_at,body,\n0,1,2024-03-05,hello,\n1,2,2024-03-06,hi,x\n"
        + ("broken,row\n" if bad_row else ""),
    )
    batch = read_file(path)
    assert batch.columns == ["column_1", "ticket_id", "created_at", "body", "column_5"]
    assert batch.table.column("column_5").to_pylist() == [None, "x"]
    notes = list(batch.notes)
    assert len(notes) == 2
    assert (
        "t.csv: column 1 has no name in the header; its values are kept as column_1" in (notes[0])
    )
    assert "column 5" in notes[1]


def test_an_unnamed_column_does_not_take_the_name_of_a_named_one(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "column_2,,body\na,b,c\n")
    assert read_file(path).columns == ["column_2", "column_2_2", "body"]


def test_a_file_with_unnamed_columns_is_ingested(con, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "ticket_id,created_at,body,,\n1,2024-03-05,hello there,,\n")
    assert ingest_tickets(con, path=path).new == 1


@pytest.mark.parametrize(
    "title",
    ["Ticket report March 2024,,", "Ticket report March 2024", "Ticket report,,\n,,"],
    ids=["padded", "alone", "then a blank line"],
)
def test_a_title_above_the_header_is_named(tmp_path: Path, title: str) -> None:
    path = write(tmp_path / "t.csv", f"{title}\n{TICKETS}")
    with pytest.raises(
        InputFileError,
        match=r"t\.csv: the first line looks like a title: remove the lines above the header",
    ):
        read_file(path)


def test_merged_header_cells_above_the_header_are_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        "Ticket,,Customer,\nticket_id,created_at,customer_id,body\n1,2024-03-05,c1,hello\n",
    )
    with pytest.raises(InputFileError, match=r"looks like a title.*merged header cells"):
        read_file(path)


def test_a_header_with_an_empty_first_cell_is_no_title(tmp_path: Path) -> None:
    """pandas writes its index under an empty name."""
    path = write(tmp_path / "c.csv", ",customer_id\n0,c1\n1,c2\n")
    assert read_file(path).columns == ["column_1", "customer_id"]


# Column names in any script.


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Ticket ID", "ticket_id"),
        ("Lösungszeit (h)", "lösungszeit_h"),
        ("Größe", "größe"),
        ("Gro\u0308ße", "größe"),  # decomposed, as macOS writes it
        ("チケット", "チケット"),
        ("作成日", "作成日"),
        ("ＩＤ", "id"),  # full-width
        ("Статус заявки", "статус_заявки"),
        ("स्थिति", "स्थिति"),  # vowel signs are marks: the word stays whole
        ("1st reply", "c_1st_reply"),
        ("\ufeffvia.channel", "via_channel"),
        ("", "column"),
    ],
)
def test_names_keep_their_letters_in_any_script(name: str, normalised: str) -> None:
    assert normalise_name(name) == normalised


def test_japanese_headers_are_distinct_and_can_be_mapped(con, tmp_path: Path) -> None:
    path = write(tmp_path / "jp.csv", "チケット,作成日,本文,優先度\n1,2024-03-05,hello there,高\n")
    assert read_file(path).columns == ["チケット", "作成日", "本文", "優先度"]
    result = ingest_tickets(
        con, path=path, columns={"ticket_id": "チケット", "created_at": "作成日", "body": "本文"}
    )
    assert result.new == 1
    assert con.execute("SELECT ticket_id, body, 優先度 FROM tickets").fetchall() == [
        ("1", "hello there", "高")
    ]


def test_a_persona_rule_can_name_a_column_with_umlauts(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv", "customer_id,Größe,Lösungszeit (h)\nc1,5,1.5\nc2,2,3\nc3,4,9\n"
    )
    assert ingest_customers(con, path=path).new == 3
    rule = PersonaRule(name="Big and fast", where="größe >= 3 AND lösungszeit_h < 2")
    assert persona_rule_problems(con, [rule]) == []
    assert con.execute(f"SELECT customer_id FROM customers WHERE {rule.where}").fetchall() == [
        ("c1",)
    ]


# Column mappings.


def test_the_config_refuses_one_column_mapped_onto_two(tmp_path: Path) -> None:
    raw = {"ingest": {"columns": {"body": "Description", "subject": "Description"}}}
    with pytest.raises(ConfigError, match=r"body = 'Description' and subject = 'Description'"):
        config_from_dict(raw)


def test_a_source_that_maps_the_column_of_ingest_columns_again_is_refused() -> None:
    raw = {
        "ingest": {"columns": {"body": "Description"}},
        "sources": [{"kind": "tickets", "path": "exports", "columns": {"subject": "description"}}],
    }
    with pytest.raises(ConfigError, match=r"source exports: .*body = 'Description' and subject"):
        config_from_dict(raw)


def test_a_source_may_map_a_target_of_ingest_columns_to_another_column() -> None:
    raw = {
        "ingest": {"columns": {"body": "Description"}},
        "sources": [{"kind": "tickets", "path": "exports", "columns": {"body": "Text"}}],
    }
    assert dict(config_from_dict(raw).sources[0].columns) == {"body": "Text"}


def ingest(tmp_path: Path, *args: str) -> tuple[int, str]:
    tickets = write(
        tmp_path / "t.csv", "Id,Created at,Description,Notes\n1,2024-03-05,hello there,a note\n"
    )
    result = runner.invoke(
        app, ["ingest", "--tickets", str(tickets), "--db", str(tmp_path / "w.duckdb"), *args]
    )
    return result.exit_code, result.output


def test_one_column_mapped_onto_two_on_the_command_line_names_both(tmp_path: Path) -> None:
    code, output = ingest(
        tmp_path,
        *("--map", "ticket_id=Id", "--map", "created_at=Created at"),
        *("--map", "updated_at=Created at", "--map", "body=Description"),
    )
    assert code == 2
    assert "created_at = 'Created at' and updated_at = 'Created at'" in output
    assert "leave updated_at out: it defaults to created_at" in output
    assert "missing" not in output


def test_a_target_mapped_twice_on_the_command_line_is_an_error(tmp_path: Path) -> None:
    code, output = ingest(
        tmp_path,
        *("--map", "ticket_id=Id", "--map", "created_at=Created at"),
        *("--map", "body=Description", "--map", "body=Notes"),
    )
    assert code == 2
    assert "--map body: given twice ('Description' and 'Notes')" in output


def test_a_map_over_the_configs_mapping_says_so_and_wins(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        '[ingest.columns]\nticket_id = "Id"\ncreated_at = "Created at"\nbody = "Description"\n',
    )
    code, output = ingest(tmp_path, "--config", str(config), "--map", "body=Notes")
    assert code == 0, output
    assert (
        "note: --map body='Notes' replaces the config's [ingest.columns] body = 'Description'"
        in (output)
    )
    code, output = ingest(tmp_path, "--config", str(config), "--map", "body=description")
    assert code == 0, output
    assert "replaces" not in output  # the same column


def test_a_map_onto_the_configs_column_for_another_target_is_an_error(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[ingest.columns]\nbody = "Description"\n')
    code, output = ingest(tmp_path, "--config", str(config), "--map", "subject=Description")
    assert code == 2
    assert "with the config's [ingest.columns]" in output
    assert "body = 'Description' and subject = 'Description'" in output


def test_an_api_page_with_one_list_of_records_is_read_as_those_records(con, tmp_path: Path) -> None:
    import json

    page = {
        "type": "conversation.list",
        "conversations": [
            {"id": "c1", "created_at": 1709632931, "source": {"body": "my order is late"}},
            {"id": "c2", "created_at": 1709632999, "source": {"body": "refund please"}},
        ],
        "pages": {"page": 1, "total_pages": 1},
    }
    path = tmp_path / "intercom.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    result = ingest_tickets(con, path=path, columns={"ticket_id": "id", "body": "source.body"})
    assert result.new == 2
    two = {"a": [{"x": 1}], "b": [{"y": 2}]}
    path.write_text(json.dumps(two), encoding="utf-8")
    with pytest.raises(InputFileError, match="several lists of records"):
        read_file(path)
