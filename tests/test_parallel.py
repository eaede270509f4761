"""Work shared between the calling process and worker processes (`parallel.map_sharing_work`)."""

from __future__ import annotations

import contextlib
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


@pytest.mark.heavy
def test_work_given_ahead_is_taken_where_needed_and_dropped_where_not_begun() -> None:
    there = functools.partial(_tagged, tag="there", pause=0.2)
    with parallel.Helpers(2, _ready) as helpers:
        helpers.ahead(there, CHUNKS)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(f.done() for _, f in helpers._ahead):
            time.sleep(0.05)
        time.sleep(0.5)
        taken = helpers.ahead_results(lambda chunk: chunk[0] % 4 == 0)
        # The needed chunks the worker began, in order, with what it made of them; those it
        # had not begun are dropped rather than waited for.
        assert taken and len(taken) < len(CHUNKS) // 2
        assert all(chunk[0] % 4 == 0 for chunk, _ in taken)
        assert all(result == _tagged(chunk, tag="there") for chunk, result in taken)
        assert [chunk for chunk, _ in taken] == sorted(chunk for chunk, _ in taken)
        assert helpers.ahead_results(lambda chunk: True) == []  # each chunk is taken once
        # The work named afterwards is shared as before.
        here = functools.partial(_tagged, tag="here")
        assert [n for chunk in helpers.map(here, there, CHUNKS) for n, _ in chunk] == SQUARES


@pytest.mark.heavy
def test_nothing_done_ahead_is_taken_from_workers_that_did_not_load_their_tools() -> None:
    with parallel.Helpers(2, _not_ready) as helpers:
        helpers.ahead(functools.partial(_tagged, tag="there"), CHUNKS)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(f.done() for _, f in helpers._ahead[:3]):
            time.sleep(0.05)
        assert helpers.ahead_results(lambda chunk: True) == []


def _niceness(chunk: list[int]) -> int:
    return os.nice(0)


@pytest.mark.heavy
@pytest.mark.skipif(not hasattr(os, "nice"), reason="no CPU priorities on this system")
def test_background_workers_take_only_what_the_calling_process_leaves_of_the_cpu() -> None:
    here = os.nice(0)
    for background, expected in ((True, parallel.BACKGROUND_NICENESS), (False, here)):
        with parallel.Helpers(2, _ready, background=background) as helpers:
            helpers.ahead(_niceness, [[0]])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not helpers._ahead[0][1].done():
                time.sleep(0.05)
            assert helpers.ahead_results(lambda chunk: True) == [([0], max(here, expected))]


def test_ahead_without_workers_does_nothing() -> None:
    with parallel.Helpers(1, _ready) as helpers:
        helpers.ahead(functools.partial(_tagged, tag="there"), CHUNKS)
        assert helpers.ahead_results(lambda chunk: True) == []


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


def _write_pid(path: str) -> bool:
    with open(path, "w", encoding="utf-8") as out:
        out.write(str(os.getpid()))
    return True


def _running(pid: int) -> bool:
    """Whether process `pid` still runs: an ended one that nobody has reaped yet (a zombie,
    where the container's first process does not reap orphans) has ended."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


_ORPHAN_PARENT = """
import functools, sys, time
from persona_mining import parallel
from tests.test_parallel import _write_pid

if __name__ == "__main__":
    helpers = parallel.Helpers(2, functools.partial(_write_pid, sys.argv[1]))
    time.sleep(120)
"""


@pytest.mark.heavy
def test_a_worker_ends_when_the_process_that_started_it_is_killed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A run killed outright (a scheduler's time limit, `kill -9`) leaves no worker behind
    holding its pipeline's memory: the worker would otherwise wait for its next chunk forever."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(_ORPHAN_PARENT, encoding="utf-8")
    root = str(Path(__file__).resolve().parents[1])
    parent = subprocess.Popen(
        [sys.executable, str(script), str(pid_file)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
    )
    worker = 0
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text(encoding="utf-8")):
            assert time.monotonic() < deadline and parent.poll() is None, "no worker started"
            time.sleep(0.1)
        worker = int(pid_file.read_text(encoding="utf-8"))
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(worker):
            if time.monotonic() > deadline:
                pytest.fail(f"worker {worker} outlived the process that started it")
            time.sleep(0.1)
    finally:
        parent.kill()
        if worker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
