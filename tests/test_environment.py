"""The offline environment: set where missing, never over a user's own value."""

from __future__ import annotations

from persona_mining.environment import OFFLINE_ENVIRONMENT, use_offline_environment


def test_every_missing_variable_is_set_offline() -> None:
    environ: dict[str, str] = {"PATH": "/bin"}
    use_offline_environment(environ)
    assert environ == {"PATH": "/bin", **OFFLINE_ENVIRONMENT}
    assert environ["HF_HUB_OFFLINE"] == "1" and environ["DO_NOT_TRACK"] == "1"


def test_a_value_the_user_set_wins() -> None:
    environ = {"TOKENIZERS_PARALLELISM": "true"}
    use_offline_environment(environ)
    assert environ["TOKENIZERS_PARALLELISM"] == "true"
    assert environ["TRANSFORMERS_OFFLINE"] == "1"
