"""The CONTRACT rule table, its clauses, and the `rule` marker that ties a test or a check to a rule id."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

RULES_FILE = Path(__file__).with_name("rules.toml")


@dataclass(frozen=True)
class Clause:
    """One atomic statement of a rule (`AUTH-1.c`): the contract's words for it, what proves it, and the
    planted faults that break it."""

    id: str
    says: str
    quotes: tuple[str, ...]
    checks: tuple[str, ...]
    faults: tuple[str, ...]

    @property
    def rule(self) -> str:
        return self.id.rsplit(".", 1)[0]


@cache
def _table() -> dict:
    with RULES_FILE.open("rb") as handle:
        return tomllib.load(handle)


@cache
def rules() -> dict[str, str]:
    """Rule id → one-line title, in contract order."""
    return dict(_table()["rules"])


@cache
def clauses() -> tuple[Clause, ...]:
    """Every clause of every rule, in contract order."""
    return tuple(
        Clause(c["id"], c["says"], tuple(c["quotes"]), tuple(c["checks"]), tuple(c["faults"]))
        for c in _table()["clause"]
    )


def context_quotes() -> tuple[str, ...]:
    """Text of the contract that states no behaviour (what the document is, section titles)."""
    return tuple(q for entry in _table().get("context", []) for q in entry["quotes"])


def family(rule_id: str) -> str:
    """AUTH, ERR, USR, LIST, TEN or ISO."""
    return rule_id.split("-")[0]


def rule(*rule_ids: str) -> pytest.MarkDecorator:
    """Mark a test as proving these rules; unknown ids are an error at import time."""
    unknown = [r for r in rule_ids if r not in rules()]
    if unknown:
        raise ValueError(f"unknown CONTRACT rule id(s) {unknown}; see conformance/rules.toml")
    return pytest.mark.rule(*rule_ids)
