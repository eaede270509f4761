"""How a long stage says how far it is, without printing: a callback the caller passes in.

A stage calls `progress(step, done, total)` as work completes (`done` of `total` items of the
named step: "prepare", "embed", "topic fit", "assign"...). The library never draws anything;
the CLI turns the calls into progress bars on a terminal, and passes nothing elsewhere, so that
logs stay the structured lines they are.

May import: nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Told how far a step is: `done` items of `total` (None when the total is unknown)."""

    def __call__(self, step: str, done: int, total: int | None) -> None: ...


def no_progress(step: str, done: int, total: int | None) -> None:
    """The default: nobody is watching."""
