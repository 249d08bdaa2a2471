"""What a run found, per test and per rule: recorded from pytest's reports, written as `summary.json`.

The summary is the one machine-readable result of a run; the conformance matrix, the regression
report and the gate are all made from it (conformance/render.py). Its shape:

    {"format": 1, "target": URL, "profile": ..., "seed": ..., "run_tag": ..., "started": ISO, "finished": ISO,
     "duration_seconds": S,
     "suite": {"version", "spec", "apis": {tag: version}, "contract", "rules", "overlays"} (conformance/about.py),
     "spec": {"title", "version", "published_versions": {operationId: version}, "overlays": [{file, rule, title}]},
     "operations": [operationId, ..., "token_grant"],
     "rules": {RULE: {"title", "family", "status": passed|failed|waived|skipped|not-run,
                      "failing_operations": [...], "cells": {operationId: status}, "tests": {outcome: n},
                      "evidence": [{"test", "operations", "message"}], "skip_reasons": [...], "waivers": [...],
                      "requests": N}},
     "run": {"complete", "incomplete_because", "exit_status", "interrupted", "tests_collected", "tests_run",
             "rules_not_run", "partial": null | {"rules", "because", "accepted"}, "certify",
             ["certified", "not_certified_because"]},
     "pacing": {"settled_rate", "throttled_above", "rate_limit", "target_policy", "requests", "answers_429", "answers_503",
                "resets", "waited_seconds", "patience_seconds", "given_up"} (conformance/pacing.py),
     "tests": [{"id", "outcome", "rules", "broken", "operations", "failed_operations", "waivers", "message", "requests",
                "violations": [{"rules", "operation", "message"}], "unattributed": [{"kind", "message"}]}],
     "unattributed": [{"test", "kind", "message"}],
     "waivers": [{"rule", "operation", "reason", "link", "expires", "status": matched|stale|expired}],
     "exit_status": N}

A rule's status: failed when a test fails naming it; waived when its every failure is waived;
passed when a test proving it passed and none failed; skipped when every test proving it was skipped;
not-run when no test of this run proves it. A cell (rule × operation) has the status of the tests
proving that rule that sent requests to that operation; a failure counts on the operation its
ContractViolation names (its own request's), or "—" when it names none. A failure no CONTRACT rule
names (`unattributed`: an undeclared method answered wrongly, a crash of a test) fails no rule.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..specs import load_spec
from .about import describe, identity
from .operations import operations
from .rules import family, rules
from .waivers import Waiver

RESULT_FILES = ("summary.json", "matrix.html", "matrix.md", "trend.html")  # one run's; cleared when the next starts
STATUS_ORDER = ("failed", "waived", "passed", "skipped", "not-run")
EVIDENCE_LIMIT = 4000


def spec_info() -> dict[str, Any]:
    spec = load_spec()
    return {
        "title": spec["info"]["title"],
        "version": spec["info"]["version"],
        "published_versions": {
            op["operationId"]: op.get("x-runai-published-version")
            for item in spec["paths"].values()
            for op in item.values()
            if isinstance(op, dict)
        },
        "overlays": [
            {"file": o["file"], "rule": o.get("rule"), "title": o.get("title")}
            for o in spec.get("x-runai-overlays", [])
        ],
    }


@dataclass
class TestRecord:
    id: str
    outcome: str  # passed | failed | skipped | waived
    rules: list[str]
    broken: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    failed_operations: list[str] = field(default_factory=list)
    waivers: list[str] = field(default_factory=list)
    message: str = ""
    requests: int = 0  # requests the test sent to the target (setup and call)
    violations: list[dict[str, Any]] = field(default_factory=list)  # each: rules, operation, message
    unattributed: list[dict[str, Any]] = field(default_factory=list)  # each: kind, message
    reproduced: dict[str, Any] | None = None  # a new failure replayed: failed (k) of (n) replays (replay.py)


def record_of(report: Any) -> TestRecord | None:
    """A test's record from one of its reports (setup, call or teardown), or None for a passing phase
    that is not the call."""
    props: dict[str, list[str]] = {}
    for name, value in report.user_properties:
        props.setdefault(name, [])
        if value not in props[name]:
            props[name].append(str(value))
    outcome = report.outcome
    if outcome == "skipped" and hasattr(report, "wasxfail"):
        outcome = "waived"
    elif outcome == "passed" and report.when != "call":
        return None
    message = ""
    if outcome == "skipped" and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
        if "inconclusive: " in message:  # pytest prefixes a Skipped subclass' reason with its class name
            message = "inconclusive: " + message.split("inconclusive: ", 1)[1]
    elif outcome == "waived":
        message = str(report.wasxfail)
    elif outcome == "failed":
        message = str(report.longreprtext)
    return TestRecord(
        id=report.nodeid,
        outcome=outcome,
        rules=props.get("rule", []),
        broken=props.get("broken", []),
        operations=props.get("operation", []),
        failed_operations=props.get("failed_operation", []),
        waivers=props.get("waiver", []),
        message=message[:EVIDENCE_LIMIT],
        requests=sum(int(n) for n in props.get("requests", [])),
        violations=list(getattr(report, "runai_violations", None) or []) if outcome in ("failed", "waived") else [],
        unattributed=list(getattr(report, "runai_unattributed", None) or []) if outcome == "failed" else [],
    )


@dataclass
class Recorder:
    """Collects one record per test (the worst of its phases) while the run goes on."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    records: dict[str, TestRecord] = field(default_factory=dict)

    def add(self, report: Any) -> None:
        record = record_of(report)
        if record is None:
            return
        known = self.records.get(record.id)
        if known is None or STATUS_ORDER.index(record.outcome) < STATUS_ORDER.index(known.outcome):
            if known is not None:  # keep what the earlier phase learnt
                record.operations = record.operations or known.operations
                record.rules = record.rules or known.rules
            self.records[record.id] = record


