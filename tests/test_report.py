"""The HTML report: self-contained, escaped, redacted, and working in a real browser.

The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright for Python and
skip, saying why, where either is missing. Reports are written once per module from the
shared demo warehouse (read-only) and from a copy of it with hostile text planted in a
ticket, a topic label, a persona name and a question.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pytest

from persona_mining import warehouse as db
from persona_mining.errors import StageError
from persona_mining.report.html import ReportResult, _script_json, write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T = TypeVar("T")
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
EVIL = f"Hello {SCRIPT} and {IMG} — where is my order?"


@pytest.fixture(scope="module")
def reports(
    demo_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, ReportResult]]:
    """The demo report, and the report of a demo copy with hostile text planted in it."""
    root = tmp_path_factory.mktemp("report")
    source = Path(demo_run["config"].warehouse.path)
    con = db.connect(source, read_only=True)
    try:
        clean = write_report(con, out=root / "report.html")
    finally:
        con.close()
    copy = root / "hostile.duckdb"
    shutil.copy(source, copy)
    con = db.connect(copy)
    try:
        _plant_hostile_text(con, root)
        hostile = write_report(con, out=root / "hostile.html")
    finally:
        con.close()
    return {"clean": (clean.path, clean), "hostile": (hostile.path, hostile)}


def _plant_hostile_text(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """A ticket whose redacted text, topic label, persona name and question carry markup."""
    from persona_mining.ingest.load import ingest_tickets

    segment_id, topic_id, model_id = con.execute(
        """SELECT segment_id, topic_id, model_id FROM v_issue_by_persona
        WHERE significant AND lift > 1 ORDER BY lift DESC LIMIT 1"""
    ).fetchone()  # type: ignore[misc]
    (customer_id,) = con.execute(
        "SELECT min(customer_id) FROM customer_segments WHERE segment_id = ?", [segment_id]
    ).fetchone()  # type: ignore[misc]
    tickets = root / "hostile.csv"
    tickets.write_text(
        "ticket_id,customer_id,created_at,subject,body\n"
        f'EVIL-1,{customer_id},2026-03-02T10:00:00,Order,"{EVIL.replace(chr(34), chr(34) * 2)}"\n',
        encoding="utf-8",
    )
    ingest_tickets(con, path=tickets)
    # What prepare would store if the markup came in HTML-escaped (&lt;script&gt;) and was
    # unescaped while stripping tags: the report must still show it as text.
    con.execute(
        """INSERT INTO prepared_tickets (ticket_id, raw_hash, text, text_hash, lemmas, noun_phrases,
            n_sentences, spacy_model, prepared_at)
        SELECT ticket_id, raw_hash, ?, 'evil-hash', '', [], 1, 'test', now()
        FROM tickets WHERE ticket_id = 'EVIL-1'""",
        [EVIL],
    )
    con.execute(
        """INSERT INTO text_analysis (text_hash, spacy_model, text, lemmas, noun_phrases, questions,
            analysed_at) VALUES ('evil-hash', 'test', ?, '', [], [], now())""",
        [EVIL],
    )
    con.execute(
        """INSERT INTO ticket_topics (ticket_id, model_id, topic_id, probability, text_hash)
        VALUES ('EVIL-1', ?, ?, 1.0, 'evil-hash')""",
        [model_id, topic_id],
    )
    con.execute(
        "UPDATE topics SET label = label || ' ' || ? WHERE model_id = ? AND topic_id = ?",
        [IMG, model_id, topic_id],
    )
    con.execute(
        "UPDATE segments SET name = name || ' </script>' || ? WHERE segment_id = ?",
        [SCRIPT, segment_id],
    )
    (questions,) = con.execute(
        "SELECT questions FROM persona_profiles WHERE segment_id = ?", [segment_id]
    ).fetchone()  # type: ignore[misc]
    asked = json.loads(questions)
    asked[str(topic_id)] = [EVIL, *asked.get(str(topic_id), [])]
    con.execute(
        "UPDATE persona_profiles SET questions = ? WHERE segment_id = ?",
        [json.dumps(asked), segment_id],
    )


@pytest.mark.slow
def test_the_report_is_one_self_contained_file(reports: dict[str, Any]) -> None:
    path, result = reports["clean"]
    html = path.read_text(encoding="utf-8")
    assert result.bytes == len(html.encode("utf-8")) and result.personas == 4
    assert result.significant_cells > 0 and result.example_tickets > 0
    assert "://" not in html  # no URL of any kind: nothing to fetch, nothing to leak
    assert not re.search(r"<(link|iframe|object|embed)\b|\b(src|href)\s*=\s*(?![\"']?#)", html)
    assert html.count("<script") == 2  # the JSON data block and the report's own script
    assert "Content-Security-Policy" in html


@pytest.mark.slow
def test_example_tickets_are_redacted_text(reports: dict[str, Any], demo_run: Any) -> None:
    html = reports["clean"][0].read_text(encoding="utf-8")
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", html)  # no email address
    con = db.connect(demo_run["config"].warehouse.path, read_only=True)
    bodies = [
        r[0] for r in con.execute("SELECT body FROM tickets WHERE body LIKE '%@%'").fetchall()
    ]
    con.close()
    emails = {e for body in bodies for e in re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", body)}
    assert emails and not any(email in html for email in emails)


@pytest.mark.slow
def test_hostile_text_is_escaped_in_the_html(reports: dict[str, Any]) -> None:
    html = reports["hostile"][0].read_text(encoding="utf-8")
    assert html.count("<script") == 2 and "<img" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "\\u003c/script\\u003e" in html  # in the JSON block, as an escape


def test_json_for_the_script_cannot_close_its_element() -> None:
    value = {"persona": "</script><!-- & \u2028"}
    text = str(_script_json(value))
    assert not set("<>&\u2028") & set(text)
    assert json.loads(text) == value


def test_a_warehouse_without_a_model_says_what_to_run(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(StageError, match="persona-mining run"):
        write_report(con, out=tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def _report_of_a_copy(
    demo_run: dict[str, Any], tmp_path: Path, change: Callable[[duckdb.DuckDBPyConnection], T]
) -> tuple[ReportResult, T]:
    """The report of a copy of the demo's warehouse after `change`, and what it returned."""
    copy = tmp_path / "changed.duckdb"
    shutil.copy(Path(demo_run["config"].warehouse.path), copy)
    con = db.connect(copy)
    try:
        changed = change(con)
        return write_report(con, out=tmp_path / "report.html"), changed
    finally:
        con.close()


