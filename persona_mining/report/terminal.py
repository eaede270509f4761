"""Terminal views of a persona profile and of the issue trends: rich renderables, Markdown, JSON.

The CLI prints what these functions build; they never print. Text from the warehouse goes
into rich `Text` objects, never parsed as markup. Tables are sized for an 80-column terminal.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from persona_mining.report.html import fmt_lift, fmt_pct, fmt_q
from persona_mining.report.issue_series import IssueTrends
from persona_mining.report.profile_records import PersonaProfile

SPARK = "▁▂▃▄▅▆▇█"
SPARK_PERIODS = 12


def persona_view(profile: PersonaProfile) -> RenderableType:
    """A persona profile for the terminal: who, how much, challenges with evidence, questions."""
    title = Text(profile.persona, style="bold")
    title.append(f"  ({profile.kind})", style="dim")
    if profile.negative:
        title.append("  NEGATIVE PERSONA", style="bold red")
    parts: list[RenderableType] = [title]
    for driver in profile.negative_drivers:
        parts.append(
            Text(
                f"  costs: {driver.get('label') or driver.get('signal')} "
                f"{fmt_lift(driver.get('ratio'))}x everyone else (95% CI "
                f"{fmt_lift(driver.get('ci_low'))}-{fmt_lift(driver.get('ci_high'))}, "
                f"q {fmt_q(driver.get('q_value'))})",
                style="red",
            )
        )
    if profile.description:
        parts.append(Text(profile.description, style="italic"))
    if profile.rule:
        parts.append(Text("Who: ", style="dim") + Text(profile.rule))
    per_customer = (
        f"{profile.tickets_per_customer:.1f}" if profile.tickets_per_customer is not None else "n/a"
    )
    parts.append(
        Text(
            f"{profile.customers:,} customers · {profile.contacting_customers:,} contacted support"
            f" · {profile.tickets:,} tickets · {per_customer} per customer"
        )
    )
    parts += [Text(""), Text(profile.summary), Text("")]
    if not profile.challenges:
        parts.append(Text("No issue stands out for this persona with statistical confidence."))
        return Group(*parts)
    challenges = Table(
        title="Challenges (significantly over-indexed issues)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
    )
    challenges.add_column("issue", overflow="fold", ratio=1)
    for column in ("tickets", "cust", "share", "lift", "95% CI", "q"):
        challenges.add_column(column, justify="right", no_wrap=True)
    for c in profile.challenges:
        challenges.add_row(
            Text(c.label),
            str(c.tickets),
            str(c.customers),
            fmt_pct(c.share),
            fmt_lift(c.lift),
            f"{fmt_lift(c.ci_low)}-{fmt_lift(c.ci_high)}",
            fmt_q(c.q_value),
        )
    parts.append(challenges)
    asked = [c for c in profile.challenges if c.questions]
    if asked:
        parts.append(Text("Common questions", style="bold"))
        for c in asked:
            parts.append(Text(c.label, style="bold"))
            parts += [Text("  - ") + Text(q) for q in c.questions]
    return Group(*parts)


def persona_markdown(profile: PersonaProfile) -> str:
    """A persona profile as Markdown (for a wiki page or a ticket)."""
    lines = [f"## {_md(profile.persona)} ({profile.kind})", ""]
    if profile.negative:
        lines += ["**Negative persona**: costs more to serve than it brings.", ""]
    if profile.description:
        lines += [f"_{_md(profile.description)}_", ""]
    if profile.rule:
        lines += [f"Who: `{profile.rule.replace('`', '')}`", ""]
    lines += [_md(profile.summary), ""]
    if profile.challenges:
        lines += [
            "| issue | tickets | customers | share | others | lift | 95% CI | q |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in profile.challenges:
            lines.append(
                f"| {_md(c.label)} | {c.tickets} | {c.customers} | {fmt_pct(c.share)} "
                f"| {fmt_pct(c.baseline_share)} | {fmt_lift(c.lift)} "
                f"| {fmt_lift(c.ci_low)}-{fmt_lift(c.ci_high)} | {fmt_q(c.q_value)} |"
            )
        lines.append("")
    for c in profile.challenges:
        if c.questions:
            lines += [f"### {_md(c.label)}: common questions", ""]
            lines += [f"- {_md(q)}" for q in c.questions]
            lines.append("")
    return "\n".join(lines)


def trends_view(trends: IssueTrends) -> RenderableType:
    """Tickets per period of the top issues: a sparkline, the latest period and its change."""
    index = trends.latest
    if index is None or not trends.series:
        return Text("No dated tickets with a topic yet.")
    label = _period_label(trends, index)
    table = Table(
        title=_trends_title(trends),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
    )
    table.add_column("issue", overflow="fold", ratio=1)
    table.add_column("tickets", justify="right", no_wrap=True)
    table.add_column(f"last {min(SPARK_PERIODS, index + 1)} {trends.period}s", no_wrap=True)
    table.add_column(label, justify="right", no_wrap=True)
    table.add_column("before", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    for series in trends.series:
        latest, previous, change = trends.change(series)
        window = series.counts[max(0, index + 1 - SPARK_PERIODS) : index + 1]
        table.add_row(
            Text(series.issue),
            f"{series.total:,}",
            sparkline(window),
            str(latest),
            "" if previous is None else str(previous),
            _change_text(latest, previous, change),
        )
    return table


def trends_rows(trends: IssueTrends) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The trends as flat rows (for CSV and Markdown): one row per issue."""
    index = trends.latest
    period = trends.periods[index].isoformat() if index is not None else None
    rows = []
    for series in trends.series:
        latest, previous, change = trends.change(series)
        rows.append(
            (
                series.issue,
                series.topic_id,
                series.total,
                period,
                latest,
                previous,
                None if change is None else round(change, 4),
            )
        )
    columns = ["issue", "topic_id", "tickets", f"{trends.period}", "latest", "previous", "change"]
    return columns, rows


