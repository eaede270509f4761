"""Evaluate: topic quality against a labels column, and whether labels say what topics hold."""

from __future__ import annotations

import duckdb
import pytest

from persona_mining.errors import ConfigError, StageError
from persona_mining.topics.evaluate import evaluate_topics, head_words, label_faithfulness
from tests.synthetic import Ticket, add_model, add_tickets


def desk(con: duckdb.DuckDBPyConnection, labels: dict[int, str]) -> None:
    """Two pure topics of ten tickets (refunds, passwords) and two unclustered tickets."""
    add_model(con, {t: (label, ["w"]) for t, label in labels.items()})
    tickets = [
        Ticket(
            f"r{i}",
            "c1",
            0,
            text=f"Where are my refunds for order {i}?",
            extra={"intent": "refund"},
        )
        for i in range(10)
    ]
    tickets += [
        Ticket(
            f"p{i}",
            "c2",
            1,
            text="[NAME] here: I need a password reset" if i < 7 else "Cannot log in at all",
            extra={"intent": "password"},
        )
        for i in range(10)
    ]
    tickets += [
        Ticket(f"u{i}", "c3", -1, text="Hello", extra={"intent": "other"}) for i in range(2)
    ]
    add_tickets(con, tickets, {"intent": "VARCHAR"})


def test_head_words_drop_stop_words_placeholders_and_plurals() -> None:
    assert head_words("The [NAME] Refunds / order status") == {"refund", "order", "status"}
    assert head_words("Address of 2 classes, status") == {"address", "classe", "status"}


def test_labels_borne_out_by_most_tickets_are_faithful(con: duckdb.DuckDBPyConnection) -> None:
    desk(con, {0: "Refund", 1: "Password reset"})
    result = label_faithfulness(con)
    assert result.topics == 2
    assert result.label_support == pytest.approx((1.0 + 0.7) / 2)
    assert result.faithful_share == 1.0


def test_a_misleading_label_lowers_faithfulness_but_not_nmi(
    con: duckdb.DuckDBPyConnection,
) -> None:
    desk(con, {0: "Delivery delay", 1: "Password reset"})
    result = evaluate_topics(con, labels_column="intent")
    assert result.label_support == pytest.approx(0.7 / 2)
    assert result.faithful_share == 0.5
    assert result.nmi == pytest.approx(1.0) and result.purity == 1.0


def test_a_label_without_content_words_is_not_faithful(con: duckdb.DuckDBPyConnection) -> None:
    desk(con, {0: "Refund", 1: "The [NAME]"})
    result = label_faithfulness(con)
    assert result.label_support == pytest.approx(0.5) and result.faithful_share == 0.5


def test_faithfulness_needs_a_topic_model(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(StageError, match="no topic model"):
        label_faithfulness(con)


def test_the_themes_are_scored_against_a_coarser_column(con: duckdb.DuckDBPyConnection) -> None:
    desk(con, {0: "Refund", 1: "Password reset"})
    with pytest.raises(StageError, match="no themes"):
        evaluate_topics(con, labels_column="intent", level="theme")
    with pytest.raises(ConfigError, match="--level 'topic'"):
        evaluate_topics(con, labels_column="intent", level="topic")
    with pytest.raises(ConfigError, match=r"give --labels-column COLUMN.*'intent'"):
        evaluate_topics(con, labels_column="")
    # Each topic a theme of its own: the themes score as the topics do.
    con.execute("UPDATE topics SET group_id = topic_id WHERE topic_id >= 0")
    issues = evaluate_topics(con, labels_column="intent")
    themes = evaluate_topics(con, labels_column="intent", level="theme")
    assert (issues.level, themes.level) == ("issue", "theme")
    assert themes.nmi == pytest.approx(issues.nmi) and themes.topics == 2
    assert themes.coverage == issues.coverage == pytest.approx(20 / 22)
    # Both topics in one theme: a theme of two intents.
    con.execute("UPDATE topics SET group_id = 0 WHERE topic_id >= 0")
    themes = evaluate_topics(con, labels_column="intent", level="theme")
    assert themes.topics == 1 and themes.purity == 0.5 and themes.nmi < issues.nmi
    assert themes.faithful_share == issues.faithful_share  # the topics' labels, either level


def test_tickets_left_out_for_their_language_count_as_unclustered(
    con: duckdb.DuckDBPyConnection,
) -> None:
    desk(con, {0: "Refund", 1: "Password reset"})
    before = evaluate_topics(con, labels_column="intent")
    assert before.left_out_tickets == 0 and before.tickets == 22
    # Two refund requests taken for German: prepared, out of scope, never given a topic.
    con.execute("UPDATE prepared_tickets SET in_scope = false WHERE ticket_id IN ('r0', 'r1')")
    con.execute("DELETE FROM ticket_topics WHERE ticket_id IN ('r0', 'r1')")
    after = evaluate_topics(con, labels_column="intent")
    assert after.tickets == 22 and after.left_out_tickets == 2
    assert after.coverage == pytest.approx(18 / 22) and after.nmi < before.nmi
    # A ticket ingested since the last run is not scored at all.
    con.execute("DELETE FROM prepared_tickets WHERE ticket_id = 'r2'")
    assert evaluate_topics(con, labels_column="intent").tickets == 21
