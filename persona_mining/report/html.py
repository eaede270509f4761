"""The HTML report: one self-contained file a support lead opens offline in any browser.

It shows the issue x persona heatmap of lift (significant cells marked ▲ over- or ▼
under-indexed, evidence on hover; rule personas first, then discovered and negative segments
in groups that fold; upright column names once there are many segments, so that the chart
fits a laptop screen) and the same at the theme level (themes x personas, each theme
expanding to its issues), a card per persona in the same groups (who they are, challenges of
issues and of themes, questions, keywords and example tickets), the trend of the top issues,
the sortable issue table (filtered by persona, theme or significance), and the data window
and topic model.

Everything is inlined (styles, script, the SVG chart): no URL is ever fetched. Every text
from the warehouse goes through Jinja's autoescaping; the data the script needs travels as
JSON with `<`, `>` and `&` escaped, so no ticket can close the script element. Example tickets
come from `v_analysed_tickets` (PII and names redacted), never from `tickets.body` nor from
`prepared_tickets.text`, whose names only the analysis redacts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from pydantic import ValidationError

from persona_mining.config import LinkConfig
from persona_mining.errors import PersonaMiningError, StageError
from persona_mining.ingest.coverage import language_coverage, link_coverage
from persona_mining.report.issue_series import IssueTrends, issue_trends
from persona_mining.report.profile_records import PersonaProfile, load_profiles
from persona_mining.warehouse import plausible_time_sql

EXAMPLE_CHARS = 320
#: The groups of persona columns and cards, in the order a support lead reads them: the
#: personas they defined first, then what the data found. Unknown kinds go with discovered.
GROUPS = (
    ("rule", "Personas"),
    ("discovered", "Discovered segments"),
    ("negative", "Negative segments"),
)
#: Above this many persona columns the heatmap turns its column names upright and narrows
#: its cells, so that 15 segments and 40 issues fit a laptop screen; up to it, the names run
#: across, wrapped, at full length (seven such columns fit a 1366-pixel-wide screen).
DENSE_COLUMNS = 7


@dataclass(frozen=True)
class ReportResult:
    """What one report call wrote."""

    path: Path
    personas: int
    issues: int
    significant_cells: int
    example_tickets: int
    bytes: int
    seconds: float
    themes: int = 0


#: How a lift is shown where nobody outside the persona raises the issue.
ONLY_THEM = "only them"


def write_report(
    con: duckdb.DuckDBPyConnection,
    *,
    out: Path,
    top_issues: int = 8,
    examples: int = 2,
    period: str = "week",
    title: str = "Support personas",
) -> ReportResult:
    """Write the HTML report of the current topic model's results to `out`.

    Args:
        con: the warehouse (read-only is enough).
        out: the .html file to write (its folder is created).
        top_issues: issues drawn in the trend chart.
        examples: example tickets shown per challenge.
        period: "week" or "month", the trend chart's period.
        title: the report's title.

    Raises:
        StageError: the warehouse has no topic model yet.
        PersonaMiningError: the file cannot be written.
    """
    started = time.perf_counter()
    model = _current_model(con)
    profiles = sorted(load_profiles(con), key=lambda p: _group_rank(p.shown_kind))
    cells = _cells(con)
    theme_cells = _theme_cells(con)
    trends = issue_trends(con, period=period, top=top_issues)
    kinds = {p.persona: p.shown_kind for p in profiles} or {c["persona"]: c["kind"] for c in cells}
    persona_names = [p.persona for p in profiles] or sorted(
        kinds, key=lambda name: (_group_rank(kinds[name]), name)
    )
    # Only what the data confirms is marked negative, never a declaration alone.
    negative = {p.persona for p in profiles if p.negative}
    untested = {p.persona: p.untested for p in profiles if p.untested}
    heatmap = _heatmap(cells, persona_names, negative, kinds=kinds, untested=untested)
    themes = _theme_heatmap(
        theme_cells, heatmap, persona_names, negative, kinds=kinds, untested=untested
    )
    link = _link_settings(con)
    examples_by = {
        (p.segment_id, c.topic_id): _examples(con, p.segment_id, c.topic_id, examples)
        for p in profiles
        for c in p.challenges
    }
    # The model's own issues and their themes, with or without personas to compare them
    # across (the heatmaps have no rows without personas). Ignored issues and the unclustered
    # tickets stay out, as they do of the heatmaps.
    totals = con.execute(
        f"""SELECT (SELECT count(*) FROM tickets),
        (SELECT count(*) FILTER (WHERE topic_id <> -1) FROM v_ticket_topics),
        (SELECT count(*) FROM customers), count(*), count(DISTINCT group_id) FILTER (group_id >= 0),
        (SELECT count(*) FILTER (WHERE topic_id = -1) FROM v_ticket_topics),
        (SELECT min(created_at) FILTER ({plausible_time_sql("created_at")}) FROM tickets),
        (SELECT max(created_at) FILTER ({plausible_time_sql("created_at")}) FROM tickets)
        FROM v_topics WHERE topic_id >= 0 AND active AND NOT ignored"""
    ).fetchall()[0]
    edits = _edits(con, model["model_id"] if model else None)
    fix_first = _fix_first(con, examples=min(examples, 1))
    script = _script()
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            model=model,
            tickets=totals[0],
            assigned=totals[1],
            customers=totals[2],
            issue_count=totals[3],
            theme_count=totals[4],
            unclustered=totals[5],
            window={"first": totals[6], "last": totals[7]},
            coverage=link_coverage(con),
            languages=language_coverage(con),
            profiles=profiles,
            card_groups=_card_groups(profiles),
            examples=examples_by,
            heatmap=heatmap,
            themes=themes,
            link=link,
            # The legend's ▼ entry, only where an under-indexed cell can be a finding.
            under_findings=link.findings == "both"
            or any(c["significant"] and (c["lift"] or 0) < 1 for c in cells + theme_cells),
            theme_options=_theme_options(cells),
            cells=cells,
            trends=trends,
            chart=_chart(trends),
            edits=edits,
            fix_first=fix_first,
            data_json=_script_json(
                {
                    "cells": [_tooltip(c) for c in cells],
                    "themeCells": [_tooltip(c, label="theme") for c in theme_cells],
                }
            ),
            script=Markup(script),  # our own file, shipped with the package
            script_hash=_csp_hash(script),
        )
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as e:
        raise PersonaMiningError(
            f"report {out}: cannot be written ({e.strerror}); choose another --out"
        ) from e
    return ReportResult(
        path=out,
        personas=len(profiles),
        issues=totals[3],
        themes=totals[4],
        significant_cells=sum(1 for c in cells if c["significant"]),
        example_tickets=sum(len(v) for v in examples_by.values()),
        bytes=len(html.encode("utf-8")),
        seconds=time.perf_counter() - started,
    )


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("persona_mining.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        lift=fmt_lift,
        times=fmt_times,
        interval=fmt_interval,
        pct=fmt_pct,
        q=fmt_q,
        count=fmt_count,
        day=fmt_day,
        threshold=fmt_threshold,
    )
    env.globals.update(anchor=profile_anchor)
    return env


def _script() -> str:
    """The report's script, inlined; the Content-Security-Policy allows only this script."""
    return (resources.files("persona_mining.report") / "templates" / "report.js").read_text(
        encoding="utf-8"
    )


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _current_model(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    cursor = con.execute("SELECT * FROM v_current_model")
    row = cursor.fetchone()
    if row is None:
        raise StageError(
            "report: no topic model in the warehouse yet; run `persona-mining run` "
            "(or `persona-mining demo`) first"
        )
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _link_settings(con: duckdb.DuckDBPyConnection) -> LinkConfig:
    """The `[link]` thresholds the warehouse's statistics were computed with, for the report
    to state: those of the setup its last run recorded, else the defaults.

    The setup recorded with the run, not a config given to `report`, is what decided which
    cells are significant, so that is what the report says.
    """
    try:
        rows = con.execute("SELECT config FROM setup ORDER BY recorded_at DESC LIMIT 1").fetchall()
    except duckdb.CatalogException:
        return LinkConfig()  # a warehouse from before setups were recorded
    recorded = json.loads(rows[0][0]).get("link", {}) if rows else {}
    try:
        return LinkConfig.model_validate(recorded)
    except ValidationError:
        return LinkConfig()  # a setup of another release: its run said what was wrong


def _edits(con: duckdb.DuckDBPyConnection, model_id: str | None) -> list[dict[str, Any]]:
    """The taxonomy edits support leads made, with how each applies to the current model."""
    cursor = con.execute(
        """SELECT e.edit_id, e.action, array_to_string(e.topic_keys, ', ') AS topics, e.value,
                  e.edited_by, e.edited_at, coalesce(s.status, 'pending') AS status, s.detail
        FROM topic_edits e
        LEFT JOIN topic_edit_status s ON s.edit_id = e.edit_id AND s.model_id = ?
        WHERE NOT e.undone ORDER BY e.edit_id""",
        [model_id],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _cells(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every issue x persona cell, with the issue's size and its theme (None outside any)."""
    cursor = con.execute(
        """SELECT v.persona, v.kind, v.issue, v.topic_id, v.segment_id, v.tickets, v.customers,
               v.segment_tickets, v.share, v.baseline_share, v.lift, v.ci_low, v.ci_high,
               v.q_value, v.significant, coalesce(t.size, 0) AS size,
               CASE WHEN t.group_id <> -1 THEN t.group_id END AS group_id,
               CASE WHEN t.group_id <> -1 THEN t.group_label END AS theme
        FROM v_issue_by_persona v LEFT JOIN v_topics t USING (topic_id)
        WHERE v.topic_id <> -1"""
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _theme_cells(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every theme x persona cell (`v_issue_group_by_persona`), with the theme's size."""
    cursor = con.execute(
        """SELECT v.persona, v.kind, v.issue_group AS theme, v.group_id, v.segment_id,
               v.tickets, v.customers, v.segment_tickets, v.share, v.baseline_share, v.lift,
               v.ci_low, v.ci_high, v.q_value, v.significant, coalesce(g.size, 0) AS size
        FROM v_issue_group_by_persona v
        LEFT JOIN topic_groups g ON g.model_id = v.model_id AND g.group_id = v.group_id
        WHERE v.group_id <> -1"""
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _theme_options(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The themes of the issue table's filter: each theme that has an issue there, by name."""
    themes = {c["group_id"]: c["theme"] for c in cells if c["group_id"] is not None}
    return [
        {"group_id": g, "theme": label}
        for g, label in sorted(themes.items(), key=lambda kv: (kv[1].casefold(), kv[0]))
    ]


def _heatmap(
    cells: list[dict[str, Any]],
    personas: list[str],
    negative: set[str],
    *,
    kinds: dict[str, str] | None = None,
    untested: dict[str, str] | None = None,
    key: str = "topic_id",
    label: str = "issue",
) -> dict[str, Any]:
    """Rows are issues (or themes), columns personas; each row sits next to the persona it
    marks most.

    Sorting the rows by their strongest significant over-indexing persona puts each persona's
    challenges together, so the chart reads as blocks down its diagonal. `index` is a cell's
    place in `cells`, which the script's tooltips look up. Columns come in groups (rule
    personas, discovered segments, negative segments; `personas` is in that order); each row
    counts its significant over-indexed cells per group, shown when a group is collapsed.
    `negative` are the personas the data finds negative (their columns are marked so);
    `untested` says, per persona, why it was compared with nobody (its column stays empty).
    """
    by_row: dict[int, dict[str, Any]] = {}
    for index, cell in enumerate(cells):
        row = by_row.setdefault(
            cell[key],
            {
                "id": cell[key],
                "label": cell[label],
                "size": cell["size"],
                "cells": {},
                "order": (len(personas), 0.0),
            },
        )
        row["cells"][cell["persona"]] = {**cell, "index": index, "style": _cell_style(cell)}
        if cell["significant"] and (cell["lift"] or 0) > 1 and cell["persona"] in personas:
            order = (personas.index(cell["persona"]), -float(cell["lift"]))
            row["order"] = min(row["order"], order)
    rows = sorted(by_row.values(), key=lambda r: (*r["order"], -r["size"], r["label"]))
    kinds = kinds or {c["persona"]: c["kind"] for c in cells}
    untested = untested or {}
    group_of = {p: _group_kind(kinds.get(p, "rule")) for p in personas}
    columns = [
        {
            "persona": p,
            "negative": p in negative,
            "untested": untested.get(p, ""),
            "group": group_of[p],
            "last_of_group": i == len(personas) - 1 or group_of[personas[i + 1]] != group_of[p],
        }
        for i, p in enumerate(personas)
    ]
    for row in rows:
        row["over_by_group"] = {
            kind: sum(
                1
                for c in row["cells"].values()
                if group_of.get(c["persona"]) == kind and c["significant"] and (c["lift"] or 0) > 1
            )
            for kind, _ in GROUPS
        }
    counts = {kind: sum(1 for p in personas if group_of[p] == kind) for kind, _ in GROUPS}
    groups = [
        {"kind": kind, "label": name, "count": counts[kind], "collapsible": kind != "rule"}
        for kind, name in GROUPS
        if counts[kind]
    ]
    return {
        "columns": columns,
        "rows": rows,
        "groups": groups if len(groups) > 1 else [],
        "dense": len(personas) > DENSE_COLUMNS,
        "untested": any(untested.get(p) for p in personas),
    }


def _group_kind(kind: str) -> str:
    """The column group of a segment kind: rule and negative as they are, the rest discovered."""
    return kind if kind in ("rule", "negative") else "discovered"


def _group_rank(kind: str) -> int:
    """The place of a segment kind's group: rule personas first, negative segments last."""
    return [k for k, _ in GROUPS].index(_group_kind(kind))


def _card_groups(profiles: list[PersonaProfile]) -> list[dict[str, Any]]:
    """The persona cards in their groups; a group other than the rule personas can be folded.

    Discovered segments start folded when there are rule personas to read first; negative
    segments start open: they are what a support lead acts on.
    """
    groups = []
    has_rules = any(_group_kind(p.shown_kind) == "rule" for p in profiles)
    for kind, name in GROUPS:
        members = [p for p in profiles if _group_kind(p.shown_kind) == kind]
        if members:
            groups.append(
                {
                    "kind": kind,
                    "label": name,
                    "profiles": members,
                    "collapsible": kind != "rule",
                    "open": not (kind == "discovered" and has_rules),
                }
            )
    return groups


def _theme_heatmap(
    theme_cells: list[dict[str, Any]],
    issues: dict[str, Any],
    personas: list[str],
    negative: set[str],
    *,
    kinds: dict[str, str] | None = None,
    untested: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The heatmap one level up: themes x personas, each theme row with its issue rows.

    A theme's issue rows are the issue heatmap's rows (same cells, same tooltips), largest
    first, so that expanding a theme shows which of its issues carry it, or that none does.
    """
    themes = _heatmap(
        theme_cells,
        personas,
        negative,
        kinds=kinds,
        untested=untested,
        key="group_id",
        label="theme",
    )
    members: dict[int, list[dict[str, Any]]] = {}
    for row in issues["rows"]:
        group_id = next(iter(row["cells"].values()))["group_id"] if row["cells"] else None
        if group_id is not None:
            members.setdefault(group_id, []).append(row)
    for row in themes["rows"]:
        row["issues"] = sorted(members.get(row["id"], []), key=lambda r: (-r["size"], r["label"]))
    return themes


#: The grey of the cells that are not findings, and its text (7:1, WCAG AA asks 4.5:1).
QUIET_BACKGROUND, QUIET_TEXT = (243, 244, 246), "#4b5563"
#: The contrast WCAG AA asks of normal text against its background.
MIN_CONTRAST = 4.5


def _cell_style(cell: dict[str, Any]) -> str:
    """Background colour of a heatmap cell: the findings stand out, the rest recedes.

    Over-indexed significant cells go from light to deep orange with log2(lift); under-indexed
    ones get a paler blue (they matter less to a support lead); the rest is grey. The text
    colour is chosen from the background's luminance, so every cell reads at WCAG AA.
    """
    lift = cell["lift"]
    if not cell["significant"] or lift is None:
        return f"background:{_hex(QUIET_BACKGROUND)};color:{QUIET_TEXT}"
    # A persona that never raises an issue everyone else does: as under-indexed as it gets.
    strength = min(abs(math.log2(lift)) / 4.0, 1.0) if lift > 0 else 1.0
    if lift > 1:
        start, end, ink = (254, 237, 222), (194, 65, 12), "#1f2937"
    else:
        start, end, ink = (238, 242, 255), (129, 157, 240), "#172554"
    r, g, b = (round(s + (e - s) * strength) for s, e in zip(start, end, strict=True))
    return f"background:rgb({r},{g},{b});color:{text_colour((r, g, b), ink)}"


def text_colour(background: tuple[int, int, int], ink: str) -> str:
    """The text colour for a background: `ink` where it reaches WCAG AA's 4.5:1, else white or
    black, whichever contrasts more (one of the two always reaches 4.58:1)."""
    if contrast(_rgb(ink), background) >= MIN_CONTRAST:
        return ink
    white, black = (255, 255, 255), (0, 0, 0)
    return "#ffffff" if contrast(white, background) >= contrast(black, background) else "#000000"


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG's contrast ratio of two sRGB colours, from 1 (the same) to 21 (black on white)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _luminance(colour: tuple[int, int, int]) -> float:
    """WCAG's relative luminance of an sRGB colour."""
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        for c in (v / 255 for v in colour)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _hex(colour: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in colour)


def _tooltip(cell: dict[str, Any], *, label: str = "issue") -> dict[str, Any]:
    """The evidence of one cell, for the script's tooltip (`label`: "issue" or "theme")."""
    interval = fmt_interval(cell["ci_low"], cell["ci_high"])
    return {
        "title": f"{cell['persona']} × {cell[label]}" + (" (theme)" if label == "theme" else ""),
        "lines": [
            f"{cell['tickets']} of their {cell['segment_tickets']} tickets "
            f"({fmt_pct(cell['share'])}), from {cell['customers']} customers",
            f"Everyone else: {fmt_pct(cell['baseline_share'])} of tickets",
            f"Lift {fmt_times(cell['lift'], cell['baseline_share'])}, 95% CI {interval}",
            f"q = {fmt_q(cell['q_value'])}",
        ],
        "significant": bool(cell["significant"]),
    }


def _examples(
    con: duckdb.DuckDBPyConnection, segment_id: str, topic_id: int, limit: int
) -> list[dict[str, Any]]:
    """The persona's most typical tickets on a topic (redacted text), near-duplicates dropped;
    those that say something first (`personas.shown.content_words_sql`: "[HANDLE] Ok thanks."
    tells a reader nothing), as the analysis of what is shown picks them."""
    from persona_mining.personas.shown import MIN_CONTENT_WORDS, content_words_sql

    if limit <= 0:
        return []
    rows = con.execute(
        f"""SELECT tt.ticket_id, tk.created_at, p.text
        FROM ticket_topics tt
        JOIN v_current_model m USING (model_id)
        JOIN tickets tk ON tk.ticket_id = tt.ticket_id
        JOIN customer_segments cs ON cs.customer_id = tk.customer_id AND cs.segment_id = ?
        JOIN v_analysed_tickets p ON p.ticket_id = tt.ticket_id
        WHERE tt.topic_id = ?
        ORDER BY least({content_words_sql("p.text")}, {MIN_CONTENT_WORDS}) DESC,
            tt.probability DESC NULLS LAST, tt.ticket_id
        LIMIT ?""",
        [segment_id, topic_id, limit * 10],
    ).fetchall()
    seen: set[str] = set()
    out = []
    for ticket_id, created_at, text in rows:
        key = re.sub(r"[^a-z]+", " ", text.lower()).strip()[:60]
        if key in seen:
            continue
        seen.add(key)
        out.append({"ticket_id": ticket_id, "created_at": created_at, "text": _shorten(text)})
        if len(out) == limit:
            break
    return out


#: What the headline impact counts, for the report.
_IMPACT_LABELS = {
    "csat": "the CSAT points a persona would gain without the issue",
    "resolution_hours": "the hours a persona's mean resolution time would fall without the issue",
    "reopen_rate": "the points a persona's reopen rate would fall without the issue",
    "escalation_rate": "the points a persona's escalation rate would fall without the issue",
}


def _fix_first(
    con: duckdb.DuckDBPyConnection, *, examples: int, top: int = 15, unmeasured: int = 30
) -> dict[str, Any]:
    """The report's "what to fix first, for whom": costly persona x issue pairs, largest first.

    Pairs without outcome data are listed apart with the reason, never ranked as costless.
    """
    cursor = con.execute(
        """SELECT * FROM v_issue_impact
        WHERE costly OR (impact IS NULL AND significant)
        ORDER BY impact IS NULL, impact DESC, tickets DESC, persona, issue"""
    )
    columns = [d[0] for d in cursor.description]
    records = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    measure_row = con.execute("SELECT any_value(impact_measure) FROM v_issue_impact").fetchone()
    measure = measure_row[0] if measure_row else None
    scale = 100.0 if measure in ("reopen_rate", "escalation_rate") else 1.0
    rows: list[dict[str, Any]] = []
    for r in (r for r in records if r["impact"] is not None):
        if len(rows) == top:
            break
        rows.append(
            {
                **r,
                "impact_shown": f"{r['impact'] * scale:.2f}",
                "interval": _interval(r["impact_low"], r["impact_high"], scale),
                "csat_shown": _versus(r["csat"], r["csat_others"], "{:.1f}"),
                "hours_shown": _versus(
                    r["resolution_hours"], r["resolution_hours_others"], "{:.0f}"
                ),
                "reopen_shown": _versus(
                    None if r["reopen_rate"] is None else r["reopen_rate"] * 100,
                    None if r["reopen_rate_others"] is None else r["reopen_rate_others"] * 100,
                    "{:.0f}%",
                ),
                "examples": _examples(con, r["segment_id"], r["topic_id"], examples),
            }
        )
    return {
        "measured": bool(con.execute("SELECT count(*) FROM v_issue_impact").fetchone()[0]),  # type: ignore[index]
        "measure": measure,
        "label": _IMPACT_LABELS.get(measure or "", ""),
        "rows": rows,
        "unmeasured": [r for r in records if r["impact"] is None][:unmeasured],
    }


def _interval(low: float | None, high: float | None, scale: float) -> str:
    if low is None or high is None:
        return ""
    return f"{low * scale:.2f} to {high * scale:.2f}"


def _versus(own: float | None, others: float | None, form: str) -> str:
    if own is None:
        return ""
    return form.format(own) + ("" if others is None else " vs " + form.format(others))


def _shorten(text: str, limit: int = EXAMPLE_CHARS) -> str:
    text = re.sub(r"\n{3,}", "\n\n", text.strip())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;: ") + " …"


def _chart(trends: IssueTrends) -> dict[str, Any]:
    """Geometry of the trend small multiples: one inline SVG panel per issue, one shared scale.

    One panel per issue reads far better than eight tangled lines, and a shared y axis keeps
    the panels honest: a small issue does not look as big as a large one.
    """
    width, height, left, right, top, bottom = 320, 112, 30, 10, 8, 20
    n = len(trends.periods)
    peak = max((max(s.counts) for s in trends.series if s.counts), default=0)
    y_max, _ = _nice_axis(peak)

    def x(i: int) -> float:
        return round(left + (width - left - right) * (i / (n - 1) if n > 1 else 0.5), 1)

    def y(v: float) -> float:
        return round(top + (height - top - bottom) * (1 - v / y_max), 1)

    panels = []
    for series in trends.series:
        points = [(x(i), y(v)) for i, v in enumerate(series.counts)]
        segments = [
            {"points": points[i : i + 2], "dashed": trends.partial[i] or trends.partial[i + 1]}
            for i in range(n - 1)
        ]
        area = [(x(0), y(0)), *points, (x(n - 1), y(0))] if n > 1 else []
        latest, previous, change = trends.change(series)
        evidence = trends.evidence(series)
        panels.append(
            {
                "issue": series.label,
                "total": series.total,
                "latest": latest,
                "previous": previous,
                "change": change,
                # A change the two counts do not bear out is shown as noise, never as a trend.
                "noise": evidence is not None and not evidence.significant,
                "p_value": None if evidence is None else evidence.p_value,
                "q_value": None if evidence is None else evidence.q_value,
                "segments": segments,
                "area": " ".join(f"{px},{py}" for px, py in area),
                "dots": [
                    {
                        "x": px,
                        "y": py,
                        "label": f"{trends.period.capitalize()} of {fmt_day(trends.periods[i])}: "
                        f"{series.counts[i]} tickets"
                        + (" (partial period)" if trends.partial[i] else ""),
                    }
                    for i, (px, py) in enumerate(points)
                ],
            }
        )
    ticks: list[tuple[float, str]] = []
    for i, start in enumerate(trends.periods):
        new_month = i == 0 or start.month != trends.periods[i - 1].month
        if trends.period == "month" or new_month:
            ticks.append((x(i), start.strftime("%b")))
    if trends.period == "week" and len(ticks) > 1 and ticks[1][0] - ticks[0][0] < 24:
        ticks.pop(0)  # a partial first month too close to the next label
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": height - bottom,
        "top": top,
        "y_max": y_max,
        "y_mid": y(y_max / 2),
        "mid_label": f"{y_max / 2:g}",
        "panels": panels,
        "ticks": [{"x": tx, "label": label} for tx, label in ticks],
    }


def _nice_axis(peak: int) -> tuple[int, int]:
    """A round axis maximum and step (1, 2 or 5 times a power of ten) for four or five lines."""
    if peak <= 0:
        return 1, 1
    raw = peak / 4
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(int(step), 1)
    return step * math.ceil(peak / step), step


def _script_json(data: object) -> Markup:
    """JSON that is safe inside <script type="application/json">: no tag can be closed by it."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return Markup(text)  # escaped above for the script-data context


def fmt_lift(value: float | None, baseline_share: float | None = None) -> str:
    """A lift or interval bound, two decimals below 10, one above.

    With `baseline_share` 0 (nobody else raises the issue) a lift is "only them": its value
    then comes from the 0.5 added to each count (3271.5 on 41 tickets), a number that says
    nothing, where the counts say it all.
    """
    if value is None:
        return "n/a"
    if baseline_share == 0:
        return ONLY_THEM
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


#: An interval bound from this lift up is shown as unbounded: where nobody else (or hardly
#: anyone) raises an issue, the upper end of its interval runs to thousands or millions, a
#: number that says only "no upper limit".
UNBOUNDED_LIFT = 1000.0


def fmt_bound(value: float | None) -> str:
    """An interval bound: as `fmt_lift`, or "> 1000" from `UNBOUNDED_LIFT` up."""
    if value is not None and value >= UNBOUNDED_LIFT:
        return f"> {UNBOUNDED_LIFT:.0f}"
    return fmt_lift(value)


def fmt_interval(low: float | None, high: float | None, dash: str = "–") -> str:
    """An interval of lifts, `low–high`, or "low or more" when its upper end is unbounded
    (see `UNBOUNDED_LIFT`); "n/a" without one."""
    if low is None or high is None:
        return "n/a"
    if high >= UNBOUNDED_LIFT:
        return fmt_bound(low) if low >= UNBOUNDED_LIFT else f"{fmt_lift(low)} or more"
    return f"{fmt_lift(low)}{dash}{fmt_lift(high)}"


def fmt_threshold(value: float) -> str:
    """A configured threshold as written in the config (0.05, 0.1), not as a float prints."""
    return f"{value:g}"


def fmt_times(value: float | None, baseline_share: float | None = None) -> str:
    """A lift with its "×" (`3.21×`), or "only them" (see `fmt_lift`)."""
    shown = fmt_lift(value, baseline_share)
    return shown if shown in (ONLY_THEM, "n/a") else f"{shown}×"


def fmt_pct(value: float | None) -> str:
    """A share as a percentage."""
    return "n/a" if value is None else f"{value:.1%}"


def fmt_q(value: float | None) -> str:
    """A q- or p-value: scientific below 0.001."""
    if value is None:
        return "n/a"
    return f"{value:.0e}" if value < 0.001 else f"{value:.3f}"


def fmt_count(value: int | None) -> str:
    """An integer with thousands separators."""
    return "n/a" if value is None else f"{value:,}"


def fmt_day(value: Any) -> str:
    """A date or timestamp as YYYY-MM-DD."""
    if value is None:
        return "n/a"
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)[:10]


def profile_anchor(profile: PersonaProfile) -> str:
    """A stable HTML id for a persona's card."""
    return "persona-" + re.sub(r"[^a-z0-9]+", "-", profile.segment_id.lower()).strip("-")
