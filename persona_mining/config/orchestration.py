"""How runs are orchestrated: `[schedule]`, `[scale]` and the `[[sources]]` scheduled runs
ingest."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

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
    _mapping_problem,
    _one_of,
    _Settings,
    shared_columns,
)
from persona_mining.config.sections import IngestConfig


class AlertsConfig(_Settings):
    """Notifications of what changed, sent by flow runs (`run`, scheduled deployments).

    An issue that becomes emerging (`[trends]`), or whose share of a persona's tickets jumps
    significantly between the two latest `[trends] window_days` windows, is sent once per
    persona, issue and window: the warehouse keeps what was sent (`sent_alerts`).

    Attributes:
        webhook_url_env: name of the environment variable that holds the webhook URL (JSON is
            POSTed to it); the URL itself is a secret and never goes in the config. "" for none.
        block: name of a Prefect notification block, as `type/name` (e.g.
            "slack-webhook/support-leads"); "" for none. Both may be set.
        min_tickets: recent tickets of a persona on an issue before a jump can be sent.
        min_growth: growth of the issue's share of the persona's tickets, window over window,
            from which a significant rise is a jump.
        alpha: false discovery rate of the jump test over personas x issues.
        timeout_seconds: how long one send may take before it counts as failed.
    """

    webhook_url_env: StrictStr = ""
    block: StrictStr = ""
    min_tickets: StrictInt = Field(default=5, ge=1)
    min_growth: StrictFloat = Field(default=1.5, ge=1)
    alpha: StrictFloat = Field(default=0.05, gt=0, lt=1)
    timeout_seconds: StrictFloat = Field(default=10.0, gt=0)

    @field_validator("webhook_url_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if value and not value.replace("_", "a").isalnum():
            raise ValueError(
                "must name an environment variable (letters, digits, _), e.g. "
                '"PERSONA_ALERTS_URL", not the URL itself'
            )
        return value


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
    """How the work is spread: over this machine's cores, and where the embedding stage runs.

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
        processes: worker processes of the pipeline's own per-ticket Python (prepare's
            cleaning, sentences and languages from 50,000 pending tickets; the negative stage's
            sentiment from 200,000 texts to score) and of the spaCy analysis of what describes
            the topics and is shown (from 60,000 characters, beside the pipeline's process); 0
            takes one per CPU core, 1 keeps the work in the pipeline's process. Less work (a
            nightly run) is always done in process, where starting workers would cost about
            what they save.
    """

    executor: StrictStr = "local"
    dask_address: StrictStr = ""
    dask_workers: StrictInt = Field(default=2, ge=1)
    dask_threads: StrictInt = Field(default=1, ge=1)
    dask_processes: StrictBool = True
    chunk_size: StrictInt = Field(default=256, ge=1)
    processes: StrictInt = Field(default=0, ge=0)

    @field_validator("executor")
    @classmethod
    def _executor(cls, value: str) -> str:
        if value not in ("local", "dask"):
            raise ValueError('use "local" or "dask"')
        return value


#: Kinds of `[[sources]]` entries: what each file, folder, table or query holds.
SOURCE_KINDS = ("tickets", "customers")
#: Types of `[[sources]]` entries: where the records come from.
SOURCE_TYPES = ("file", "zendesk", "sql")
#: Keys each source type may set (besides `type` and `name`).
_TYPE_KEYS = {
    "file": {"kind", "path", "preset", "where", "columns", "drop_columns", "customer_duplicates"},
    "zendesk": {
        "url",
        "email",
        "token_env",
        "start",
        "users",
        "where",
        "columns",
        "drop_columns",
        "page_size",
        "timeout",
        "retries",
    },
    "sql": {
        "kind",
        "url_env",
        "table",
        "query",
        "cursor",
        "where",
        "columns",
        "drop_columns",
        "customer_duplicates",
        "page_size",
    },
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SourceConfig(_Settings):
    """Where scheduled runs ingest from (`[[sources]]`, read in order): a file or folder,
    the Zendesk API, or a table or query of a SQL database.

    Secrets are never part of the config: a source names the environment variable that holds
    its API token (`token_env`) or its database URL (`url_env`), so the config the warehouse
    records, the run records and the logs never hold them.

    Attributes:
        type: "file" (the default), "zendesk" or "sql".
        name: the source's name in `tickets.source`, `ingest_rejects` and the run records;
            tickets are identified within it. Default `zendesk:<host>` or `sql:<table>`; for
            files, the source chosen by `ingest.load.ingest_tickets` (give one to tell two
            apart).
        kind: "tickets" or "customers" (files and SQL; Zendesk pulls both).
        path: the file or folder; a ticket source only reads rows at or after its watermark.
        preset: help-desk export format ("zendesk"); default `[ingest] preset`.
        where: DuckDB condition over a ticket source's columns; default `[ingest] where`.
        columns: canonical column -> input column, over `[ingest] columns` (or
            `customer_columns`) for files, over the Zendesk preset for Zendesk.
        drop_columns: input columns not kept; default `[ingest] drop_columns` (or
            `drop_customer_columns`).
        customer_duplicates: several rows of one customer (see `IngestConfig`); default
            `[ingest] customer_duplicates`.
        url: the Zendesk account, e.g. "https://acme.zendesk.com".
        email: the Zendesk user the API token belongs to.
        token_env: environment variable holding that user's API token.
        start: the first pull reads tickets and users updated since this day or time (ISO
            8601, UTC); later pulls go on from the stored cursor.
        users: also pull Zendesk users as customers (their `user_fields` as attributes;
            names, e-mails and phone numbers are not kept).
        url_env: environment variable holding the SQLAlchemy database URL (with its password).
        table: the table to read (`schema.table` allowed); or `query`.
        query: a SELECT whose rows are read; or `table`.
        cursor: the column that grows when a row changes (`updated_at`, an increasing id):
            each pull reads the rows at or after the last value read.
        page_size: records per page (Zendesk, at most 1000) or rows per batch (SQL); each is
            committed with its cursor before the next is read.
        timeout: seconds before an HTTP request is given up (and retried).
        retries: attempts after the first for a request that timed out, hit the rate limit
            or got a server error, waiting longer each time (or as `Retry-After` says).
    """

    type: StrictStr = "file"
    name: StrictStr = ""
    kind: StrictStr = ""
    path: Path | None = None
    preset: StrictStr = ""
    where: StrictStr = ""
    columns: ColumnMap = Field(default_factory=dict)
    drop_columns: tuple[StrictStr, ...] = ()
    customer_duplicates: StrictStr = "latest"
    url: StrictStr = ""
    email: StrictStr = ""
    token_env: StrictStr = ""
    start: StrictStr = ""
    users: StrictBool = True
    url_env: StrictStr = ""
    table: StrictStr = ""
    query: StrictStr = ""
    cursor: StrictStr = ""
    page_size: StrictInt = Field(default=1000, ge=1)
    timeout: StrictFloat = Field(default=60.0, gt=0)
    retries: StrictInt = Field(default=5, ge=0)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _one_of(value, SOURCE_TYPES)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return _one_of(value, SOURCE_KINDS) if value else value

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

    @field_validator("token_env", "url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if value and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must be the NAME of an environment variable (e.g. ZENDESK_API_TOKEN), "
                "never the secret itself"
            )
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if value:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError('use an ISO 8601 day or time, e.g. "2026-01-01"') from None
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> SourceConfig:
        allowed = _TYPE_KEYS[self.type] | {"type", "name"}
        # Only keys set to something else than their default: a config dumped whole (as a
        # Prefect parameter) and validated back has every key set.
        stray = sorted(
            key
            for key in set(self.model_fields_set) - allowed
            if getattr(self, key)
            != type(self).model_fields[key].get_default(call_default_factory=True)
        )
        if stray:
            raise ValueError(f"{stray} do not apply to a source of type {self.type!r}")
        missing = {
            "file": ("kind", "path"),
            "zendesk": ("url", "email", "token_env", "start"),
            "sql": ("kind", "url_env", "cursor"),
        }[self.type]
        absent = [key for key in missing if not getattr(self, key)]
        if absent:
            raise ValueError(f"a source of type {self.type!r} needs {absent}")
        if self.type == "sql" and bool(self.table) == bool(self.query):
            raise ValueError("a source of type 'sql' needs either 'table' or 'query'")
        if self.type == "zendesk":
            if not self.url.startswith(("https://", "http://")):
                raise ValueError(
                    'url: give the account\'s address, e.g. "https://acme.zendesk.com"'
                )
            parts = urlsplit(self.url)
            if parts.username or parts.password or parts.query:
                raise ValueError(
                    "url: give only the account's address; the API token belongs in the "
                    "environment variable named by token_env"
                )
            if self.page_size > 1000:
                raise ValueError("page_size: Zendesk sends at most 1000 records a page")
        tickets = self.type == "zendesk" or self.kind == "tickets"
        if not tickets and self.where:
            raise ValueError("'where' filters ticket sources only")
        problem = _mapping_problem(self.columns, TICKET_COLUMNS if tickets else CUSTOMER_COLUMNS)
        if problem:
            raise ValueError(f"columns: {problem}")
        if self.type != "file" and "@file_time" in self.columns.values():
            raise ValueError("columns: '@file_time' applies to files only")
        return self

    @property
    def pulls_customers(self) -> bool:
        """Whether ingesting this source writes customers (a customer source, Zendesk users)."""
        return self.kind == "customers" or (self.type == "zendesk" and self.users)

    @property
    def label(self) -> str:
        """The source's name: `name`, else one made from where it reads (never a secret)."""
        if self.name:
            return self.name
        if self.type == "zendesk":
            return f"zendesk:{urlsplit(self.url).netloc or self.url}"
        if self.type == "sql":
            return f"sql:{self.table}" if self.table else f"sql:{self.url_env}:{self.cursor}"
        return str(self.path)


def _source_defaults(source: SourceConfig, ingest: IngestConfig) -> SourceConfig:
    """`source` with the `[ingest]` settings in the keys it does not set itself.

    Only files take them: `[ingest]` describes exported files, while Zendesk has its own
    preset and a database table its own column names.
    """
    if source.type != "file":
        return source
    tickets = source.kind == "tickets"
    defaults: dict[str, Any] = {
        "preset": ingest.preset,
        "where": ingest.where if tickets else "",
        "drop_columns": ingest.drop_columns if tickets else ingest.drop_customer_columns,
        "customer_duplicates": ingest.customer_duplicates,
    }
    changes = {k: v for k, v in defaults.items() if k not in source.model_fields_set}
    base = ingest.columns if tickets else ingest.customer_columns
    columns = {**base, **source.columns}
    problem = shared_columns(columns)
    if problem:
        section = "[ingest.columns]" if tickets else "[ingest.customer_columns]"
        raise ValueError(f"source {source.label}: with {section}, its columns: {problem}")
    changes["columns"] = columns
    return source.model_copy(update=changes)


#: The stage sections of the config: one TOML table each.
