"""Work shared between the calling process and worker processes (`parallel.map_sharing_work`)."""

from __future__ import annotations

import functools
import os
import time

import pytest

from persona_mining import parallel


def _tagged(chunk: list[int], *, tag: str, pause: float = 0.0) -> list[tuple[int, str]]:
    time.sleep(pause)
    return [(n * n, tag) for n in chunk]


def _ready() -> bool:
    return True


def _not_ready() -> bool:
    return False


def _dies(chunk: list[int]) -> list[tuple[int, str]]:
    os._exit(1)


CHUNKS = [[n, n + 1] for n in range(0, 60, 2)]
SQUARES = [n * n for n in range(60)]


def _run(there, start) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    # This process pauses on each chunk, so that a worker is ready before it has done them all.
    here = functools.partial(_tagged, tag="here", pause=0.1)
    results = parallel.map_sharing_work(here, there, CHUNKS, 2, start=start)
    assert len(results) == len(CHUNKS)
    return [pair for chunk in results for pair in chunk]


@pytest.mark.heavy
def test_chunks_are_shared_with_a_worker_and_come_back_in_order() -> None:
    pairs = _run(functools.partial(_tagged, tag="there"), _ready)
    assert [square for square, _ in pairs] == SQUARES
    tags = [tag for _, tag in pairs]
    # This process starts at once, a worker joins once it is ready.
    assert tags[0] == "here" and "there" in tags


@pytest.mark.heavy
def test_a_worker_that_cannot_start_or_dies_leaves_the_work_here() -> None:
    not_ready = _run(functools.partial(_tagged, tag="there"), _not_ready)
    assert not_ready == [(square, "here") for square in SQUARES]
    died = _run(_dies, _ready)
    assert died == [(square, "here") for square in SQUARES]


def test_one_process_or_one_chunk_stays_here() -> None:
    here = functools.partial(_tagged, tag="here")
    there = functools.partial(_tagged, tag="there")
    assert parallel.map_sharing_work(here, there, CHUNKS[:1], 2, start=_ready) == [
        [(0, "here"), (1, "here")]
    ]
    assert parallel.map_sharing_work(here, there, CHUNKS, 1, start=_ready) == [
        here(chunk) for chunk in CHUNKS
    ]


def test_where_no_process_can_start_the_work_stays_here(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing.context

    def refuse(self) -> None:  # type: ignore[no-untyped-def]
        raise OSError("no new processes in this sandbox")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", refuse)
    pairs = _run(functools.partial(_tagged, tag="there"), _ready)
    assert pairs == [(square, "here") for square in SQUARES]
