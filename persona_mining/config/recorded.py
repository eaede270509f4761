"""The setup a warehouse remembers: which config a command uses, and what a run records.

Every run records its config in the warehouse's `setup` table, so that later commands need no
`--config` and a config that differs from the last run's personas is noticed before it drops
them. A command takes, in order: the `--config FILE` it was given, a `persona-mining.toml` in
the working folder, the setup recorded in the warehouse, the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from persona_mining.config import (
    PROFILES,
    Config,
    PersonaRule,
    config_from_dict,
    load_config,
    segment_id,
)
from persona_mining.config.base import DEFAULT_DB_PATH
from persona_mining.config.sections import WarehouseConfig
from persona_mining.errors import ConfigError, WarehouseBusyError, WarehouseError

#: The config file a command picks up from its working folder when no `--config` is given.
LOCAL_CONFIG = Path("persona-mining.toml")
#: Id prefix of the segments that `persona-mining discover` finds; persona rules never use it.
DISCOVERED_PREFIX = "discovered-"


def record_setup(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Record `config` as the warehouse's setup, unless it is the one recorded last.

    Only the keys given (by the file or its profile) are recorded, so that a later release's
    defaults still apply to the rest; the warehouse path is where the row lives, not recorded.
    """
    if is_recorded_setup(con, config):
        return  # the same setup as the last run: one row per change, not per run
    given = _given(config)
    file = str(config.source) if config.source else None
    con.execute(
        "INSERT INTO setup (recorded_at, config_file, profile, config) "
        "VALUES (now() AT TIME ZONE 'UTC', ?, ?, ?)",
        [file, config.profile, json.dumps(given)],
    )


def is_recorded_setup(con: duckdb.DuckDBPyConnection, config: Config) -> bool:
    """Whether `config` is the setup the warehouse recorded last (a read-only connection will do)."""
    given = _given(config)
    file = str(config.source) if config.source else None
    rows = con.execute(
        "SELECT config_file, profile, config FROM setup ORDER BY recorded_at DESC LIMIT 1"
    ).fetchall()
    latest = rows[0] if rows else None
    return latest is not None and (latest[0], latest[1], json.loads(latest[2])) == (
        file,
        config.profile,
        given,
    )


def _given(config: Config) -> dict[str, Any]:
    """The keys of `config` to record: those given, less the values its profile filled in."""
    given = config.model_dump(mode="json", exclude_unset=True, exclude={"source", "warehouse"})
    return _without_profile_values(given, config.profile)


def _without_profile_values(raw: dict[str, Any], profile: str) -> dict[str, Any]:
    """`raw` without the keys whose value is the one `profile` sets: the profile sets them
    again when the setup is read, and another profile (`run --profile default` after a fast
    run) sets its own instead of keeping the fast profile's static model and sample."""
    out = dict(raw)
    for section, values in PROFILES.get(profile, {}).items():
        kept = out.get(section)
        if not isinstance(kept, dict):
            continue
        rest = {
            key: value
            for key, value in kept.items()
            if key not in values or value != json.loads(json.dumps(values[key]))
        }
        if rest:
            out[section] = rest
        else:
            del out[section]
    return out


def recorded_config(
    con: duckdb.DuckDBPyConnection, *, path: Path, profile: str | None = None
) -> Config | None:
    """The config of the warehouse's latest recorded setup, or None when none is recorded.

    Args:
        con: the warehouse (a read-only connection will do).
        path: where the warehouse is: the config's `[warehouse] path`.
        profile: a profile that overrides the recorded one (the CLI's `--profile`).

    Raises:
        ConfigError: the recorded setup is no longer a valid config (names what to do).
    """
    try:
        rows = con.execute(
            "SELECT config, config_file FROM setup ORDER BY recorded_at DESC LIMIT 1"
        ).fetchall()
    except duckdb.CatalogException:
        return None  # a warehouse from before setups were recorded
    if not rows:
        return None
    row = rows[0]
    raw: dict[str, Any] = json.loads(row[0])
    if profile is not None:
        # A setup recorded before its profile's values were left out holds them as keys given.
        raw = _without_profile_values(raw, str(raw.get("profile", "default")))
        raw["profile"] = profile
    try:
        config = config_from_dict(raw, origin=f"the setup recorded in {path}")
    except ConfigError as e:
        raise ConfigError(f"{e} (pass --config FILE to use another config)") from None
    source = Path(row[1]) if row[1] else None
    return config.model_copy(update={"warehouse": WarehouseConfig(path=path), "source": source})


