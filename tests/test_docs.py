"""The README's generated tables (rules → checks → planted faults, profiles) match the code."""

from __future__ import annotations

from tests import docs


def test_readme_tables_are_up_to_date() -> None:
    assert docs.main(["--check"]) == 0, "README.md tables are stale: run python -m tests.docs"


def test_a_stale_table_is_noticed() -> None:
    fresh = docs.README.read_text(encoding="utf-8")
    stale = fresh.replace("| ci | 40 |", "| ci | 41 |", 1)
    assert stale != fresh and docs.render(stale) == fresh


def test_every_rule_has_a_proof_and_every_fault_a_catcher() -> None:
    table = docs.rules_table()
    assert "NOT CAUGHT" not in table
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in table.splitlines()[2:]]
    assert len(cells) == len(docs.rules())
    unproved = [row[0] for row in cells if row[2] == "—"]
    assert unproved == [], f"rules no check proves: {unproved}"
