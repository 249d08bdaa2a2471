"""A run that proves nothing never passes: whatever way the suite is started (`pytest conformance` in a
checkout, with workers, `runai-conformance run`, `pytest --pyargs runai_conformance` from another directory),
a run that cannot build its state, or whose every test is skipped, exits non-zero with one line that
says why, and its summary is incomplete, so no gate passes on it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from runai_conformance.conformance.options import PARTIAL
from tests.suite.runner import PYTEST, ROOT, assert_one_line, reference, run_pytest, run_suite

# Every way a user starts a run from a checkout, as (command, whether it runs from outside the checkout).
STARTS = {
    "pytest conformance": ((*PYTEST, "conformance"), False),
    "pytest conformance -n 2": ((*PYTEST, "conformance", "-n", "2"), False),
    "runai-conformance run": ((sys.executable, "-m", "runai_conformance.conformance.cli", "run"), True),
    "pytest --pyargs runai_conformance": ((*PYTEST, "--pyargs", "runai_conformance"), True),
}


@pytest.mark.parametrize("start", sorted(STARTS))
def test_a_run_whose_every_test_is_skipped_exits_4_in_one_line(start: str, tmp_path: Path) -> None:
    """The operator role is missing, and only a rule of the Tenants API is selected: every test skips."""
    command, elsewhere = STARTS[start]
    cwd = tmp_path / "elsewhere" if elsewhere else ROOT
    cwd.mkdir(exist_ok=True)
    with reference() as server:
        result = run_suite(server, tmp_path, "-m", "TEN-5", drop_roles=("operator",), command=command, cwd=cwd)
    assert result.returncode == 4, result.output[-3000:]
    assert result.skipped and not result.passed and not result.failed, result.output[-3000:]
    why = [line for line in result.output.splitlines() if "runai-conformance: INCOMPLETE" in line]
    assert len(why) == 1, result.output[-3000:]
    assert "no rule was proven" in why[0] and "no operator role" in why[0], why[0]
    run = json.loads((result.report_dir / "summary.json").read_text())["run"]
    assert not run["complete"] and run["exit_status"] == 4, run


def test_a_run_with_one_rule_proven_passes(tmp_path: Path) -> None:
    """The other side: the same selection with the operator role proves TEN-5 and passes."""
    with reference() as server:
        result = run_suite(server, tmp_path, "conformance", "-m", "TEN-5", "--profile", "smoke")
    assert result.returncode == 0 and result.passed, result.output[-3000:]
    assert json.loads((result.report_dir / "summary.json").read_text())["run"]["complete"]


def test_the_suites_tests_collected_without_its_run_is_one_line(tmp_path: Path) -> None:
    """`pytest .` at the checkout's root collects the suite's tests without setting up its run (the tests
    would have skipped, exit 0): one line says how to start it."""
    done = run_pytest(".", "-k", "test_inputs and test_valid_emails", "--report-dir", str(tmp_path / "r"))
    assert done.returncode == 4, (done.stdout + done.stderr)[-2000:]
    assert_one_line(done, "was not set up", "runai-conformance run")


def test_a_run_that_selects_no_test_is_not_a_pass(tmp_path: Path) -> None:
    done = run_pytest("conformance", "-k", "no_test_is_named_like_this", "--report-dir", str(tmp_path / "r"))
    out = done.stdout + done.stderr
    assert done.returncode == 5, out[-2000:]
    assert "runai-conformance: no test was selected" in out, out[-2000:]


@pytest.mark.parametrize("start", sorted(STARTS))
def test_a_run_with_a_rule_left_without_a_verdict_is_partial_in_one_line(start: str, tmp_path: Path) -> None:
    """USR-8 proven, TEN-5 skipped for the missing operator role: not green (exit 6), in every way of starting."""
    command, elsewhere = STARTS[start]
    cwd = tmp_path / "elsewhere" if elsewhere else ROOT
    cwd.mkdir(exist_ok=True)
    with reference() as server:
        result = run_suite(
            server, tmp_path, "-m", "TEN-5 or USR-8", "--profile", "smoke", drop_roles=("operator",), command=command,
            cwd=cwd,
        )  # fmt: skip
    assert result.returncode == PARTIAL, result.output[-3000:]
    assert result.passed and result.skipped and not result.failed, result.output[-3000:]
    run = json.loads((result.report_dir / "summary.json").read_text())["run"]
    assert run["complete"] and run["exit_status"] == PARTIAL, run
    # the tests marked TEN-5 prove the other Tenants rules too: every one of them is left without a verdict
    unproven = run["partial"]["rules"]
    assert "TEN-5" in unproven and all(r.startswith("TEN-") for r in unproven) and not run["partial"]["accepted"]
    why = [line for line in result.output.splitlines() if "runai-conformance: PARTIAL" in line]
    assert len(why) == 1, result.output[-3000:]
    assert f"{len(unproven)} of 35 rules have no verdict" in why[0] and "no operator role" in why[0], why[0]


def test_a_partial_run_accepted_on_purpose_passes_and_says_so(tmp_path: Path) -> None:
    with reference() as server:
        result = run_suite(
            server,
            tmp_path,
            "conformance",
            "-m",
            "TEN-5 or USR-8",
            "--profile",
            "smoke",
            "--accept-partial",
            drop_roles=("operator",),
        )
    assert result.returncode == 0, result.output[-3000:]
    partial = json.loads((result.report_dir / "summary.json").read_text())["run"]["partial"]
    assert partial["accepted"] is True and "TEN-5" in partial["rules"], partial
    assert f"PARTIAL run ACCEPTED (--accept-partial): {len(partial['rules'])} of 35 rules have no verdict" in (
        result.output
    )
    header = f"PARTIAL, ACCEPTED (--accept-partial): no verdict on {', '.join(partial['rules'])}"
    assert header in (result.report_dir / "matrix.md").read_text()
