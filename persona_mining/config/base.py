"""What every config section shares: the frozen model base, mapping checks, column names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictStr,
    model_validator,
)

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
#: `updated_at` is when a row's values held: of several rows of one customer, it orders them.
CUSTOMER_COLUMNS = ("customer_id", "updated_at")
#: What to do with several rows of one customer (`[ingest] customer_duplicates`): keep each
#: attribute's latest or first value (by `updated_at`, else file order), or reject conflicts.
CUSTOMER_DUPLICATES = ("latest", "first", "reject")

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
