"""The CONTRACT rule table and the `rule` marker that ties a test or a check to a rule id."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

import pytest

RULES_FILE = Path(__file__).with_name("rules.toml")


@cache
def rules() -> dict[str, str]:
    """Rule id → one-line title, in contract order."""
    with RULES_FILE.open("rb") as handle:
        return dict(tomllib.load(handle)["rules"])


def family(rule_id: str) -> str:
    """AUTH, ERR, USR, LIST, TEN or ISO."""
    return rule_id.split("-")[0]


def rule(*rule_ids: str) -> pytest.MarkDecorator:
    """Mark a test as proving these rules; unknown ids are an error at import time."""
    unknown = [r for r in rule_ids if r not in rules()]
    if unknown:
        raise ValueError(f"unknown CONTRACT rule id(s) {unknown}; see conformance/rules.toml")
    return pytest.mark.rule(*rule_ids)
