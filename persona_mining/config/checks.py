"""Checks of a config against the warehouse, made before a run starts any stage.

The TOML's shape is checked when it is loaded; what only the data can tell (does a persona's
rule name columns the customers have?) is checked here, so that a typo stops a run at once
with one line per problem, never minutes later inside a stage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from persona_mining.config import Config, PersonaRule, segment_id
from persona_mining.config.recorded import (
    DISCOVERED_PREFIX,
    PersonaChanges,
    check_personas_kept,
)
from persona_mining.errors import ConfigError
from persona_mining.warehouse import quote_identifier, table_columns


def check_config(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Check everything of `config` that depends on the warehouse's data.

    Raises:
        ConfigError: one line per problem, each naming the persona or key and the fix.
    """
    problems = persona_rule_problems(con, config.personas)
    if problems:
        raise ConfigError("\n".join(problems))


def persona_rule_problems(
    con: duckdb.DuckDBPyConnection, personas: Sequence[PersonaRule]
) -> list[str]:
    """Each problem of the persona rules as one line: what is wrong and how to fix it.

    A rule is a DuckDB expression the config's owner wrote; it is only described (its type
    computed), never run, so checking it reads no customer.
    """
    problems: list[str] = []
    ids = [segment_id(p.name) for p in personas]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        problems.append(
            f"[[personas]]: names that differ only in punctuation or case clash: {clashes}; "
            "rename one of each"
        )
    reserved = [
        p.name for p, i in zip(personas, ids, strict=True) if i.startswith(DISCOVERED_PREFIX)
    ]
    if reserved:
        problems.append(
            f"[[personas]] {reserved}: names starting with 'Discovered' are reserved for the "
            "segments `persona-mining discover` finds; rename them in the config"
        )
    customers = None
    for persona in personas:
        problem = _rule_problem(con, persona)
        if problem is None:
            moved = _moved_column(con, persona.where)
            if moved:
                problems.append(f"persona {persona.name!r}: {moved}")
            continue
        if customers is None:
            customers = _customer_count(con)
        hint = (
            "no customers are ingested yet: run `persona-mining ingest --customers FILE` first"
            if customers == 0
            else _numbers_as_text(con, persona.where)
            if "VARCHAR" in problem
            else None
        ) or '`persona-mining sql "DESCRIBE customers"` lists the columns'
        problems.append(
            f"persona {persona.name!r}: its rule `{persona.where}` is not a valid boolean "
            f"expression over the customers table ({problem}); fix `where` in the config "
            f"({hint})"
        )
    return problems


def _rule_problem(con: duckdb.DuckDBPyConnection, persona: PersonaRule) -> str | None:
    try:
        described = con.execute(
            f"DESCRIBE SELECT ({persona.where}) AS matches FROM customers"
        ).fetchall()
    except duckdb.Error as e:
        return str(e).splitlines()[0]
    dtype = described[0][1]
    return None if dtype == "BOOLEAN" else f"it gives {dtype}, not BOOLEAN"


#: The warehouse's own columns of `customers`: an input column of one of these names is stored
#: as `<name>_input` (`ingest.load`).
_CUSTOMER_OWN_COLUMNS = ("source", "ingested_at")
_STRING_LITERAL_RE = re.compile(r"'(?:[^']|'')*'")


def _moved_column(con: duckdb.DuckDBPyConnection, rule: str) -> str | None:
    """Why a valid rule names the warehouse's `source` (or `ingested_at`) where the customers
    file had a column of that name, stored as `source_input`: it would compare the file each
    customer was read from, and match no one."""
    columns = table_columns(con, "customers")
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _STRING_LITERAL_RE.sub(" ", rule))
    for name in dict.fromkeys(n.lower() for n in names):
        if name in _CUSTOMER_OWN_COLUMNS and f"{name}_input" in columns:
            return (
                f"its rule `{rule}` names `{name}`, which is the warehouse's own column (the "
                f"file each customer was read from); your customers file's `{name}` column is "
                f"stored as `{name}_input`: write `{name}_input` in `where`"
            )
    return None


def _numbers_as_text(con: duckdb.DuckDBPyConnection, rule: str) -> str | None:
    """Why a column the rule compares as a number is text, if it is: a column ingested with a
    few values that are not numbers ("unknown") is typed VARCHAR. Names the count, an example
    and its customer, and the rule that compares the numbers anyway."""
    columns = table_columns(con, "customers")
    for name in dict.fromkeys(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rule)):
        if columns.get(name) != "VARCHAR":
            continue
        column = quote_identifier(name)
        not_number = f"TRY_CAST({column} AS DOUBLE) IS NULL AND {column} IS NOT NULL"
        total, numbers, example, customer = con.execute(
            f"""SELECT count({column}), count(TRY_CAST({column} AS DOUBLE)),
                any_value({column}) FILTER (WHERE {not_number}),
                any_value(customer_id) FILTER (WHERE {not_number})
            FROM customers"""
        ).fetchall()[0]
        if total and total > numbers >= total / 2:
            return (
                f"column {name} is text, as {total - numbers:,} of its {total:,} values "
                f"{'is' if total - numbers == 1 else 'are'} not a number (e.g. {example!r}, "
                f"customer {customer}): compare "
                f"`TRY_CAST({name} AS DOUBLE)` instead, which leaves those customers out"
            )
    return None


def _customer_count(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute("SELECT count(*) FROM customers").fetchall()
    return int(rows[0][0])


def check_run(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    replace_personas: bool = False,
    ingest: bool = False,
) -> PersonaChanges:
    """Everything a run checks before its first stage: the config, then the personas it keeps.

    With `ingest`, a run that first ingests customers from its `[[sources]]` leaves the persona
    rules to the segments stage, which checks them once the customers' columns are there.

    Raises:
        ConfigError: a problem of the config (one line each), or personas it would remove or
            change without `replace_personas`.
    """
    if not (ingest and any(source.pulls_customers for source in config.sources)):
        check_config(con, config)
    return check_personas_kept(con, config, replace_personas=replace_personas)
