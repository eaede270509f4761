"""Alerts: persona jumps and emerging issues, sent once per window to a local webhook."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from flows.alerts import send_alerts
from persona_mining.config import AlertsConfig, Config, TrendsConfig
from persona_mining.personas.alerts import alerts_markdown, find_alerts
from persona_mining.topics.trends import compute_trends
from tests.synthetic import Ticket, add_customers, add_model, add_segment, add_tickets

END = datetime(2026, 3, 31, 12)
URL_VARIABLE = "PERSONA_MINING_TEST_ALERTS_URL"


@pytest.fixture
def jumped(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Persona p raised 'Refund' on 2 of 40 tickets in the window before, 20 of 40 in the latest."""
    inside, outside = [f"p{i}" for i in range(10)], [f"o{i}" for i in range(10)]
    add_customers(con, [{"customer_id": c} for c in inside + outside], {})
    add_model(con, {0: ("Order status", ["order"]), 1: ("Refund", ["refund"])})
    con.execute("UPDATE topics SET topic_key = 'key-' || topic_id")
    tickets = []
    for n in range(40):
        customer = inside[n % 10]
        before = END - timedelta(days=40 - n % 7)
        recent = END - timedelta(days=n % 20)
        tickets.append(Ticket(f"b{n}", customer, 1 if n < 2 else 0, before))
        tickets.append(Ticket(f"r{n}", customer, 1 if n < 20 else 0, recent))
        other = outside[n % 10]
        tickets.append(Ticket(f"ob{n}", other, int(n % 4 == 0), before))
        tickets.append(Ticket(f"or{n}", other, int(n % 4 == 0), recent))
    add_tickets(con, tickets)
    add_segment(con, "p", inside, name="Parents")
    compute_trends(con, config=TrendsConfig())
    return con


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, object]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Hook]]:
    """A webhook on 127.0.0.1 whose URL is in the environment variable the config names."""
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(URL_VARIABLE, f"http://127.0.0.1:{server.server_address[1]}/hook")
    yield handler
    server.shutdown()
    server.server_close()


CONFIG = Config.model_validate({"alerts": {"webhook_url_env": URL_VARIABLE}})
LOG = logging.getLogger("test-alerts")


def test_a_significant_jump_of_an_issue_for_a_persona_is_an_alert(
    jumped: duckdb.DuckDBPyConnection,
) -> None:
    alerts = find_alerts(jumped, trends=TrendsConfig(), config=AlertsConfig())
    jumps = [a for a in alerts if a.kind == "persona_jump"]
    assert [(a.persona, a.issue) for a in jumps] == [("Parents", "Refund")]
    assert jumps[0].detail["recent_tickets"] == 20 and jumps[0].detail["previous_tickets"] == 2
    assert jumps[0].period_end == END.date()
    assert jumps[0].key == f"persona_jump|p|key-1|{jumps[0].period_start.isoformat()}"


