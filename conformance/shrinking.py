"""Bounded shrinking against a live target. Every example Hypothesis replays while it shrinks a failure
sends real requests, so an unbounded shrink turns a red verdict into minutes (its own limit is five
minutes per test). The profile sets the budget; a failure whose shrink hit it says so in its evidence,
with the command that shrinks it fully."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis.internal.conjecture import engine
from hypothesis.reporting import current_reporter, with_reporter

# The words Hypothesis reports when it stops shrinking at its time limit (engine.MAX_SHRINKING_SECONDS).
CUT_SHORT = "stopped because it is making very slow progress"


def set_shrink_budget(seconds: float) -> None:
    """Stop shrinking one failure after `seconds`. Hypothesis keeps this limit as a module constant of
    its engine, read each time it starts to shrink; without it (another Hypothesis) the default holds."""
    if hasattr(engine, "MAX_SHRINKING_SECONDS"):
        engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[misc]


@contextmanager
def watching_shrinks() -> Iterator[Callable[[], bool]]:
    """Pass Hypothesis' reports on as before, and tell afterwards whether a shrink was cut short."""
    seen: list[str] = []
    outer = current_reporter()

    def tee(value: Any) -> None:
        seen.append(str(value))
        outer(value)

    with with_reporter(tee):
        yield lambda: any(CUT_SHORT in line for line in seen)
