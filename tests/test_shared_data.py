"""Smoke checks on the public data sets beside the project (skipped where they are absent).

They show that real exports are read through the public contract alone (mappings, filter,
generated ids) and that every row is accounted for.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from persona_mining.ingest.load import IngestResult, ingest_customers, ingest_tickets

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def shared(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(
            f"{path} is not available (public data sets live beside the project, not in it)"
        )
    return path


def accounted(result: IngestResult) -> None:
    assert result.read > 0
    assert (
        result.new + result.updated + result.unchanged + result.skipped + result.rejected
        == result.read
    )


def test_twitter_inbound_tweets_become_tickets(con: duckdb.DuckDBPyConnection) -> None:
    result = ingest_tickets(
        con,
        path=shared("twitter_customer_support_5k.csv"),
        columns={"ticket_id": "tweet_id", "customer_id": "author_id", "body": "text"},
        where="inbound = 'True'",
    )
    accounted(result)
    assert result.new > 0.3 * result.read
    assert set(result.rejects_by_reason) <= {"excluded by the ingest filter"}


def test_multilingual_tickets_without_ids_or_dates(con: duckdb.DuckDBPyConnection) -> None:
    result = ingest_tickets(
        con,
        path=shared("multilang_support_tickets_1k.csv"),
        columns={"ticket_id": "@row", "created_at": "@file_time"},
    )
    accounted(result)
    assert result.new == result.read - result.rejected


def test_kaggle_tickets_and_their_customers(con: duckdb.DuckDBPyConnection) -> None:
    path = shared("kaggle_customer_support_tickets.csv")
    customers = ingest_customers(con, path=path, columns={"customer_id": "Customer Email"})
    tickets = ingest_tickets(
        con,
        path=path,
        columns={
            "ticket_id": "Ticket ID",
            "customer_id": "Customer Email",
            "created_at": "Date of Purchase",
            "subject": "Ticket Subject",
            "body": "Ticket Description",
        },
    )
    accounted(customers)
    accounted(tickets)
    assert tickets.new > 0.9 * tickets.read


def test_bitext_utterances(con: duckdb.DuckDBPyConnection) -> None:
    result = ingest_tickets(
        con,
        path=shared("bitext_customer_support_20k.csv"),
        columns={"ticket_id": "@row", "created_at": "@file_time", "body": "utterance"},
    )
    accounted(result)
    assert result.rejected == 0
