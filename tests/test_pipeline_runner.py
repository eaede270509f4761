"""The stage runner: one ordered list of stages, slices of it, and the execute hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pytest

from persona_mining.config import config_from_dict
from persona_mining.errors import ConfigError
from persona_mining.pipeline import STAGE_NAMES, Stage, run_pipeline, select_stages

PERSONAS = {
    "personas": [
        {"name": "Students", "where": "occupation = 'student'"},
        {"name": "Everyone else", "where": "occupation <> 'student'"},
    ]
}


def _names(stages: tuple[Stage, ...]) -> list[str]:
    return [s.name for s in stages]


def test_the_whole_pipeline_leaves_out_the_optional_stages() -> None:
    config = config_from_dict({})
    assert _names(select_stages(config)) == [
        "prepare",
        "embed",
        "topics",
        "curation",
        "trends",
        "segments",
        "link",
        "negative",
        "impact",
        "personas",
    ]


def test_optional_stages_run_when_included_in_pipeline_order() -> None:
    config = config_from_dict({})
    names = _names(select_stages(config, include=["report", "ingest"]))
    assert names[0] == "ingest" and names[-1] == "report"
    assert names == [n for n in STAGE_NAMES if n != "discover"]


def test_discover_runs_with_the_pipeline_when_the_config_says_so() -> None:
    config = config_from_dict({"discover": {"run_with_pipeline": True}})
    names = _names(select_stages(config))
    assert names.index("segments") < names.index("discover") < names.index("link")


def test_a_slice_from_a_stage_on_and_an_explicit_list() -> None:
    config = config_from_dict({})
    assert _names(select_stages(config, start="trends")) == [
        "trends",
        "segments",
        "link",
        "negative",
        "impact",
        "personas",
    ]
    # `only` keeps the pipeline's order, whatever order it is given in.
    assert _names(select_stages(config, only=["personas", "discover", "link"])) == [
        "discover",
        "link",
        "personas",
    ]


def test_an_unknown_stage_is_a_config_error_naming_the_stages() -> None:
    with pytest.raises(ConfigError, match=r"unknown pipeline stage 'topic'.*topics"):
        select_stages(config_from_dict({}), only=["topic"])


def test_every_step_goes_through_the_execute_hook(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE customers ADD COLUMN occupation VARCHAR")
    con.execute(
        "INSERT INTO customers VALUES ('c1', 'x', now(), 'student'), ('c2', 'x', now(), 'nurse')"
    )
    seen: list[tuple[str, str]] = []

    def execute(stage: Stage, label: str, fn: Callable[[], Any]) -> Any:
        seen.append((stage.name, label))
        return fn()

    results = run_pipeline(con, config_from_dict(PERSONAS), only=["segments"], execute=execute)
    assert seen == [("segments", "segments")]
    assert results["segments"].segments == {"students": 1, "everyone-else": 1}
    assert con.execute("SELECT count(*) FROM customer_segments").fetchone() == (2,)
