"""End to end on the demo help desk: the Prefect flow finds the planted links and nothing else.

One warehouse is built once per session (demo data -> ingest -> flow) and shared by the
tests of this module, which only read it or work on copies.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from persona_mining import warehouse as db
from persona_mining.ingest.load import ingest_tickets
from persona_mining.personas.link import link_issues

pytestmark = pytest.mark.slow


def connect(demo_run: dict[str, object], *, copy: bool = False) -> duckdb.DuckDBPyConnection:
    path = demo_run["config"].warehouse.path  # type: ignore[attr-defined]
    if copy:
        target = Path(str(path) + ".copy.duckdb")
        shutil.copy(path, target)
        return db.connect(target)
    return db.connect(path, read_only=True)


#: A topic carries a planted issue that holds at least this share of its tickets.
CARRIED_SHARE = 0.25


def significant_links(con: duckdb.DuckDBPyConnection) -> list[tuple[str, frozenset[str]]]:
    """Each significant over-indexed (persona, topic) link, with the planted demo issues its
    topic carries: the majority issue, and any other that holds `CARRIED_SHARE` of it.

    A topic that folds two related issues together (a promo code and the student discount,
    on some CPUs) carries both: a persona's link to it is the link of the planted issue it
    carries, diluted, and is judged as that."""
    carried: dict[int, set[str]] = {}
    for topic, issue, share, rank in con.execute(
        """SELECT topic_id, demo_issue, count(*) / sum(count(*)) OVER (PARTITION BY topic_id),
            row_number() OVER (PARTITION BY topic_id ORDER BY count(*) DESC, demo_issue)
        FROM v_ticket_topics JOIN tickets USING (ticket_id)
        GROUP BY topic_id, demo_issue"""
    ).fetchall():
        if rank == 1 or share >= CARRIED_SHARE:
            carried.setdefault(topic, set()).add(issue)
    rows = con.execute(
        "SELECT persona, topic_id FROM v_issue_by_persona WHERE significant AND lift > 1"
    ).fetchall()
    return [(persona, frozenset(carried[topic])) for persona, topic in rows]


def test_the_flow_runs_every_stage(demo_run: dict[str, object]) -> None:
    summary = demo_run["summary"]
    assert set(summary) == {  # type: ignore[arg-type]
        "prepare",
        "embed",
        "topics",
        "curation",
        "trends",
        "segments",
        "link",
        "negative",
        "impact",
        "analysis",
        "personas",
    }
    assert summary["topics"]["refit"] and summary["topics"]["topics"] >= 10  # type: ignore[index]
    model_dir = Path(summary["topics"]["model_id"])  # type: ignore[index]
    saved = demo_run["config"].models.dir / model_dir  # type: ignore[attr-defined]
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["n_tickets"] == summary["prepare"]["tickets"]  # type: ignore[index]
    assert (saved / "bertopic" / "topic_embeddings.safetensors").exists()
    assert "bertopic" in manifest["versions"]


def test_planted_links_are_recovered_with_precision_and_recall(demo_run: dict[str, object]) -> None:
    from persona_mining.demo.generate import planted_links

    con = connect(demo_run)
    found = significant_links(con)
    con.close()
    planted = set(planted_links())
    # A link is false when its topic carries no issue planted for its persona.
    false = [(p, sorted(issues)) for p, issues in found if not {(p, i) for i in issues} & planted]
    recovered = {(p, i) for p, issues in found for i in issues} & planted
    precision = 1 - len(false) / max(1, len(found))
    recall = len(recovered) / len(planted)
    assert precision >= 0.9, false
    assert recall >= 0.9, sorted(planted - recovered)


def test_shuffled_personas_rarely_have_a_significant_link(demo_run: dict[str, object]) -> None:
    """A negative control: personas given to random customers link to no issue.

    Under BH at alpha 0.05 a table of true nulls has a significant cell in at most about 5%
    of the shuffles; 20 shuffles with more than 3 such tables would mean the statistics
    over-claim (P(X >= 4) is below 2% at 5%).
    """
    con = connect(demo_run, copy=True)
    customers = [
        r[0]
        for r in con.execute("SELECT customer_id FROM customers ORDER BY customer_id").fetchall()
    ]
    con.execute("CREATE TABLE original AS SELECT * FROM customer_segments")
    con.execute("CREATE TEMP TABLE shuffle (old VARCHAR, new VARCHAR)")
    with_links = []
    for seed in range(20):
        shuffled = np.random.default_rng(2026 + seed).permutation(customers).tolist()
        con.execute("DELETE FROM shuffle")
        con.register("__shuffled", pa.table({"old": customers, "new": shuffled}))
        con.execute("INSERT INTO shuffle SELECT old, new FROM __shuffled")
        con.unregister("__shuffled")
        con.execute("DELETE FROM customer_segments")
        con.execute(
            "INSERT INTO customer_segments (customer_id, segment_id) SELECT s.new, o.segment_id "
            "FROM original o JOIN shuffle s ON o.customer_id = s.old"
        )
        link_issues(con, config=demo_run["config"].link)  # type: ignore[attr-defined]
        row = con.execute("SELECT count(*) FROM issue_by_persona WHERE significant").fetchone()
        if row and row[0]:
            with_links.append((seed, row[0]))
    con.close()
    assert len(with_links) <= 3, with_links


def test_topics_have_readable_distinct_labels(demo_run: dict[str, object]) -> None:
    con = connect(demo_run)
    labels = [
        r[0] for r in con.execute("SELECT label FROM v_topics WHERE topic_id <> -1").fetchall()
    ]
    con.close()
    assert len(labels) == len(set(labels))
    for label in labels:
        assert "_" not in label and "[" not in label and 2 <= len(label) <= 60, label


def test_profiles_list_challenges_with_evidence_and_pii_free_questions(
    demo_run: dict[str, object],
) -> None:
    con = connect(demo_run)
    rows = con.execute(
        "SELECT persona, kind, challenges, questions, summary FROM v_persona_profiles"
    ).fetchall()
    con.close()
    assert {r[0] for r in rows} == {p.name for p in demo_run["config"].personas}  # type: ignore[attr-defined]
    for persona, kind, challenges, questions, summary in rows:
        challenges = json.loads(challenges)
        assert challenges, persona
        for challenge in challenges:
            assert challenge["lift"] > 1 and challenge["ci_low"] > 1 and challenge["q_value"] < 0.05
        asked = [q for qs in json.loads(questions).values() for q in qs]
        assert asked and not any("@" in q for q in asked)
        assert persona in summary
        if kind == "negative":
            assert "negative persona" in summary


def test_a_personas_questions_are_common_to_its_customers_and_belong_to_the_topic(
    demo_run: dict[str, object],
) -> None:
    """Each question shown for a persona's challenge is asked by at least two of its customers
    there (wordings compared without case, punctuation or handles), and more often on the topic
    than on all tickets: "What are my options?", asked on every issue alike, is no finding."""

    def wording(question: str) -> str:
        stripped = re.sub(r"@?\[[A-Z]+\]|@\w+", " ", question).lower()
        return " ".join(re.sub(r"[^\w ]+|_", "", stripped).split())

    con = connect(demo_run)
    rows = con.execute(
        "SELECT segment_id, model_id, questions FROM persona_profiles ORDER BY segment_id"
    ).fetchall()
    checked = 0
    for segment, model, questions in rows:
        asked_anywhere = con.execute(
            """SELECT q.ticket_id, q.question, tt.topic_id FROM ticket_questions q
            JOIN ticket_topics tt ON tt.ticket_id = q.ticket_id AND tt.model_id = ?""",
            [model],
        ).fetchall()
        (assigned,) = con.execute(
            "SELECT count(*) FROM ticket_topics WHERE model_id = ?", [model]
        ).fetchone() or (0,)
        for topic, shown in json.loads(questions).items():
            assert len(shown) <= 3
            (on_topic,) = con.execute(
                "SELECT count(*) FROM ticket_topics WHERE model_id = ? AND topic_id = ?",
                [model, int(topic)],
            ).fetchone() or (0,)
            askers = con.execute(
                """SELECT q.question, t.customer_id FROM ticket_questions q
                JOIN tickets t USING (ticket_id)
                JOIN customer_segments cs ON cs.customer_id = t.customer_id AND cs.segment_id = ?
                JOIN ticket_topics tt
                  ON tt.ticket_id = q.ticket_id AND tt.model_id = ? AND tt.topic_id = ?""",
                [segment, model, int(topic)],
            ).fetchall()
            for question in shown:
                key = wording(question)
                customers = {c for q, c in askers if wording(q) == key}
                assert len(customers) >= 2, (segment, topic, question)
                tickets = {t for t, q, _ in asked_anywhere if wording(q) == key}
                here = {t for t, q, tp in asked_anywhere if wording(q) == key and tp == int(topic)}
                assert len(here) / on_topic > len(tickets) / assigned, (segment, topic, question)
            checked += bool(shown)
    con.close()
    assert checked >= 3


def test_a_second_run_reuses_everything_and_assigns_only_new_tickets(
    demo_run: dict[str, object], tmp_path: Path
) -> None:
    from flows.pipeline import run_stages

    con = connect(demo_run, copy=True)
    copy_path = Path(str(demo_run["config"].warehouse.path) + ".copy.duckdb")  # type: ignore[attr-defined]
    new = tmp_path / "new.csv"
    new.write_text(
        "ticket_id,customer_id,created_at,subject,body\n"
        "NEW-1,,2026-04-01T10:00:00,App keeps crashing,The app crashes every time I open my orders. Can you fix it?\n"
        "NEW-2,,2026-04-01T11:00:00,Refund,I returned the blender two weeks ago. Where is my refund?\n",
        encoding="utf-8",
    )
    ingest_tickets(con, path=new)
    models_before = con.execute("SELECT count(*) FROM topic_models").fetchone()
    con.close()

    from persona_mining.config import WarehouseConfig

    config = demo_run["config"].model_copy(update={"warehouse": WarehouseConfig(path=copy_path)})  # type: ignore[attr-defined]
    summary = run_stages_in_flow(run_stages, config)
    assert summary["prepare"]["prepared"] == 2
    assert summary["embed"]["embedded"] == 2
    assert not summary["topics"]["refit"] and summary["topics"]["tickets"] == 2
    con = db.connect(copy_path, read_only=True)
    assert con.execute("SELECT count(*) FROM topic_models").fetchone() == models_before
    labels = dict(
        con.execute(
            "SELECT source_ticket_id, topic_label FROM v_ticket_topics "
            "WHERE source_ticket_id LIKE 'NEW-%'"
        ).fetchall()
    )
    con.close()
    assert set(labels) == {"NEW-1", "NEW-2"}


def run_stages_in_flow(run_stages, config):  # type: ignore[no-untyped-def]
    from prefect import flow

    @flow(name="persona-pipeline-test")
    def wrapper():  # type: ignore[no-untyped-def]
        return run_stages(config)

    return wrapper()


def test_topics_match_the_planted_issues(demo_run: dict[str, object]) -> None:
    """Most topics are dominated by one true issue: the clustering found the intents."""
    con = connect(demo_run)
    rows = con.execute(
        "SELECT topic_id, demo_issue FROM v_ticket_topics JOIN tickets USING (ticket_id) WHERE topic_id <> -1"
    ).fetchall()
    con.close()
    by_topic: dict[int, Counter[str]] = {}
    for topic, issue in rows:
        by_topic.setdefault(topic, Counter())[issue] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_topic.values()) / len(rows)
    assert purity >= 0.8


def test_a_warehouse_without_personas_still_links_and_profiles(demo_run: dict[str, object]) -> None:
    from persona_mining.personas.profiles import build_profiles
    from persona_mining.personas.segments import build_segments
    from persona_mining.topics.taxonomy import apply_edits

    con = connect(demo_run, copy=True)
    try:
        build_segments(con, personas=[])
        assert link_issues(con, config=demo_run["config"].link).cells == 0  # type: ignore[attr-defined]
        assert build_profiles(con).personas == 0
        assert apply_edits(con) == []
    finally:
        con.close()


def test_the_planted_outcome_effect_is_recovered_and_only_the_returners_are_negative(
    demo_run: dict[str, object],
) -> None:
    from persona_mining.demo.plan import planted_outcome_effects

    ((persona, issue),) = planted_outcome_effects()
    con = connect(demo_run)
    majority = dict(
        con.execute(
            """SELECT topic_id, mode(demo_issue) FROM v_ticket_topics JOIN tickets USING (ticket_id)
            GROUP BY topic_id"""
        ).fetchall()
    )
    rows = con.execute(
        """SELECT topic_id, impact, costly, csat_diff_high, resolution_hours_diff_low
        FROM v_issue_impact WHERE persona = ? ORDER BY impact DESC NULLS LAST""",
        [persona],
    ).fetchall()
    negative = con.execute(
        "SELECT s.name FROM segment_flags f JOIN segments s USING (segment_id) WHERE f.negative"
    ).fetchall()
    con.close()
    topic, _, costly, csat_diff_high, hours_diff_low = rows[0]
    assert majority[topic] == issue and costly
    assert csat_diff_high < -1 and hours_diff_low > 5
    assert negative == [("Serial returner",)]
