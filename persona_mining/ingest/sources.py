"""The configured `[[sources]]`: what scheduled runs ingest, new and updated rows only.

Each source is a file or folder of tickets or customers with its own format settings (the
`[ingest]` section's as defaults). Ticket sources keep a watermark, so a nightly run reads only
the rows updated since the last one; customers are upserted (unchanged rows change nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from persona_mining.config import SourceConfig
from persona_mining.ingest.load import IngestResult, ingest_customers, ingest_tickets


def ingest_source(
    con: duckdb.DuckDBPyConnection, *, source: SourceConfig, max_text_chars: int = 50_000
) -> IngestResult:
    """Ingest one configured source (each file in one transaction).

    Raises:
        InputFileError: the file or folder is missing or unreadable (worth retrying: an export
            may still be on its way).
        ConfigError: the source's settings cannot work (not worth retrying).
    """
    if source.kind == "tickets":
        return ingest_tickets(
            con,
            path=source.path,
            columns=source.columns,
            max_text_chars=max_text_chars,
            preset=source.preset,
            where=source.where,
            drop_columns=source.drop_columns,
        )
    return ingest_customers(
        con,
        path=source.path,
        columns=source.columns,
        preset=source.preset,
        drop_columns=source.drop_columns,
        duplicates=source.customer_duplicates,
    )


def ordered_sources(sources: Sequence[SourceConfig]) -> list[SourceConfig]:
    """Customers first (personas are rules over them), then tickets; config order otherwise."""
    return [s for s in sources if s.kind == "customers"] + [
        s for s in sources if s.kind == "tickets"
    ]


def source_label(source: SourceConfig) -> str:
    """A short name of a source for logs and run records: `ingest tickets exports/t.csv`."""
    return f"ingest {source.kind} {source.path}"
