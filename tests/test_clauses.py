"""The clause table (conformance/rules.toml) against the contract's own text: every word of every rule
belongs to a clause, every clause has checks that exist and prove its rule, and planted faults of its
rule; every planted fault breaks some clause, and the mutation matrix runs a check of that clause."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runai_conformance.conformance.checks import CHECK_RULES
from runai_conformance.conformance.fuzz import COMMON_RULES, FUZZ_RULES
from runai_conformance.conformance.rules import Clause, clauses, context_quotes, rules
from runai_conformance.reference.faults import FAULTS
from tests.suite.test_suite_catches_faults import CAUGHT_BY

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "specs" / "CONTRACT.md"  # vendored: a clean clone has no ../shared
SHARED = ROOT.parent / "shared" / "CONTRACT.md"
RULE_LINE = re.compile(r"^- ((?:[A-Z]+)-\d+a?) (.*)$")
LOCATED = re.compile(r"^\[([A-Za-z0-9-]+)\] (.*)$")
WORD = re.compile(r"[A-Za-z0-9]+")


def normalize(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Block:
    """A stretch of the contract: a rule's text, a heading, or a paragraph of the preamble."""

    name: str
    text: str
    covered: list[bool] = field(default_factory=list)

    def mark(self, quote: str) -> bool:
        """Cover every occurrence of `quote`; False when it does not occur."""
        found, start = False, 0
        while (at := self.text.find(quote, start)) >= 0:
            self.covered[at : at + len(quote)] = [True] * len(quote)
            found, start = True, at + 1
        return found

    def uncovered(self) -> list[str]:
        return [m.group(0) for m in WORD.finditer(self.text) if not all(self.covered[m.start() : m.end()])]


def contract_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    current: list[str] = []
    name = ""

    def close() -> None:
        if current:
            body = normalize(" ".join(current))
            blocks.append(Block(name, body, [False] * len(body)))
        current.clear()

    for line in text.splitlines():
        if line.startswith("#"):
            close()
            name = "heading"
            current.append(line.lstrip("#").strip())
            close()
            name = "text"
        elif match := RULE_LINE.match(line):
            close()
            name = match.group(1)
            current.append(match.group(2))
        elif not line.strip():
            close()
            name = "text"
        else:
            current.append(line.strip().removeprefix("- "))
    close()
    return blocks


def covered_contract() -> tuple[list[Block], list[str]]:
    """The contract's blocks with what the clause table covers marked; and the quotes not found."""
    blocks = contract_blocks(CONTRACT.read_text(encoding="utf-8"))
    missing: list[str] = []
    for clause in clauses():
        for quote in clause.quotes:
            located = LOCATED.match(quote)
            where, words = (located.group(1), located.group(2)) if located else (clause.rule, quote)
            hits = [b.mark(normalize(words)) for b in blocks if b.name == where]
            if not any(hits):
                missing.append(f"{clause.id}: {quote!r} is not in {where}")
    for quote in context_quotes():
        if not any([b.mark(normalize(quote)) for b in blocks]):
            missing.append(f"context: {quote!r} is not in the contract")
    return blocks, missing


def test_the_vendored_contract_is_the_shared_one() -> None:
    if not SHARED.exists():
        pytest.skip("no ../shared/CONTRACT.md beside this clone")
    assert CONTRACT.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8"), (
        "specs/CONTRACT.md differs from ../shared/CONTRACT.md: copy it, then update the clause table"
    )


def test_every_word_of_the_contract_belongs_to_a_clause() -> None:
    blocks, missing = covered_contract()
    assert not missing, "quotes of the clause table that the contract does not say:\n" + "\n".join(missing)
    gaps = [f"{b.name}: {' '.join(b.uncovered())}  (in: {b.text[:90]}…)" for b in blocks if b.uncovered()]
    assert not gaps, "contract text no clause covers:\n" + "\n".join(gaps)


def test_every_rule_is_split_into_clauses_in_order() -> None:
    ids = [c.id for c in clauses()]
    assert len(ids) == len(set(ids)), "duplicate clause ids"
    assert list(dict.fromkeys(c.rule for c in clauses())) == list(rules()), "a rule without clauses, or out of order"
    blocks = contract_blocks(CONTRACT.read_text(encoding="utf-8"))
    assert [b.name for b in blocks if b.name not in ("heading", "text")] == list(rules())


def resolve(check: str, clause: Clause) -> str | None:
    """Why `check` cannot prove `clause`, or None when it can."""
    if check.startswith("check:"):
        name = check.removeprefix("check:")
        if clause.rule not in CHECK_RULES.get(name, ()):
            return f"{check} is not a Schemathesis check of {clause.rule}"
        return None
    if check == "test_fuzz::test_operation_conforms":  # marked per operation, from conformance/fuzz.py
        fuzzed = {*COMMON_RULES, *(r for rules_of_op in FUZZ_RULES.values() for r in rules_of_op)}
        return None if clause.rule in fuzzed else f"{check} does not prove {clause.rule} on any operation"
    module_name, _, qualname = check.partition("::")
    package = "runai_conformance.conformance"
    try:
        target: object = importlib.import_module(f"{package}.{module_name}")
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return f"{check} does not exist"
    if module_name.startswith("test_") and "." not in qualname:  # a test function: marked with the rule
        marked = {r for m in getattr(target, "pytestmark", []) if m.name == "rule" for r in m.args}
        if clause.rule not in marked:
            return f"{check} is not marked as proving {clause.rule}"
    return None


@pytest.mark.parametrize("clause", clauses(), ids=lambda c: c.id)
def test_every_clause_has_checks_that_prove_its_rule(clause: Clause) -> None:
    assert clause.checks, f"{clause.id} has no check"
    problems = [why for check in clause.checks if (why := resolve(check, clause))]
    assert not problems, problems


@pytest.mark.parametrize("clause", clauses(), ids=lambda c: c.id)
def test_every_clause_has_planted_faults_of_its_rule(clause: Clause) -> None:
    assert clause.faults, f"{clause.id} has no planted fault: no self-test shows its checks can fail"
    for name in clause.faults:
        assert name in FAULTS, f"{clause.id}: no planted fault {name}"
        assert FAULTS[name].rule == clause.rule, f"{clause.id}: {name} breaks {FAULTS[name].rule}"


def test_every_planted_fault_breaks_a_clause() -> None:
    named = {f for c in clauses() for f in c.faults}
    assert set(FAULTS) <= named, f"faults in no clause: {sorted(set(FAULTS) - named)}"


def runs(part: str, check: str) -> bool:
    """Whether the mutation matrix's run of `part` (a module or a test node) runs `check`."""
    if check.startswith("check:"):
        return part.startswith("conformance/test_fuzz.py")
    module, _, qualname = check.partition("::")
    if not module.startswith("test_"):
        return True  # a judgement the client makes on every answer of a kind: every part runs it
    path, _, node = part.partition("::")
    if path != f"conformance/{module}.py":
        return False
    return not node or "." in qualname or node.split("::")[0].split("[")[0] == qualname


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_the_mutation_matrix_runs_a_check_of_the_faults_clause(name: str) -> None:
    checks = {check for c in clauses() if name in c.faults for check in c.checks}
    assert name in CAUGHT_BY, f"{name}: the mutation matrix does not run it"
    assert any(runs(CAUGHT_BY[name], check) for check in checks), (
        f"{name}: the matrix runs {CAUGHT_BY[name]}, which holds none of its clauses' checks {sorted(checks)}"
    )
