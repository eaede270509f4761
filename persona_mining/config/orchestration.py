"""How runs are orchestrated: `[schedule]`, `[scale]` and the `[[sources]]` scheduled runs
ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from persona_mining.config.base import (
    CUSTOMER_COLUMNS,
    CUSTOMER_DUPLICATES,
    TICKET_COLUMNS,
    ColumnMap,
    _one_of,
    _Settings,
    _unknown_targets,
)
from persona_mining.config.sections import IngestConfig


class ScheduleConfig(_Settings):
    """Scheduled runs (`persona-mining serve`, prefect.yaml) and how they behave.

    Attributes:
        nightly: cron expression of the incremental run (ingest the `[[sources]]`, then
            prepare, embed and assign what is new, relink, rebuild profiles and the report);
            "" serves no nightly deployment.
        refit: cron expression of the run that refits the topic model; "" serves none.
        timezone: IANA time zone the cron expressions are read in (e.g. "Europe/Berlin").
        report: HTML report each scheduled run rewrites; "" writes none.
        retries: attempts after the first when reading a source fails (a missing or
            half-written export).
        retry_delays: seconds to wait before each retry, e.g. [10, 60, 300] (backoff); the
            last delay repeats when there are more retries than delays.
        busy_timeout: seconds a run waits for the warehouse while another process writes to
            it (DuckDB allows one writer) before it fails; 0 fails at once.
    """

    nightly: StrictStr = "0 2 * * *"
    refit: StrictStr = "0 3 * * 0"
    timezone: StrictStr = "UTC"
    report: StrictStr = "report.html"
    retries: StrictInt = Field(default=3, ge=0)
    retry_delays: tuple[Annotated[StrictFloat, Field(ge=0)], ...] = (10.0, 60.0, 300.0)
    busy_timeout: StrictInt = Field(default=3600, ge=0)

    @field_validator("nightly", "refit")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value.strip() and len(value.split()) not in (5, 6):
            raise ValueError(
                "not a cron expression (five fields: minute hour day month weekday, "
                'e.g. "0 2 * * *"; "" for none)'
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError('not an IANA time zone (e.g. "UTC", "Europe/Berlin")') from None
        return value

    @model_validator(mode="after")
    def _delays_for_retries(self) -> ScheduleConfig:
        if self.retries and not self.retry_delays:
            raise ValueError("retry_delays needs at least one delay when retries > 0")
        return self


class ScaleConfig(_Settings):
    """Beyond one machine: where the embedding stage runs.

    Attributes:
        executor: "local" embeds in the pipeline's own process; "dask" fans the embedding
            out over a Dask cluster through prefect-dask (`pip install 'persona-mining[scale]'`).
        dask_address: scheduler of an existing Dask cluster (e.g. "tcp://10.0.0.5:8786");
            "" starts a temporary LocalCluster on this machine for each run.
        dask_workers: workers of that LocalCluster.
        dask_threads: threads per worker of that LocalCluster.
        dask_processes: LocalCluster workers as processes (True) or threads of this process.
        chunk_size: texts per embedding task sent to a worker (each chunk's vectors are
            committed as they come back, so an interrupted run resumes).
    """

    executor: StrictStr = "local"
    dask_address: StrictStr = ""
    dask_workers: StrictInt = Field(default=2, ge=1)
    dask_threads: StrictInt = Field(default=1, ge=1)
    dask_processes: StrictBool = True
    chunk_size: StrictInt = Field(default=256, ge=1)

    @field_validator("executor")
    @classmethod
    def _executor(cls, value: str) -> str:
        if value not in ("local", "dask"):
            raise ValueError('use "local" or "dask"')
        return value


#: Kinds of `[[sources]]` entries: what each file or folder holds.
SOURCE_KINDS = ("tickets", "customers")


class SourceConfig(_Settings):
    """A file or folder that scheduled runs ingest from (`[[sources]]`, read in order).

    Attributes:
        kind: "tickets" or "customers".
        path: the file or folder; a ticket source only reads rows at or after its watermark.
        preset: help-desk export format ("zendesk"); default `[ingest] preset`.
        where: DuckDB condition over a ticket source's columns; default `[ingest] where`.
        columns: canonical column -> input column, over `[ingest] columns` (or
            `customer_columns`).
        drop_columns: input columns not kept; default `[ingest] drop_columns` (or
            `drop_customer_columns`).
        customer_duplicates: several rows of one customer (see `IngestConfig`); default
            `[ingest] customer_duplicates`.
    """

    kind: StrictStr
    path: Path
    preset: StrictStr = ""
    where: StrictStr = ""
    columns: ColumnMap = Field(default_factory=dict)
    drop_columns: tuple[StrictStr, ...] = ()
    customer_duplicates: StrictStr = "latest"

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return _one_of(value, SOURCE_KINDS)

    @field_validator("customer_duplicates")
    @classmethod
    def _duplicates(cls, value: str) -> str:
        return _one_of(value, CUSTOMER_DUPLICATES)

    @field_validator("path", mode="before")
    @classmethod
    def _path_given(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name the file or folder to ingest")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> SourceConfig:
        tickets = self.kind == "tickets"
        if not tickets and self.where:
            raise ValueError("'where' filters ticket sources only")
        problem = _unknown_targets(self.columns, TICKET_COLUMNS if tickets else CUSTOMER_COLUMNS)
        if problem:
            raise ValueError(f"columns: {problem}")
        return self


def _source_defaults(source: SourceConfig, ingest: IngestConfig) -> SourceConfig:
    """`source` with the `[ingest]` settings in the keys it does not set itself."""
    tickets = source.kind == "tickets"
    defaults: dict[str, Any] = {
        "preset": ingest.preset,
        "where": ingest.where if tickets else "",
        "drop_columns": ingest.drop_columns if tickets else ingest.drop_customer_columns,
        "customer_duplicates": ingest.customer_duplicates,
    }
    changes = {k: v for k, v in defaults.items() if k not in source.model_fields_set}
    base = ingest.columns if tickets else ingest.customer_columns
    changes["columns"] = {**base, **source.columns}
    return source.model_copy(update=changes)


#: The stage sections of the config: one TOML table each.
