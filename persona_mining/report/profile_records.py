"""Persona profiles as records, read from `v_persona_profiles` (built by the personas stage).

Read-only: used by `persona-mining persona`, the HTML report and anyone who wants a profile
as Python objects rather than JSON columns.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import duckdb

from persona_mining.errors import ConfigError
from persona_mining.ingest.coverage import LinkCoverage, link_coverage


@dataclass(frozen=True)
class Challenge:
    """One significantly over-indexed issue of a persona, with its evidence."""

    topic_id: int
    label: str
    keywords: tuple[str, ...]
    tickets: int
    customers: int
    share: float
    baseline_share: float | None
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    q_value: float | None
    questions: tuple[str, ...]


@dataclass(frozen=True)
class ThemeChallenge:
    """One significantly over-indexed theme (a group of issues) of a persona, with its evidence.

    Attributes:
        issues: the labels of the theme's issues (active, not ignored), largest first.
        significant_issues: those of them that are challenges of the persona on their own.
            Empty: the finding exists at the theme level only (its issues are each too small,
            or too weak, to be significant; together they are).
    """

    group_id: int
    label: str
    issues: tuple[str, ...]
    significant_issues: tuple[str, ...]
    tickets: int
    customers: int
    share: float
    baseline_share: float | None
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    q_value: float | None

    @property
    def theme_only(self) -> bool:
        """Whether none of the theme's issues is a challenge on its own."""
        return not self.significant_issues


