"""The report, the persona page and the tables claim what the data shows, and no more.

A persona declared negative that the data does not confirm is not shown as negative; a
negative persona is called costlier to serve, which is measured, not costlier than it brings,
which is not; "how to read" names the test the link stage runs and the thresholds it ran with;
every heatmap cell reads at WCAG AA; a lift nobody else shares reads "only them" in Markdown
too, and an interval without an upper limit says so; seven persona columns keep their names
across, at full length; and a persona compared with nobody says why.

The warehouse is small and synthetic (tests/synthetic.py): seven personas, five issues.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from persona_mining import warehouse as db
from persona_mining.config import LinkConfig
from persona_mining.personas.link import link_issues
from persona_mining.personas.profiles import build_profiles
from persona_mining.report.html import (
    MIN_CONTRAST,
    _cell_style,
    _heatmap,
    contrast,
    fmt_interval,
    write_report,
)
from persona_mining.report.profile_records import find_profile
from persona_mining.report.queries import ISSUE_BY_PERSONA_COLUMNS, Rows
from persona_mining.report.terminal import issue_table_output, persona_output
from tests.synthetic import Ticket, add_customers, add_model, add_tickets
from tests.test_report import browser  # noqa: F401  (the browser fixture, shared)

TOPICS = {
    0: ("Refund not received", ["refund"]),
    1: ("Student discount", ["student"]),
    2: ("App crash", ["crash"]),
    3: ("Direct message", ["dm"]),
    4: ("Login problem", ["login"]),
}
#: name -> (kind, rule, members, own topics): the serial returner alone raises topic 3.
PERSONAS = {
    "Serial returner": ("negative", "returns_12m >= 6", range(0, 20), (0, 0, 3)),
    "Budget-conscious college student": ("rule", "plan = 'free'", range(20, 40), (1, 1)),
    "Tech-savvy young professional": ("rule", "age < 35", range(40, 60), (2, 2)),
    "Busy working parent": ("rule", "children > 0", range(60, 80), (4,)),
    "Small business owner on the team plan": ("rule", "plan = 'team'", range(80, 100), (1,)),
    "Everyone": ("rule", "true", range(0, 120), ()),
    "Nobody": ("rule", "age > 200", range(0), ()),
}
DRIVERS = [
    {
        "signal": "tickets_per_customer",
        "label": "tickets per customer",
        "value": 4.0,
        "baseline": 1.5,
        "ratio": 2.7,
        "ci_low": 2.1,
        "ci_high": 3.4,
        "q_value": 1e-9,
    },
    {
        "signal": "repeat_contacts",
        "label": "repeat contacts",
        "value": 0.4,
        "baseline": 0.1,
        "ratio": 4.0,
        "ci_low": 2.2,
        "ci_high": 7.1,
        "q_value": 1e-5,
    },
]


def build(path: Path) -> Path:
    """The warehouse: 120 customers, seven personas, five issues, links and profiles."""
    con = db.connect(path)
    try:
        add_customers(con, [{"customer_id": f"c{i}", "plan": "x"} for i in range(120)], {})
        add_model(con, TOPICS)
        tickets: list[Ticket] = []
        for name, (_, _, members, own) in PERSONAS.items():
            if name in ("Everyone", "Nobody"):
                continue
            for i in members:
                for topic in (*own, 4):
                    tickets.append(Ticket(f"t{len(tickets)}", f"c{i}", topic))
        for i in range(100, 120):
            for topic in (4, i % 3):
                tickets.append(Ticket(f"t{len(tickets)}", f"c{i}", topic))
        add_tickets(con, tickets)
        for n, (name, (kind, rule, members, _)) in enumerate(PERSONAS.items()):
            sid = f"p{n}"
            con.execute(
                "INSERT INTO segments (segment_id, name, kind, description, rule) "
                "VALUES (?, ?, ?, '', ?)",
                [sid, name, kind, rule],
            )
            if members:
                con.executemany(
                    "INSERT INTO customer_segments (customer_id, segment_id) VALUES (?, ?)",
                    [[f"c{i}", sid] for i in members],
                )
        link_issues(con, config=LinkConfig())
        build_profiles(con)
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("honesty") / "w.duckdb")


def _copy(warehouse: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, copy)
    return copy


def _report(path: Path, tmp_path: Path, name: str = "report.html") -> str:
    con = db.connect(path, read_only=True)
    try:
        return write_report(con, out=tmp_path / name).path.read_text(encoding="utf-8")
    finally:
        con.close()


def _confirm_negative(path: Path) -> None:
    """As if the negative stage had found the serial returners costlier on two signals."""
    con = db.connect(path)
    try:
        con.execute(
            "INSERT INTO segment_flags (segment_id, negative, worse_signals, drivers, assessed_at) "
            "VALUES ('p0', true, 2, ?, now())",
            [json.dumps(DRIVERS)],
        )
    finally:
        con.close()


def _card(html: str, name: str) -> str:
    start = html.index(f"<h3>{name} ")
    return html[html.rindex("<article", 0, start) : html.index("</article>", start)]


def _column(html: str, name: str) -> str:
    table = html[html.index('id="heatmap-table"') :]
    head = table[: table.index("</thead>")]
    return next(th for th in re.findall(r"<th [^>]*>.*?</th>", head) if f">{name}<" in th)


# 1 and 2: negative only when the data confirms it, in the words of what is measured -----------


def test_a_declared_negative_persona_the_data_does_not_confirm_is_not_shown_as_negative(
    warehouse: Path, tmp_path: Path
) -> None:
    html = _report(warehouse, tmp_path)
    card = _card(html, "Serial returner")
    assert 'class="card negative"' not in card and "badge negative" not in card
    assert '<div class="flag">' not in card and "cost more to serve" not in html
    assert "Declared negative in the config, not confirmed by the data" in card
    column = _column(html, "Serial returner")
    assert 'data-group="rule"' in column and " neg" not in column and "negative" not in column
    assert "Negative segments" not in html
    con = db.connect(warehouse, read_only=True)
    try:
        profile = find_profile(con, "Serial returner")
    finally:
        con.close()
    assert not profile.negative and profile.unconfirmed_negative
    assert profile.shown_kind == "rule"
    view = _text(persona_output(profile, "table"))
    assert "NEGATIVE PERSONA" not in view
    assert "declared negative in the config, not confirmed by the data" in view
    markdown = str(persona_output(profile, "markdown"))
    assert "**Negative persona**" not in markdown and "not confirmed by the data" in markdown


def test_a_negative_persona_the_data_confirms_is_called_costlier_to_serve_on_its_signals(
    warehouse: Path, tmp_path: Path
) -> None:
    path = _copy(warehouse, tmp_path)
    _confirm_negative(path)
    html = _report(path, tmp_path)
    card = _card(html, "Serial returner")
    assert 'class="card negative"' in card and "badge negative" in card
    flag = card[card.index('<div class="flag">') :]
    assert (
        "these customers are costlier to serve than everyone else, with significantly more "
        "tickets per customer and repeat contacts" in flag
    )
    assert "than they bring" not in html
    assert " neg" in _column(html, "Serial returner")
    con = db.connect(path, read_only=True)
    try:
        profile = find_profile(con, "Serial returner")
    finally:
        con.close()
    assert profile.negative and not profile.unconfirmed_negative
    assert "NEGATIVE PERSONA" in _text(persona_output(profile, "table"))
    markdown = str(persona_output(profile, "markdown"))
    assert "**Negative persona**: costlier to serve than everyone else" in markdown
    assert "than it brings" not in markdown


# 3: how to read names the test that runs, with the thresholds it ran with --------------------


def test_how_to_read_describes_the_one_sided_test_with_the_recorded_thresholds(
    warehouse: Path, tmp_path: Path
) -> None:
    html = _report(warehouse, tmp_path, "default.html")
    about = html[html.index('<section id="about">') :]
    assert "Fisher" not in about and "q &lt; 0.05" in about
    assert "one-sided" in about and "design effect" in about and "Benjamini-Hochberg" in about
    assert "interval lies above 1" in about and "at least 5 distinct customers" in about
    path = _copy(warehouse, tmp_path)
    con = db.connect(path)
    try:
        con.execute(
            "INSERT INTO setup (recorded_at, config_file, profile, config) VALUES (now(), NULL, "
            "'default', ?)",
            [json.dumps({"link": {"alpha": 0.1, "min_customers": 3, "min_tickets": 4}})],
        )
    finally:
        con.close()
    recorded = _report(path, tmp_path, "recorded.html")
    about = recorded[recorded.index('<section id="about">') :]
    assert "q &lt; 0.1," in about and "q &lt; 0.05" not in about
    assert "at least 3 distinct customers and 4 tickets" in about


# 4: every cell reads at WCAG AA; the legend shows what can occur ------------------------------


def _style_colours(style: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    def rgb(value: str) -> tuple[int, int, int]:
        if value.startswith("#"):
            return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)
        r, g, b = (int(v) for v in re.findall(r"\d+", value))
        return r, g, b

    parts = dict(part.split(":", 1) for part in style.split(";"))
    return rgb(parts["background"]), rgb(parts["color"])


@pytest.mark.parametrize(
    "lift",
    [1.01, 1.5, 2.0, 3.0, 3.93, 4.5, 6.0, 8.0, 12.0, 16.0, 400.0, 0.9, 0.5, 0.2, 0.05, 0.0],
)
def test_every_heatmap_cell_reads_at_wcag_aa(lift: float) -> None:
    for significant in (True, False):
        background, text = _style_colours(_cell_style({"lift": lift, "significant": significant}))
        assert contrast(background, text) >= MIN_CONTRAST, (lift, significant, background, text)


def test_the_legend_shows_under_indexing_only_where_it_can_be_a_finding(
    warehouse: Path, tmp_path: Path
) -> None:
    html = _report(warehouse, tmp_path, "over.html")
    assert "significantly over-indexed" in html and "significantly under-indexed" not in html
    path = _copy(warehouse, tmp_path)
    con = db.connect(path)
    try:
        link_issues(con, config=LinkConfig(findings="both"))
        con.execute(
            "INSERT INTO setup (recorded_at, config_file, profile, config) VALUES (now(), NULL, "
            "'default', ?)",
            [json.dumps({"link": {"findings": "both"}})],
        )
    finally:
        con.close()
    both = _report(path, tmp_path, "both.html")
    assert "significantly under-indexed" in both and "two-sided" in both


# 5: "only them" in Markdown; machine formats keep the numbers beside the baseline -------------


def _only_them_rows() -> Rows:
    row = ("Airline customers", "Dm", "Dm", 36, 25, 0.095, 0.0, 376.53, 6.61, 21447.09, 7e-14, True)
    return Rows(list(ISSUE_BY_PERSONA_COLUMNS), [row])


def test_markdown_shows_a_lift_nobody_else_shares_as_only_them() -> None:
    markdown = str(issue_table_output(_only_them_rows(), "markdown", significant_only=True))
    line = markdown.splitlines()[-1]
    assert "| only them | 6.61 | > 1000 |" in line
    assert "376.53" not in markdown and "21447" not in markdown


def test_csv_and_json_keep_the_numbers_with_the_baseline_that_tells_them_apart() -> None:
    records = json.loads(str(issue_table_output(_only_them_rows(), "json", significant_only=True)))
    assert records[0]["lift"] == 376.53 and records[0]["baseline_share"] == 0.0
    assert records[0]["ci_high"] == 21447.09
    csv_text = str(issue_table_output(_only_them_rows(), "csv", significant_only=True))
    assert "baseline_share" in csv_text.splitlines()[0] and ",0.0,376.53," in csv_text


def test_an_interval_without_an_upper_limit_reads_as_such() -> None:
    assert fmt_interval(0.0, 1844073.3) == "0.00 or more"
    assert fmt_interval(6.61, 21447.09, "-") == "6.61 or more"
    assert fmt_interval(1.2, 3.456) == "1.20–3.46"
    assert fmt_interval(None, 2.0) == "n/a"


def test_the_report_never_prints_a_seven_digit_interval(warehouse: Path, tmp_path: Path) -> None:
    html = _report(warehouse, tmp_path)
    table = html[html.index('id="issue-table"') :]
    row = next(r for r in re.findall(r"<tr .*?</tr>", table, re.S) if "Direct message" in r)
    shown = re.findall(r">([^<]*)</td>", row)
    assert "only them" in shown and any(text.endswith(" or more") for text in shown), shown
    assert not any(re.search(r"\d{4,}", text) for text in shown), shown


# 6: seven persona columns keep their names across, at full length ----------------------------


def test_seven_persona_columns_run_across_and_eight_stand_upright() -> None:
    assert not _heatmap([], [f"p{i}" for i in range(7)], set())["dense"]
    assert _heatmap([], [f"p{i}" for i in range(8)], set())["dense"]


@pytest.mark.slow
def test_seven_persona_names_show_in_full_on_a_laptop_screen(
    browser: Any,  # noqa: F811
    warehouse: Path,
    tmp_path: Path,
) -> None:
    _report(warehouse, tmp_path)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto((tmp_path / "report.html").as_uri())
    page.wait_for_load_state("load")
    measured = page.evaluate(
        """() => {
        const table = document.getElementById('heatmap-table');
        const panel = table.closest('.panel');
        const names = [...table.querySelectorAll('thead th.persona span.name')].map(n => ({
            text: n.textContent, cut: n.scrollWidth > n.clientWidth + 1
                || n.scrollHeight > n.clientHeight + 1,
            upright: getComputedStyle(n).writingMode !== 'horizontal-tb'}));
        return {names, scroll: panel.scrollWidth, client: panel.clientWidth};
    }"""
    )
    page.close()
    assert len(measured["names"]) == 7
    assert not any(n["cut"] or n["upright"] for n in measured["names"]), measured
    assert measured["scroll"] <= measured["client"], measured


# 7: a persona compared with nobody says why ---------------------------------------------------


def test_a_persona_compared_with_nobody_says_why_on_its_card_and_column(
    warehouse: Path, tmp_path: Path
) -> None:
    html = _report(warehouse, tmp_path)
    nobody, everyone = _card(html, "Nobody"), _card(html, "Everyone")
    assert "No findings: no customers match this persona&#39;s rule." in nobody
    assert "No findings: every customer matches this persona: nothing to compare with." in everyone
    assert "No issue stands out for this persona" not in nobody + everyone
    assert "no customers match this persona&#39;s rule" in _column(html, "Nobody")
    assert "every customer matches this persona: nothing to compare with" in _column(
        html, "Everyone"
    )
    assert "Empty columns: <b>Everyone</b>: every customer matches" in html
    con = db.connect(warehouse, read_only=True)
    try:
        view = _text(persona_output(find_profile(con, "Everyone"), "table"))
    finally:
        con.close()
    assert "every customer matches this persona: nothing to compare with" in view
    assert "No issue stands out for this persona" not in view


def _text(renderable: Any) -> str:
    """What the terminal shows of a rich renderable, at 200 columns."""
    from rich.console import Console

    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(renderable)
    return " ".join(captured.get().split())


def test_the_heatmap_keeps_escaping_persona_names(warehouse: Path, tmp_path: Path) -> None:
    path = _copy(warehouse, tmp_path)
    con = db.connect(path)
    try:
        con.execute("UPDATE segments SET name = 'Nobody <b>x</b>' WHERE name = 'Nobody'")
    finally:
        con.close()
    html = _report(path, tmp_path)
    assert "Nobody &lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "script-src 'sha256-" in html and "default-src 'none'" in html
