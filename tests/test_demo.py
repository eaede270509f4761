"""Tests for the seeded demo-data generator."""

from __future__ import annotations

import json
import string
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pytest

from persona_mining.config import TICKET_COLUMNS
from persona_mining.demo.data import load_helpdesk, parse_helpdesk
from persona_mining.demo.generate import DemoResult, generate_demo
from persona_mining.demo.plan import (
    BASE_RATES,
    ISSUES,
    PERSONAS,
    TEMPLATES,
    TICKETS_PER_CUSTOMER,
    issue_distribution,
    persona_matches,
    planted_links,
    planted_outcome_effects,
)
from persona_mining.errors import InputFileError

FILES = ("customers", "tickets")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The default-size demo in CSV."""
    return generate_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_con(demo: DemoResult) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `customers`, `tickets` and `t` (tickets + persona key)."""
    c = duckdb.connect()
    c.execute(f"CREATE TABLE customers AS SELECT * FROM read_csv('{demo.customers_path}')")
    c.execute(f"CREATE TABLE tickets AS SELECT * FROM read_csv('{demo.tickets_path}')")
    case = " ".join(f"WHEN {p.rule} THEN '{p.key}'" for p in PERSONAS)
    c.execute(
        "CREATE TABLE t AS SELECT tickets.*, "
        f"CASE WHEN customers.customer_id IS NULL THEN 'anonymous' {case} ELSE 'general' END AS g "
        "FROM tickets LEFT JOIN customers USING (customer_id)"
    )
    return c


