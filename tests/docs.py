"""The README's generated tables: which checks prove each CONTRACT rule, which planted faults the
self-tests show caught, and how deep each profile goes. Made from the code, never by hand:

    python -m tests.docs           # rewrite the tables in README.md
    python -m tests.docs --check   # exit 1 when README.md is stale (a self-test runs this)
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

from runai_conformance.conformance.checks import CHECK_RULES
from runai_conformance.conformance.fuzz import COMMON_RULES, FUZZ_RULES
from runai_conformance.conformance.rules import clauses, rules
from runai_conformance.conformance.target import PROFILES
from runai_conformance.reference.faults import FAULTS
from tests.suite.test_suite_catches_faults import CAUGHT_BY, CAUGHT_BY_MACHINES, STATEFUL

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SUITE_MODULES = sorted(p.stem for p in (ROOT / "conformance").glob("test_*.py"))


def tests_by_rule() -> dict[str, list[str]]:
    """Rule id -> the suite's tests marked as proving it (`module::function`)."""
    found: dict[str, list[str]] = {r: [] for r in rules()}
    for name in SUITE_MODULES:
        module = importlib.import_module(f"conformance.{name}")
        for func_name, func in inspect.getmembers(module, inspect.isfunction):
            if not func_name.startswith("test_") or func.__module__ != module.__name__:
                continue
            for mark in getattr(func, "pytestmark", []):
                if mark.name == "rule":
                    for rule_id in mark.args:
                        found[rule_id].append(f"{name}::{func_name}")
    return found


def fuzzing_by_rule() -> dict[str, list[str]]:
    """Rule id -> what of the Schemathesis fuzzing proves it: operations and registered checks."""
    found: dict[str, list[str]] = {r: [] for r in rules()}
    for op, op_rules in FUZZ_RULES.items():
        for rule_id in (*COMMON_RULES, *op_rules):
            found[rule_id].append(f"fuzz {op}")
    for check, check_rules in CHECK_RULES.items():
        for rule_id in check_rules:
            found[rule_id].append(f"check `{check}`")
    return found


def faults_by_rule() -> dict[str, list[str]]:
    """Rule id -> its planted faults, each with the parts of the suite shown to catch it."""
    found: dict[str, list[str]] = {r: [] for r in rules()}
    for name, fault in FAULTS.items():
        parts = [Path(CAUGHT_BY[name].split("::")[0]).stem] if name in CAUGHT_BY else []
        if name in CAUGHT_BY_MACHINES:
            parts.append(Path(STATEFUL).stem)
        found[fault.rule].append(f"`{name}` ({', '.join(parts) or 'NOT CAUGHT'})")
    return found


def rules_table() -> str:
    tests, fuzzing, faults = tests_by_rule(), fuzzing_by_rule(), faults_by_rule()
    lines = [
        "| rule | what it says | proved by | planted faults (caught by) |",
        "|---|---|---|---|",
    ]
    for rule_id, title in rules().items():
        fuzz_ops = [f.removeprefix("fuzz ") for f in fuzzing[rule_id] if f.startswith("fuzz ")]
        proofs = [f"`{t}`" for t in tests[rule_id]]
        if fuzz_ops:
            proofs.append("fuzzing " + ("every operation" if len(fuzz_ops) == len(FUZZ_RULES) else ", ".join(fuzz_ops)))
        proofs += [f for f in fuzzing[rule_id] if f.startswith("check ")]
        lines.append(f"| {rule_id} | {title} | {'<br>'.join(proofs) or '—'} | {'<br>'.join(faults[rule_id]) or '—'} |")
    return "\n".join(lines)


def clauses_table() -> str:
    """Every clause of every rule, what proves it and the planted faults that show those checks can fail."""
    table = clauses()
    checks = {check for c in table for check in c.checks}
    faults = {fault for c in table for fault in c.faults}
    lines = [
        f"**{len(table)} clauses** of {len(rules())} rules, proved by **{len(checks)} checks**, each clause broken "
        f"by at least one of **{len(faults)} planted faults** (of {len(FAULTS)}).",
        "",
        "| clause | what it says | proved by | planted faults |",
        "|---|---|---|---|",
    ]
    for c in table:
        proofs = "<br>".join(f"`{check}`" for check in c.checks)
        lines.append(f"| {c.id} | {c.says} | {proofs} | {'<br>'.join(f'`{f}`' for f in c.faults)} |")
    return "\n".join(lines)


def profiles_table() -> str:
    lines = [
        "| profile | fuzzed examples per operation | examples per property | state machine runs × steps (each machine) "
        "| fuzzed requests that must change nothing followed by a look |",
        "|---|---|---|---|---|",
    ]
    for p in PROFILES.values():
        lines.append(
            f"| {p.name} | {p.fuzz_examples} | {p.property_examples} | {p.stateful_examples} × {p.stateful_steps} "
            f"| {'every one' if p.look_every == 1 else f'1 in {p.look_every}'} |"
        )
    return "\n".join(lines)


TABLES = {"rules": rules_table, "clauses": clauses_table, "profiles": profiles_table}


def render(text: str) -> str:
    for name, make in TABLES.items():
        begin, end = f"<!-- {name}:begin (generated by python -m tests.docs) -->", f"<!-- {name}:end -->"
        if begin not in text or end not in text:
            raise SystemExit(f"tests.docs: README.md lacks the markers {begin} … {end}")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{make()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print("tests.docs: README.md tables are stale: run python -m tests.docs", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