def trends_data(trends: IssueTrends) -> dict[str, Any]:
    """The trends as JSON-ready data, with every period's count."""
    index = trends.latest
    return {
        "period": trends.period,
        "latest_period": trends.periods[index].isoformat() if index is not None else None,
        "data_from": trends.data_from.isoformat() if trends.data_from else None,
        "data_to": trends.data_to.isoformat() if trends.data_to else None,
        "partial_periods": [
            p.isoformat() for p, part in zip(trends.periods, trends.partial, strict=True) if part
        ],
        "issues": [
            {
                "issue": s.issue,
                "topic_id": s.topic_id,
                "tickets": s.total,
                "latest": latest,
                "previous": previous,
                "change": change,
                "counts": {p.isoformat(): n for p, n in zip(trends.periods, s.counts, strict=True)},
            }
            for s in trends.series
            for latest, previous, change in [trends.change(s)]
        ],
    }


def sparkline(values: tuple[int, ...] | list[int]) -> str:
    """Block characters from the lowest to the highest value: the shape, not the size."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[len(SPARK) // 2] * len(values)
    return "".join(SPARK[round((v - low) / (high - low) * (len(SPARK) - 1))] for v in values)


def _trends_title(trends: IssueTrends) -> str:
    index = trends.latest
    if index is None:
        return "Tickets of the top issues"
    title = f"Tickets per {trends.period} of the top issues; latest complete {trends.period}: {trends.periods[index]}"
    if trends.partial[-1] and index != len(trends.periods) - 1:
        title += f" ({trends.periods[-1]} is partial)"
    return title


def _period_label(trends: IssueTrends, index: int) -> str:
    start = trends.periods[index]
    return start.strftime("%m-%d") if trends.period == "week" else start.strftime("%Y-%m")


def _change_text(latest: int | None, previous: int | None, change: float | None) -> Text:
    if change is None:
        return Text("new" if latest and previous == 0 else "")
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return Text(f"{arrow} {change:+.0%}", style="bold" if abs(change) >= 0.25 else "")


def _md(text: str) -> str:
    """Text safe in a Markdown table cell or line: pipes escaped, newlines flattened."""
    return " ".join(text.split()).replace("|", "\\|")
