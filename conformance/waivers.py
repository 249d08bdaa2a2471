"""Waivers: known failures a team has accepted for a while, so a nightly gate fails only on what got worse.

A waivers file (`--waivers FILE`, TOML or YAML) lists entries of rule id, optional operationId,
reason, optional link and an expiry date:

    [[waiver]]                       # TOML; in YAML a list of the same mappings (or `waivers:` over it)
    rule = "USR-8"
    operation = "reset_user_password"  # optional: without it the waiver covers the rule everywhere
    reason = "vendor ticket: reset hands back the previous password"
    link = "https://tracker.example.com/RUNAI-1234"
    expires = 2027-01-31

A failing test whose broken rules are all covered by live waivers is reported as waived (xfail).
A waiver that matches no failure is stale. An expired waiver waives nothing and counts as a failure.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .rules import rules
from .target import ConfigError

FIELDS = {"rule", "operation", "reason", "link", "expires"}


@dataclass(frozen=True)
class Waiver:
    rule: str
    reason: str
    expires: date
    operation: str | None = None
    link: str | None = None

    @property
    def key(self) -> str:
        return f"{self.rule}@{self.operation or '*'}"

    def expired(self, today: date) -> bool:
        return today > self.expires

    def covers(self, rule_id: str, operations: list[str]) -> bool:
        """Whether this waiver covers a failure of `rule_id` seen on `operations` (all of them)."""
        if rule_id != self.rule:
            return False
        return self.operation is None or (bool(operations) and all(op == self.operation for op in operations))

    def describe(self) -> str:
        where = f" on {self.operation}" if self.operation else ""
        link = f", {self.link}" if self.link else ""
        return f"waived {self.rule}{where} until {self.expires.isoformat()}: {self.reason}{link}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "operation": self.operation,
            "reason": self.reason,
            "link": self.link,
            "expires": self.expires.isoformat(),
        }


def load_waivers(path: Path, operations: set[str]) -> list[Waiver]:
    """The waivers in a TOML or YAML file; any problem is a one-line ConfigError naming the entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--waivers {path}: cannot read it ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text).get("waiver", [])
        else:
            data = yaml.safe_load(text)
            data = data.get("waivers", []) if isinstance(data, dict) else data
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        first += f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"--waivers {path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {first}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError(f"--waivers {path}: expected a list of waivers ([[waiver]] in TOML, a list in YAML)")
    return [_waiver(path, n, entry, operations) for n, entry in enumerate(data, 1)]


def _waiver(path: Path, n: int, entry: Any, operations: set[str]) -> Waiver:
    where = f"--waivers {path}: waiver {n}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a table of rule, reason, expires")
    unknown = set(entry) - FIELDS
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(FIELDS))})"
        )
    rule_id, reason, expires = entry.get("rule"), entry.get("reason"), entry.get("expires")
    if rule_id not in rules():
        raise ConfigError(f"{where}: rule {rule_id!r} is not a CONTRACT rule id (see conformance/rules.toml)")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{where} ({rule_id}): a reason is required")
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            expires = None
    if not isinstance(expires, date):
        raise ConfigError(f"{where} ({rule_id}): expires must be a date, YYYY-MM-DD")
    operation = entry.get("operation")
    if operation is not None and operation not in operations:
        raise ConfigError(f"{where} ({rule_id}): operation {operation!r} is not an operationId of specs/runai.json")
    link = entry.get("link")
    return Waiver(rule_id, reason.strip(), expires, operation, str(link) if link else None)


def applicable(
    waivers: list[Waiver], broken: list[str], operations: list[str], today: date
) -> tuple[list[Waiver], list[Waiver]]:
    """For one failure: the live waivers that cover all its broken rules (empty when any rule is
    uncovered), and the expired waivers that would have covered some of them."""
    live: list[Waiver] = []
    expired: list[Waiver] = []
    covered = True
    for rule_id in broken:
        matching = [w for w in waivers if w.covers(rule_id, operations)]
        alive = [w for w in matching if not w.expired(today)]
        expired += [w for w in matching if w.expired(today)]
        live += alive[:1]
        covered = covered and bool(alive)
    return (live if covered and broken else []), expired