def test_without_personas_the_header_counts_the_models_issues_and_themes(
    demo_run: dict[str, Any], tmp_path: Path
) -> None:
    def drop_personas(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
        # What the demo's heatmaps have rows for, before the personas go.
        heatmap = con.execute(
            """SELECT (SELECT count(DISTINCT topic_id) FROM issue_by_persona),
            (SELECT count(DISTINCT group_id) FROM issue_group_by_persona)"""
        ).fetchone()
        for table in ("issue_by_persona", "issue_group_by_persona", "persona_profiles"):
            con.execute(f"DELETE FROM {table}")
        issues, themes = con.execute(
            """SELECT count(*), count(DISTINCT group_id) FILTER (WHERE group_id >= 0)
            FROM v_topics WHERE topic_id >= 0 AND NOT ignored"""
        ).fetchone()  # type: ignore[misc]
        return heatmap, issues, themes

    result, (heatmap, issues, themes) = _report_of_a_copy(demo_run, tmp_path, drop_personas)
    html = result.path.read_text(encoding="utf-8")
    assert issues > 0 and themes > 0 and heatmap == (issues, themes)
    assert (result.personas, result.issues, result.themes) == (0, issues, themes)
    assert f"<dt>Issues</dt><dd>{issues}<small>no personas to compare them across" in html
    assert f"<dt>Themes</dt><dd>{themes}<small>" in html


def test_the_header_counts_the_tickets_left_out_for_their_language(
    demo_run: dict[str, Any], reports: dict[str, tuple[Path, ReportResult]], tmp_path: Path
) -> None:
    def other_languages(con: duckdb.DuckDBPyConnection) -> None:
        # As if prepare had found some tickets in German and one in Spanish.
        con.execute(
            """UPDATE prepared_tickets SET in_scope = false,
                language = CASE WHEN ticket_id = (SELECT min(ticket_id) FROM prepared_tickets)
                    THEN 'es' ELSE 'de' END
            WHERE ticket_id IN (SELECT ticket_id FROM prepared_tickets ORDER BY ticket_id LIMIT 3)"""
        )

    result, _ = _report_of_a_copy(demo_run, tmp_path, other_languages)
    html = result.path.read_text(encoding="utf-8")
    assert "; 3 in other languages (de, es), not analysed</small>" in html
    assert "in other languages" not in reports["clean"][0].read_text(encoding="utf-8")


# In a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright; skips with the reason when either is absent."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as e:
            pytest.skip(f"Chromium at {CHROMIUM} does not start under Playwright: {e}")
        yield chromium
        chromium.close()


class Page:
    """An opened report with what the browser reported while loading it."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")


@pytest.mark.slow
def test_the_heatmap_and_cards_render_without_errors(
    browser: Any, reports: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path, result = reports["clean"]
    opened = Page(browser, path)
    page = opened.page
    assert page.locator("#heatmap-table tbody tr").count() == result.issues
    assert page.locator("article.card").count() == result.personas
    assert page.locator("article.card.negative").count() == 1
    assert "negative persona" in page.locator("article.card.negative").inner_text().lower()
    assert page.locator("article.card blockquote.ticket").count() == result.example_tickets
    assert page.locator("#trend-chart svg polyline").count() > 0
    cell = page.locator("#heatmap-table td.sig.over").first
    cell.hover()
    tip = page.locator("#tooltip")
    assert tip.is_visible()
    assert "95% CI" in tip.inner_text() and "q = " in tip.inner_text()
    screenshot = tmp_path_factory.mktemp("screenshots") / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    assert opened.errors == []
    assert [url for url in opened.requests if not url.startswith("file:")] == []
    page.close()


@pytest.mark.slow
def test_the_issue_table_sorts_and_filters(browser: Any, reports: dict[str, Any]) -> None:
    path, _ = reports["clean"]
    page = Page(browser, path).page
    rows = page.locator("#issue-table tbody tr:not([hidden])")
    findings = rows.count()
    assert 0 < findings < len(page.locator("#issue-table tbody tr").all())
    page.select_option("#filter-finding", "")
    assert rows.count() == page.locator("#issue-table tbody tr").count()
    page.fill("#filter-text", "refund")
    visible = [r.lower() for r in rows.all_inner_texts()]
    assert visible and all("refund" in r for r in visible)
    page.fill("#filter-text", "")
    page.select_option("#filter-finding", "over")
    lift = page.locator("#issue-table th", has_text="Lift").locator("button")
    lift.click()
    lift.click()  # descending
    lifts = [float(v) for v in rows.locator("td:nth-child(7)").all_inner_texts()]
    assert lifts == sorted(lifts, reverse=True) and len(lifts) == findings
    page.close()


@pytest.mark.slow
def test_hostile_text_shows_as_text_and_never_runs(
    browser: Any, reports: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path, _ = reports["hostile"]
    opened = Page(browser, path)
    page = opened.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    cards = page.locator("#personas").inner_text()
    assert SCRIPT in cards and 'onerror="window.__pwned=1"' in cards
    page.locator('#heatmap-table td[aria-label*="__pwned"]').first.hover()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert SCRIPT in page.locator("#tooltip").inner_text()
    page.screenshot(path=str(tmp_path_factory.mktemp("screenshots") / "hostile.png"))
    assert opened.errors == []
    page.close()


# Many segments: rule personas first, groups that fold, a heatmap that fits a laptop ----------


@pytest.fixture(scope="module")
def many_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportResult]:
    """The report of fifteen segments and forty issues (tests/many_segments.py)."""
    from tests.many_segments import build

    root = tmp_path_factory.mktemp("many")
    con = db.connect(build(root / "w.duckdb"), read_only=True)
    try:
        result = write_report(con, out=root / "report.html")
    finally:
        con.close()
    return result.path, result


def _persona_headers(html: str, table_id: str) -> list[tuple[str, str]]:
    """(group, name) of each persona column of a heatmap, in order."""
    table = html[html.index(f'id="{table_id}"') :]
    head = table[: table.index("</thead>")]
    return re.findall(r'<th scope="col" data-group="(\w+)"[^>]*><span class="name">([^<]*)<', head)


def test_rule_personas_come_first_and_the_other_segments_are_grouped(
    many_report: tuple[Path, ReportResult],
) -> None:
    from tests.many_segments import DISCOVERED, NEGATIVE, RULE_PERSONAS

    path, result = many_report
    html = path.read_text(encoding="utf-8")
    assert result.personas == 15 and result.issues == 40
    for table_id in ("heatmap-table", "theme-heatmap-table"):
        columns = _persona_headers(html, table_id)
        assert [group for group, _ in columns] == ["rule"] * 7 + ["discovered"] * 6 + [
            "negative"
        ] * 2
        names = [name for _, name in columns]
        assert names[:7] == list(RULE_PERSONAS) and names[-2:] == list(NEGATIVE)
    assert "gift buyers &lt;b&gt;in December&lt;/b&gt;" in html and "<b>in December" not in html
    assert html.count('<button type="button" class="collapse"') == 4  # 2 groups x 2 heatmaps
    assert 'class="heatmap dense"' in html
    # cards: the rule personas first, discovered segments folded, negative segments open
    cards = re.findall(r'<article class="card[^"]*" id="persona-([\w-]+)"', html)
    assert [c.split("-")[0] for c in cards] == ["rule"] * 7 + ["discovered"] * 6 + ["negative"] * 2
    assert '<details class="group" id="group-discovered">' in html
    assert '<details class="group" id="group-negative" open>' in html
    assert len(DISCOVERED) == 6


@pytest.mark.slow
def test_on_a_phone_nothing_but_the_tables_scrolls_sideways(
    browser: Any, many_report: tuple[Path, ReportResult], tmp_path: Path
) -> None:
    path, _ = many_report
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    page.click("#group-discovered > summary")
    widths = page.evaluate(
        """() => {
        const view = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('.card, .challenge, .controls select, figure.trend')]
            .filter(e => e.getBoundingClientRect().right > view + 0.5)
            .map(e => e.className || e.tagName);
        return {page: document.documentElement.scrollWidth, view, wide};
    }"""
    )
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    assert widths["page"] <= widths["view"] and widths["wide"] == [], widths
    page.close()


@pytest.mark.slow
@pytest.mark.parametrize("viewport", [(1366, 768), (1440, 900)])
def test_the_heatmap_of_15_segments_and_40_issues_fits_a_laptop_screen(
    browser: Any, many_report: tuple[Path, ReportResult], viewport: tuple[int, int], tmp_path: Path
) -> None:
    width, height = viewport
    path, _ = many_report
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    tops = page.evaluate(
        "() => [...document.querySelectorAll('dl.meta > div')].map(d => d.getBoundingClientRect().top)"
    )
    assert len(tops) == 8 and len(set(tops)) == 1, tops  # the header's facts in one row
    measure = """(id) => {
        const table = document.getElementById(id);
        const panel = table.closest('.panel');
        return {right: table.getBoundingClientRect().right,
                viewport: document.documentElement.clientWidth,
                scroll: panel.scrollWidth, client: panel.clientWidth,
                page: document.documentElement.scrollWidth};
    }"""
    page.locator("#heatmap").scroll_into_view_if_needed()
    issues = page.evaluate(measure, "heatmap-table")
    page.locator("#heatmap").screenshot(path=str(tmp_path / f"heatmap-{width}x{height}.png"))
    assert issues["right"] <= issues["viewport"], issues
    assert issues["scroll"] <= issues["client"], issues  # no sideways scrolling in the panel
    assert issues["page"] <= issues["viewport"], issues
    page.click('#level-switch button[data-level="theme"]')
    themes = page.evaluate(measure, "theme-heatmap-table")
    assert themes["right"] <= themes["viewport"] and themes["scroll"] <= themes["client"], themes
    page.click('#level-switch button[data-level="issue"]')
    # fold the discovered segments: their columns give way to one column of counts
    discovered = page.locator('#heatmap-table thead th[data-group="discovered"]')
    assert discovered.count() == 6 and discovered.first.is_visible()
    before = page.locator("#heatmap-table").bounding_box()["width"]
    page.click('#heatmap-table button.collapse[data-group="discovered"]')
    assert not discovered.first.is_visible()
    summary = page.locator('#heatmap-table tbody td[data-summary="discovered"]')
    assert summary.first.is_visible()
    assert page.locator("#heatmap-table").bounding_box()["width"] < before - 150
    assert sum("▲" in text for text in summary.all_inner_texts()) == 12  # one per finding row
    page.locator("#heatmap").screenshot(path=str(tmp_path / f"folded-{width}x{height}.png"))
    page.click('#heatmap-table button.collapse[data-group="discovered"]')
    assert discovered.first.is_visible() and not summary.first.is_visible()
    # the cards of the discovered segments start folded and open on a click
    card = page.locator("#group-discovered article.card").first
    assert not card.is_visible()
    page.click("#group-discovered > summary")
    assert card.is_visible()
    page.screenshot(path=str(tmp_path / f"report-{width}x{height}.png"), full_page=True)
    assert all((tmp_path / f).stat().st_size > 10_000 for f in (f"heatmap-{width}x{height}.png",))
    assert errors == []
    page.close()
