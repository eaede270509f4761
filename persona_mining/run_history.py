"""Run history: each pipeline run's record, the issue-by-persona snapshot it leaves, what changed.

A run is recorded in `pipeline_runs` when it starts (status `running`) and again when it ends
(`completed` with every stage's counts and timings, or `failed` with the stage and the error).
A completed run stores the issue-by-persona table as it left it in `issue_snapshots`; the next
run compares the table with that snapshot to report what changed. A run is the warehouse's only
writer, so a row still `running` when the next run starts belongs to a process that died: it is
marked `interrupted`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb

from persona_mining.config import KnownIssue, TopicsConfig
from persona_mining.ingest.coverage import (
    LanguageCoverage,
    LinkCoverage,
    language_coverage,
    link_coverage,
)
from persona_mining.warehouse import SCHEMA_DIR, table_columns, transaction

#: Statuses of a run.
RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"
_INTERRUPTED_ERROR = "the process stopped before the run finished (killed, crashed or cancelled)"

# The issue-by-persona table of the current model, keyed by persona and stable topic key.
_CURRENT_ISSUES = """
SELECT v.segment_id, v.persona, coalesce(t.topic_key, v.issue) AS topic_key, v.issue,
       v.tickets, v.customers, v.lift, v.q_value, v.significant
FROM v_issue_by_persona v
LEFT JOIN topics t ON t.model_id = v.model_id AND t.topic_id = v.topic_id
"""


@dataclass(frozen=True)
class RunRecord:
    """One row of `pipeline_runs`."""

    run_id: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    flow_run_id: str | None = None
    deployment: str | None = None
    failed_stage: str | None = None
    stages: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        """Wall time of a finished run."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class IssueChange:
    """How one persona x issue cell moved since the previous run's snapshot."""

    persona: str
    issue: str
    change: str  # new finding | no longer significant | new cell | gone | more tickets | fewer tickets | lift
    tickets_before: int | None
    tickets_now: int | None
    lift_before: float | None
    lift_now: float | None
    significant_before: bool | None
    significant_now: bool | None


@dataclass(frozen=True)
class RunOutcome:
    """A finished run with the top changes of the issue-by-persona table since the last one."""

    run: RunRecord
    changes: tuple[IssueChange, ...]
    previous_run_id: str | None  # None: no earlier completed run to compare with
    cells: int  # persona x issue cells in the snapshot this run stored


@dataclass(frozen=True)
class Watermark:
    """How far incremental ingest has read one file or folder of a source.

    Attributes:
        source: what was read: `tickets:` and the resolved path given to ingest.
        watermark: the newest `updated_at` read from it.
        updated_at: when the watermark last moved.
        ticket_source: the name of the source its tickets belong to (`ticket_sources`); None
            for a watermark stored before sources had names.
    """

    source: str
    watermark: datetime
    updated_at: datetime
    ticket_source: str | None = None


@dataclass(frozen=True)
class PullCursor:
    """Where the next pull of one pulled source's stream starts (`source_cursors`).

    Attributes:
        source: the pulled source's name (`zendesk:<host>`, `sql:<table>` or its own name).
        stream: tickets or customers.
        pages: pages (or batches) committed, all pulls together.
        records: records read, all pulls together.
        updated_at: when the cursor last moved (UTC).
    """

    source: str
    stream: str
    pages: int
    records: int
    updated_at: datetime


@dataclass(frozen=True)
class WarehouseStatus:
    """What an operator checks: recent runs, the current model, watermarks, whether to refit."""

    runs: tuple[RunRecord, ...]
    model: Mapping[str, Any] | None
    watermarks: tuple[Watermark, ...]
    refit_due: str | None
    pending_migrations: tuple[str, ...]
    coverage: LinkCoverage | None = None
    languages: LanguageCoverage | None = None
    cursors: tuple[PullCursor, ...] = ()


