"""An exact linearizability checker for small batches of simultaneous requests.

A batch of requests sent at once (four DELETEs of one user, five password resets, creates racing counts)
may interleave in the server however it likes, but the contract is sequential: the answers are right
when some order of the requests, one that keeps a request that ended before another started ahead of
it, explains every answer through a sequential model of the contract. This module searches for that
order (Wing & Gong's backtracking, with failed (remaining calls, state) pairs remembered so a batch of a
dozen calls stays cheap), and when there is none, shrinks the batch to a smallest one that still has
none and draws its timeline for the report.

Pure: no I/O, nothing from the rest of the project; the model and the calls say everything.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# How many characters the timeline's bars span: enough to show overlap, short enough to leave the label room.
BAR_WIDTH = 20


@dataclass(frozen=True)
class Call:
    """One request of a history: what it asked, what its answer means to the model, and when."""

    index: int  # position in the history as sent (for the report)
    op: str  # the model's name for the operation: "delete", "reset", "count", ...
    arg: Hashable = None  # what it asked (an email, a password), as the model reads it
    result: Hashable = None  # what the answer means to the model (a status, (status, temp password), a count)
    start: float = 0.0  # when the request left (time.monotonic())
    end: float = 0.0  # when its answer arrived
    label: str = ""  # how the report shows it: "DELETE /api/v1/users/… -> 204"
    evidence: Any = field(default=None, compare=False, hash=False)  # e.g. the HTTP response; never read here


class Model(Protocol):
    """A sequential model of the contract: its initial state and how each call moves it."""

    initial: Hashable

    def step(self, state: Hashable, call: Call) -> Iterable[Hashable]:
        """Every state `call` can leave behind from `state` while answering what it answered; none when
        its answer is impossible there."""
        ...

    def needed(self, call: Call) -> bool:
        """Whether the call changed state whatever order it took (a write that succeeded): a smallest
        counter-example keeps it."""
        ...


def linearization(calls: Sequence[Call], model: Model) -> list[Call] | None:
    """An order of the calls that respects real time (a call that ended before another started comes
    first) and in which the model explains every answer; None when there is none."""
    by_start = sorted(calls, key=lambda call: call.start)  # stable: calls that start together keep the order sent
    failed: set[tuple[frozenset[int], Hashable]] = set()
    order = _order_from(by_start, frozenset(range(len(by_start))), model.initial, model, failed)
    return None if order is None else [by_start[position] for position in order]


def _order_from(
    by_start: Sequence[Call],
    remaining: frozenset[int],
    state: Hashable,
    model: Model,
    failed: set[tuple[frozenset[int], Hashable]],
) -> list[int] | None:
    """Positions in `by_start` of an order of the remaining calls that the model explains from `state`;
    None when there is none. What happens next depends only on what remains and the state, so a pair
    that failed once fails again: remembering it keeps the search to the pairs, not the orders."""
    if not remaining:
        return []
    if (remaining, state) in failed:
        return None
    for position in _minimal(by_start, remaining):
        rest = remaining - {position}
        for after in model.step(state, by_start[position]):
            order = _order_from(by_start, rest, after, model, failed)
            if order is not None:
                return [position, *order]
    failed.add((remaining, state))
    return None


def _minimal(by_start: Sequence[Call], remaining: frozenset[int]) -> list[int]:
    """The remaining calls that may take effect next, in start order: those no other remaining call
    precedes in real time. Precedence is strict: a call that ends the instant another starts overlaps it,
    since the clock cannot tell which happened first."""
    return [
        candidate
        for candidate in sorted(remaining)
        if not any(by_start[other].end < by_start[candidate].start for other in remaining if other != candidate)
    ]


def smallest_counterexample(calls: Sequence[Call], model: Model) -> list[Call]:
    """For a history with no linearization: a smallest sub-history that still has none, found by dropping
    calls one at a time (a call the model says is `needed` is never dropped); the calls in the order
    sent. [] when the history is linearizable."""
    if linearization(calls, model) is not None:
        return []
    kept = list(calls)
    while True:
        shorter = _drop_one(kept, model)
        if shorter is None:
            return kept
        kept = shorter


def _drop_one(calls: list[Call], model: Model) -> list[Call] | None:
    """The history without its first droppable call whose absence still leaves it with no linearization;
    None when every call is needed to keep it so. Dropping one call can make another droppable that was
    not before, hence one at a time, starting over after each."""
    for position, call in enumerate(calls):
        if model.needed(call):
            continue
        without = calls[:position] + calls[position + 1 :]
        if linearization(without, model) is None:
            return without
    return None


def timeline(calls: Sequence[Call], origin: float | None = None) -> str:
    """The calls as a report shows them: one line each, in the order they started, with start and end in
    ms from `origin` (default: the first start), overlapping calls visible, and each label."""
    if not calls:
        return ""
    by_start = sorted(calls, key=lambda call: call.start)
    zero = by_start[0].start if origin is None else origin
    last = max(call.end for call in by_start)
    tags = [f"#{call.index}" for call in by_start]
    starts = [_offset(call.start, zero) for call in by_start]
    ends = [_offset(call.end, zero) for call in by_start]
    lines = [
        f"  {tag:<{_widest(tags)}}  {start:>{_widest(starts)}} … {end:>{_widest(ends)}}"
        f"  [{_bar(call, zero, last)}]  {_shown(call)}"
        for tag, start, end, call in zip(tags, starts, ends, by_start, strict=True)
    ]
    return "\n".join(lines)


def _offset(moment: float, origin: float) -> str:
    """A moment in ms from the origin, signed: a call that started before a given origin says so."""
    return f"{(moment - origin) * 1000 + 0.0:+.1f} ms"  # + 0.0: no "-0.0"


def _widest(cells: Sequence[str]) -> int:
    """The width of a column: its widest cell."""
    return max(len(cell) for cell in cells)


def _bar(call: Call, origin: float, last: float) -> str:
    """Where the call ran, drawn on the span from the origin to the last answer: bars that share a column
    are calls that overlapped. Every call shows at least one mark, however short it was."""
    span = last - origin
    if span <= 0:
        return "=" * BAR_WIDTH
    first = min(_column(math.floor(_place(call.start, origin, span))), BAR_WIDTH - 1)
    after = max(first + 1, _column(math.ceil(_place(call.end, origin, span))))
    return " " * first + "=" * (after - first) + " " * (BAR_WIDTH - after)


def _place(moment: float, origin: float, span: float) -> float:
    """Where a moment falls on the bar, in columns. Rounded: 0.020 s of 0.025 s is 0.7999… in floating
    point, and a mark must not move a column for that."""
    return round((moment - origin) / span * BAR_WIDTH, 6)


def _column(value: int) -> int:
    """A column of the bar, kept on it."""
    return min(max(value, 0), BAR_WIDTH)


def _shown(call: Call) -> str:
    """The call's label, or what the model knows of it when it has none."""
    if call.label:
        return call.label
    asked = "" if call.arg is None else repr(call.arg)
    return f"{call.op}({asked}) -> {call.result!r}"
