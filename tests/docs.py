"""The documentation's generated tables: the rule families on the README's front page; in
docs/proves.md which checks prove each CONTRACT rule and clause, which planted faults the self-tests
show caught, and how deep each profile goes; in docs/benchmark.md the last benchmark
(benchmarks/latest.md). Made from the code, never by hand:

    python -m tests.docs           # rewrite every table, each in its file (TABLES)
    python -m tests.docs --check   # exit 1, naming each stale file, when a table is stale (a self-test runs this)
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

from runai_conformance.conformance.checks import CHECK_RULES
from runai_conformance.conformance.fuzz import COMMON_RULES, FUZZ_RULES
from runai_conformance.conformance.rules import clauses, family, rules
from runai_conformance.conformance.target import PROFILES
from runai_conformance.reference.faults import FAULTS
from tests.suite.test_suite_catches_faults import CAUGHT_BY, CAUGHT_BY_MACHINES, STATEFUL

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BENCHMARK = ROOT / "benchmarks" / "latest.md"
SUITE_MODULES = sorted(p.stem for p in (ROOT / "conformance").glob("test_*.py"))

# Each rule family in one line, for the README's front page; the counts come from conformance/rules.toml.
FAMILIES = {
    "AUTH": "Tokens and roles: a bad token gets 401, a role outside its rights 403; the token endpoint's "
    "grants; a logout revokes the user's earlier tokens",
    "ERR": "Errors: every 4xx/5xx is an Error body carrying its status; a schema-breaking request gets 400 and "
    "changes nothing; no input gets a 5xx",
    "USR": "Users of the token's tenant: create, read, delete, password reset and change, login and logout, "
    "and what each answers",
    "LIST": "The users list: filterBy, search, sort, paging and count, each exact in both directions",
    "TEN": "Tenants (operator only): create, read, soft and hard delete, names, write-only fields",
    "ISO": "Isolation: another tenant's users are invisible, by id and in its list, search and count",
}


def tests_by_rule() -> dict[str, list[str]]:
    """Rule id -> the suite's tests marked as proving it (`module::function`)."""
    found: dict[str, list[str]] = {r: [] for r in rules()}
    for name in SUITE_MODULES:
        module = importlib.import_module(f"runai_conformance.conformance.{name}")
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


def families_table() -> str:
    """The rule families, each in one line, with how many rules and clauses it has."""
    rule_count = {name: 0 for name in FAMILIES}
    clause_count = {name: 0 for name in FAMILIES}
    for rule_id in rules():
        rule_count[family(rule_id)] += 1  # a family FAMILIES lacks is a KeyError: give it its line
    for clause in clauses():
        clause_count[family(clause.rule)] += 1
    lines = ["| family | what its rules say | rules | clauses |", "|---|---|---|---|"]
    for name, says in FAMILIES.items():
        lines.append(f"| {name} | {says} | {rule_count[name]} | {clause_count[name]} |")
    lines.append(f"| **all** | | **{len(rules())}** | **{len(clauses())}** |")
    return "\n".join(lines)


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
        "| fuzzed requests that must change nothing followed by a look | simultaneous requests × batches of each "
        "kind | users in the crowd | seconds before what was true is judged again |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in PROFILES.values():
        lines.append(
            f"| {p.name} | {p.fuzz_examples} | {p.property_examples} | {p.stateful_examples} × {p.stateful_steps} "
            f"| {'every one' if p.look_every == 1 else f'1 in {p.look_every}'} "
            f"| {p.simultaneous} × {p.simultaneous_rounds} | {p.volume} | {p.later_seconds:g} |"
        )
    return "\n".join(lines)


def benchmark_table() -> str:
    """The last benchmark as `python -m benchmarks` wrote it."""
    return BENCHMARK.read_text(encoding="utf-8").strip("\n")


# Table name -> the file it stands in (relative to the checkout) and what makes it.
TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "families": ("README.md", families_table),
    "profiles": ("docs/proves.md", profiles_table),
    "rules": ("docs/proves.md", rules_table),
    "clauses": ("docs/proves.md", clauses_table),
    "benchmark": ("docs/benchmark.md", benchmark_table),
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin (generated by python -m tests.docs) -->", f"<!-- {name}:end -->"


def render(text: str, file: str) -> str:
    """`text`, the contents of `file`, with each of the file's tables made afresh."""
    for name, (where, make) in TABLES.items():
        if where != file:
            continue
        begin, end = markers(name)
        if text.count(begin) != 1 or text.count(end) != 1:
            raise SystemExit(f"tests.docs: {file} needs the markers {begin} … {end} once each")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{make()}\n{end}{tail}"
    return text


def main(argv: list[str], root: Path = ROOT) -> int:
    stale = []
    for file in dict.fromkeys(where for where, _ in TABLES.values()):
        path = root / file
        current = path.read_text(encoding="utf-8")
        wanted = render(current, file)
        if wanted != current:
            stale.append(file)
            if "--check" not in argv:
                path.write_text(wanted, encoding="utf-8")
    if "--check" in argv and stale:
        for file in stale:
            print(f"tests.docs: the tables in {file} are stale: run python -m tests.docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