def test_one_customer_s_burst_of_tickets_is_no_jump_and_no_emerging_issue(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """The same desk as `jumped`, Refund steady at 2 of the persona's 10 customers, but one of
    them sent 30 Refund tickets in the latest window: one voice, not 30."""
    inside, outside = [f"p{i}" for i in range(10)], [f"o{i}" for i in range(10)]
    add_customers(con, [{"customer_id": c} for c in inside + outside], {})
    add_model(con, {0: ("Order status", ["order"]), 1: ("Refund", ["refund"])})
    con.execute("UPDATE topics SET topic_key = 'key-' || topic_id")
    tickets = []
    for n in range(40):
        before, recent = END - timedelta(days=40 - n % 7), END - timedelta(days=n % 20)
        tickets.append(Ticket(f"b{n}", inside[n % 10], 1 if n < 2 else 0, before))
        tickets.append(Ticket(f"r{n}", inside[n % 10], 1 if n < 2 else 0, recent))
        tickets.append(Ticket(f"ob{n}", outside[n % 10], 0, before))
        tickets.append(Ticket(f"or{n}", outside[n % 10], 0, recent))
    tickets += [Ticket(f"burst{n}", "p0", 1, END - timedelta(days=n % 10)) for n in range(30)]
    add_tickets(con, tickets)
    add_segment(con, "p", inside, name="Parents")
    compute_trends(con, config=TrendsConfig())
    assert find_alerts(con, trends=TrendsConfig(), config=AlertsConfig()) == []
    refund = con.execute(
        "SELECT recent_tickets, previous_tickets, emerging FROM v_issue_status WHERE topic_id = 1"
    ).fetchall()
    assert refund == [(32, 2, False)]


def test_alerts_are_posted_to_the_webhook_once_per_issue_and_window(
    jumped: duckdb.DuckDBPyConnection, webhook: type[_Hook]
) -> None:
    first = send_alerts(jumped, CONFIG, logger=LOG)
    assert first and all(o.status == "sent" and o.channel == "webhook" for o in first)
    assert [r["alert"]["key"] for r in webhook.received] == [o.alert.key for o in first]  # type: ignore[index]
    assert "Refund" in str(webhook.received[-1]["text"])
    assert send_alerts(jumped, CONFIG, logger=LOG) == []  # the next run repeats nothing
    assert len(webhook.received) == len(first)
    rows = jumped.execute(
        "SELECT status, attempts, sent_at IS NOT NULL FROM sent_alerts"
    ).fetchall()
    assert rows == [("sent", 1, True)] * len(first)


def test_a_failed_send_is_logged_does_not_raise_and_is_tried_again(
    jumped: duckdb.DuckDBPyConnection, webhook: type[_Hook], caplog: pytest.LogCaptureFixture
) -> None:
    webhook.status = 500
    with caplog.at_level(logging.WARNING, logger="test-alerts"):
        failed = send_alerts(jumped, CONFIG, logger=LOG)
    assert failed and all(o.status == "failed" and "500" in str(o.error) for o in failed)
    assert "not sent" in caplog.text
    webhook.status = 200
    retried = send_alerts(jumped, CONFIG, logger=LOG)
    assert [o.status for o in retried] == ["sent"] * len(failed)
    assert jumped.execute("SELECT DISTINCT attempts FROM sent_alerts").fetchall() == [(2,)]


def test_an_unreachable_webhook_fails_the_send_not_the_run(
    jumped: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_VARIABLE, "http://127.0.0.1:9/nothing-listens-here")
    outcomes = send_alerts(jumped, CONFIG, logger=LOG)
    assert outcomes and {o.status for o in outcomes} == {"failed"}


def test_without_a_channel_alerts_are_listed_not_sent_and_not_kept_for_later(
    jumped: duckdb.DuckDBPyConnection,
) -> None:
    outcomes = send_alerts(jumped, Config(), logger=LOG)
    assert outcomes and {o.status for o in outcomes} == {"not configured"}
    assert send_alerts(jumped, Config(), logger=LOG) == []
    markdown = "\n".join(alerts_markdown(outcomes))
    assert "## Alerts" in markdown and "Parents" in markdown and "not configured" in markdown


def test_the_artifact_says_when_there_is_no_new_alert() -> None:
    assert "No new alert" in "\n".join(alerts_markdown([]))


def test_a_url_in_place_of_the_variable_name_is_refused() -> None:
    with pytest.raises(ValueError, match="environment variable"):
        AlertsConfig(webhook_url_env="https://hooks.example.com/x")


def test_alerts_go_through_a_prefect_notification_block(
    jumped: duckdb.DuckDBPyConnection, webhook: type[_Hook], prefect_harness: None
) -> None:
    import os

    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    CustomWebhookNotificationBlock(
        name="persona-mining",
        url=os.environ[URL_VARIABLE],
        json_data={"text": "{{subject}}: {{body}}"},
    ).save("persona-mining-test", overwrite=True)
    config = Config.model_validate({"alerts": {"block": "custom-webhook/persona-mining-test"}})
    outcomes = send_alerts(jumped, config, logger=LOG)
    assert outcomes and {o.channel for o in outcomes} == {
        "block:custom-webhook/persona-mining-test"
    }
    assert any("Parents" in str(r["text"]) for r in webhook.received)


def test_a_ticket_dated_in_2099_leaves_the_windows_where_the_data_is(
    jumped: duckdb.DuckDBPyConnection,
) -> None:
    from persona_mining.report.issue_series import issue_trends

    add_tickets(jumped, [Ticket("typo", "p0", 0, datetime(2099, 1, 1, 12))])
    compute_trends(jumped, config=TrendsConfig())
    alerts = find_alerts(jumped, trends=TrendsConfig(), config=AlertsConfig())
    assert [(a.persona, a.issue) for a in alerts if a.kind == "persona_jump"] == [
        ("Parents", "Refund")
    ]
    assert alerts[0].period_end == END.date()
    trends = issue_trends(jumped, period="week", top=2)
    assert trends.data_to is not None and trends.data_to.date() == END.date()
