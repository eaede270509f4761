"""The pipeline's own per-ticket Python in worker processes, one per CPU core.

Cleaning, sentence splitting, language detection and sentiment scoring are plain Python, one
core's work per process. From `PARALLEL_FROM` pending items they are mapped over chunks in
worker processes (`[scale] processes`), while the calling process writes each chunk's result
back in order, in its own transaction, so that an interrupted run keeps what it wrote. The
spaCy analysis of what is shown (`text.analysis`) shares its chunks between the calling
process, whose pipeline is loaded already, and workers (`map_sharing_work`), which a topic fit
starts ahead, while its clustering leaves a core free, and gives the texts it will most likely
ask for in the meantime (`Helpers.ahead`).

The processes are spawned, not forked: the pipeline's process may hold threads (the Prefect
server's client, torch) whose locks a fork would copy. Each worker imports the package once
and builds what it needs on its first chunk: about 3-4 s of a core, whether that is spaCy
(the analysis) or lingua's language models (prepare: 11,036 HWU64 requests took 8.4 s in two
workers against 4.7 s in the calling process); below `PARALLEL_FROM` items that start-up costs
about what the workers save, and the work stays in the calling process.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

#: Pending tickets from which prepare's work goes to worker processes.
PARALLEL_FROM = 50_000
#: Texts from which sentiment scoring goes to worker processes. VADER scores about 12,000
#: texts a second on one core, so a worker's start-up (about 4 s of a core) pays off later
#: than prepare's (bench/RESULTS.md, "prepare and sentiment on every core").
SENTIMENT_PARALLEL_FROM = 200_000

#: Characters of text from which the spaCy analysis of what is shown (the topics' label samples)
#: shares its work with worker processes: about 3 s of the full English pipeline on one core. A
#: worker's start-up (importing spaCy, loading the pipeline) takes about 3 s, during which the
#: calling process goes on alone; below this, the worker would arrive when the work is done.
ANALYSIS_PARALLEL_FROM = 60_000

#: The niceness of workers that run beside the calling process's own work (`Helpers`): the
#: most a process may lower its priority by. They then take only CPU time that nothing else
#: wants, and the calling process's threads (BLAS, joblib) never wait for them.
BACKGROUND_NICENESS = 19

_Chunk = TypeVar("_Chunk")
_Result = TypeVar("_Result")


def _exit_with_parent() -> None:
    """Every worker's initializer: the worker ends when the process that started it ends.

    A worker waits for its next chunk on a queue whose writing end it holds itself, so it would
    wait forever after a run killed outright (`kill -9`, a scheduler's time limit), holding
    what it loaded (a spaCy pipeline: 500 MB). A daemon thread waits on the parent's sentinel
    instead, and ends the worker when it fires.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _in_background() -> None:
    """A worker's initializer where it is to use only what the calling process leaves free:
    `_exit_with_parent`, and the lowest CPU priority (where the system has priorities)."""
    _exit_with_parent()
    with contextlib.suppress(AttributeError, OSError):
        os.nice(BACKGROUND_NICENESS)


def _pool(processes: int, *, background: bool = False) -> ProcessPoolExecutor:
    """`processes` spawned workers, each ending with this process (`_exit_with_parent`), and
    with `background` at the lowest CPU priority (`_in_background`)."""
    return ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_in_background if background else _exit_with_parent,
    )


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
    pool = _pool(processes)
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