def start_run(
    con: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    flow_run_id: str | None = None,
    deployment: str | None = None,
) -> str:
    """Record a run as started and return its id; mark runs left `running` as interrupted."""
    run_id = str(uuid.uuid4())
    with transaction(con):
        con.execute(
            "UPDATE pipeline_runs SET status = ?, error = ? WHERE status = ?",
            [INTERRUPTED, _INTERRUPTED_ERROR, RUNNING],
        )
        con.execute(
            """INSERT INTO pipeline_runs (run_id, flow_run_id, deployment, kind, started_at, status, stages)
            VALUES (?, ?, ?, ?, now()::TIMESTAMP, ?, '{}')""",
            [run_id, flow_run_id, deployment, kind, RUNNING],
        )
    return run_id


def record_idle_run(con: duckdb.DuckDBPyConnection) -> str:
    """Record a run that found nothing new (no stage ran) as completed; return its id.

    `persona-mining run` decides this before starting Prefect, so the row has no flow run;
    a scheduled check that runs every hour still leaves its trace in `status`.
    """
    run_id = str(uuid.uuid4())
    with transaction(con):
        con.execute(
            """INSERT INTO pipeline_runs (run_id, kind, started_at, finished_at, status, stages)
            VALUES (?, 'incremental', now()::TIMESTAMP, now()::TIMESTAMP, ?, '{}')""",
            [run_id, COMPLETED],
        )
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    stages: Mapping[str, Any],
    top: int = 10,
) -> RunOutcome:
    """Record a run as completed, store its issue-by-persona snapshot, and report the changes.

    Args:
        con: the warehouse.
        run_id: the id `start_run` returned.
        stages: stage name -> its result (counts and seconds), in run order.
        top: changes reported, most important first.
    """
    previous = _previous_snapshot_run(con, run_id)
    changes = issue_changes(con, previous_run_id=previous, top=top) if previous else ()
    with transaction(con):
        con.execute(
            f"""INSERT INTO issue_snapshots (run_id, segment_id, persona, topic_key, issue, tickets,
                customers, lift, q_value, significant)
            SELECT ?, segment_id, persona, topic_key, issue, tickets, customers, lift, q_value,
                significant FROM ({_CURRENT_ISSUES})""",
            [run_id],
        )
        # A run started as incremental that fitted a model (the first, or a due refit) was one.
        refitted = bool((stages.get("topics") or {}).get("refit"))
        con.execute(
            """UPDATE pipeline_runs SET status = ?, finished_at = now()::TIMESTAMP, stages = ?,
                kind = CASE WHEN ? THEN 'refit' ELSE kind END
            WHERE run_id = ?""",
            [COMPLETED, _json(stages), refitted, run_id],
        )
    cells = con.execute(
        "SELECT count(*) FROM issue_snapshots WHERE run_id = ?", [run_id]
    ).fetchall()
    return RunOutcome(
        run=_run(con, run_id),
        changes=changes,
        previous_run_id=previous,
        cells=cells[0][0],
    )


def fail_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    stage: str | None,
    error: str,
    stages: Mapping[str, Any],
) -> RunRecord:
    """Record a run as failed in `stage` (the stages before it are committed and listed)."""
    con.execute(
        """UPDATE pipeline_runs SET status = ?, finished_at = now()::TIMESTAMP, failed_stage = ?,
            error = ?, stages = ? WHERE run_id = ?""",
        [FAILED, stage, error, _json(stages), run_id],
    )
    return _run(con, run_id)


def issue_changes(
    con: duckdb.DuckDBPyConnection, *, previous_run_id: str, top: int = 10
) -> tuple[IssueChange, ...]:
    """The cells of the current issue-by-persona table that changed most since a snapshot.

    Findings that appeared or vanished (the significant flag flipped) come first, then the
    largest moves in tickets, then in lift. Cells match on persona and stable topic key, so a
    refit that keeps a topic compares it with itself.
    """
    rows = con.execute(
        f"""WITH now_ AS ({_CURRENT_ISSUES}),
        before AS (SELECT * FROM issue_snapshots WHERE run_id = ?)
        SELECT coalesce(n.persona, b.persona), coalesce(n.issue, b.issue),
               b.tickets, n.tickets, b.lift, n.lift, b.significant, n.significant
        FROM now_ n FULL OUTER JOIN before b
          ON n.segment_id = b.segment_id AND n.topic_key = b.topic_key""",
        [previous_run_id],
    ).fetchall()
    ranked: list[tuple[tuple[float, ...], IssueChange]] = []
    for persona, issue, t0, t1, l0, l1, s0, s1 in rows:
        change = _describe(t0, t1, l0, l1, s0, s1)
        if change is None:
            continue
        flipped = bool(s0) != bool(s1)
        rank = (
            0 if flipped else 1 if t0 is None or t1 is None else 2,
            -abs((t1 or 0) - (t0 or 0)),
            -abs((l1 or 0.0) - (l0 or 0.0)),
        )
        ranked.append((rank, IssueChange(persona, issue, change, t0, t1, l0, l1, s0, s1)))
    ranked.sort(key=lambda item: (item[0], item[1].persona, item[1].issue))
    return tuple(change for _, change in ranked[:top])


