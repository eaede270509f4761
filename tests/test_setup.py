"""The warehouse remembers its setup, and a config is checked against it before a run starts."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.config import config_from_dict, load_config
from persona_mining.config.checks import check_config, check_run
from persona_mining.config.recorded import (
    check_personas_kept,
    persona_changes,
    record_setup,
    recorded_config,
    resolve_config,
)
from persona_mining.errors import ConfigError
from persona_mining.ingest.load import ingest_customers
from persona_mining.personas.segments import build_segments

runner = CliRunner()

PERSONAS = """
[[personas]]
name = "Student"
where = "occupation = 'student'"

[[personas]]
name = "Parent"
where = "kids > 0"

[[personas]]
name = "Returner"
where = "returns >= 3"
negative = true
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def customers_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "customers.csv",
        "customer_id,occupation,kids,returns\nc1,student,0,0\nc2,teacher,2,5\nc3,student,1,4\n",
    )


def warehouse_with_personas(tmp_path: Path, personas: str = PERSONAS) -> Path:
    """A warehouse file with customers and the segments of `personas` built."""
    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    ingest_customers(con, path=customers_file(tmp_path))
    build_segments(con, personas=config_from_dict_text(personas).personas)
    con.close()
    return path


def config_from_dict_text(text: str):  # type: ignore[no-untyped-def]
    import tomllib

    return config_from_dict(tomllib.loads(text))


