"""The taxonomy support leads curate: edits applied at once, undone, kept across refits, shared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from persona_mining import warehouse as db
from persona_mining.config import KnownIssue, LinkConfig
from persona_mining.errors import ConfigError
from persona_mining.personas.link import link_issues
from persona_mining.topics.evaluate import evaluate_topics
from persona_mining.topics.model import fit_topics
from persona_mining.topics.taxonomy import (
    apply_edits,
    export_taxonomy,
    import_taxonomy,
    list_topics,
    record_edit,
    undo_edit,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def warehouse(demo_run: dict[str, object], tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "taxonomy.duckdb"
    shutil.copy(demo_run["config"].warehouse.path, path)  # type: ignore[attr-defined]
    con = db.connect(path)
    yield con
    con.close()


def largest(con: duckdb.DuckDBPyConnection, n: int) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT topic_key FROM v_topics WHERE topic_id <> -1 ORDER BY size DESC, topic_key LIMIT ?",
            [n],
        ).fetchall()
    ]


def test_edits_apply_at_once_and_undo_reverts_the_last(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    a, b, c, d = largest(warehouse, 4)
    tickets_b = warehouse.execute(
        "SELECT count(*) FROM v_ticket_topics WHERE topic_key = ?", [b]
    ).fetchone()[0]
    record_edit(warehouse, action="rename", topic_keys=[a], value="Where is my parcel", by="lead")
    record_edit(warehouse, action="merge", topic_keys=[c, b], by="lead")
    record_edit(warehouse, action="ignore", topic_keys=[d], by="lead")
    link_issues(warehouse, config=LinkConfig())
    topics = {t["key"]: t for t in list_topics(warehouse)}
    assert topics[a]["label"] == "Where is my parcel"
    assert topics[b]["state"] == "inactive" and topics[d]["state"] == "ignored"
    assert warehouse.execute(
        "SELECT count(*) FROM v_ticket_topics WHERE topic_key = ?", [b]
    ).fetchone() == (0,)
    assert (
        warehouse.execute("SELECT size FROM v_topics WHERE topic_key = ?", [c]).fetchone()[0]
        >= tickets_b
    )
    linked = {
        r[0]
        for r in warehouse.execute(
            "SELECT DISTINCT tp.topic_key FROM issue_by_persona i JOIN topics tp USING (model_id, topic_id)"
        ).fetchall()
    }
    assert d not in linked and b not in linked and c in linked
    edits = warehouse.execute(
        "SELECT action, edited_by FROM topic_edits ORDER BY edit_id"
    ).fetchall()
    assert edits == [("rename", "lead"), ("merge", "lead"), ("ignore", "lead")]
    from persona_mining.report.html import write_report

    html_path = write_report(warehouse, out=tmp_path / "report.html").path
    html = html_path.read_text(encoding="utf-8")
    assert "Taxonomy edits" in html and "Where is my parcel" in html and ">lead<" in html
    undo_edit(warehouse)
    assert {t["key"]: t for t in list_topics(warehouse)}[d]["state"] == ""


def test_a_renamed_issue_names_its_theme_at_once_and_undo_gives_the_fit_themes_back(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    (a,) = largest(warehouse, 1)
    themes = warehouse.execute("SELECT * FROM topic_groups ORDER BY ALL").fetchall()
    query = "SELECT label, group_label FROM v_topics WHERE topic_key = ?"
    label, theme = warehouse.execute(query, [a]).fetchone()
    assert theme.startswith(label)  # the largest issue names its theme
    record_edit(warehouse, action="rename", topic_keys=[a], value="  Parcel |\n lost  ")
    assert warehouse.execute(query, [a]).fetchone() == (
        "Parcel | lost",
        theme.replace(label, "Parcel | lost", 1),
    )
    undone = undo_edit(warehouse)[0]
    assert (undone.status, undone.detail) == ("undone", "no longer renamed to 'Parcel | lost'")
    assert warehouse.execute("SELECT * FROM topic_groups ORDER BY ALL").fetchall() == themes


def test_split_makes_sub_topics_and_a_bad_key_is_refused(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    (a,) = largest(warehouse, 1)
    statuses = record_edit(warehouse, action="split", topic_keys=[a])
    assert statuses[-1].status == "applied"
    subs = warehouse.execute(
        "SELECT topic_key, size, label FROM topics JOIN v_current_model USING (model_id) "
        "WHERE split_from = ? ORDER BY topic_key",
        [a],
    ).fetchall()
    assert len(subs) >= 2 and subs[0][0] == f"{a}.1"
    # Each part is an issue the model could have found alone (half its minimum topic size).
    params = warehouse.execute("SELECT params FROM v_current_model").fetchall()[0][0]
    smallest = max(10, json.loads(params)["min_topic_size_used"] // 2)
    assert all(size >= smallest for _, size, _ in subs)
    with pytest.raises(ConfigError, match="no active topic"):
        record_edit(warehouse, action="rename", topic_keys=[a], value="x")


def sub_topics_of_tickets(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT ticket_id, topic_key FROM v_ticket_topics WHERE starts_with(topic_key, ?)",
            [f"{key}."],
        ).fetchall()
    )


def test_a_split_keeps_its_sub_topics_keys_when_their_sizes_change(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    (a,) = largest(warehouse, 1)
    record_edit(warehouse, action="split", topic_keys=[a])
    before = sub_topics_of_tickets(warehouse, a)
    first = [t for t, k in before.items() if k == f"{a}.1"]
    # Most of the largest sub-topic's tickets leave (as if re-prepared into another topic):
    # the replay must not renumber the sub-topics by their new sizes.
    gone = first[: len(first) * 9 // 10]
    warehouse.execute(
        "DELETE FROM ticket_topics WHERE list_contains(?, ticket_id) "
        "AND model_id = (SELECT model_id FROM v_current_model)",
        [gone],
    )
    statuses = apply_edits(warehouse)
    assert statuses[-1].status == "applied"
    after = sub_topics_of_tickets(warehouse, a)
    assert after == {t: k for t, k in before.items() if t not in set(gone)}
    recorded = warehouse.execute(
        "SELECT count(*) FROM topic_split_centroids WHERE edit_id = ?", [statuses[-1].edit_id]
    ).fetchone()
    assert recorded == (len(set(before.values())),)


def test_a_split_carries_its_sub_topics_into_another_embedding_space(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    (a,) = largest(warehouse, 1)
    record_edit(warehouse, action="split", topic_keys=[a])
    before = sub_topics_of_tickets(warehouse, a)
    # Another model's space: the same vectors turned by a random rotation into more
    # dimensions (cosines kept), as after a switch of profile or embedding model.
    model = warehouse.execute("SELECT embedding_model FROM v_current_model").fetchone()[0]
    rows = warehouse.execute(
        "SELECT text_hash, vector FROM embeddings WHERE model = ?", [model]
    ).fetchall()
    dims = len(rows[0][1])
    rotation = np.linalg.qr(np.random.default_rng(3).normal(size=(dims + 16, dims + 16)))[0]
    warehouse.executemany(
        "INSERT INTO embeddings (text_hash, model, vector, created_at) VALUES (?, 'rotated', ?, now())",
        [[h, (rotation[:, :dims] @ np.asarray(v, dtype=np.float64)).tolist()] for h, v in rows],
    )
    warehouse.execute(
        "UPDATE topic_models SET embedding_model = 'rotated' "
        "WHERE model_id = (SELECT model_id FROM v_current_model)"
    )
    assert apply_edits(warehouse)[-1].status == "applied"
    after = sub_topics_of_tickets(warehouse, a)
    # The centroids there are the means of the sub-topics' tickets, not the first split's
    # k-means centres: a ticket on a boundary may change sides, hardly any more.
    assert after.keys() == before.keys()
    assert sum(after[t] == before[t] for t in before) >= 0.97 * len(before)
    spaces = warehouse.execute(
        "SELECT DISTINCT embedding_model FROM topic_split_centroids ORDER BY 1"
    ).fetchall()
    assert spaces == sorted([(model,), ("rotated",)])


def test_a_split_of_a_small_topic_makes_no_part_smaller_than_an_issue(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    key, size = warehouse.execute(
        "SELECT topic_key, size FROM v_topics WHERE topic_id <> -1 ORDER BY abs(size - 110) LIMIT 1"
    ).fetchall()[0]
    params = warehouse.execute("SELECT params FROM v_current_model").fetchall()[0][0]
    smallest = max(10, json.loads(params)["min_topic_size_used"] // 2)
    status = record_edit(warehouse, action="split", topic_keys=[key])[-1]
    sizes = [
        r[0]
        for r in warehouse.execute(
            "SELECT size FROM topics JOIN v_current_model USING (model_id) WHERE split_from = ?",
            [key],
        ).fetchall()
    ]
    assert (status.status == "applied" and len(sizes) >= 2) or (
        status.status == "vanished" and "no distinct groups" in status.detail and not sizes
    ), (size, status)
    assert all(s >= smallest for s in sizes), (size, sizes)


def test_edits_survive_a_refit_and_vanished_ones_are_reported(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object], embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a, b, c = largest(warehouse, 3)
    record_edit(warehouse, action="rename", topic_keys=[a], value="Renamed by the lead")
    record_edit(warehouse, action="merge", topic_keys=[b, c])
    warehouse.execute(
        "INSERT INTO topic_edits VALUES (99, 'ignore', ['T9999'], NULL, 'lead', now(), false)"
    )
    config = demo_run["config"]
    fit_topics(
        warehouse,
        config=config.topics,
        models_dir=tmp_path / "m",
        embedder=embedder,
    )  # type: ignore[attr-defined]
    statuses = {s.edit_id: s for s in apply_edits(warehouse)}
    topics = {t["key"]: t for t in list_topics(warehouse)}
    assert topics[a]["label"] == "Renamed by the lead"
    assert topics[c]["state"] == "inactive" and "merged into" in topics[c]["curation"]
    assert statuses[99].status == "vanished"
    shown = warehouse.execute("SELECT status FROM topic_edit_status WHERE edit_id = 99").fetchone()
    assert shown == ("vanished",)


def test_a_topic_that_comes_back_after_a_refit_keeps_its_key_and_its_merge(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object], embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a, b = largest(warehouse, 2)
    first = warehouse.execute("SELECT model_id FROM v_current_model").fetchall()[0][0]
    config = demo_run["config"]
    fit_topics(warehouse, config=config.topics, models_dir=tmp_path / "m", embedder=embedder)  # type: ignore[attr-defined]
    second = warehouse.execute("SELECT model_id FROM v_current_model").fetchall()[0][0]
    assert second != first and b in {t["key"] for t in list_topics(warehouse)}
    # The second model lost B (a refit can fold a topic into a neighbour): B is retired,
    # last fitted in the first model. A merge of B into A was recorded before.
    warehouse.execute(
        "DELETE FROM topics WHERE model_id = ? AND topic_key = ?", [second, b]
    ).fetchall()
    warehouse.execute(
        "UPDATE topics SET last_model_id = ? WHERE model_id = ? AND topic_key = ?",
        [first, first, b],
    ).fetchall()
    warehouse.execute(
        "INSERT INTO topic_edits VALUES (98, 'merge', [?, ?], NULL, 'lead', now(), false)", [a, b]
    ).fetchall()
    assert {s.edit_id: s.status for s in apply_edits(warehouse)}[98] == "vanished"
    fit_topics(warehouse, config=config.topics, models_dir=tmp_path / "m", embedder=embedder)  # type: ignore[attr-defined]
    statuses = {s.edit_id: s for s in apply_edits(warehouse)}
    topics = {t["key"]: t for t in list_topics(warehouse)}
    assert b in topics and topics[b]["curation"] == f"merged into {a}"
    assert statuses[98].status == "applied"


def test_new_tickets_that_join_no_topic_stay_in_the_views_of_a_model_without_unclustered(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object], tmp_path: Path
) -> None:
    from persona_mining.topics.model import assign_topics

    model_id, embedding_model = warehouse.execute(
        "SELECT model_id, embedding_model FROM v_current_model"
    ).fetchall()[0]
    # The fit left no ticket unclustered (as the demo's does): no topic -1 in the model.
    for table in ("topics", "topic_groups"):
        column = "topic_id" if table == "topics" else "group_id"
        warehouse.execute(
            f"DELETE FROM {table} WHERE model_id = ? AND {column} = -1", [model_id]
        ).fetchall()
    warehouse.execute(
        "UPDATE ticket_topics SET topic_id = 0, base_topic_id = 0 WHERE model_id = ? AND topic_id = -1",
        [model_id],
    ).fetchall()
    # Ten tickets arrive that are like no topic (an outlier threshold no ticket reaches).
    new = [
        r[0]
        for r in warehouse.execute(
            "SELECT ticket_id FROM ticket_topics WHERE model_id = ? ORDER BY ticket_id LIMIT 10",
            [model_id],
        ).fetchall()
    ]
    warehouse.execute(
        "DELETE FROM ticket_topics WHERE model_id = ? AND list_contains(?, ticket_id)",
        [model_id, new],
    ).fetchall()
    config = demo_run["config"].topics.model_copy(update={"outlier_threshold": 1.01})  # type: ignore[attr-defined]
    result = assign_topics(warehouse, config=config, embedding_model=embedding_model)
    assert result.tickets == 10 and result.unclustered == 10
    shown = warehouse.execute(
        "SELECT ticket_id, topic_key, topic_label FROM v_ticket_topics WHERE topic_id = -1 ORDER BY 1"
    ).fetchall()
    assert shown == [(t, "unclustered", "Unclustered") for t in sorted(new)]
    assert warehouse.execute("SELECT size FROM v_topics WHERE topic_id = -1").fetchall() == [(10,)]
    total = warehouse.execute("SELECT count(*) FROM v_ticket_topics").fetchall()
    assert (
        total
        == warehouse.execute(
            "SELECT count(*) FROM ticket_topics WHERE model_id = ?", [model_id]
        ).fetchall()
    )
    from persona_mining.report.html import write_report

    html = write_report(warehouse, out=tmp_path / "report.html").path.read_text(encoding="utf-8")
    assert f"{total[0][0] - 10:,} with a topic; 10 like no topic (unclustered)" in html
    # Five more the next night: the unclustered tickets' group follows (the curation stage).
    more = [
        t
        for (t,) in warehouse.execute(
            "SELECT ticket_id FROM ticket_topics WHERE model_id = ? AND topic_id <> -1 ORDER BY ticket_id LIMIT 5",
            [model_id],
        ).fetchall()
    ]
    warehouse.execute(
        "DELETE FROM ticket_topics WHERE model_id = ? AND list_contains(?, ticket_id)",
        [model_id, more],
    ).fetchall()
    assign_topics(warehouse, config=config, embedding_model=embedding_model)
    apply_edits(warehouse)
    assert warehouse.execute(
        "SELECT size FROM topic_groups WHERE model_id = ? AND group_id = -1", [model_id]
    ).fetchall() == [(15,)]


def test_a_change_of_the_known_issues_makes_a_refit_due(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object]
) -> None:
    from persona_mining.topics.model import refit_due

    config = demo_run["config"]
    fitted = config.known_issues  # type: ignore[attr-defined]
    assert refit_due(warehouse, config=config.topics, known_issues=fitted) is None  # type: ignore[attr-defined]
    student = KnownIssue(name="Student discount", description="Verifying student status")
    due = refit_due(warehouse, config=config.topics, known_issues=[*fitted, student])  # type: ignore[attr-defined]
    assert due == "the known issues changed since the fit (new 'Student discount')"
    # Imported into the warehouse (`topics import`), it counts the same.
    warehouse.execute(
        "INSERT INTO known_issues (name, description, examples, source) "
        "VALUES ('Student discount', '', [], 'taxonomy.toml')"
    ).fetchall()
    assert refit_due(warehouse, config=config.topics, known_issues=fitted) == due  # type: ignore[attr-defined]
    # A known issue the model was fitted with, reworded: it matches other tickets now.
    from persona_mining.topics.model import known_digests

    warehouse.execute(
        "UPDATE topic_models SET params = ?",
        [json.dumps({"known_issues": known_digests([student])})],
    ).fetchall()
    assert refit_due(warehouse, config=config.topics, known_issues=[student]) is None  # type: ignore[attr-defined]
    reworded = student.model_copy(update={"examples": ("my student card is refused",)})
    assert refit_due(warehouse, config=config.topics, known_issues=[reworded]) == (  # type: ignore[attr-defined]
        "the known issues changed since the fit (reworded 'Student discount')"
    )
    # A model fitted before the known issues were recorded is taken as fitted with them.
    warehouse.execute(
        "UPDATE topic_models SET params = json_object('min_topic_size', 5)::VARCHAR"
    ).fetchall()
    assert refit_due(warehouse, config=config.topics, known_issues=fitted) is None  # type: ignore[attr-defined]


def test_a_refit_keeps_the_fitted_labels_so_edits_replay_and_undo_as_before(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object], embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a, b = largest(warehouse, 2)
    fitted = warehouse.execute("SELECT label FROM v_topics WHERE topic_key = ?", [a]).fetchall()
    record_edit(warehouse, action="rename", topic_keys=[a], value="Renamed by the lead")
    record_edit(warehouse, action="split", topic_keys=[b])
    query = """SELECT t.topic_key, t.label, t.keywords = p.keywords AND len(t.keywords) > 0
        FROM v_topics t JOIN v_topics p ON p.topic_key = t.split_from ORDER BY 1"""
    subs = warehouse.execute(query).fetchall()
    assert len(subs) >= 2 and all(same for _, _, same in subs)  # the parent's keywords
    config = demo_run["config"]
    fit_topics(warehouse, config=config.topics, models_dir=tmp_path / "m", embedder=embedder)  # type: ignore[attr-defined]
    apply_edits(warehouse)
    # The refit inherits the label as fitted; the rename is an edit, replayed on it.
    assert warehouse.execute(
        "SELECT base_label, label FROM topics JOIN v_current_model USING (model_id) "
        "WHERE topic_key = ?",
        [a],
    ).fetchall() == [(fitted[0][0], "Renamed by the lead")]
    # The sub-topics keep the labels the split gave them.
    assert [(k, label) for k, label, _ in warehouse.execute(query).fetchall()] == [
        (k, label) for k, label, _ in subs
    ]
    undo_edit(warehouse)
    undo_edit(warehouse)
    assert (
        warehouse.execute("SELECT label FROM v_topics WHERE topic_key = ?", [a]).fetchall()
        == fitted
    )


def test_a_split_whose_tickets_all_lie_nearest_one_sub_topic_is_not_applied(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    (a,) = largest(warehouse, 1)
    edit = record_edit(warehouse, action="split", topic_keys=[a])[-1].edit_id
    # Every sub-topic but the first moves far away from the tickets (as a profile switch and
    # back can leave them).
    warehouse.execute(
        """UPDATE topic_split_centroids SET centroid = list_transform(centroid, lambda x: -x)
        WHERE edit_id = ? AND position > 1""",
        [edit],
    ).fetchall()
    (status,) = [s for s in apply_edits(warehouse) if s.edit_id == edit]
    assert status.status == "vanished" and f"({a}.1): not split" in status.detail
    assert warehouse.execute("SELECT active FROM v_topics WHERE topic_key = ?", [a]).fetchall() == [
        (True,)
    ]
    assert warehouse.execute(
        "SELECT count(*) FROM v_topics WHERE split_from = ?", [a]
    ).fetchall() == [(0,)]


def test_the_taxonomy_exports_and_imports(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object], tmp_path: Path
) -> None:
    (a,) = largest(warehouse, 1)
    record_edit(warehouse, action="rename", topic_keys=[a], value="Shared label")
    out = tmp_path / "taxonomy.toml"
    known = [
        KnownIssue(
            name="Student discount",
            description="Verifying student status",
            examples=("my student id is not accepted",),
        )
    ]
    assert export_taxonomy(warehouse, known_issues=known, out=out) == 1
    other_path = tmp_path / "other.duckdb"
    shutil.copy(demo_run["config"].warehouse.path, other_path)  # type: ignore[attr-defined]
    other = db.connect(other_path)
    try:
        assert import_taxonomy(other, path=out) == (1, 1)
        assert import_taxonomy(other, path=out) == (0, 0)
        assert {t["key"]: t for t in list_topics(other)}[a]["label"] == "Shared label"
        assert other.execute("SELECT name FROM known_issues").fetchall() == [("Student discount",)]
    finally:
        other.close()


def test_known_issues_take_their_tickets_and_new_issues_still_surface(
    warehouse: duckdb.DuckDBPyConnection, demo_run: dict[str, object], embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    known = [
        KnownIssue(
            name="Student discount verification",
            description="Customers whose student discount or student ID verification fails",
            examples=(
                "my student discount code is not working",
                "how do I verify my student status",
            ),
        )
    ]
    config = demo_run["config"]
    result = fit_topics(
        warehouse,
        config=config.topics,
        models_dir=tmp_path / "m",
        embedder=embedder,
        known_issues=known,
    )  # type: ignore[attr-defined]
    row = warehouse.execute(
        "SELECT topic_key, label, size, known FROM topics JOIN v_current_model USING (model_id) WHERE known"
    ).fetchall()
    assert (
        row
        and row[0][0] == "K-student-discount-verification"
        and row[0][1] == "Student discount verification"
    )
    issues = dict(
        warehouse.execute(
            "SELECT demo_issue, count(*) FROM v_ticket_topics JOIN tickets USING (ticket_id) WHERE topic_key LIKE 'K-%' GROUP BY 1"
        ).fetchall()
    )
    assert max(issues, key=issues.get) == "student_discount"  # type: ignore[arg-type]
    assert result.topics >= 10
    scores = evaluate_topics(warehouse, labels_column="demo_issue")
    assert scores.known_tickets == row[0][2] and scores.discovered_tickets > scores.known_tickets
