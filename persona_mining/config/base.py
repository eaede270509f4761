"""What every config section shares: the frozen model base, mapping checks, column names."""

from __future__ import annotations

import unicodedata
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


def normalise_name(name: str) -> str:
    """A column name as the warehouse stores it: lower case, words joined by underscores.

    A word is a run of letters, digits and marks of any script (`Lösungszeit (h)` becomes
    `lösungszeit_h`, `作成日` stays), after NFKC normalisation (full-width `ＩＤ` is `id`, a
    decomposed `ö` is the composed one). A name without any is `column`; one that starts
    with a digit gets `c_` before it.
    """
    text = unicodedata.normalize("NFKC", name.strip().lstrip("\ufeff"))
    words = "".join(ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in text).split()
    cleaned = "_".join(words).lower()
    if not cleaned:
        cleaned = "column"
    if cleaned[0].isdigit():
        cleaned = "c_" + cleaned
    return cleaned


def _unknown_targets(mapping: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    """The problem with a column mapping's targets, or None when each is a canonical column."""
    unknown = set(mapping) - set(allowed)
    if not unknown:
        return None
    return (
        f"unknown target column(s) {sorted(unknown)}; map onto one of {list(allowed)} "
        "(other columns are kept under their own names)"
    )


def shared_columns(mapping: Mapping[str, str]) -> str | None:
    """The problem of a mapping that maps one input column onto two warehouse columns, or
    None.

    Input columns are compared as the readers match them (by their normalised name, so
    `Description` and `description` are one column); the generators (`@row`, `@file_time`)
    are not columns. A column lands in one warehouse column: the second target would be left
    without it, or be missing altogether.
    """
    by_column: dict[str, list[str]] = {}
    for target, column in mapping.items():
        if not column.startswith("@"):
            by_column.setdefault(normalise_name(column), []).append(target)
    problems = []
    for targets in by_column.values():
        if len(targets) < 2:
            continue
        names = " and ".join(f"{t} = {mapping[t]!r}" for t in targets)
        hint = (
            "leave updated_at out: it defaults to created_at"
            if {"created_at", "updated_at"} <= set(targets)
            else "map the column onto one of them"
        )
        problems.append(f"{names} map one input column onto two warehouse columns; {hint}")
    return "; ".join(problems) or None


def _mapping_problem(mapping: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    """What is wrong with a column mapping (unknown targets, a column mapped twice), or None."""
    return _unknown_targets(mapping, allowed) or shared_columns(mapping)


def _mapping_onto(mapping: Mapping[str, str], allowed: tuple[str, ...]) -> Mapping[str, str]:
    problem = _mapping_problem(mapping, allowed)
    if problem:
        raise ValueError(problem)
    return mapping


def check_mapping(mapping: Mapping[str, str], allowed: tuple[str, ...], where: str) -> None:
    """Raise `ConfigError` naming `where` when a mapping targets a column outside `allowed`, or
    maps one input column onto two warehouse columns."""
    problem = _mapping_problem(mapping, allowed)
    if problem:
        raise ConfigError(f"{where}: {problem}")
