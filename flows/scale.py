"""Beyond one machine: the embedding stage fanned out over a Dask cluster through prefect-dask.

The flow submits one `embed-chunk` task per chunk of texts to a `DaskTaskRunner` (an existing
cluster at `[scale] dask_address`, or a temporary LocalCluster) and writes each chunk's vectors
as it comes back, in order, through the same library function as the in-process path
(`embed_tickets(..., encode_chunks=...)`). Workers load the embedding model once each.

Tasks must be submitted from the flow itself, not from inside another task: prefect-dask
serializes the submitting context, and a task's context cannot be.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from prefect import task
from prefect.cache_policies import NONE

from persona_mining.config import ModelsConfig, ScaleConfig
from persona_mining.errors import ConfigError
from persona_mining.text.embed import Embedder, EmbedResult, embed_tickets, make_embedder


@functools.cache
def _worker_embedder(models: ModelsConfig) -> Embedder:
    """The embedding model of this worker process, loaded on its first chunk."""
    return make_embedder(models)


def encode_texts(
    texts: list[str],
    *,
    model: str,
    device: str,
    batch_size: int,
    models_dir: str = "models",
    static_dims: int = 256,
    static_common: int = ModelsConfig().static_common,
    precision: str = "float32",
) -> np.ndarray:
    """Embed one chunk of texts on a worker (a static model must already be distilled).

    `precision` is the embedding's as the pipeline resolved it, so that every worker computes
    what the pipeline's process would, whatever its own CPU.
    """
    models = ModelsConfig(
        dir=Path(models_dir),
        embedding=model,
        device=device,
        batch_size=batch_size,
        static_dims=static_dims,
        static_common=static_common,
        precision=precision,
    )
    return _worker_embedder(models).encode(texts)


encode_task = task(encode_texts).with_options(
    name="embed-chunk", cache_policy=NONE, retries=2, retry_delay_seconds=[1, 5]
)


def dask_task_runner(scale: ScaleConfig) -> Any:
    """A `DaskTaskRunner` for `[scale]`: the cluster at `dask_address`, or a LocalCluster.

    Raises:
        ConfigError: prefect-dask is not installed.
    """
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as e:
        raise ConfigError(
            "[scale] executor = \"dask\" needs prefect-dask: pip install 'persona-mining[scale]' "
            '(or set executor = "local")'
        ) from e
    if scale.dask_address:
        return DaskTaskRunner(address=scale.dask_address)
    cluster: dict[str, Any] = {
        "n_workers": scale.dask_workers,
        "threads_per_worker": scale.dask_threads,
        "processes": scale.dask_processes,
        "dashboard_address": None,
    }
    if scale.dask_processes:
        # One torch thread per Dask thread: workers that each take every core oversubscribe.
        threads = str(scale.dask_threads)
        cluster["env"] = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    return DaskTaskRunner(cluster_kwargs=cluster)


def embed_on_dask(
    con: duckdb.DuckDBPyConnection,
    *,
    embedder: Embedder,
    models: ModelsConfig,
    scale: ScaleConfig,
) -> EmbedResult:
    """The embed stage with the encoding fanned out over Dask; call it from a flow."""
    in_flight = 2 * max(1, scale.dask_workers * scale.dask_threads)
    with dask_task_runner(scale) as runner:

        def encode_chunks(chunks: Iterable[Sequence[str]]) -> Iterator[np.ndarray]:
            # A bounded window of chunks in flight: workers stay busy, memory stays flat.
            window: deque[Any] = deque()
            for texts in chunks:
                parameters = {
                    "texts": list(texts),
                    "model": models.embedding,
                    "device": models.device,
                    "batch_size": models.batch_size,
                    "models_dir": str(models.dir),
                    "static_dims": models.static_dims,
                    "static_common": models.static_common,
                    "precision": getattr(embedder, "precision", "float32"),
                }
                window.append(runner.submit(encode_task, parameters=parameters))
                if len(window) >= in_flight:
                    yield np.asarray(window.popleft().result())
            while window:
                yield np.asarray(window.popleft().result())

        return embed_tickets(
            con, embedder=embedder, chunk_size=scale.chunk_size, encode_chunks=encode_chunks
        )
