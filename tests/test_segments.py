"""Segments from persona rules: members, rebuilds, and rules that do not parse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from persona_mining.config import PersonaRule
from persona_mining.errors import ConfigError
from persona_mining.ingest.load import ingest_customers
from persona_mining.personas.segments import build_segments, segment_id, segment_masks
from tests.conftest import write


@pytest.fixture
def customers(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = write(
        tmp_path / "c.csv",
        "customer_id,occupation,plan,age\n1,student,free,20\n2,student,premium,22\n3,nurse,free,40\n",
    )
    ingest_customers(con, path=path)
    return con


def test_rule_members_are_the_matching_customers(customers: duckdb.DuckDBPyConnection) -> None:
    rules = [
        PersonaRule(
            name="Budget-conscious student", where="occupation = 'student' AND plan = 'free'"
        ),
        PersonaRule(name="Serial returner", where="age > 30", negative=True),
    ]
    result = build_segments(customers, personas=rules)
    assert result.segments == {"budget-conscious-student": 1, "serial-returner": 1}
    assert customers.execute("SELECT segment_id, kind FROM segments ORDER BY 1").fetchall() == [
        ("budget-conscious-student", "rule"),
        ("serial-returner", "negative"),
    ]


def test_rebuilding_with_new_rules_replaces_the_old_segments(
    customers: duckdb.DuckDBPyConnection,
) -> None:
    build_segments(customers, personas=[PersonaRule(name="Old", where="true")])
    build_segments(customers, personas=[PersonaRule(name="New", where="age < 21")])
    assert customers.execute(
        "SELECT segment_id, customer_id FROM customer_segments"
    ).fetchall() == [("new", "1")]


def test_a_rebuild_after_customers_change_keeps_every_member_once(
    customers: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """A nightly rebuild writes only the memberships that change; the table ends as a fresh
    build would leave it: a discovered segment's members untouched, no member twice."""
    rules = [
        PersonaRule(name="Student", where="occupation = 'student'"),
        PersonaRule(name="Free", where="plan = 'free'"),
    ]
    customers.execute(
        "INSERT INTO segments (segment_id, name, kind) VALUES ('discovered-1', 'd', 'negative')"
    )
    customers.execute("INSERT INTO customer_segments VALUES ('3', 'discovered-1')")
    build_segments(customers, personas=rules)
    changed = write(
        tmp_path / "c2.csv",
        "customer_id,occupation,plan,age\n1,nurse,free,21\n3,student,free,40\n4,student,premium,30\n",
    )
    ingest_customers(customers, path=changed)
    result = build_segments(customers, personas=rules)
    rows = customers.execute(
        "SELECT segment_id, customer_id FROM customer_segments ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("discovered-1", "3"),
        ("free", "1"),
        ("free", "3"),
        ("student", "2"),
        ("student", "3"),
        ("student", "4"),
    ]
    assert result.segments == {"student": 3, "free": 2}
    build_segments(customers, personas=rules[:1])  # a persona dropped from the config
    assert customers.execute(
        "SELECT segment_id, count(*) FROM customer_segments GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [("discovered-1", 1), ("student", 3)]


@pytest.mark.parametrize("rule", ["occupaton = 'student'", "age +", "age"])
def test_a_bad_rule_names_the_persona_and_the_fix(
    customers: duckdb.DuckDBPyConnection, rule: str
) -> None:
    with pytest.raises(ConfigError, match=r"persona 'Broken'.*fix `where`"):
        build_segments(customers, personas=[PersonaRule(name="Broken", where=rule)])
    assert customers.execute("SELECT count(*) FROM segments").fetchone() == (0,)


def test_segment_ids_are_stable_slugs() -> None:
    assert segment_id("Budget-conscious student") == "budget-conscious-student"
    assert segment_id("Café  owners!") == "cafe-owners"


def test_segment_masks_match_customers_exactly() -> None:
    # Ids that differ only by a trailing NUL or by case are different customers; members
    # of no listed customer and empty segments are kept apart.
    con = duckdb.connect()
    con.execute("CREATE TABLE segments (segment_id VARCHAR)")
    con.execute("CREATE TABLE customer_segments (customer_id VARCHAR, segment_id VARCHAR)")
    con.execute("INSERT INTO segments VALUES ('b'), ('a'), ('empty')")
    con.executemany(
        "INSERT INTO customer_segments VALUES (?, ?)",
        [["C1\x00", "a"], ["c1", "a"], ["C2", "b"], ["C1", "b"], ["gone", "b"]],
    )
    masks = segment_masks(con, ["C1", "C1\x00", "C2", "c1"])
    assert list(masks) == ["a", "b", "empty"]
    assert masks["a"].tolist() == [False, True, False, True]
    assert masks["b"].tolist() == [True, False, True, False]
    assert not masks["empty"].any()
    assert segment_masks(con, [])["a"].tolist() == []