def test_a_recorded_setup_gives_the_same_personas_mapping_sources_and_profile_back(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    config_path = write(
        tmp_path / "c.toml",
        'profile = "fast"\n[ingest.columns]\nticket_id = "Ticket ID"\n'
        '[[sources]]\nkind = "tickets"\npath = "exports/t.csv"\n' + PERSONAS,
    )
    config = load_config(config_path)
    record_setup(con, config)
    back = recorded_config(con, path=Path("elsewhere.duckdb"))
    assert back is not None
    assert back.personas == config.personas
    assert back.ingest.columns == {"ticket_id": "Ticket ID"}
    assert back.sources == config.sources and back.profile == "fast"
    assert back.models.embedding == config.models.embedding
    assert back.source == config_path and back.warehouse.path == Path("elsewhere.duckdb")


def test_another_profile_given_to_a_recorded_fast_setup_takes_its_own_values(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """`run --profile default` after `run --profile fast` kept the fast profile's static model,
    sample and spaCy pipeline, recorded as if given; keys the user gave are kept."""
    fast = config_from_dict({"profile": "fast", "topics": {"seed": 7}})
    default = config_from_dict({})
    record_setup(con, fast)
    back = recorded_config(con, path=Path("w.duckdb"))
    assert back is not None and back.models.embedding == fast.models.embedding
    switched = recorded_config(con, path=Path("w.duckdb"), profile="default")
    assert switched is not None and switched.profile == "default"
    assert switched.models.embedding == default.models.embedding != fast.models.embedding
    assert switched.topics.fit_sample == default.topics.fit_sample
    assert switched.prepare.spacy_model == default.prepare.spacy_model
    assert switched.topics.seed == 7
    # A setup recorded with the profile's values as keys given reads the same way.
    con.execute(
        "UPDATE setup SET config = ?",
        [
            json.dumps(
                fast.model_dump(mode="json", exclude_unset=True, exclude={"source", "warehouse"})
            )
        ],
    )
    old = recorded_config(con, path=Path("w.duckdb"), profile="default")
    assert old is not None and old.models.embedding == default.models.embedding
    assert old.topics.seed == 7


def test_the_same_setup_recorded_twice_is_one_row(con: duckdb.DuckDBPyConnection) -> None:
    config = config_from_dict_text(PERSONAS)
    record_setup(con, config)
    record_setup(con, config)
    assert con.execute("SELECT count(*) FROM setup").fetchone() == (1,)
    record_setup(con, config_from_dict_text(PERSONAS.replace("kids > 0", "kids > 1")))
    assert con.execute("SELECT count(*) FROM setup").fetchone() == (2,)
    latest = recorded_config(con, path=Path("w.duckdb"))
    assert latest is not None and latest.personas[1].where == "kids > 1"


def test_no_recorded_setup_is_none(con: duckdb.DuckDBPyConnection) -> None:
    assert recorded_config(con, path=Path("w.duckdb")) is None


def test_a_command_takes_config_then_local_file_then_recorded_setup_then_defaults(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    work = tmp_path / "work"
    work.mkdir()
    assert resolve_config(None, db=path, cwd=work).personas == ()
    con = db.connect(path)
    record_setup(con, config_from_dict_text(PERSONAS))
    con.close()
    recorded = resolve_config(None, db=path, cwd=work)
    assert [p.name for p in recorded.personas] == ["Student", "Parent", "Returner"]
    assert recorded.warehouse.path == path
    write(work / "persona-mining.toml", '[[personas]]\nname = "Local"\nwhere = "true"\n')
    assert [p.name for p in resolve_config(None, db=path, cwd=work).personas] == ["Local"]
    given = write(tmp_path / "given.toml", "")
    assert resolve_config(given, db=path, cwd=work).personas == ()


def test_a_config_without_the_warehouses_personas_is_refused_unless_confirmed(
    tmp_path: Path,
) -> None:
    con = db.connect(warehouse_with_personas(tmp_path))
    kept = config_from_dict_text(PERSONAS.replace("kids > 0", "kids > 1"))
    changes = persona_changes(con, kept.personas)
    assert changes.changed == ("Parent",) and changes.removed == ()
    with pytest.raises(ConfigError) as refused:
        check_personas_kept(con, config_from_dict({}))
    message = str(refused.value)
    assert "removes 3 personas: 'Parent', 'Returner', 'Student'" in message
    assert "pass --replace-personas to confirm" in message and "\n" not in message
    assert check_personas_kept(con, config_from_dict({}), replace_personas=True).removed
    check_personas_kept(con, config_from_dict_text(PERSONAS))  # the same personas: no error
    con.close()


def test_a_rule_naming_a_missing_column_is_one_line_naming_the_persona(tmp_path: Path) -> None:
    con = db.connect(warehouse_with_personas(tmp_path))
    bad = config_from_dict_text(PERSONAS.replace("kids > 0", "children > 0"))
    with pytest.raises(ConfigError) as refused:
        check_config(con, bad)
    message = str(refused.value)
    assert message.startswith("persona 'Parent': its rule `children > 0`")
    assert "DESCRIBE customers" in message and "\n" not in message
    con.close()


def test_a_number_column_typed_as_text_by_a_stray_value_names_it_and_the_cast(
    tmp_path: Path,
) -> None:
    customers = write(
        tmp_path / "customers.csv",
        "customer_id,age\nC1,26\nC2,unknown\nC3,61\n",
    )
    con = db.connect(tmp_path / "w.duckdb")
    ingest_customers(con, path=customers)
    older = config_from_dict_text('[[personas]]\nname = "Older"\nwhere = "age >= 50"\n')
    with pytest.raises(ConfigError) as refused:
        check_config(con, older)
    message = str(refused.value)
    assert "column age is text, as 1 of its 3 values is not a number" in message
    assert "'unknown', customer C2" in message and "`TRY_CAST(age AS DOUBLE)`" in message
    fixed = older.personas[0].model_copy(update={"where": "TRY_CAST(age AS DOUBLE) >= 50"})
    check_config(con, older.model_copy(update={"personas": [fixed]}))  # no error
    con.close()


def test_a_rule_over_the_warehouse_source_column_points_to_the_file_s_own(
    tmp_path: Path,
) -> None:
    customers = write(tmp_path / "customers.csv", "customer_id,Source\nC1,Organic\nC2,Ads\n")
    con = db.connect(tmp_path / "w.duckdb")
    ingest_customers(con, path=customers)
    organic = config_from_dict_text(
        '[[personas]]\nname = "Organic"\nwhere = "source = \'Organic\'"\n'
    )
    with pytest.raises(ConfigError) as refused:
        check_config(con, organic)
    assert "stored as `source_input`: write `source_input` in `where`" in str(refused.value)
    fixed = organic.personas[0].model_copy(update={"where": "source_input = 'Organic'"})
    check_config(con, organic.model_copy(update={"personas": [fixed]}))  # no error
    con.close()


def test_rules_over_a_warehouse_without_customers_say_to_ingest_them(
    con: duckdb.DuckDBPyConnection,
) -> None:
    with pytest.raises(ConfigError, match="no customers are ingested yet"):
        check_run(con, config_from_dict_text(PERSONAS))


def test_run_refuses_a_bad_rule_in_one_line_before_the_flow_starts(tmp_path: Path) -> None:
    path = warehouse_with_personas(tmp_path)
    config = write(tmp_path / "c.toml", PERSONAS.replace("kids > 0", "children > 0"))
    result = runner.invoke(app, ["run", "--config", str(config), "--db", str(path)])
    assert result.exit_code == 2, result.output
    assert "persona 'Parent'" in result.output and "Traceback" not in result.output
    con = db.connect(path, read_only=True)
    assert con.execute("SELECT count(*) FROM pipeline_runs").fetchone() == (0,)
    con.close()


def test_run_without_config_refuses_to_drop_the_warehouses_personas(tmp_path: Path) -> None:
    path = warehouse_with_personas(tmp_path)
    result = runner.invoke(app, ["run", "--db", str(path)])
    assert result.exit_code == 2, result.output
    assert "removes 3 personas" in result.output and "--replace-personas" in result.output
    con = db.connect(path, read_only=True)
    assert con.execute("SELECT count(*) FROM segments").fetchone() == (3,)
    con.close()


def test_a_later_command_uses_the_recorded_setup(tmp_path: Path) -> None:
    path = warehouse_with_personas(tmp_path)
    con = db.connect(path)
    record_setup(
        con,
        config_from_dict_text(PERSONAS + '[[known_issues]]\nname = "Refund"\nexamples = ["x"]\n'),
    )
    con.close()
    out = tmp_path / "taxonomy.toml"
    result = runner.invoke(app, ["topics", "export", "--out", str(out), "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert "Refund" in out.read_text(encoding="utf-8")


def test_the_flow_checks_the_config_before_its_first_stage(
    tmp_path: Path, prefect_harness: None
) -> None:
    from flows.pipeline import persona_pipeline

    path = warehouse_with_personas(tmp_path)
    bad = load_config(write(tmp_path / "c.toml", PERSONAS.replace("kids", "children")), db=path)
    with pytest.raises(ConfigError, match="persona 'Parent'"):
        persona_pipeline(config=bad)
    con = db.connect(path, read_only=True)
    # Refused before its first stage, and recorded as failed, so that a scheduled run that was
    # refused shows in `status`; its setup is not recorded.
    ((status, error),) = con.execute("SELECT status, error FROM pipeline_runs").fetchall()
    assert status == "failed" and "persona 'Parent'" in error
    assert con.execute("SELECT count(*) FROM setup").fetchone() == (0,)
    con.close()


def test_a_run_records_its_setup_and_later_runs_need_no_config(
    tmp_path: Path, prefect_harness: None
) -> None:
    from prefect import flow

    from flows.pipeline import run_stages

    path = warehouse_with_personas(tmp_path)
    config = load_config(write(tmp_path / "c.toml", PERSONAS), db=path)

    @flow(name="persona-pipeline-test")
    def segments_only(config):  # type: ignore[no-untyped-def]
        return run_stages(config, only=["segments"])

    segments_only(config)
    later = resolve_config(None, db=path, cwd=tmp_path / "nowhere")
    assert later.personas == config.personas and later.source == tmp_path / "c.toml"
    segments_only(later)  # the recorded setup keeps every persona: no --replace-personas needed
    con = db.connect(path, read_only=True)
    assert con.execute("SELECT count(*) FROM setup").fetchone() == (1,)
    con.close()


def test_a_run_that_ingests_its_customers_first_checks_rules_after_ingest(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    config = config_from_dict(
        {
            "personas": [{"name": "Students", "where": "occupation = 'student'"}],
            "sources": [{"kind": "customers", "path": str(tmp_path / "customers.csv")}],
        }
    )
    with pytest.raises(ConfigError, match="no customers are ingested yet"):
        check_run(con, config)
    # The customers come with this run's ingest: the segments stage checks the rules then.
    check_run(con, config, ingest=True)
