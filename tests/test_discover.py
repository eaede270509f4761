"""Discovered segments: known clusters are found, named, stored, kept and replaced."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.config import DiscoverConfig, LinkConfig, PersonaRule
from persona_mining.errors import ConfigError, StageError
from persona_mining.personas.discover import discover_segments
from persona_mining.personas.link import link_issues
from persona_mining.personas.segments import build_segments
from tests.synthetic import Ticket, add_customers, add_model, add_segment, add_tickets

GROUPS = {
    "A": ("student", "free", (18, 24), 0),
    "B": ("nurse", "premium", (40, 50), 1),
    "C": ("retired", "standard", (65, 80), 2),
}
TOPICS = {
    0: ("Student discount", ["student", "discount"]),
    1: ("Night delivery", ["night", "delivery"]),
    2: ("Large print invoice", ["invoice", "print"]),
}


def known_clusters(con: duckdb.DuckDBPyConnection, per_group: int = 40) -> dict[str, set[str]]:
    """Three groups that differ in occupation, plan, age and issue; region and email are noise."""
    rng = random.Random(5)
    customers, tickets, members = [], [], {}
    for group, (occupation, plan, (young, old), topic) in GROUPS.items():
        members[group] = set()
        for i in range(per_group):
            cid = f"{group}{i:03d}"
            members[group].add(cid)
            customers.append(
                {
                    "customer_id": cid,
                    "occupation": occupation,
                    "plan": plan,
                    "age": rng.randint(young, old),
                    "region": rng.choice(["north", "south", "east", "west"]),
                    "email": f"{cid}@example.com",
                }
            )
            for k in range(3):
                on_topic = topic if rng.random() < 0.8 else rng.choice([0, 1, 2])
                tickets.append(Ticket(f"{cid}-{k}", cid, on_topic))
    add_customers(
        con,
        customers,
        {
            "occupation": "VARCHAR",
            "plan": "VARCHAR",
            "age": "INTEGER",
            "region": "VARCHAR",
            "email": "VARCHAR",
        },
    )
    add_model(con, TOPICS)
    add_tickets(con, tickets)
    return members


def stored_members(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for sid, cid in con.execute(
        "SELECT segment_id, customer_id FROM customer_segments WHERE segment_id LIKE 'discovered-%'"
    ).fetchall():
        found.setdefault(sid, set()).add(cid)
    return found


def test_known_clusters_are_found_with_k_chosen_by_silhouette(
    con: duckdb.DuckDBPyConnection,
) -> None:
    groups = known_clusters(con)
    result = discover_segments(con, config=DiscoverConfig(min_segment_customers=10))
    assert (result.k, result.chosen_by) == (3, "silhouette")
    assert set(result.scores) == set(range(2, 11))
    # Finer cuts of the noise (age, region) may score higher but leave segments under 10.
    assert result.scores[3] > max(result.scores[2], result.scores[4])
    assert sorted(map(sorted, stored_members(con).values())) == sorted(map(sorted, groups.values()))
    assert "email" not in result.attributes and "region" in result.attributes
    assert result.topics == 0


def test_segments_are_named_by_their_attributes_never_by_an_issue(
    con: duckdb.DuckDBPyConnection,
) -> None:
    known_clusters(con)
    discover_segments(con, config=DiscoverConfig(k=3))
    rows = con.execute(
        "SELECT segment_id, name, kind, description FROM segments ORDER BY segment_id"
    ).fetchall()
    assert [r[0] for r in rows] == ["discovered-1", "discovered-2", "discovered-3"]
    assert {r[2] for r in rows} == {"discovered"}
    names = {r[1] for r in rows}
    assert any("occupation=student" in n or "plan=free" in n for n in names)
    assert any("age=" in n or "occupation=retired" in n for n in names)
    labels = [label for label, _ in TOPICS.values()]
    assert not any(label in n or " · " in n for n in names for label in labels)
    assert "k=3 forced" in rows[0][3] and "not on tickets" in rows[0][3]


def test_a_forced_k_is_used_and_rediscovery_replaces_the_segments(
    con: duckdb.DuckDBPyConnection,
) -> None:
    known_clusters(con)
    discover_segments(con, config=DiscoverConfig(k=4))
    result = discover_segments(con, config=DiscoverConfig(k=2))
    assert (result.k, result.chosen_by) == (2, "forced")
    assert len(stored_members(con)) == 2
    assert sum(len(m) for m in stored_members(con).values()) == 120
    assert con.execute("SELECT count(*) FROM segment_discoveries").fetchone() == (2,)


def test_rule_segments_are_rebuilt_without_touching_discovered_ones(
    con: duckdb.DuckDBPyConnection,
) -> None:
    known_clusters(con)
    discover_segments(con, config=DiscoverConfig(k=3))
    con.execute("UPDATE segments SET kind = 'negative' WHERE segment_id = 'discovered-1'")
    before = stored_members(con)
    build_segments(con, personas=[PersonaRule(name="Nurses", where="occupation = 'nurse'")])
    build_segments(con, personas=[PersonaRule(name="Students", where="occupation = 'student'")])
    assert stored_members(con) == before
    assert {r[0] for r in con.execute("SELECT segment_id FROM segments").fetchall()} == {
        "discovered-1",
        "discovered-2",
        "discovered-3",
        "students",
    }


def test_a_rule_cannot_take_a_discovered_segment_id(con: duckdb.DuckDBPyConnection) -> None:
    add_customers(con, [{"customer_id": "1"}], {})
    with pytest.raises(ConfigError, match="reserved"):
        build_segments(con, personas=[PersonaRule(name="Discovered 1", where="true")])


def test_too_few_customers_is_a_clear_error(con: duckdb.DuckDBPyConnection) -> None:
    add_customers(
        con,
        [{"customer_id": "1", "plan": "free"}, {"customer_id": "2", "plan": "paid"}],
        {"plan": "VARCHAR"},
    )
    with pytest.raises(StageError, match="too few to cluster"):
        discover_segments(con, config=DiscoverConfig())


def test_segments_too_small_for_every_k_are_a_clear_error_that_changes_nothing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    known_clusters(con, per_group=8)
    add_segment(con, "discovered-9", ["A000"], kind="discovered")
    with pytest.raises(StageError, match="min_segment_customers or force the number with --k"):
        discover_segments(con, config=DiscoverConfig(min_segment_customers=50))
    assert con.execute("SELECT segment_id FROM segments").fetchall() == [("discovered-9",)]


def test_the_discover_command_links_and_lists_the_segments(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    known_clusters(con)
    con.close()
    result = CliRunner().invoke(app, ["discover", "--db", str(path), "--k", "3"])
    assert result.exit_code == 0, result.output
    assert "3 segments of 120 customers, k forced" in result.output
    assert "discovered-1" in result.output and "occupation=student" in result.output
    con = db.connect(path, read_only=True)
    linked = con.execute(
        "SELECT count(*) FROM v_issue_by_persona WHERE kind = 'discovered' AND significant AND lift > 1"
    ).fetchone()
    profiles = con.execute(
        "SELECT count(*) FROM v_persona_profiles WHERE segment_id LIKE 'discovered-%'"
    ).fetchone()
    # What each issue costs them is measured too (it was missing until the next run).
    costed = con.execute(
        "SELECT count(DISTINCT segment_id) FROM issue_impact WHERE segment_id LIKE 'discovered-%'"
    ).fetchall()
    con.close()
    assert linked is not None and linked[0] >= 3
    assert profiles == (3,) and costed == [(3,)]
    bad = CliRunner().invoke(app, ["discover", "--db", str(path), "--k", "1"])
    assert bad.exit_code == 2 and "--k 1" in bad.output


def null_warehouse(con: duckdb.DuckDBPyConnection, seed: int = 0) -> None:
    """120 customers whose plan and age have nothing to do with their three tickets' topics."""
    rng = random.Random(seed)
    customers, tickets = [], []
    for i in range(120):
        cid = f"c{i:03d}"
        customers.append(
            {"customer_id": cid, "plan": rng.choice(["free", "pro"]), "age": rng.randint(18, 80)}
        )
        tickets += [Ticket(f"{cid}-{k}", cid, rng.randrange(3)) for k in range(3)]
    add_customers(con, customers, {"plan": "VARCHAR", "age": "INTEGER"})
    add_model(con, TOPICS)
    add_tickets(con, tickets)