def _describe(
    t0: int | None,
    t1: int | None,
    l0: float | None,
    l1: float | None,
    s0: bool | None,
    s1: bool | None,
) -> str | None:
    if bool(s0) != bool(s1):
        return "new finding" if s1 else "no longer significant"
    if t0 is None:
        return "new cell"
    if t1 is None:
        return "gone"
    if t1 != t0:
        return "more tickets" if t1 > t0 else "fewer tickets"
    if l0 is not None and l1 is not None and abs(l1 - l0) > 1e-9:
        return "lift"
    return None


def recent_runs(con: duckdb.DuckDBPyConnection, *, limit: int = 10) -> tuple[RunRecord, ...]:
    """The latest runs, newest first."""
    ids = con.execute(
        "SELECT run_id FROM pipeline_runs ORDER BY started_at DESC, run_id LIMIT ?", [limit]
    ).fetchall()
    return tuple(_run(con, run_id) for (run_id,) in ids)


def warehouse_status(
    con: duckdb.DuckDBPyConnection,
    *,
    topics: TopicsConfig,
    known_issues: Sequence[KnownIssue] | None = None,
    limit: int = 10,
    no_writer: bool = False,
) -> WarehouseStatus:
    """Recent runs, the current model, the watermark of every source and whether a refit is due.

    Works on a read-only connection; a warehouse written by an older version (migrations not
    yet applied) shows what it can and lists the pending migrations. With `no_writer` (the
    caller opened the file while no process wrote to it), a run still recorded as `running`
    belongs to a process that died, and is shown `interrupted`, as the next run will mark it.
    """
    from persona_mining.topics.model import refit_due

    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    pending = tuple(f.name for f in sorted(SCHEMA_DIR.glob("*.sql")) if int(f.name[:3]) not in done)
    has_runs = "status" in {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'pipeline_runs'"
        ).fetchall()
    }
    model_rows = con.execute(
        """SELECT model_id, created_at, embedding_model, n_tickets, n_topics, data_from, data_to,
            TRY_CAST(json_extract_string(params, '$.min_topic_size_used') AS INTEGER),
            TRY_CAST(json_extract_string(params, '$.theme_topic_size_used') AS INTEGER)
        FROM v_current_model"""
    ).fetchall()
    names = ("model_id", "created_at", "embedding_model", "n_tickets", "n_topics")
    sizes = ("min_topic_size", "first_topic_size")  # None: a model that did not record them
    model = (
        dict(zip((*names, "data_from", "data_to", *sizes), model_rows[0], strict=True))
        if model_rows
        else None
    )
    # `ticket_source` came with migration 060: an older warehouse has no source names yet.
    named = "ticket_source" in table_columns(con, "ingest_watermarks")
    source_name = "ticket_source" if named else "NULL::VARCHAR"
    watermarks = tuple(
        Watermark(*row)
        for row in con.execute(
            f"""SELECT source, watermark, updated_at, {source_name} AS ticket_source
            FROM ingest_watermarks ORDER BY ticket_source NULLS LAST, source"""
        ).fetchall()
    )
    # `source_cursors` came with migration 070.
    cursors = (
        tuple(
            PullCursor(*row)
            for row in con.execute(
                """SELECT source, stream, pages, records, updated_at FROM source_cursors
                ORDER BY source, stream"""
            ).fetchall()
        )
        if table_columns(con, "source_cursors")
        else ()
    )
    runs = recent_runs(con, limit=limit) if has_runs else ()
    if no_writer:
        runs = tuple(
            replace(run, status=INTERRUPTED, error=_INTERRUPTED_ERROR)
            if run.status == RUNNING
            else run
            for run in runs
        )
    return WarehouseStatus(
        cursors=cursors,
        runs=runs,
        model=model,
        watermarks=watermarks,
        refit_due=refit_due(con, config=topics, known_issues=known_issues),
        pending_migrations=pending,
        coverage=link_coverage(con),
        languages=language_coverage(con),
    )