def _rows(c: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return c.execute(sql).fetchall()


def test_same_seed_is_byte_identical(tmp_path: Path) -> None:
    for fmt in ("csv", "jsonl", "parquet"):
        a = generate_demo(tmp_path / f"a_{fmt}", seed=3, n_customers=200, fmt=fmt)
        b = generate_demo(tmp_path / f"b_{fmt}", seed=3, n_customers=200, fmt=fmt)
        for pa_, pb in [
            (a.customers_path, b.customers_path),
            (a.tickets_path, b.tickets_path),
            (a.plan_path, b.plan_path),
            (a.config_path, b.config_path),
        ]:
            assert pa_.read_bytes() == pb.read_bytes(), pa_.name


def test_different_seed_differs(tmp_path: Path) -> None:
    a = generate_demo(tmp_path / "a", seed=1, n_customers=200)
    b = generate_demo(tmp_path / "b", seed=2, n_customers=200)
    assert a.customers_path.read_bytes() != b.customers_path.read_bytes()
    assert a.tickets_path.read_bytes() != b.tickets_path.read_bytes()


def test_sizes_and_columns(demo: DemoResult, demo_con: duckdb.DuckDBPyConnection) -> None:
    assert demo.n_customers == 1500
    assert 5000 <= demo.n_tickets <= 7000
    assert _rows(demo_con, "SELECT count(*), count(DISTINCT ticket_id) FROM tickets") == [
        (demo.n_tickets, demo.n_tickets)
    ]
    cols = [r[0] for r in _rows(demo_con, "DESCRIBE customers")]
    assert cols == [
        "customer_id",
        "age",
        "occupation",
        "household",
        "work_status",
        "plan",
        "region",
        "channel_preference",
        "signup_date",
        "orders_12m",
        "returns_12m",
    ]
    cols = [r[0] for r in _rows(demo_con, "DESCRIBE tickets")]
    # Canonical names (no mapping needed), then the outcomes and the planted issue.
    assert cols == [*TICKET_COLUMNS, "csat", "resolution_hours", "reopened", "demo_issue"]
    ((bad_time, span, orphans, unknown_issue),) = _rows(
        demo_con,
        """
        SELECT count(*) FILTER (WHERE updated_at < created_at),
               date_diff('day', min(created_at), max(created_at)),
               count(*) FILTER (WHERE customer_id IS NOT NULL
                                AND customer_id NOT IN (SELECT customer_id FROM customers)),
               count(*) FILTER (WHERE demo_issue NOT IN (SELECT unnest($issues)))
        FROM tickets""".replace("$issues", str(list(ISSUES))),
    )
    assert bad_time == 0 and orphans == 0 and unknown_issue == 0
    assert 170 <= span <= 182


def test_rules_match_planted_personas_exactly(
    demo: DemoResult, demo_con: duckdb.DuckDBPyConnection
) -> None:
    plan = json.loads(demo.plan_path.read_text())
    counts = plan["customer_counts"]
    matched = " + ".join(f"({p.rule})::INT" for p in PERSONAS)
    per_customer = _rows(demo_con, f"SELECT {matched} FROM customers")
    assert max(n for (n,) in per_customer) == 1  # personas are disjoint
    assert sum(1 for (n,) in per_customer if n == 0) == counts["general"]
    assert counts["general"] >= 0.4 * demo.n_customers
    for p in PERSONAS:
        ((n,),) = _rows(demo_con, f"SELECT count(*) FROM customers WHERE {p.rule}")
        assert n == counts[p.key] > 0, p.key
    # The Python mirror agrees with DuckDB on every customer.
    case = " ".join(f"WHEN {p.rule} THEN '{p.key}'" for p in PERSONAS)
    records = _rows(demo_con, f"SELECT *, CASE {case} ELSE NULL END AS g FROM customers")
    names = [d[0] for d in demo_con.description]
    for row in records:
        rec = dict(zip(names, row, strict=True))
        assert persona_matches(rec) == ({rec["g"]} if rec["g"] else set())


def test_general_population_has_near_misses(demo_con: duckdb.DuckDBPyConnection) -> None:
    tech = "('software engineer', 'data analyst', 'product designer')"
    ((paid_students, old_tech, part_time_parents, some_returns),) = _rows(
        demo_con,
        f"""
        SELECT count(*) FILTER (WHERE occupation = 'student' AND plan <> 'free'),
               count(*) FILTER (WHERE occupation IN {tech} AND age > 35),
               count(*) FILTER (WHERE household = 'family with children'
                                AND work_status <> 'full-time'),
               count(*) FILTER (WHERE returns_12m BETWEEN 3 AND 5)
        FROM customers""",
    )
    assert min(paid_students, old_tech, part_time_parents, some_returns) >= 10


def test_issue_distribution_and_planted_links() -> None:
    assert set(BASE_RATES) == set(ISSUES) == set(TEMPLATES)
    assert abs(sum(BASE_RATES.values()) - 1) < 1e-9
    links = planted_links()
    assert len(links) == 12
    planted = [i for p in PERSONAS for i in p.planted_issues]
    assert len(planted) == len(set(planted)) == 12
    for p in PERSONAS:
        dist = issue_distribution(p.key)
        assert abs(sum(dist.values()) - 1) < 1e-9
        for issue in ISSUES:
            assert ((p.name, issue) in links) == (dist[issue] > 2 * BASE_RATES[issue])
    assert [p.key for p in PERSONAS if p.negative] == ["serial_returner"]


def test_planted_issues_over_index(demo_con: duckdb.DuckDBPyConnection) -> None:
    links = planted_links()
    for p in PERSONAS:
        for issue in ISSUES:
            ((inside, outside, n_hits),) = _rows(
                demo_con,
                f"""
                SELECT avg((demo_issue = '{issue}')::INT) FILTER (WHERE g = '{p.key}'),
                       avg((demo_issue = '{issue}')::INT) FILTER (WHERE g <> '{p.key}'),
                       count(*) FILTER (WHERE g = '{p.key}' AND demo_issue = '{issue}')
                FROM t""",
            )
            if (p.name, issue) in links:
                assert inside >= 3 * outside, (p.key, issue, inside, outside)
            elif n_hits >= 10:
                assert inside <= 1.5 * outside, (p.key, issue, inside, outside)


def test_empirical_issue_mix_matches_plan(demo_con: duckdb.DuckDBPyConnection) -> None:
    group_counts = dict(_rows(demo_con, "SELECT g, count(*) FROM t GROUP BY g"))
    total = sum(group_counts.values())
    observed = dict(
        _rows(
            demo_con,
            "SELECT demo_issue, count(*) / sum(count(*)) OVER () FROM t GROUP BY demo_issue",
        )
    )
    for issue in ISSUES:
        expected = sum(
            n / total * issue_distribution(None if g == "anonymous" else g)[issue]
            for g, n in group_counts.items()
        )
        assert abs(observed[issue] - expected) < 0.015, issue
    per_customer = dict(
        _rows(
            demo_con,
            "SELECT g, count(*) / count(DISTINCT customer_id) FROM t "
            "WHERE g <> 'anonymous' GROUP BY g",
        )
    )
    assert per_customer["serial_returner"] > 2 * per_customer["general"]
    assert per_customer["general"] == pytest.approx(TICKETS_PER_CUSTOMER["general"], rel=0.25)


def test_the_planted_outcome_effect_is_in_the_tickets(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    ((name, issue),) = planted_outcome_effects()
    key = next(p.key for p in PERSONAS if p.name == name)
    rows = dict(
        (planted, (csat, hours, rated))
        for planted, csat, hours, rated in _rows(
            demo_con,
            f"""SELECT g = '{key}', avg(csat), avg(resolution_hours), avg((csat IS NOT NULL)::INT)
            FROM t WHERE demo_issue = '{issue}' GROUP BY 1""",
        )
    )
    assert rows[True][0] < 2.5 and rows[False][0] > 3.8
    assert rows[True][1] > 1.8 * rows[False][1]
    assert 0.5 < rows[True][2] < 0.7 and 0.5 < rows[False][2] < 0.7
    ((reopened,),) = _rows(demo_con, "SELECT avg(reopened::INT) FROM tickets")
    assert 0.05 < reopened < 0.11


def test_templates_are_many_and_well_formed() -> None:
    known = {
        "product",
        "product2",
        "order",
        "date",
        "amount",
        "days",
        "code",
        "card4",
        "city",
        "device",
        "version",
        "spec",
        "slot",
        "school",
        "competitor",
    }
    for issue, tpl in TEMPLATES.items():
        assert len(set(tpl["bodies"])) >= 10, issue
        assert len(set(tpl["subjects"])) >= 6, issue
        for text in tpl["bodies"] + tpl["subjects"]:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            assert fields <= known, (issue, text)
            assert "\\" not in text and "  " not in text


def test_text_variety_and_noise(demo_con: duckdb.DuckDBPyConnection) -> None:
    for issue, bodies, subjects in _rows(
        demo_con,
        """
            SELECT demo_issue,
                   count(DISTINCT regexp_replace(body, '[0-9]', '#', 'g')),
                   count(DISTINCT lower(regexp_replace(subject, '^Re: |[0-9]', '', 'g')))
            FROM tickets GROUP BY demo_issue""",
    ):
        assert bodies >= 30, issue
        assert subjects >= 6, issue
    ((html, quoted, anon, question, phone, email, card4, full_card, entity, iphone),) = _rows(
        demo_con,
        r"""
        SELECT avg((body LIKE '%<p>%')::INT),
               avg((body LIKE '%wrote:%' OR body LIKE '%-----Original Message-----%')::INT),
               avg((customer_id IS NULL)::INT),
               avg((body LIKE '%?%')::INT),
               count(*) FILTER (WHERE regexp_matches(body, '555[ -]01\d\d')),
               count(*) FILTER (WHERE regexp_matches(body, '@example\.(com|net)')),
               count(*) FILTER (WHERE body LIKE '%card ending%'),
               count(*) FILTER (WHERE regexp_matches(body, '\d{4} \d{4} \d{4} \d{4}')),
               count(*) FILTER (WHERE body LIKE '%&#x27;%' OR body LIKE '%&amp;%'),
               count(*) FILTER (WHERE body LIKE '%Sent from my iPhone%')
        FROM tickets""",
    )
    assert 0.10 <= html <= 0.20
    assert 0.06 <= quoted <= 0.15
    assert 0.02 <= anon <= 0.045
    assert question >= 0.6
    assert min(phone, email, card4, entity, iphone) >= 20
    assert full_card >= 1
    ((sig_div, gmail_quote, outlook),) = _rows(
        demo_con,
        """
        SELECT count(*) FILTER (WHERE body LIKE '%<div class="signature">%'),
               count(*) FILTER (WHERE body LIKE '%> %' AND body LIKE '%Northwind Support <%'),
               count(*) FILTER (WHERE body LIKE '%-----Original Message-----%')
        FROM tickets""",
    )
    assert min(sig_div, gmail_quote, outlook) >= 20


def test_channel_follows_preference(demo_con: duckdb.DuckDBPyConnection) -> None:
    ((share,),) = _rows(
        demo_con,
        """
        SELECT avg((t.channel = c.channel_preference)::INT)
        FROM tickets t JOIN customers c USING (customer_id)""",
    )
    assert 0.65 <= share <= 0.85


def test_formats_load_with_duckdb_and_agree(tmp_path: Path) -> None:
    results = {
        fmt: generate_demo(tmp_path / fmt, seed=11, n_customers=300, fmt=fmt)
        for fmt in ("csv", "jsonl", "parquet")
    }
    assert results["jsonl"].tickets_path.name == "tickets.jsonl"
    assert results["parquet"].customers_path.name == "customers.parquet"
    c = duckdb.connect()
    for attr, key in (("customers_path", "customer_id"), ("tickets_path", "ticket_id")):
        loaded = {
            fmt: _rows(c, f"SELECT * FROM '{getattr(r, attr)}' ORDER BY {key}")
            for fmt, r in results.items()
        }
        assert loaded["csv"] == loaded["jsonl"] == loaded["parquet"], attr
        assert len(loaded["csv"]) == (300 if key == "customer_id" else results["csv"].n_tickets)


def test_config_and_plan(demo: DemoResult) -> None:
    assert demo.config_path.name == "persona-mining.toml"
    text = demo.config_path.read_text()
    assert text.startswith("# Demo configuration written by persona-mining's demo generator.")
    config = tomllib.loads(text)
    assert [(p["name"], p["where"], p.get("negative", False)) for p in config["personas"]] == [
        (p.name, p.rule, p.negative) for p in PERSONAS
    ]
    assert all(p["description"] for p in config["personas"])
    plan = json.loads(demo.plan_path.read_text())
    assert plan["seed"] == 7 and plan["n_tickets"] == demo.n_tickets
    assert {tuple(x) for x in plan["planted_links"]} == planted_links()
    assert plan["issues"] == ISSUES and plan["base_rates"] == BASE_RATES
    assert [p["rule"] for p in plan["personas"]] == [p.rule for p in PERSONAS]
    assert [(e["persona"], e["issue"]) for e in plan["outcomes"]["effects"]] == list(
        planted_outcome_effects()
    )


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt"):
        generate_demo(tmp_path, fmt="xlsx")
    with pytest.raises(ValueError):
        generate_demo(tmp_path, n_customers=0)
    tiny = generate_demo(tmp_path / "tiny", n_customers=3)
    assert tiny.n_customers == 3 and tiny.customers_path.exists()


def _helpdesk_document() -> dict[str, Any]:
    """The shipped help desk file, parsed afresh (safe to edit)."""
    source = resources.files("persona_mining.demo").joinpath("helpdesk.toml")
    return tomllib.loads(source.read_text(encoding="utf-8"))


def test_helpdesk_file_parses_to_the_loaded_help_desk() -> None:
    assert parse_helpdesk(_helpdesk_document()) == load_helpdesk()


def test_helpdesk_with_a_missing_key_names_it() -> None:
    document = _helpdesk_document()
    del document["issues"]["refund_delay"]["bodies"]
    with pytest.raises(InputFileError, match=r"issues\.refund_delay\.bodies must be present"):
        parse_helpdesk(document)


def test_helpdesk_with_an_outcome_effect_on_an_unknown_issue_is_refused() -> None:
    document = _helpdesk_document()
    document["outcomes"]["effects"][0]["issue"] = "teleportation"
    with pytest.raises(InputFileError, match=r"outcome effect .* issue 'teleportation'"):
        parse_helpdesk(document)


def test_helpdesk_with_an_unknown_planted_issue_is_refused() -> None:
    document = _helpdesk_document()
    document["personas"][0]["planted_issues"] = ["delivery_slot", "teleportation"]
    with pytest.raises(InputFileError, match="unknown issue 'teleportation'"):
        parse_helpdesk(document)