@dataclass(frozen=True)
class PersonaProfile:
    """Who a persona is, how much it contacts support, and its challenges.

    `challenges` are its significantly over-indexed issues; `theme_challenges` its
    significantly over-indexed themes (read from `v_issue_group_by_persona`).
    """

    persona: str
    kind: str
    description: str | None
    rule: str | None
    segment_id: str
    customers: int
    contacting_customers: int
    tickets: int
    tickets_per_customer: float | None
    summary: str
    challenges: tuple[Challenge, ...]
    model_id: str | None
    flagged_negative: bool = False
    negative_drivers: tuple[dict[str, Any], ...] = ()
    theme_challenges: tuple[ThemeChallenge, ...] = ()
    impact: tuple[dict[str, Any], ...] = ()
    impact_note: str | None = None
    #: Why it has no challenges when the link to customers explains it ("" otherwise).
    no_findings: str = ""
    #: Why the link stage could not compare it with anyone ("" when it could): no customers
    #: match its rule, none of them has a ticket, or nobody is left outside it.
    untested: str = ""

    def impact_lines(self) -> list[str]:
        """What to fix first for this persona, one sentence per costly issue (or why none)."""
        if self.impact:
            return [impact_sentence(record) for record in self.impact]
        return [self.impact_note] if self.impact_note else []

    @property
    def negative(self) -> bool:
        """Whether the data finds the persona negative, costlier to serve than everyone else.

        Either the negative stage flags it, or it is a segment without a rule whose kind that
        stage set. A rule persona's kind is what the config declares: `negative = true` alone
        claims nothing the data has shown (see `unconfirmed_negative`).
        """
        return self.flagged_negative or (self.kind == "negative" and self.rule is None)

    @property
    def unconfirmed_negative(self) -> bool:
        """Whether the config declares the persona negative and the data does not confirm it."""
        return self.kind == "negative" and not self.negative

    @property
    def shown_kind(self) -> str:
        """The kind to show and group the persona by: a declared negative persona the data
        does not confirm is shown as the rule persona it is, never among the negative ones."""
        return "rule" if self.unconfirmed_negative else self.kind

    def cost_sentence(self) -> str:
        """What makes a negative persona costly, in the words of what is measured.

        Only the cost to serve is measured (tickets, repeat contacts, returns, ratings, ...),
        never what the customers bring in, so the sentence compares costs and nothing else.
        """
        labels = [str(d.get("label") or d.get("signal")) for d in self.negative_drivers]
        if not labels:
            return "costlier to serve than everyone else"
        listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        return f"costlier to serve than everyone else, with significantly more {listed}"

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain JSON-ready data (each theme challenge says if it is theme-only)."""
        data = asdict(self)
        for theme, record in zip(self.theme_challenges, data["theme_challenges"], strict=True):
            record["theme_only"] = theme.theme_only
        return data


def load_profiles(con: duckdb.DuckDBPyConnection) -> list[PersonaProfile]:
    """Every persona profile, in the order of `v_persona_profiles` (negative personas last).

    Columns added to the view later (the data's negative flag and its drivers) are read when
    present, so that a warehouse not yet migrated still reads.
    """
    cursor = con.execute("SELECT * FROM v_persona_profiles")
    columns = [d[0] for d in cursor.description]
    profiles = [_profile(dict(zip(columns, row, strict=True))) for row in cursor.fetchall()]
    themes = _theme_cells(con)
    issues = _theme_issues(con)
    impact = _impact(con)
    coverage = link_coverage(con)
    out = []
    for p in profiles:
        untested = _untested(p, coverage)
        out.append(
            replace(
                p,
                theme_challenges=_theme_challenges(p, themes.get(p.segment_id, []), issues),
                impact=tuple(impact.get(p.segment_id, {}).get("costly", ())),
                impact_note=impact.get(p.segment_id, {}).get("note"),
                no_findings="" if p.challenges else _no_findings(p, coverage, untested),
                untested=untested,
            )
        )
    return out


def _no_findings(profile: PersonaProfile, coverage: LinkCoverage, untested: str) -> str:
    """Why a persona without challenges has none, when it was never compared with anyone."""
    said = f"No findings: {untested}." if untested else ""
    if profile.customers == 0:
        return said
    return coverage.no_findings_reason(profile.tickets) or said


def _untested(profile: PersonaProfile, coverage: LinkCoverage) -> str:
    """Why the link stage had nobody to compare the persona with, "" when it had.

    It compares a persona's tickets with the tickets of the customers outside it: with no
    customer inside, no ticket inside, or no ticket left outside, there is no comparison, and
    "nothing stands out" would wrongly suggest there was one.
    """
    if profile.customers == 0:
        return "no customers match this persona's rule"
    if coverage.linked == 0:
        return ""  # no persona has tickets to test: `no_findings_reason` says why
    if profile.tickets == 0:
        return "none of its customers has a ticket: nothing to compare"
    if profile.tickets >= coverage.linked:
        if profile.customers >= coverage.customers:
            return "every customer matches this persona: nothing to compare with"
        return "every customer with a ticket matches this persona: nothing to compare with"
    return ""


#: Units of the headline impact, for sentences.
_IMPACT_UNITS = {
    "csat": "CSAT points",
    "resolution_hours": "hours of mean resolution time",
    "reopen_rate": "points of reopen rate",
    "escalation_rate": "points of escalation rate",
}


def impact_sentence(record: dict[str, Any]) -> str:
    """One costly issue of a persona in words: the impact, its interval, and the outcomes."""
    measure = str(record.get("impact_measure"))
    scale = 100.0 if measure in ("reopen_rate", "escalation_rate") else 1.0
    value, low, high = (
        float(record[k]) * scale if record.get(k) is not None else None
        for k in ("impact", "impact_low", "impact_high")
    )
    interval = f" (95% CI {low:.2f} to {high:.2f})" if low is not None and high is not None else ""
    text = (
        f"{record['issue']}: {value:.2f} {_IMPACT_UNITS.get(measure, measure)} lost{interval}"
        if value is not None
        else f"{record['issue']}"
    )
    details = []
    if record.get("csat") is not None and record.get("csat_others") is not None:
        details.append(
            f"rated {record['csat']:.1f} vs {record['csat_others']:.1f} by everyone else"
        )
    if (
        record.get("resolution_hours") is not None
        and record.get("resolution_hours_others") is not None
    ):
        details.append(
            f"resolved in {record['resolution_hours']:.0f} h on average vs "
            f"{record['resolution_hours_others']:.0f} h"
        )
    return text + ("; " + ", ".join(details) if details else "")


def _impact(con: duckdb.DuckDBPyConnection, top: int = 3) -> dict[str, dict[str, Any]]:
    """Per segment: its costliest issues (impact interval above 0), or why there are none."""
    cursor = con.execute(
        """SELECT segment_id, issue, impact_measure, impact, impact_low, impact_high, costly,
            outcome_note, csat, csat_others, resolution_hours, resolution_hours_others,
            resolution_hours_median, tickets
        FROM v_issue_impact ORDER BY segment_id, impact IS NULL, impact DESC, issue"""
    )
    columns = [d[0] for d in cursor.description]
    out: dict[str, dict[str, Any]] = {}
    for row in cursor.fetchall():
        record = dict(zip(columns, row, strict=True))
        entry = out.setdefault(record["segment_id"], {"costly": [], "measured": False})
        if record["impact"] is not None:
            entry["measured"] = True
        elif record["outcome_note"] and "note" not in entry:
            entry["note"] = f"no outcome data: {record['outcome_note']}"
        if record["costly"] and len(entry["costly"]) < top:
            entry["costly"].append(record)
    for entry in out.values():
        if entry["costly"]:
            entry.pop("note", None)
        elif entry["measured"]:
            entry["note"] = (
                "no issue costs this persona measurably (no impact above 0 with q < alpha)"
            )
    return out


def find_profile(con: duckdb.DuckDBPyConnection, name: str) -> PersonaProfile:
    """The profile of one persona, by name: exact (any case), else a unique partial match.

    Raises:
        ConfigError: no persona, or more than one, matches `name`.
    """
    profiles = load_profiles(con)
    wanted = name.strip().casefold()
    exact = [p for p in profiles if p.persona.casefold() == wanted]
    if exact:
        return exact[0]
    partial = [p for p in profiles if wanted and wanted in p.persona.casefold()]
    if len(partial) == 1:
        return partial[0]
    known = ", ".join(repr(p.persona) for p in profiles) or _why_no_persona(con)
    if partial:
        matches = ", ".join(repr(p.persona) for p in partial)
        raise ConfigError(f"persona {name!r} matches {matches}; give more of the name")
    raise ConfigError(f"persona {name!r}: no such persona; known personas: {known}")


def _why_no_persona(con: duckdb.DuckDBPyConnection) -> str:
    """Why the warehouse has no persona profile: no run yet, or no persona to build one for."""
    (segments,) = con.execute("SELECT count(*) FROM segments").fetchone() or (0,)
    if segments:
        return "none yet (run `persona-mining run` to build their profiles)"
    (models,) = con.execute("SELECT count(*) FROM topic_models").fetchone() or (0,)
    if not models:
        return "none (run `persona-mining run` first)"
    return (
        "none: the config defines no [[personas]] and no segments were discovered; add "
        "[[personas]] rules over the customers' columns, or run `persona-mining discover`"
    )


def _profile(row: dict[str, Any]) -> PersonaProfile:
    asked = _json(row.get("questions"), {})
    return PersonaProfile(
        persona=row["persona"],
        kind=row["kind"],
        description=row.get("description"),
        rule=row.get("rule"),
        segment_id=row["segment_id"],
        customers=row["customers"],
        contacting_customers=row["contacting_customers"],
        tickets=row["tickets"],
        tickets_per_customer=row.get("tickets_per_customer"),
        summary=row["summary"],
        challenges=tuple(
            Challenge(
                topic_id=int(c["topic_id"]),
                label=str(c["label"]),
                keywords=tuple(c.get("keywords") or ()),
                tickets=int(c["tickets"]),
                customers=int(c["customers"]),
                share=float(c["share"]),
                baseline_share=c.get("baseline_share"),
                lift=c.get("lift"),
                ci_low=c.get("ci_low"),
                ci_high=c.get("ci_high"),
                q_value=c.get("q_value"),
                questions=tuple(asked.get(str(c["topic_id"]), ())),
            )
            for c in _json(row.get("challenges"), [])
        ),
        model_id=row.get("model_id"),
        flagged_negative=bool(row.get("negative")),
        negative_drivers=tuple(_json(row.get("negative_drivers"), [])),
    )


def _theme_cells(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """The significantly over-indexed theme cells of every persona, largest lift first (as the
    issue challenges are)."""
    cursor = con.execute(
        """SELECT segment_id, group_id, issue_group AS label, tickets, customers, share,
                  baseline_share, lift, ci_low, ci_high, q_value
        FROM v_issue_group_by_persona
        WHERE significant AND lift > 1
        ORDER BY segment_id, lift DESC, q_value, issue_group"""
    )
    columns = [d[0] for d in cursor.description]
    cells: dict[str, list[dict[str, Any]]] = {}
    for row in cursor.fetchall():
        cell = dict(zip(columns, row, strict=True))
        cells.setdefault(cell["segment_id"], []).append(cell)
    return cells


def _theme_issues(con: duckdb.DuckDBPyConnection) -> dict[int, list[tuple[int, str]]]:
    """Each theme's issues (topic id, label) in the current model, largest first.

    Merged-away, split and ignored topics are left out, as the link stage leaves them out.
    """
    rows = con.execute(
        """SELECT group_id, topic_id, label FROM v_topics
        WHERE topic_id <> -1 AND group_id IS NOT NULL AND group_id <> -1 AND active AND NOT ignored
        ORDER BY group_id, size DESC, label"""
    ).fetchall()
    issues: dict[int, list[tuple[int, str]]] = {}
    for group_id, topic_id, label in rows:
        issues.setdefault(group_id, []).append((topic_id, label))
    return issues


def _theme_challenges(
    profile: PersonaProfile,
    cells: list[dict[str, Any]],
    issues: dict[int, list[tuple[int, str]]],
) -> tuple[ThemeChallenge, ...]:
    significant = {c.topic_id for c in profile.challenges}
    out = []
    for cell in cells:
        members = issues.get(cell["group_id"], [])
        out.append(
            ThemeChallenge(
                group_id=int(cell["group_id"]),
                label=str(cell["label"]),
                issues=tuple(label for _, label in members),
                significant_issues=tuple(label for t, label in members if t in significant),
                tickets=int(cell["tickets"]),
                customers=int(cell["customers"]),
                share=float(cell["share"]),
                baseline_share=cell["baseline_share"],
                lift=cell["lift"],
                ci_low=cell["ci_low"],
                ci_high=cell["ci_high"],
                q_value=cell["q_value"],
            )
        )
    return tuple(out)


def _json(value: Any, default: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else default