def rule_table(records: list[TestRecord], ops: list[str]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for rule_id, title in rules().items():
        entry: dict[str, Any] = {
            "title": title,
            "family": family(rule_id),
            "status": "not-run",
            "failing_operations": [],
            "cells": {},
            "tests": {},
            "evidence": [],
            "skip_reasons": [],
            "waivers": [],
            "blocked_by": [],  # not-run because every test proving it failed on other rules first
            "requests": 0,  # sent by the tests proving it (a test proving several rules counts for each)
        }
        statuses: list[str] = []
        for rec in records:
            proves, broke = rule_id in rec.rules, rule_id in rec.broken
            if not (proves or broke):
                continue
            outcome = rec.outcome
            if outcome in ("failed", "waived") and not broke:
                # the test failed on another of its rules: this one is neither proven nor failed
                entry["blocked_by"] = sorted({*entry["blocked_by"], *rec.broken}) or ["a failure no rule names"]
                continue
            statuses.append(outcome)
            entry["tests"][outcome] = entry["tests"].get(outcome, 0) + 1
            entry["requests"] += rec.requests
            if outcome in ("failed", "waived"):  # the cells of this rule's own violations, not the test's others
                mine = [v for v in rec.violations if rule_id in v["rules"]]
                for op in dict.fromkeys(v["operation"] or "—" for v in mine) or ["—"]:
                    _worsen(entry["cells"], op, outcome)
            else:
                for op in rec.operations:
                    _worsen(entry["cells"], op, outcome)
            if outcome == "failed":
                for v in mine:
                    if v["operation"] and v["operation"] not in entry["failing_operations"]:
                        entry["failing_operations"].append(v["operation"])
                    entry["evidence"].append(
                        {
                            "test": rec.id,
                            "operations": [v["operation"]] if v["operation"] else [],
                            "message": v["message"],
                        }
                    )
            elif outcome == "waived" and rec.message not in entry["waivers"]:
                entry["waivers"].append(rec.message)
            elif outcome == "skipped" and rec.message and rec.message not in entry["skip_reasons"]:
                entry["skip_reasons"].append(rec.message)
        if statuses:
            entry["status"] = min(statuses, key=STATUS_ORDER.index)
        entry["cells"] = {op: entry["cells"][op] for op in [*ops, "—"] if op in entry["cells"]}
        table[rule_id] = entry
    return table


def _worsen(cells: dict[str, str], op: str, outcome: str) -> None:
    if op not in cells or STATUS_ORDER.index(outcome) < STATUS_ORDER.index(cells[op]):
        cells[op] = outcome


def waiver_table(waivers: list[Waiver], records: list[TestRecord], today: date) -> list[dict[str, Any]]:
    used = {key for rec in records for key in rec.waivers}
    table = []
    for waiver in waivers:
        if waiver.expired(today):
            status = "expired"
        elif waiver.key in used:
            status = "matched"
        else:
            status = "stale"
        table.append({**waiver.as_dict(), "status": status})
    return table


@dataclass
class Completion:
    """How far a run got: what the gate needs before it may judge the run's verdicts at all."""

    exit_status: int
    collected: int
    interrupted: bool = False
    stopped: str | None = None  # why the run stopped early, in one line (pytest.exit, -x, a dead target)
    certify: bool = False
    accept_partial: bool = False  # --accept-partial: rules without a verdict do not fail the run
    read_only: bool = False  # a read-only run selects no rule that needs a write: only no answer leaves one unproven


def run_record(completion: Completion, records: list[TestRecord], table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """summary.json's `run`: whether the run completed, and for --certify whether it certifies."""
    ran = len(records)
    not_run_rules = [r for r, e in table.items() if e["status"] == "not-run" and not e.get("blocked_by")]
    reasons = []
    if completion.interrupted:
        reasons.append("interrupted")
    if completion.stopped:
        reasons.append(completion.stopped)
    if ran < completion.collected:
        reasons.append(f"{completion.collected - ran} of {completion.collected} tests did not run")
    if completion.exit_status not in (0, 1):
        reasons.append(f"pytest exit status {completion.exit_status}")
    if completion.collected == 0:
        reasons.append("no test ran")
    elif ran and not any(e["status"] in ("passed", "failed", "waived") for e in table.values()):
        skips = Counter(r.message for r in records if r.outcome == "skipped")
        why = f" (most often: {skips.most_common(1)[0][0][:160]})" if skips else ""
        reasons.append(f"no rule was proven: all {ran} tests that ran were skipped{why}")
    inconclusive = [r.id for r in records if r.outcome == "skipped" and r.message.startswith("inconclusive")]
    unproven, because = without_verdict(table, records, read_only=completion.read_only)
    record: dict[str, Any] = {
        "complete": not reasons,
        "inconclusive": len(inconclusive),  # throttled, or the target stopped answering: no verdict on these
        "incomplete_because": reasons,
        "exit_status": completion.exit_status,
        "interrupted": completion.interrupted,
        "tests_collected": completion.collected,
        "tests_run": ran,
        "rules_not_run": not_run_rules,
        # rules this run selected that got no verdict: a partial run, which passes only when accepted
        "partial": {"rules": unproven, "because": because, "accepted": completion.accept_partial} if unproven else None,
        "certify": completion.certify,
    }
    if completion.certify:
        uncertified = {r: e["status"] for r, e in table.items() if e["status"] != "passed"}
        record["certified"] = not reasons and not uncertified
        record["not_certified_because"] = uncertified
    return record


READ_ONLY_SKIP = "read-only run"  # the start of the reason a read-only run gives for a test that writes


def without_verdict(
    table: dict[str, dict[str, Any]], records: list[TestRecord], *, read_only: bool = False
) -> tuple[list[str], str | None]:
    """The rules the run selected (some test proving them was collected and reported) that got no verdict,
    every such test skipped: inconclusive (throttled, no answer), a role missing, a precondition the target
    did not meet. With the commonest reason. A read-only run selects no rule its writes would prove: there
    a rule is without a verdict only where a test of it was inconclusive."""

    def unselected(entry: dict[str, Any]) -> bool:
        reasons = entry["skip_reasons"] or [""]
        if read_only:
            return not any(reason.startswith("inconclusive") for reason in reasons)
        return all(reason.startswith(READ_ONLY_SKIP) for reason in reasons)

    unproven = [rule_id for rule_id, entry in table.items() if entry["status"] == "skipped" and not unselected(entry)]
    reasons = Counter(
        rec.message.split(" (")[0][:160]
        for rec in records
        if rec.outcome == "skipped" and set(rec.rules) & set(unproven) and not rec.message.startswith(READ_ONLY_SKIP)
    )
    return unproven, (reasons.most_common(1)[0][0] if reasons else None)


def summary(
    recorder: Recorder,
    *,
    target: str,
    profile: str,
    seed: int,
    run_tag: str,
    waivers: list[Waiver],
    completion: Completion,
    target_id: str | None = None,
    today: date | None = None,
    pacing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    records = list(recorder.records.values())
    ops = operations()
    table = rule_table(records, ops)
    finished = datetime.now(UTC)
    return {
        "format": 1,
        "target": target,
        "target_id": target_id or target.rstrip("/"),  # what the gate compares: the embedded server's port varies
        "profile": profile,
        "seed": seed,
        "run_tag": run_tag,
        "started": recorder.started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_seconds": round((finished - recorder.started).total_seconds(), 1),
        "suite": identity(),
        "spec": spec_info(),
        "operations": ops,
        "run": run_record(completion, records, table),
        "pacing": pacing or {},
        "rules": table,
        "tests": [rec.__dict__ for rec in records],
        "unattributed": [
            {"test": rec.id, **failure} for rec in records if rec.outcome == "failed" for failure in rec.unattributed
        ],
        "waivers": waiver_table(waivers, records, today or date.today()),
        "exit_status": completion.exit_status,
    }


def write_summary(data: dict[str, Any], report_dir: Path) -> Path:
    path = report_dir / "summary.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_summary(path: Path) -> dict[str, Any]:
    """A run's summary from `summary.json` or the report dir holding it; ValueError in one line otherwise."""
    if path.is_dir():
        path = path / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(
            f"{path}: cannot read it ({exc.strerror}); pass a run's summary.json or its report dir"
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("rules"), dict):
        raise ValueError(f"{path}: not a runai-conformance summary (format 1)")
    return data


def allure_environment(data: dict[str, Any], allure_dir: Path) -> None:
    """environment.properties for Allure: target, profile, seed, spec version and the overlays applied."""
    if not allure_dir.is_dir():
        return
    lines = {
        "target": data["target"],
        "profile": data["profile"],
        "seed": str(data["seed"]),
        "run.tag": data["run_tag"],
        "spec.version": data["spec"]["version"],
        "spec.overlays": ", ".join(f"{o['file']} ({o['rule']})" for o in data["spec"]["overlays"]) or "none",
        "suite": " · ".join(describe(data["suite"])),
    }
    text = "".join(f"{k} = {v.replace(chr(10), ' ')}\n" for k, v in lines.items())
    (allure_dir / "environment.properties").write_text(text, encoding="utf-8")
