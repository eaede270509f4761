"""The configured `[[sources]]`: what scheduled runs ingest, new and updated rows only.

A source is a file or folder of tickets or customers (`type = "file"`, with the `[ingest]`
section's settings as defaults), Zendesk's incremental export (`type = "zendesk"`: users as
customers, then tickets) or a table or query of a SQL database (`type = "sql"`). File ticket
sources keep a watermark, pulled sources a cursor, so a nightly run reads only what changed
since the last one; every record goes through the same load (rejects, upsert, idempotence),
under the source's own name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb

from persona_mining.config import SourceConfig
from persona_mining.ingest.load import IngestResult, ingest_customers, ingest_tickets
from persona_mining.ingest.pull import ProgressFn, secret
from persona_mining.progress import Progress, no_progress


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    *,
    source: SourceConfig,
    kind: str | None = None,
    max_text_chars: int = 50_000,
    environ: Mapping[str, str] | None = None,
    progress: ProgressFn | None = None,
    file_progress: Progress = no_progress,
) -> IngestResult:
    """Ingest one configured source (each file, page or batch in one transaction).

    Args:
        con: warehouse connection.
        source: the `[[sources]]` entry.
        kind: "tickets" or "customers": which stream of a Zendesk source (default tickets);
            files and SQL sources hold one kind, their own.
        max_text_chars: tickets longer than this are rejected.
        environ: where the secrets named by `token_env` and `url_env` are read (the caller
            passes the process environment; the library never reads it itself).
        progress: called after each committed page of a pulled source.
        file_progress: told the lines read and the rows written of each file of a file source.

    Raises:
        InputFileError: the file or folder is missing or unreadable (worth retrying: an export
            may still be on its way).
        SourceError: the API or the database failed (worth retrying).
        ConfigError: the source's settings or credentials cannot work (not worth retrying).
    """
    if source.type == "zendesk":
        from persona_mining.ingest.zendesk import pull_zendesk

        token = secret(environ or {}, source.token_env, source=source.label, what="API token")
        return pull_zendesk(
            con,
            source=source,
            stream=kind or "tickets",
            token=token,
            max_text_chars=max_text_chars,
            progress=progress,
        )
    if source.type == "sql":
        from persona_mining.ingest.sql import pull_sql

        url = secret(environ or {}, source.url_env, source=source.label, what="database URL")
        return pull_sql(
            con, source=source, url=url, max_text_chars=max_text_chars, progress=progress
        )
    assert source.path is not None  # a file source's path is required by its config
    if source.kind == "tickets":
        return ingest_tickets(
            con,
            path=source.path,
            columns=source.columns,
            max_text_chars=max_text_chars,
            preset=source.preset,
            where=source.where,
            drop_columns=source.drop_columns,
            source=source.name,
            progress=file_progress,
        )
    return ingest_customers(
        con,
        path=source.path,
        columns=source.columns,
        preset=source.preset,
        drop_columns=source.drop_columns,
        duplicates=source.customer_duplicates,
        progress=file_progress,
    )


def source_kinds(source: SourceConfig) -> tuple[str, ...]:
    """What a source writes: its kind, or customers (users) then tickets for Zendesk."""
    if source.type == "zendesk":
        return ("customers", "tickets") if source.users else ("tickets",)
    return (source.kind,)


def ordered_steps(sources: Sequence[SourceConfig]) -> list[tuple[SourceConfig, str]]:
    """(source, kind) steps: customers first (personas are rules over them), then tickets;
    config order otherwise."""
    steps = [(s, kind) for s in sources for kind in source_kinds(s)]
    return [step for step in steps if step[1] == "customers"] + [
        step for step in steps if step[1] == "tickets"
    ]


def source_label(source: SourceConfig, kind: str | None = None) -> str:
    """A short name of a source for logs and run records: `ingest tickets exports/t.csv`,
    `ingest customers zendesk:acme.zendesk.com`. Never a secret: sources hold none."""
    return f"ingest {kind or source.kind or 'tickets'} {source.label}"
