"""Schemathesis' coverage phase, made when a fuzz test runs instead of when it is collected.

Schemathesis builds every operation's coverage cases (its `@example`s) while pytest collects: about ten
seconds of CPU for this spec, spent again by every pytest-xdist worker, though each worker runs only some
of the fuzzed operations. With `--concurrency 8` on a two-core machine that is most of a remote run's
start. Here the cases are the same, in the same order, made from the same generator, but only when
Hypothesis first reads the test's explicit examples, in the process that runs the test: a run spends
that CPU once per operation, whatever the number of workers.

This leans on one Schemathesis internal (`schemathesis.generation.hypothesis.builder.add_coverage`,
4.x); if a release drops or changes it, the patch stands down and the cases are made at collection as
before (slower, never different). A self-test shows both ways give the same cases."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

try:  # the import fails only on a Schemathesis without these internals
    from schemathesis.core import marks as _marks
    from schemathesis.generation.hypothesis import builder as _builder
except ImportError:  # pragma: no cover
    _builder = _marks = None  # type: ignore[assignment]

EXPECTED = [
    "test", "operation", "generation_modes", "auth_storage", "override", "feedback", "generation_config", "hooks",
]  # fmt: skip


class LazyExamples(list):  # type: ignore[type-arg]
    """A test's explicit examples whose coverage part is made on first read (and then kept)."""

    def __init__(self, existing: list[Any], fill: Callable[[], list[Any]]) -> None:
        super().__init__(existing)
        self._at = len(existing)  # where the coverage examples go, as if attached eagerly
        self._fill: Callable[[], list[Any]] | None = fill

    def load(self) -> None:
        fill, self._fill = self._fill, None
        if fill is not None:
            self[self._at : self._at] = fill()

    def __iter__(self) -> Iterator[Any]:
        self.load()
        return super().__iter__()

    def __reversed__(self) -> Iterator[Any]:
        self.load()
        return super().__reversed__()

    def __len__(self) -> int:
        self.load()
        return super().__len__()

    def __getitem__(self, index: Any) -> Any:
        self.load()
        return super().__getitem__(index)


def _lazy_add_coverage(eager: Callable[..., Callable]) -> Callable[..., Callable]:
    def add_coverage(test: Callable, *args: Any, **kwargs: Any) -> Callable:
        existing = list(getattr(test, "hypothesis_explicit_examples", []))

        def fill() -> list[Any]:
            holder = _Holder()
            eager(holder, *args, **kwargs)  # the same generator, cases and order, attached to a stand-in
            marks = getattr(holder, _marks.METADATA_ATTR, None)  # what it marked (unserializable media types)
            if marks is not None:
                if not hasattr(test, _marks.METADATA_ATTR):
                    setattr(test, _marks.METADATA_ATTR, _marks.SchemathesisMetadata())
                for name, value in vars(marks).items():
                    setattr(getattr(test, _marks.METADATA_ATTR), name, value)
            return list(holder.hypothesis_explicit_examples)

        test.hypothesis_explicit_examples = LazyExamples(existing, fill)  # type: ignore[attr-defined]
        return test

    add_coverage.eager = eager  # type: ignore[attr-defined]
    return add_coverage


class _Holder:
    """What `hypothesis.example` attaches to: it keeps the examples in `hypothesis_explicit_examples`."""

    def __init__(self) -> None:
        self.hypothesis_explicit_examples: list[Any] = []


def install() -> bool:
    """Make the coverage phase lazy, once; False (and nothing changed) on a Schemathesis it does not fit."""
    eager = getattr(_builder, "add_coverage", None)
    if eager is None or hasattr(eager, "eager"):
        return eager is not None
    if list(inspect.signature(eager).parameters) != EXPECTED or not hasattr(_marks, "SchemathesisMetadata"):
        return False
    _builder.add_coverage = _lazy_add_coverage(eager)
    return True


def uninstall() -> None:
    eager = getattr(getattr(_builder, "add_coverage", None), "eager", None)
    if eager is not None:
        _builder.add_coverage = eager
