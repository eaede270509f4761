"""The prepare and embed stages on a small warehouse with the real language detection and
embedding model."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from persona_mining import parallel
from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.ingest.coverage import language_coverage
from persona_mining.ingest.load import ingest_tickets
from persona_mining.text.embed import embed_tickets, load_vectors
from persona_mining.text.prepare import prepare_tickets
from tests.conftest import write

pytestmark = pytest.mark.heavy  # the real language detection and embedding model

TICKETS = (
    "ticket_id,customer_id,created_at,subject,body\n"
    '1,c1,2026-01-01,Refund,"<p>Hi,</p><p>I returned the kettle. When will I get my refund?</p>'
    '<p>Thanks,<br>Maria Lopez<br>maria.lopez@example.com</p>"\n'
    '2,c2,2026-01-02,Rückerstattung,"Ich habe den Wasserkocher zurückgeschickt. Wann bekomme ich '
    'mein Geld zurück?"\n'
    '3,c3,2026-01-03,Order,"Where is my order? Call me on +1 555 010 9999.\n\n'
    'On Tue, 3 Mar 2026 at 10:02, Support <support@example.com> wrote:\n> We shipped it."\n'
)


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def test_prepare_cleans_redacts_and_records_the_language(con, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest_tickets(con, path=write(tmp_path / "t.csv", TICKETS))
    result = prepare_tickets(con, processes=1)
    assert (result.prepared, dict(result.other_languages)) == (3, {"de": 1})
    texts = dict(rows(con, "SELECT ticket_id, text FROM prepared_tickets"))
    assert "Maria" not in texts["1"] and "@" not in texts["1"] and "<p>" not in texts["1"]
    assert "[PHONE]" in texts["3"] and "We shipped it" not in texts["3"]
    assert rows(con, "SELECT ticket_id, language, in_scope FROM prepared_tickets ORDER BY 1") == [
        ("1", "en", True),
        ("2", "de", False),
        ("3", "en", True),
    ]
    questions = [
        q for (q,) in rows(con, "SELECT question FROM ticket_questions ORDER BY ticket_id")
    ]
    assert "When will I get my refund?" in questions[0]


def test_tickets_in_other_languages_are_counted_and_named(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    try:
        ingest_tickets(con, path=write(tmp_path / "t.csv", TICKETS))
        prepare_tickets(con, processes=1)
        coverage = language_coverage(con)
    finally:
        con.close()
    assert (coverage.prepared, coverage.other, coverage.left_out) == (3, (("de", 1),), 1)
    why = (
        "are in other languages (de 1) and have no topic: add a language to [prepare] "
        "languages to cluster it too, best with an embedding model that reads it ([models] "
        "embedding)"
    )
    assert coverage.warning() == f"1 of 3 prepared tickets {why}"
    result = CliRunner().invoke(app, ["status", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        f"languages: 2 of 3 prepared tickets in the languages analysed; 1 (33%) {why}"
        in " ".join(result.output.split())
    )


def test_prepare_and_embed_touch_only_new_or_changed_tickets(con, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest_tickets(con, path=write(tmp_path / "a.csv", TICKETS))
    prepare_tickets(con, processes=1)
    first = embed_tickets(con, embedder=embedder)
    assert (first.embedded, first.cached) == (2, 0)  # the German ticket is not embedded
    again = prepare_tickets(con, processes=1)
    assert again.prepared == 0 and embed_tickets(con, embedder=embedder).embedded == 0
    changed = TICKETS.replace("When will I get my refund?", "Has my refund been sent?")
    ingest_tickets(con, path=write(tmp_path / "b.csv", changed))
    assert prepare_tickets(con, processes=1).prepared == 1
    second = embed_tickets(con, embedder=embedder)
    assert (second.embedded, second.cached) == (1, 1)
    ids, vectors = load_vectors(con, model=embedder.name)
    assert ids == ["1", "3"] and vectors.shape == (2, 384)


def test_worker_processes_prepare_what_this_process_would(
    con, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    ingest_tickets(con, path=write(tmp_path / "t.csv", TICKETS))
    prepared = (
        "SELECT ticket_id, raw_hash, text, text_hash, n_sentences, language, in_scope "
        "FROM prepared_tickets ORDER BY ticket_id"
    )
    asked = "SELECT * FROM ticket_questions ORDER BY ticket_id, position"
    here = prepare_tickets(con, chunk_size=1, processes=1)
    expected = rows(con, prepared), rows(con, asked)
    con.execute("DELETE FROM prepared_tickets; DELETE FROM ticket_questions")
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)
    told: list[int] = []
    # one ticket per chunk: three chunks over two processes, written back in order
    there = prepare_tickets(
        con,
        chunk_size=1,
        processes=2,
        progress=lambda _stage, done, _total: told.append(done),
    )
    assert (rows(con, prepared), rows(con, asked)) == expected
    assert (there.prepared, there.questions, there.other_languages) == (
        here.prepared,
        here.questions,
        here.other_languages,
    )
    assert told == [1, 2, 3]


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("RE: [Ticket #615580] Your request", "[Ticket [ID]] Your request.\nMy parcel is late."),
        (
            "Re: Re: AW: WG: Refund for order NW-858756",
            "Refund for order [ID].\nMy parcel is late.",
        ),
        ("[EXTERNAL] Fwd: app crash", "app crash.\nMy parcel is late."),
        ("Return label", "Return label.\nMy parcel is late."),  # not a reply mark
    ],
)
def test_a_subject_loses_reply_marks_and_its_references_are_masked(subject: str, text: str) -> None:
    from persona_mining.text.prepare import _ticket_text

    assert _ticket_text(subject, "My parcel is late.") == text