def resolve_config(
    path: Path | None,
    *,
    db: Path | None = None,
    profile: str | None = None,
    cwd: Path | None = None,
    wait_seconds: float = 0.0,
    notify: Callable[[str], None] | None = None,
) -> Config:
    """The config a command uses: `--config`, ./persona-mining.toml, the recorded setup, defaults.

    Args:
        path: the `--config FILE` given, if any.
        db: the `--db PATH` given, if any (overrides `[warehouse] path`; where the recorded
            setup is read from).
        profile: the `--profile` given, if any.
        cwd: the working folder to look for `persona-mining.toml` in (default: the current one).
        wait_seconds: for a command that will write (a run, an ingest, `serve`): how long to
            wait for the recorded setup while another process writes to the warehouse. Such a
            command would otherwise run with the defaults, and drop the desk's personas,
            mappings and profile. 0 (a command that only reads): the defaults, at once.
        notify: told, while it waits, what it waits for.

    Raises:
        ConfigError: the file is invalid, or the recorded setup is.
        WarehouseBusyError: the warehouse was still busy after `wait_seconds`.
    """
    if path is None:
        local = (cwd or Path.cwd()) / LOCAL_CONFIG
        if local.is_file():
            path = local if cwd is not None else LOCAL_CONFIG
    if path is not None:
        return load_config(path, db=db, profile=profile)
    where = db if db is not None else DEFAULT_DB_PATH
    recorded = _read_recorded(where, profile, wait_seconds, notify)
    if recorded is not None:
        return recorded
    return load_config(None, db=db, profile=profile)


def _read_recorded(
    path: Path,
    profile: str | None,
    wait_seconds: float = 0.0,
    notify: Callable[[str], None] | None = None,
) -> Config | None:
    """The setup recorded in the warehouse file at `path`; None when there is none to read.

    Raises:
        WarehouseBusyError: another process still writes to it after `wait_seconds` (> 0).
    """
    from persona_mining import warehouse

    if str(path) != ":memory:" and not warehouse.is_remote(path) and not Path(path).is_file():
        return None
    try:
        con = warehouse.connect_when_free(
            path, timeout_seconds=wait_seconds, notify=notify, read_only=True
        )
    except WarehouseBusyError:
        if wait_seconds > 0:
            raise
        return None  # a command that only reads says so itself when it opens the warehouse
    except WarehouseError:
        return None  # unreadable: the command itself says so when it opens it
    try:
        return recorded_config(con, path=Path(path), profile=profile)
    finally:
        con.close()


@dataclass(frozen=True)
class PersonaChanges:
    """How a config's personas differ from the rule personas in the warehouse.

    Attributes:
        removed: names of personas the warehouse has and the config lacks.
        changed: names of personas whose rule or negative flag the config changes.
        added: names of personas new in the config.
    """

    removed: tuple[str, ...]
    changed: tuple[str, ...]
    added: tuple[str, ...]

    def describe(self) -> str:
        """What would happen, e.g. "removes 4 personas: 'A', 'B', ..."."""
        parts = []
        for verb, names in (("removes", self.removed), ("changes the rule of", self.changed)):
            if names:
                noun = "persona" if len(names) == 1 else "personas"
                parts.append(f"{verb} {len(names)} {noun}: {', '.join(map(repr, names))}")
        return "; ".join(parts)


def persona_changes(
    con: duckdb.DuckDBPyConnection, personas: Sequence[PersonaRule]
) -> PersonaChanges:
    """Compare `personas` with the rule personas the warehouse's `segments` table holds.

    Discovered segments are left out: `discover` owns them. A changed description is not a
    change: it alters no membership.
    """
    rows = con.execute(
        "SELECT segment_id, name, rule, kind FROM segments "
        "WHERE kind IN ('rule', 'negative') AND NOT starts_with(segment_id, ?) ORDER BY name",
        [DISCOVERED_PREFIX],
    ).fetchall()
    stored = {sid: (name, rule, kind) for sid, name, rule, kind in rows}
    given = {segment_id(p.name): p for p in personas}
    removed = tuple(name for sid, (name, _, _) in stored.items() if sid not in given)
    changed = tuple(
        given[sid].name
        for sid, (_, rule, kind) in stored.items()
        if sid in given
        and (
            (rule or "").strip() != given[sid].where.strip()
            or (kind == "negative") != given[sid].negative
        )
    )
    added = tuple(p.name for sid, p in given.items() if sid not in stored)
    return PersonaChanges(removed=removed, changed=changed, added=added)


def check_personas_kept(
    con: duckdb.DuckDBPyConnection, config: Config, *, replace_personas: bool = False
) -> PersonaChanges:
    """Stop a run whose config would remove or change the warehouse's personas unconfirmed.

    Raises:
        ConfigError: the config removes or changes personas and `replace_personas` is False.
    """
    changes = persona_changes(con, config.personas)
    if (changes.removed or changes.changed) and not replace_personas:
        origin = f"config {config.source}" if config.source else "the default config (no --config)"
        raise ConfigError(
            f"{origin} {changes.describe()}; pass --replace-personas to confirm, or give the "
            "config that defines them with --config FILE"
        )
    return changes