def test_segments_of_customers_whose_issues_are_random_link_to_no_issue(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Clustering on the issue mix made each segment over-index on "its" issue here (5 cells
    # with q < 0.05); clusters of attributes are tested on evidence they never saw.
    null_warehouse(con)
    discover_segments(con, config=DiscoverConfig(k=3))
    link_issues(con, config=LinkConfig())
    tested = con.execute("SELECT count(*) FROM issue_by_persona WHERE q_value IS NOT NULL")
    assert tested.fetchone() == (9,)
    assert con.execute("SELECT count(*) FROM issue_by_persona WHERE significant").fetchone() == (0,)
    params = con.execute("SELECT features, params FROM segment_discoveries").fetchone()
    assert params is not None and "issue_weight" not in params[1]


def test_issue_weight_is_accepted_and_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    known_clusters(con)
    discover_segments(con, config=DiscoverConfig(k=3, issue_weight=0.0))
    without = stored_members(con)
    discover_segments(con, config=DiscoverConfig(k=3, issue_weight=5.0))
    assert stored_members(con) == without


def test_ticket_fields_copied_to_customers_are_not_clustered_on(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Customers loaded from the ticket file: each row carries its ticket's status and subject.
    # `ticket_status` is also a tickets column; `ticket_subject` is held by the tickets as
    # `subject`. Both follow the topic, so clustering on them would rebuild the issues.
    rng = random.Random(3)
    customers, tickets = [], []
    for i in range(90):
        cid, topic = f"c{i:03d}", i % 3
        status = "Closed" if topic == 0 else "Open"
        subject = TOPICS[topic][0]
        customers.append(
            {
                "customer_id": cid,
                "ticket_status": status,
                "ticket_subject": subject,
                "plan": rng.choice(["free", "pro"]),
            }
        )
        tickets.append(
            Ticket(f"{cid}-0", cid, topic, extra={"ticket_status": status, "subject": subject})
        )
    add_customers(
        con,
        customers,
        {"ticket_status": "VARCHAR", "ticket_subject": "VARCHAR", "plan": "VARCHAR"},
    )
    add_model(con, TOPICS)
    add_tickets(con, tickets, {"ticket_status": "VARCHAR"})
    con.executemany(
        "UPDATE tickets SET subject = ? WHERE ticket_id = ?",
        [[t.extra["subject"], t.ticket_id] for t in tickets],
    )
    result = discover_segments(con, config=DiscoverConfig(k=2))
    assert result.attributes == ("plan",)
    assert result.ticket_fields == {"ticket_status": "ticket_status", "ticket_subject": "subject"}
    names = [r[0] for r in con.execute("SELECT name FROM segments").fetchall()]
    assert all("ticket_" not in n for n in names)
    recorded = con.execute("SELECT features FROM segment_discoveries").fetchone()
    assert recorded is not None and "ticket_subject" in recorded[0]


def test_customers_with_only_ticket_fields_are_a_clear_error(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_customers(
        con,
        [{"customer_id": f"c{i}", "channel": ["email", "chat"][i % 2]} for i in range(30)],
        {"channel": "VARCHAR"},
    )
    add_model(con, TOPICS)
    add_tickets(con, [Ticket(f"t{i}", f"c{i}", i % 3) for i in range(30)])
    with pytest.raises(StageError, match="channel describe tickets") as error:
        discover_segments(con, config=DiscoverConfig(k=2))
    # The same name in both tables: the message says how to keep the column for the customers.
    assert "drop_columns" in str(error.value) and "new warehouse" in str(error.value)