class Helpers:
    """Worker processes that share chunks of work with the calling process
    (`map_sharing_work`), started ahead of it where the caller knows the work is coming.

    For work whose tools the calling process has loaded already: it starts at once and takes
    every chunk until a worker is ready, so that a worker's start-up never holds it up. Each of
    the `processes - 1` spawned workers first runs `start` (loading its tools); from then on it
    is given the next chunk when it has fewer than two, and this process takes the others. A
    worker whose `start` returns False or fails (it cannot load the same tools) gets no chunk;
    where no process can be started, or a worker dies, this process does the rest. `key` names
    what `start` loads, for the caller to check that these helpers suit its work.

    Work the caller will probably ask for can be given to the workers at once (`ahead`), to fill
    the time until it knows what it needs; `ahead_results` then takes what it does need. With
    `background`, the workers run at the lowest CPU priority, so that such work takes only a core
    the calling process leaves free: where its own threads use every core (BLAS), they do not
    wait for the workers.
    """

    def __init__(
        self, processes: int, start: Callable[[], bool], key: str = "", *, background: bool = False
    ) -> None:
        self.key = key
        self._ready = 0
        self._pool: ProcessPoolExecutor | None = None
        self._starting: set[Future[bool]] = set()
        self._ahead: list[tuple[Any, Future[Any]]] = []
        if processes > 1:
            self._pool = _pool(processes - 1, background=background)
            try:
                self._starting = {self._pool.submit(start) for _ in range(processes - 1)}
            except (OSError, BrokenProcessPool):  # no process can be started here
                self.close()

    def map(
        self,
        here: Callable[[_Chunk], _Result],
        there: Callable[[_Chunk], _Result],
        chunks: Sequence[_Chunk],
    ) -> list[_Result]:
        """Every chunk's result, in order: `here` in this process, `there` (module-level, or a
        `functools.partial` of such, giving what `here` gives) in the workers that are ready."""
        results: dict[int, _Result] = {}
        in_flight: dict[Future[_Result], int] = {}
        cursor = 0
        while cursor < len(chunks) or in_flight:
            self._count_ready()
            for future in [f for f in in_flight if f.done()]:
                index = in_flight.pop(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    # A worker died (killed for memory, say): this process does the rest.
                    self._lost()
                    results[index] = here(chunks[index])
                else:
                    results[index] = future.result()
            while (
                self._pool is not None and cursor < len(chunks) and len(in_flight) < 2 * self._ready
            ):
                try:
                    in_flight[self._pool.submit(there, chunks[cursor])] = cursor
                except BrokenProcessPool:  # a worker died since: its chunks come back above
                    self._lost()
                    break
                cursor += 1
            if cursor < len(chunks):
                results[cursor] = here(chunks[cursor])
                cursor += 1
            elif in_flight:
                wait(in_flight, return_when=FIRST_COMPLETED)
        return [results[index] for index in range(len(chunks))]

    def ahead(self, there: Callable[[_Chunk], _Result], chunks: Iterable[_Chunk]) -> None:
        """Give the workers `chunks` now, in order, each to run `there` (module-level, or a
        `functools.partial` of such) once `start` has run, for `ahead_results` to take.

        For work the caller will probably need and cannot name yet: what the workers have done
        by then saves it the work, what they have not begun is dropped. Nothing happens where
        no worker was started.
        """
        if self._pool is None:
            return
        for chunk in chunks:
            try:
                self._ahead.append((chunk, self._pool.submit(there, chunk)))
            except BrokenProcessPool:
                self._lost()
                return

    def ahead_results(self, wanted: Callable[[_Chunk], bool]) -> list[tuple[_Chunk, _Result]]:
        """The chunks given `ahead` that `wanted` says are needed, with their results.

        Chunks a worker has not begun are dropped, and a needed chunk under way is waited for
        (it ends within a chunk's time). Where no worker is ready yet, or a chunk failed,
        nothing, or not that chunk, is taken: the caller does those itself. Each chunk is taken
        once.
        """
        taken: list[tuple[_Chunk, _Result]] = []
        # Every chunk not begun is dropped first: while this waits for one under way, the pool
        # would begin the next.
        begun = [(chunk, future) for chunk, future in self._ahead if not future.cancel()]
        self._ahead = []
        self._count_ready()
        if not self._ready:  # no worker has loaded its tools (yet): nothing of theirs is taken
            return taken
        for chunk, future in begun:
            if not wanted(chunk):
                continue
            try:
                taken.append((chunk, future.result()))
            except BrokenProcessPool:
                self._lost()
            except (Exception, CancelledError):  # failed there: the caller does it here
                continue
        return taken

    def _count_ready(self) -> None:
        for started in [f for f in self._starting if f.done()]:
            self._starting.remove(started)
            self._ready += started.exception() is None and bool(started.result())

    def _lost(self) -> None:
        self._starting, self._ready = set(), 0

    def close(self) -> None:
        """Stop the workers; a chunk one is working on is left to finish in the background."""
        self._lost()
        self._ahead = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def map_sharing_work(
    here: Callable[[_Chunk], _Result],
    there: Callable[[_Chunk], _Result],
    chunks: Sequence[_Chunk],
    processes: int,
    start: Callable[[], bool],
) -> list[_Result]:
    """Every chunk's result, in order: `here` in the calling process, `there` in `processes - 1`
    spawned workers beside it, each ready once `start` has run in it (see `Helpers`: with one
    process, or one chunk, none is started)."""
    with Helpers(min(processes, len(chunks)), start) as helpers:
        return helpers.map(here, there, chunks)