def run_markdown(outcome: RunOutcome) -> str:
    """The run's summary for people: every stage's counts and time, then the top changes."""
    run = outcome.run
    lines = [
        f"# persona-mining {run.kind} run",
        "",
        f"Run `{run.run_id}`"
        + (f" of `{run.deployment}`" if run.deployment else "")
        + f": {run.status} in {run.seconds or 0:.1f}s.",
        "",
        *stage_table(run.stages),
        "",
        "## Top changes in the issue-by-persona table",
        "",
    ]
    if outcome.previous_run_id is None:
        lines.append(
            f"First run with a snapshot: nothing to compare ({outcome.cells} cells stored)."
        )
    elif not outcome.changes:
        lines.append(f"No change since run `{outcome.previous_run_id}`.")
    else:
        lines += [
            f"Since run `{outcome.previous_run_id}`:",
            "",
            "| persona | issue | change | tickets | lift | significant |",
            "|---|---|---|---|---|---|",
        ]
        for c in outcome.changes:
            lines.append(
                f"| {_cell(c.persona)} | {_cell(c.issue)} | {c.change} "
                f"| {_pair(c.tickets_before, c.tickets_now)} | {_pair(c.lift_before, c.lift_now)} "
                f"| {_pair(c.significant_before, c.significant_now)} |"
            )
    return "\n".join(lines) + "\n"


def failure_markdown(run: RunRecord) -> str:
    """A failed run's summary: the stage that failed, the error, and the stages committed."""
    return (
        "\n".join(
            [
                f"# persona-mining {run.kind} run failed",
                "",
                f"Run `{run.run_id}` failed in stage **{run.failed_stage}** after {run.seconds or 0:.1f}s.",
                "The warehouse keeps what it had before that stage; the stages below are committed.",
                "",
                f"Error: {_cell(run.error or '')}",
                "",
                *stage_table(run.stages),
            ]
        )
        + "\n"
    )


def stage_table(stages: Mapping[str, Any]) -> list[str]:
    """A Markdown table of stage results: seconds, then the counts."""
    lines = ["| stage | seconds | counts |", "|---|---|---|"]
    for stage, values in stages.items():
        values = dict(values) if isinstance(values, Mapping) else {"result": values}
        seconds = values.pop("seconds", None)
        shown = ", ".join(
            f"{k}={v}" for k, v in values.items() if isinstance(v, int | str) and v != ""
        )
        lines.append(
            f"| {_cell(stage)} | {seconds:.1f} | {_cell(shown)} |"
            if isinstance(seconds, int | float)
            else f"| {_cell(stage)} |  | {_cell(shown)} |"
        )
    return lines


def _previous_snapshot_run(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    rows = con.execute(
        """SELECT r.run_id FROM pipeline_runs r
        WHERE r.status = ? AND r.run_id <> ?
          AND EXISTS (SELECT 1 FROM issue_snapshots s WHERE s.run_id = r.run_id)
        ORDER BY r.finished_at DESC LIMIT 1""",
        [COMPLETED, run_id],
    ).fetchall()
    return rows[0][0] if rows else None


def _run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRecord:
    row = con.execute(
        """SELECT run_id, kind, status, started_at, finished_at, flow_run_id, deployment,
            failed_stage, stages, error FROM pipeline_runs WHERE run_id = ?""",
        [run_id],
    ).fetchall()[0]
    return RunRecord(
        run_id=row[0],
        kind=row[1],
        status=row[2],
        started_at=row[3],
        finished_at=row[4],
        flow_run_id=row[5],
        deployment=row[6],
        failed_stage=row[7],
        stages=json.loads(row[8]) if row[8] else {},
        error=row[9],
    )


def _json(values: Mapping[str, Any]) -> str:
    return json.dumps(values, default=str)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _pair(before: Any, now: Any) -> str:
    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    return show(before) if before == now else f"{show(before)} → {show(now)}"
