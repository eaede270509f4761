"""One-line summaries of what a command did: ingest counts, a pipeline run, a discovery, edits.

The CLI prints these `Text` lines (soft-wrapped: a long line stays one line); they never
print. Names and labels from the warehouse go into `Text` as they are, never parsed as markup.
Tables and profiles are in `report.terminal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from rich.text import Text

if TYPE_CHECKING:
    from persona_mining.ingest.coverage import LanguageCoverage, LinkCoverage
    from persona_mining.ingest.load import IngestResult
    from persona_mining.personas.discover import DiscoverResult
    from persona_mining.report.export import ExportResult
    from persona_mining.report.html import ReportResult
    from persona_mining.topics.taxonomy import EditStatus


def ingest_lines(result: IngestResult) -> list[Text]:
    """An ingest's counts, then one line per reject reason, the most frequent first."""
    kind = f"{result.kind} (source {result.source})" if result.source else result.kind
    lines = [
        Text(
            f"{kind}: read {result.read}, new {result.new}, updated {result.updated}, "
            f"unchanged {result.unchanged}, rejected {result.rejected}"
            + (f", skipped {result.skipped} older than the watermark" if result.skipped else "")
            + f" ({result.seconds:.1f}s)"
        )
    ]
    if result.reread:
        lines.append(Text(f"  {result.reread}"))
    lines += [Text(f"  {line}") for line in result.note.splitlines()]
    for reason, count in sorted(result.rejects_by_reason.items(), key=lambda kv: -kv[1]):
        lines.append(Text(f"  rejected {count}: {reason}"))
    return lines


def nothing_ingested() -> Text:
    """The error line of an ingest that read no usable row."""
    return Text("error: no usable row was read; see the reasons above and ingest_rejects")


def coverage_line(coverage: LinkCoverage | LanguageCoverage) -> Text | None:
    """The warning of `ingest` and `run` when few tickets match a known customer, or many are
    in languages not analysed; None when there is nothing to say."""
    warning = coverage.warning()
    return None if warning is None else Text("warning: ", style="bold yellow") + Text(warning)


def run_line(summary: Mapping[str, Any]) -> Text:
    """A pipeline run's summary (the flow's return value): each stage's counts and time."""
    prepare, embed, topics, link = (
        summary["prepare"],
        summary["embed"],
        summary["topics"],
        summary["link"],
    )
    return Text(
        f"prepare: {prepare['prepared']} of {prepare['tickets']} tickets ({prepare['seconds']:.1f}s); "
        f"embed: {embed['embedded']} new, {embed['cached']} cached ({embed['seconds']:.1f}s); "
        f"topics: {topics['topics']} topics, {topics['unclustered']} unclustered, "
        f"{'refit' if topics['refit'] else 'assigned'} {topics['tickets']} tickets ({topics['seconds']:.1f}s); "
        f"link: {link['significant']} significant cells of {link['cells']}"
        + (
            f"; negative: {len(summary['negative']['negative'])} of "
            f"{summary['negative']['segments']} personas flagged"
            if "negative" in summary
            else ""
        )
    )


def discover_line(result: DiscoverResult, *, linked: bool) -> Text:
    """A discovery: segments, how k was chosen, attributes and topics used, and whether linked."""
    how = (
        f"chosen by silhouette ({result.scores[result.k]:.2f}; tried "
        f"{min(result.scores)}..{max(result.scores)})"
        if result.chosen_by == "silhouette"
        else "forced"
    )
    return Text(
        f"discover: {result.k} segments of {result.customers} customers, k {how}; "
        f"{len(result.attributes)} attributes, {result.topics} topics ({result.seconds:.1f}s)"
        + ("" if linked else "; no topic model yet, so no issue links (run the pipeline)")
    )


def demo_line(customers: int, tickets: int, folder: Path) -> Text:
    """The demo help desk that was generated, and where."""
    return Text(f"demo data: {customers} customers, {tickets} tickets in {folder}")


def edit_lines(statuses: Sequence[EditStatus]) -> list[Text]:
    """How each topic edit applied to the current model."""
    return [
        Text(f"#{s.edit_id} {s.action} {' '.join(s.topic_keys)}: {s.status}, {s.detail}")
        for s in statuses
    ]


def taxonomy_written_line(out: Path, *, known_issues: int, edits: int) -> Text:
    """What `topics export` wrote."""
    return Text(f"wrote {out}: {known_issues} known issues, {edits} edits")


def taxonomy_imported_line(path: Path, *, edits: int, known_issues: int) -> Text:
    """What `topics import` added."""
    return Text(f"imported {edits} edits and {known_issues} known issues from {path}")


def report_line(result: ReportResult) -> Text:
    """The HTML report written: its size and what it holds."""
    return Text(
        f"wrote {result.path} ({result.bytes / 1024:.0f} KiB): {result.personas} personas, "
        f"{result.issues} issues in {result.themes} themes, {result.significant_cells} "
        "significant issue cells, "
        f"{result.example_tickets} example tickets"
    )


def export_lines(result: ExportResult) -> list[Text]:
    """Each exported file and its rows."""
    return [Text(f"wrote {path} ({rows} rows)") for path, rows in result.files]


def wrote_line(path: Path) -> Text:
    """A file written on the side (the --csv of `table`)."""
    return Text(f"wrote {path}")


class ServeStep(Protocol):
    """A step of `serve` (the flows' `ServeEvent`): what this package needs to show it."""

    @property
    def step(self) -> str: ...  # starting | serving | stopped
    @property
    def api_url(self) -> str: ...  # the Prefect API, ending in /api
    @property
    def own_server(self) -> bool: ...  # whether serve started that server
    @property
    def schedules(self) -> Sequence[tuple[str, str, str]]: ...  # (deployment, cron, zone)


def serve_line(event: ServeStep) -> Text:
    """A step of `serve`: "starting" its own server, "serving" the deployments, "stopped"."""
    if event.step == "starting":
        return Text(f"starting a Prefect server on {urlsplit(event.api_url).netloc} ...")
    if event.step == "stopped":
        return Text("stopped the Prefect server")
    served = ", ".join(f"{name} ({cron} {zone})" for name, cron, zone in event.schedules)
    ui = (
        f" (a server started here; its UI at {event.api_url.removesuffix('/api')})"
        if event.own_server
        else ""
    )
    return Text(f"serving {served} on {event.api_url}{ui}; Ctrl-C stops")


def no_personas_line() -> Text:
    """Under an empty issue-by-persona table when the warehouse has no persona at all."""
    return Text(
        "no personas to compare the issues across: add [[personas]] rules over the customers' "
        "columns to the config (README, Configuration) and run again, or run "
        "`persona-mining discover` to find segments in the customers' attributes",
        style="yellow",
    )
