"""The pipeline's own per-ticket Python in worker processes, one per CPU core.

Cleaning, sentence splitting, language detection and sentiment scoring are plain Python, one
core's work per process. From `PARALLEL_FROM` pending items they are mapped over chunks in
worker processes (`[scale] processes`), while the calling process writes each chunk's result
back in order, in its own transaction, so that an interrupted run keeps what it wrote.

The processes are spawned, not forked: the pipeline's process may hold threads (the Prefect
server's client, torch) whose locks a fork would copy. Each worker imports the package once
(about 4 s of a core with spaCy) and builds what it needs on its first chunk; below
`PARALLEL_FROM` items that start-up costs about what the workers save, and the work stays in
the calling process.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

#: Pending tickets from which prepare's work goes to worker processes.
PARALLEL_FROM = 50_000
#: Texts from which sentiment scoring goes to worker processes. VADER scores about 12,000
#: texts a second on one core, so a worker's start-up (about 4 s of a core) pays off later
#: than prepare's (bench/RESULTS.md, "prepare and sentiment on every core").
SENTIMENT_PARALLEL_FROM = 200_000

_Chunk = TypeVar("_Chunk")
_Result = TypeVar("_Result")


def processes_for(setting: int, items: int, minimum: int) -> int:
    """How many processes work on `items` pending items: 1 (the calling one) below `minimum`
    (`PARALLEL_FROM`, `SENTIMENT_PARALLEL_FROM`) or with `setting` 1; `setting`, or one per
    CPU core when it is 0."""
    if items < minimum or setting == 1:
        return 1
    if setting:
        return setting
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def map_in_processes(
    fn: Callable[[_Chunk], _Result], chunks: Iterable[_Chunk], processes: int
) -> Generator[_Result, None, None]:
    """`fn` of every chunk in `processes` spawned worker processes, yielded in order.

    `fn` must be a module-level function (or a `functools.partial` of one) so that it can be
    sent to the workers. At most two chunks per process are in flight, so the items are not
    all copied at once. Closing the generator early cancels the chunks not started.
    """
    chunks = iter(chunks)
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    try:
        in_flight: deque[Future[_Result]] = deque(
            pool.submit(fn, chunk) for chunk in itertools.islice(chunks, 2 * processes)
        )
        while in_flight:
            result = in_flight.popleft().result()
            following = next(chunks, None)
            if following is not None:
                in_flight.append(pool.submit(fn, following))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
