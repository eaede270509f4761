"""The process environment persona-mining runs in: offline and quiet.

The library never reads the environment; the entry points (the CLI, the benchmarks, the test
session) call `use_offline_environment()` once, before the model libraries are imported, so
that Hugging Face never reaches for the hub, tokenizers do not fork-warn, progress bars stay
out of logs, neither Prefect nor anything else sends telemetry, and a run's temporary Prefect
server has time to start on a busy machine.

May import: nothing (it is imported before everything else).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType

#: Variables and their values for an offline, quiet run (the Makefile's exports mirror them).
OFFLINE_ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Prefect waits 20 s for its temporary server; a fresh one (its database created) on two
        # busy cores took longer, and `make demo` failed on a fresh clone.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
)


def use_offline_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Set every variable of `OFFLINE_ENVIRONMENT` that is not set yet.

    A value the user set explicitly wins (for instance `TOKENIZERS_PARALLELISM=true` on a
    machine with an accelerator).

    Args:
        environ: the environment to complete; this process's (`os.environ`) when None.
    """
    target = os.environ if environ is None else environ
    for name, value in OFFLINE_ENVIRONMENT.items():
        target.setdefault(name, value)
