"""What curating the taxonomy refuses, says and keeps consistent: edits that would make a topic
vanish or say nothing, labels tables could not tell apart, taxonomy files from another desk or
written by hand, themes and impact after an edit, and the `topics` commands' options."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.config import KnownIssue
from persona_mining.errors import ConfigError
from persona_mining.topics.taxonomy import (
    export_taxonomy,
    import_taxonomy,
    list_topics,
    record_edit,
    undo_edit,
)
from tests.test_taxonomy import largest

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def warehouse_path(demo_run: dict[str, object], tmp_path: Path) -> Path:
    path = tmp_path / "curation.duckdb"
    shutil.copy(demo_run["config"].warehouse.path, path)  # type: ignore[attr-defined]
    return path


@pytest.fixture
def warehouse(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = db.connect(warehouse_path)
    yield con
    con.close()


def label_of(con: duckdb.DuckDBPyConnection, key: str) -> str:
    return str(
        con.execute("SELECT label FROM v_topics WHERE topic_key = ?", [key]).fetchall()[0][0]
    )


def recorded(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT action, topic_keys, value, edited_by, edited_at FROM topic_edits ORDER BY edit_id"
    ).fetchall()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# record_edit


@pytest.mark.parametrize("shape", ["same key twice", "target among the rest"])
def test_a_topic_cannot_be_merged_into_itself(
    warehouse: duckdb.DuckDBPyConnection, shape: str
) -> None:
    a, b = largest(warehouse, 2)
    keys = [a, a] if shape == "same key twice" else [a, b, a]
    with pytest.raises(ConfigError, match="a topic cannot be merged into itself"):
        record_edit(warehouse, action="merge", topic_keys=keys)
    assert recorded(warehouse) == []
    assert {t["key"]: t for t in list_topics(warehouse)}[a]["state"] == ""


def test_a_key_given_twice_to_a_merge_is_recorded_once(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    a, b = largest(warehouse, 2)
    record_edit(warehouse, action="merge", topic_keys=[a, b, f" {b} "])
    assert [r[1] for r in recorded(warehouse)] == [[a, b]]


def test_an_edit_an_active_one_already_makes_is_refused_naming_it(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    a, b = largest(warehouse, 2)
    record_edit(warehouse, action="rename", topic_keys=[b], value="First name")
    record_edit(warehouse, action="ignore", topic_keys=[a])
    with pytest.raises(ConfigError, match=rf"ignore {a}: edit #2 already does this"):
        record_edit(warehouse, action="ignore", topic_keys=[a])
    # Renaming back to an earlier label is a change, not a repeat.
    record_edit(warehouse, action="rename", topic_keys=[b], value="Second name")
    record_edit(warehouse, action="rename", topic_keys=[b], value="First name")
    with pytest.raises(ConfigError, match="edit #4 already does this"):
        record_edit(warehouse, action="rename", topic_keys=[b], value=" First  name ")
    undone = undo_edit(warehouse)[0]
    assert undone.edit_id == 4 and label_of(warehouse, b) == "Second name"


def test_a_rename_to_the_label_of_another_topic_is_refused_and_a_merge_suggested(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    a, b = largest(warehouse, 2)
    taken = label_of(warehouse, a)
    with pytest.raises(ConfigError) as refused:
        record_edit(warehouse, action="rename", topic_keys=[b], value=f"  {taken.upper()} ")
    assert a in str(refused.value) and f"topics merge {a} {b}" in str(refused.value)
    assert recorded(warehouse) == []
    # Its own label, as it stands, is no rename; another case of it is.
    with pytest.raises(ConfigError, match="already"):
        record_edit(warehouse, action="rename", topic_keys=[a], value=f" {taken} ")
    assert recorded(warehouse) == []
    assert record_edit(warehouse, action="rename", topic_keys=[a], value=taken.swapcase())


def test_a_merge_into_an_ignored_topic_says_its_tickets_leave_persona_tables(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    a, b = largest(warehouse, 2)
    record_edit(warehouse, action="ignore", topic_keys=[a])
    merge = record_edit(warehouse, action="merge", topic_keys=[a, b])[-1]
    assert merge.status == "applied"
    assert f"{a} is ignored, so the merged tickets are left out of persona tables" in merge.detail


def test_a_sub_topic_without_a_distinctive_phrase_takes_its_parents_label_and_number(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    (a,) = largest(warehouse, 1)
    parent = label_of(warehouse, a)
    # No phrase tells the topic's tickets apart: describe_topics falls back to "Topic N".
    warehouse.execute(
        """UPDATE text_analysis SET noun_phrases = [], text = ''
        WHERE text_hash IN (SELECT p.text_hash FROM prepared_tickets p
            JOIN v_ticket_topics t USING (ticket_id) WHERE t.topic_key = ?)""",
        [a],
    ).fetchall()
    assert record_edit(warehouse, action="split", topic_keys=[a])[-1].status == "applied"
    subs = warehouse.execute(
        "SELECT topic_key, label, base_label FROM topics JOIN v_current_model USING (model_id) "
        "WHERE split_from = ? ORDER BY topic_key",
        [a],
    ).fetchall()
    assert len(subs) >= 2
    for key, label, base_label in subs:
        number = key.rsplit(".", 1)[1]
        assert label == base_label == f"{parent} (part {number})"


# themes


def test_a_theme_whose_topics_were_merged_away_is_left_empty_and_sizes_follow_the_edits(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    (a,) = largest(warehouse, 1)
    target_group = warehouse.execute(
        "SELECT group_id FROM v_topics WHERE topic_key = ?", [a]
    ).fetchall()[0][0]
    alone = warehouse.execute(
        """SELECT t.topic_key, g.group_id, g.label FROM v_topics t JOIN topic_groups g
        USING (model_id, group_id)
        WHERE g.topics = 1 AND t.topic_id <> -1 AND g.group_id <> ? ORDER BY t.size LIMIT 1""",
        [target_group],
    ).fetchall()
    assert alone, "the demo has a theme of one topic"
    key, group, label = alone[0]
    record_edit(warehouse, action="merge", topic_keys=[a, key])
    themes = {
        g: (lbl, topics, size)
        for g, lbl, topics, size in warehouse.execute(
            "SELECT group_id, label, topics, size FROM topic_groups "
            "JOIN v_current_model USING (model_id)"
        ).fetchall()
    }
    assert themes[group] == (label, 0, 0)
    # The view people read leaves the emptied theme out.
    shown = warehouse.execute("SELECT group_id FROM v_topic_groups").fetchall()
    assert (group,) not in shown and (target_group,) in shown
    active = dict(
        warehouse.execute(
            """SELECT group_id, sum(size) FROM v_topics WHERE active AND topic_id <> -1
            GROUP BY group_id"""
        ).fetchall()
    )
    assert {g: size for g, (_, _, size) in themes.items() if g >= 0} == {
        g: active.get(g, 0) for g in themes if g >= 0
    }


def test_undoing_a_merge_gives_the_topics_and_themes_their_sizes_back(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    a, b = largest(warehouse, 2)
    query = "SELECT topic_key, size FROM v_topics ORDER BY ALL"
    topics = warehouse.execute(query).fetchall()
    themes = warehouse.execute("SELECT * FROM topic_groups ORDER BY ALL").fetchall()
    record_edit(warehouse, action="merge", topic_keys=[a, b])
    undo_edit(warehouse)
    assert warehouse.execute(query).fetchall() == topics
    assert warehouse.execute("SELECT * FROM topic_groups ORDER BY ALL").fetchall() == themes


# export and import


def test_the_export_writes_each_edits_fitted_labels_and_its_status(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import tomllib

    a, b = largest(warehouse, 2)
    labels = [label_of(warehouse, a), label_of(warehouse, b)]
    record_edit(warehouse, action="merge", topic_keys=[a, b])
    record_edit(warehouse, action="rename", topic_keys=[a], value="Renamed")
    warehouse.execute(
        "INSERT INTO topic_edits VALUES (99, 'ignore', ['T9999'], '', 'lead', now(), false)"
    ).fetchall()
    record_edit(warehouse, action="ignore", topic_keys=[largest(warehouse, 3)[-1]])
    out = tmp_path / "taxonomy.toml"
    export_taxonomy(warehouse, known_issues=[], out=out)
    edits = tomllib.loads(out.read_text(encoding="utf-8"))["edits"]
    assert edits[0]["labels"] == labels and edits[1]["labels"] == labels[:1]
    assert [e["status"] for e in edits] == ["applied", "applied", "vanished", "applied"]
    assert edits[2]["labels"] == [""]
    assert "# no longer applies: topic T9999 is not in model" in out.read_text(encoding="utf-8")


def test_the_export_writes_the_warehouses_known_issues_beside_the_configs(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import tomllib

    warehouse.execute(
        "INSERT INTO known_issues VALUES ('Gift cards', 'Gift card balance', ['my gift card'], 'x'), "
        "('Student discount', 'imported twice', [], 'x')"
    ).fetchall()
    configured = [KnownIssue(name="Student discount", description="Verifying student status")]
    out = tmp_path / "taxonomy.toml"
    export_taxonomy(warehouse, known_issues=configured, out=out)
    issues = tomllib.loads(out.read_text(encoding="utf-8"))["known_issues"]
    assert [(i["name"], i["description"]) for i in issues] == [
        ("Student discount", "Verifying student status"),
        ("Gift cards", "Gift card balance"),
    ]


def test_an_import_refuses_an_edit_whose_key_is_another_issue_in_that_warehouse(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object], tmp_path: Path
) -> None:
    a, b = largest(warehouse, 2)
    fitted = label_of(warehouse, b)
    record_edit(warehouse, action="ignore", topic_keys=[a])
    record_edit(warehouse, action="rename", topic_keys=[b], value="Shared label")
    out = tmp_path / "taxonomy.toml"
    export_taxonomy(warehouse, known_issues=[KnownIssue(name="Gift cards")], out=out)
    other_path = tmp_path / "other.duckdb"
    shutil.copy(demo_run["config"].warehouse.path, other_path)  # type: ignore[attr-defined]
    other = db.connect(other_path)
    try:
        # In the other desk, the key was fitted to another issue.
        other.execute(
            "UPDATE topics SET base_label = 'Printer jam', label = 'Printer jam' "
            "WHERE topic_key = ? AND model_id = (SELECT model_id FROM v_current_model)",
            [b],
        ).fetchall()
        with pytest.raises(ConfigError) as refused:
            import_taxonomy(other, path=out)
        message = str(refused.value)
        assert str(out) in message and "edit 2" in message and b in message
        assert "'Printer jam'" in message and repr(fitted) in message and "by hand" in message
        assert recorded(other) == []
        assert other.execute("SELECT count(*) FROM known_issues").fetchall() == [(0,)]
        # A file written before edits carried labels is applied by key, as it was.
        older = write(
            tmp_path / "older.toml",
            "\n".join(
                line
                for line in out.read_text(encoding="utf-8").splitlines()
                if not line.startswith("labels = ")
            ),
        )
        assert import_taxonomy(other, path=older) == (2, 1)
        assert label_of(other, b) == "Shared label"
    finally:
        other.close()


@pytest.mark.parametrize(
    ("edit", "refusal"),
    [
        ('action = "ignore"\ntopics = "T0007"', "must be a list"),
        ('action = "rename"\ntopics = ["T0001", "T0002"]\nvalue = "x"', "expected one key, got 2"),
        ('action = "ignore"\ntopics = ["unclustered"]', "'unclustered' holds the tickets"),
        ('action = "rename"\ntopics = ["T0001"]\nvalue = 42', "the value must be text"),
        ('action = "merge"\ntopics = ["T0001", "T0001"]', "cannot be merged into itself"),
        ('action = "hide"\ntopics = ["T0001"]', "unknown edit 'hide'"),
        ('action = "ignore"\ntopics = ["T0001"]\nat = "yesterday"', "'yesterday' is not a time"),
        ('action = "ignore"\ntopic = ["T0001"]', "unknown field topic"),
    ],
)
def test_an_import_checks_every_edit_as_a_command_would_and_writes_nothing_on_an_error(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path, edit: str, refusal: str
) -> None:
    (a,) = largest(warehouse, 1)
    path = write(
        tmp_path / "bad.toml",
        f'[[known_issues]]\nname = "Gift cards"\n\n[[edits]]\naction = "ignore"\ntopics = ["{a}"]\n\n'
        f"[[edits]]\n{edit}\n",
    )
    with pytest.raises(ConfigError, match=refusal) as refused:
        import_taxonomy(warehouse, path=path)
    assert str(refused.value).startswith(f"taxonomy file {path}: edit 2")
    assert recorded(warehouse) == []
    assert warehouse.execute("SELECT count(*) FROM known_issues").fetchall() == [(0,)]


def test_an_import_keeps_who_made_each_edit_and_when_and_one_line_labels(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from datetime import datetime

    a, b = largest(warehouse, 2)
    path = write(
        tmp_path / "taxonomy.toml",
        f'[[edits]]\naction = "rename"\ntopics = ["{a}"]\nvalue = "  Parcel \\n lost "\n'
        'by = "alice"\nat = "2024-05-01 09:30:00"\n\n'
        f'[[edits]]\naction = "ignore"\ntopics = [" {b} "]\n',
    )
    assert import_taxonomy(warehouse, path=path, by="bob") == (2, 0)
    rows = recorded(warehouse)
    assert rows[0] == ("rename", [a], "Parcel lost", "alice", datetime(2024, 5, 1, 9, 30))
    assert rows[1][:4] == ("ignore", [b], "", "bob")


# the listing of edits, and the commands


def test_the_edits_are_listed_by_id_with_their_status_and_undone_ones_as_undone(
    warehouse_path: Path,
) -> None:
    con = db.connect(warehouse_path)
    try:
        a, b = largest(con, 2)
        record_edit(con, action="ignore", topic_keys=[a], by="lead")
        record_edit(con, action="rename", topic_keys=[b], value="Later undone", by="lead")
        con.execute(
            "INSERT INTO topic_edits VALUES (99, 'ignore', ['T9999'], '', 'lead', now(), false)"
        ).fetchall()
        undo_edit(con)  # #99
    finally:
        con.close()
    result = runner.invoke(
        app, ["topics", "--db", str(warehouse_path), "edits", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    edits = json.loads(result.output)
    assert [(e["id"], e["action"], e["keys"], e["status"]) for e in edits] == [
        (1, "ignore", a, "applied"),
        (2, "rename", b, "applied"),
        (99, "ignore", "T9999", "undone"),
    ]
    assert edits[1]["value"] == "Later undone" and edits[1]["by"] == "lead"
    assert edits[2]["detail"] == "no longer ignored"


def test_group_options_before_the_subcommand_apply_to_it_and_no_warehouse_is_created(
    warehouse_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    con = db.connect(warehouse_path)
    try:
        (a,) = largest(con, 1)
    finally:
        con.close()
    result = runner.invoke(app, ["topics", "--db", str(warehouse_path), "ignore", a])
    assert result.exit_code == 0, result.output
    con = db.connect(warehouse_path, read_only=True)
    try:
        assert [r[:2] for r in recorded(con)] == [("ignore", [a])]
    finally:
        con.close()
    missing = tmp_path / "missing.duckdb"
    result = runner.invoke(app, ["topics", "ignore", a, "--db", str(missing)])
    assert result.exit_code == 2 and "not found" in result.output
    assert "persona-mining run" in result.output
    assert not missing.exists() and list(work.iterdir()) == []


def test_an_edit_rebuilds_the_issue_impact(warehouse_path: Path) -> None:
    con = db.connect(warehouse_path, read_only=True)
    try:
        (a,) = largest(con, 1)
        topic_id = con.execute("SELECT topic_id FROM v_topics WHERE topic_key = ?", [a]).fetchall()
        impact = "SELECT count(*) FROM v_issue_impact WHERE topic_id = ?"
        assert con.execute(impact, [topic_id[0][0]]).fetchall()[0][0] > 0
    finally:
        con.close()
    result = runner.invoke(app, ["topics", "ignore", a, "--db", str(warehouse_path)])
    assert result.exit_code == 0, result.output
    con = db.connect(warehouse_path, read_only=True)
    try:
        assert con.execute(impact, [topic_id[0][0]]).fetchall() == [(0,)]
    finally:
        con.close()


def test_an_import_with_known_issues_says_they_take_effect_at_the_next_refit(
    warehouse_path: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "taxonomy.toml",
        '[[known_issues]]\nname = "Gift cards"\ndescription = "Gift card balance"\n',
    )
    result = runner.invoke(app, ["topics", "import", str(path), "--db", str(warehouse_path)])
    assert result.exit_code == 0, result.output
    assert "take effect at the next refit" in result.output
    assert "persona-mining run --refit" in result.output


def test_a_part_of_a_part_is_numbered_from_the_first_split() -> None:
    from persona_mining.topics.taxonomy import _sub_label

    assert _sub_label({}, 1, "T0022.2", "Order shipped") == "Order shipped (part 2)"
    assert _sub_label({}, 0, "T0022.1.2", "Order shipped (part 1)") == "Order shipped (part 1.2)"
