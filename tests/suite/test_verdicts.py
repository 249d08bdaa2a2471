"""Verdicts a gate and a vendor can rely on: an incomplete run never passes a gate, a failure names
exactly the rules it broke (each with its own evidence), --certify fails on anything not passed,
selection by rule works, and a wrong setting stops the run in one line instead of a cascade."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis.errors import FlakyReplay, FlakyStrategyDefinition

from runai_conformance.conformance.api import ContractViolation
from runai_conformance.conformance.cli import main as cli
from runai_conformance.conformance.reporting import leaves
from tests.suite.runner import (
    ROOT,
    SuiteResult,
    clean_smoke_run,
    reference,
    run_pytest,
    run_suite,
    start_suite,
    tagged_leftovers,
)

PART = "conformance/test_users_lifecycle.py"


def summary_of(report_dir: Path) -> dict:
    return json.loads((report_dir / "summary.json").read_text())


def failed_rules(data: dict) -> set[str]:
    return {r for r, e in data["rules"].items() if e["status"] == "failed"}


@pytest.fixture(scope="module")
def green(tmp_path_factory: pytest.TempPathFactory) -> SuiteResult:
    """A complete green smoke run: the baseline the gate compares with (read, never changed)."""
    result = clean_smoke_run(tmp_path_factory)
    assert result.returncode == 0, result.output[-3000:]
    return result


def test_a_complete_run_says_so(green: SuiteResult) -> None:
    run = summary_of(green.report_dir)["run"]
    assert run["complete"] and run["tests_run"] == run["tests_collected"] > 100 and run["rules_not_run"] == []
    assert "run: complete" in (green.report_dir / "matrix.md").read_text()


def test_an_interrupted_run_fails_the_gate(green: SuiteResult, tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    with reference() as server:
        proc = start_suite(server, tmp_path, "conformance", "--profile", "smoke")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(server.requests) < 200:  # well into the tests
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, output[-2000:]
    data = summary_of(report_dir)
    assert not data["run"]["complete"] and data["run"]["interrupted"], data["run"]
    assert "INCOMPLETE run" in output
    # another reference server (another port): only the incomplete run may stop the gate here
    assert (
        cli(["regress", str(green.report_dir), str(report_dir), "--out", str(tmp_path / "r"), "--allow-mismatch"]) == 3
    )
    regression = (tmp_path / "r" / "regression.md").read_text()
    assert "CANNOT JUDGE" in regression and "the current run did not complete (interrupted" in regression


def test_a_run_that_never_started_over_an_old_green_summary_fails_the_gate(green: SuiteResult, tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    shutil.copytree(green.report_dir, report_dir)  # last night's green verdict is still there
    done = run_pytest(
        "conformance", "--profile", "smoke", "--target-url", "http://127.0.0.1:9", "--token", "x.y.z",
        "--report-dir", str(report_dir),
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:]
    data = summary_of(report_dir)
    assert not data["run"]["complete"] and data["run"]["tests_run"] == 0
    assert any("stopped before the first test" in r for r in data["run"]["incomplete_because"])
    assert (
        cli(["regress", str(green.report_dir), str(report_dir), "--out", str(tmp_path / "r"), "--allow-mismatch"]) == 3
    )
    assert "the current run did not complete" in (tmp_path / "r" / "regression.md").read_text()


def test_the_gate_refuses_another_target_or_profile_unless_allowed(green: SuiteResult, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    data = summary_of(green.report_dir)
    data["profile"] = "nightly"
    (other / "summary.json").write_text(json.dumps(data))
    assert cli(["regress", str(green.report_dir), str(other), "--out", str(tmp_path / "r")]) == 3
    assert cli(["regress", str(green.report_dir), str(other), "--out", str(tmp_path / "r"), "--allow-mismatch"]) == 0
    assert cli(["regress", str(green.report_dir), str(green.report_dir), "--out", str(tmp_path / "s")]) == 0


def test_two_faults_at_once_fail_exactly_their_two_rules_each_with_its_own_evidence(tmp_path: Path) -> None:
    with reference("usr-get-leaks-temp-password", "usr-reset-repeats-password") as server:
        result = run_suite(
            server, tmp_path, "conformance/test_stateful.py", "--profile", "ci", "-k", "users_lifecycle",
            "--shrink-seconds", "0",
        )  # fmt: skip
    assert result.returncode == 1, result.output[-3000:]
    data = summary_of(result.report_dir)
    assert failed_rules(data) == {"USR-5", "USR-8"}, {r: e["evidence"] for r, e in data["rules"].items()}
    assert result.failed_rules == {"USR-5", "USR-8"}, "JUnit names exactly the two rules"
    usr5, usr8 = data["rules"]["USR-5"]["evidence"], data["rules"]["USR-8"]["evidence"]
    # one piece of evidence per failing part of the machine (each part is a test of its own), each naming
    # only its own rule
    assert usr5 and all("[USR-5]" in e["message"] and "[USR-8]" not in e["message"] for e in usr5), usr5
    assert usr8 and all("[USR-8]" in e["message"] and "[USR-5]" not in e["message"] for e in usr8), usr8
    assert not any("Hypothesis found" in e["message"] for e in usr5 + usr8)
    cells = data["rules"]["USR-5"]["cells"]  # a part that met no reset proves USR-5 where it went: passed cells
    assert {op for op, status in cells.items() if status == "failed"} == {"get_user_by_id"}, "its own request's cell"
    matrix = (result.report_dir / "matrix.md").read_text()
    sections = re.findall(r"^## (\S+) failed: ", matrix, re.M)  # a section for each piece of evidence
    assert set(sections) == {"USR-5", "USR-8"} and len(sections) == len(usr5) + len(usr8), sections
    # in a failing part the machine's other rules are neither proven nor failed: blocked by that part's rule
    blocked = {r: e["blocked_by"] for r, e in data["rules"].items() if e["blocked_by"]}
    assert blocked and all(set(by) <= {"USR-5", "USR-8"} for by in blocked.values()), blocked
    assert all(data["rules"][r]["status"] != "failed" for r in blocked.keys() - {"USR-5", "USR-8"}), blocked
    summary_lines = [line for line in result.output.splitlines() if line.startswith("FAILED")]
    assert len(summary_lines) == len({e["test"] for e in usr5 + usr8}), summary_lines
    for line in summary_lines:  # each failing part's line names exactly the rules of its own evidence
        named, test = re.fullmatch(r"FAILED \[([^]]+)\] (\S+).*", line).groups()  # type: ignore[union-attr]
        own = {
            rule for rule, evidence in (("USR-5", usr5), ("USR-8", usr8)) if any(e["test"] == test for e in evidence)
        }
        assert set(named.split(", ")) == own, (line, own)


def test_certify_with_a_role_missing_fails_naming_the_skipped_rules(tmp_path: Path) -> None:
    with reference() as server:
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", "--certify", drop_roles=("operator",))
    assert result.returncode == 1, result.output[-3000:]
    run = summary_of(result.report_dir)["run"]
    assert run["certify"] and not run["certified"]
    assert {"TEN-1", "TEN-5", "TEN-7"} <= set(run["not_certified_because"])
    assert "NOT CERTIFIED: " in result.output and "TEN-1 skipped" in result.output
    assert "NOT CERTIFIED" in (result.report_dir / "matrix.html").read_text()


def test_a_rule_id_selects_the_tests_proving_it(tmp_path: Path) -> None:
    with reference() as server:
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", "-k", "USR-8")
    assert result.returncode == 0, result.output[-3000:]
    tests = summary_of(result.report_dir)["tests"]
    assert len(tests) >= 2 and all("USR-8" in t["rules"] for t in tests), [(t["id"], t["rules"]) for t in tests]
    marked = run_pytest("--co", "conformance", "-m", "USR-8")
    assert {line for line in marked.stdout.splitlines() if "::" in line} == {t["id"] for t in tests}


def test_a_printed_fuzz_node_id_reruns_its_test(tmp_path: Path) -> None:
    with reference() as server:
        listed = run_pytest("--co", "conformance/test_fuzz.py")
        node = next(line for line in listed.stdout.splitlines() if "[GET /api/v1/users/{userId}]" in line)
        result = run_suite(server, tmp_path, node, "--profile", "smoke")
    assert result.returncode == 0 and "1 passed" in result.output, result.output[-2000:]


def test_workers_give_the_same_rule_statuses_as_a_serial_run(green: SuiteResult, tmp_path: Path) -> None:
    """-n 2: the workers' reports merge into one summary.json, matrix and JUnit file, rule for rule what the
    session's serial run of the same seed says, but for the rule of the fault planted here (USR-8, which
    only it breaks: test_suite_catches_faults.py)."""
    with reference("usr-reset-repeats-password") as server:
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", "--shrink-seconds", "0", "-n", "2")
        assert tagged_leftovers(server) == [], "every worker cleans up after itself"
    assert result.returncode == 1, result.output[-3000:]
    data = summary_of(result.report_dir)
    assert data["run"]["complete"] and data["run"]["tests_run"] == data["run"]["tests_collected"] > 100
    assert result.failed_rules == {"USR-8"} and len(result.passed) > 100, "JUnit holds every worker's tests"
    assert result.passed | set(result.failed) == green.passed | set(green.failed), "the same tests, by the same ids"
    serial = {r: e["status"] for r, e in summary_of(green.report_dir)["rules"].items()}
    assert serial["USR-8"] == "passed"
    assert {r: e["status"] for r, e in data["rules"].items()} == {**serial, "USR-8": "failed"}
    assert len(data["run_tag"].split()) == 2, "each worker has its own run tag"


def test_shrink_seconds_zero_reports_the_failure_as_found(tmp_path: Path) -> None:
    """--shrink-seconds 0: red naming the rule at once, and the evidence says the reproduction was not
    shrunk (with the command for the minimal one)."""
    with reference("usr-reset-repeats-password") as server:
        machine = "conformance/test_stateful.py::test_users_lifecycle_machine"
        result = run_suite(server, tmp_path, machine, "--profile", "ci", "--shrink-seconds", "0")
    assert result.returncode == 1 and result.failed_rules == {"USR-8"}, result.output[-2000:]
    assert "NOT fully shrunk" in result.output, result.output[-2000:]


def test_a_machine_part_replays_alone_with_the_run_seed(tmp_path: Path) -> None:
    """The state machines run as independently seeded parts. A part's test id with the run's seed re-runs
    exactly that part: against a fault some parts meet and some do not, each part run alone with the same
    seed gives the verdict it gave in the whole run."""
    machine = "conformance/test_stateful.py::test_users_lifecycle_machine"
    with reference("usr-me-password-wrong-still-saved") as server:
        whole = run_suite(
            server, tmp_path / "whole", machine, "--profile", "ci", "--shrink-seconds", "0", "--hypothesis-seed=1"
        )
        assert whole.failed and whole.passed, f"seed 1 should split the parts: {whole.output[-2000:]}"
        assert len(whole.failed) + len(whole.passed) == 8, whole.output[-2000:]
        for verdict, parts in (("failed", whole.failed), ("passed", whole.passed)):
            part = sorted(parts)[0]
            node = f"{machine}[{part.rsplit('[', 1)[1]}"
            alone = run_suite(
                server, tmp_path / part, node, "--profile", "ci", "--shrink-seconds", "0", "--hypothesis-seed=1"
            )
            assert (alone.returncode == 1) == (verdict == "failed"), f"{node}: {alone.output[-2000:]}"
            assert alone.failed_rules == (whole.failed[part] if verdict == "failed" else set()), alone.output[-2000:]


def test_a_failure_hypothesis_replays_another_way_keeps_its_rule() -> None:
    """Against a live target a state machine's replay can go another way (Hypothesis' Flaky*): the
    violation it first saw is still the verdict, with its rule; a Flaky over anything else stays itself."""
    for flaky in (FlakyStrategyDefinition("Inconsistent data generation!"), FlakyReplay("replay differed")):
        try:
            try:
                raise ContractViolation("USR-1", "the new user got an id an earlier create gave out")
            except ContractViolation:
                raise flaky  # noqa: B904  (raised in the handler, as Hypothesis does: the violation is its context)
        except type(flaky) as exc:
            found = leaves(exc)
        assert [type(f) for f in found] == [ContractViolation] and found[0].rules == ["USR-1"]
    alone = FlakyStrategyDefinition("no failure before it")
    assert leaves(alone) == [alone]
    try:
        try:
            raise KeyError("a crash in a step")
        except KeyError:
            raise FlakyReplay("replay differed")  # noqa: B904
    except FlakyReplay as exc:
        assert leaves(exc) == [exc], "a crash is not a contract verdict"


def _one_line_refusal(*args: str) -> subprocess.CompletedProcess[str]:
    return run_pytest("conformance", "--profile", "smoke", *args)


def test_a_dead_token_exits_4_in_one_line(tmp_path: Path) -> None:
    with reference() as server:
        done = _one_line_refusal("--target-url", server.url, "--token", "eyJhbGciOiJIUzI1NiJ9.e30.dead")
    out = done.stdout + done.stderr
    assert done.returncode == 4, out[-2000:]
    assert "admin role's token was refused" in out and "Traceback" not in out and " failed" not in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--hypothesis-seed=abc",), "--hypothesis-seed 'abc' is not an integer"),
        (("--shrink-seconds=-1",), "the shrink budget must be >= 0 seconds"),
        (("--shrink-seconds=soon",), "'soon' is not a number of seconds"),
    ],
)
def test_bad_run_settings_are_one_line(args: tuple[str, ...], words: str) -> None:
    done = _one_line_refusal(*args)
    out = done.stdout + done.stderr
    assert done.returncode == 4 and words in out, out[-2000:]
    assert "INTERNALERROR" not in out and "Traceback" not in out
    assert "embedded reference server" not in out, "refused before any server was started"


def _prism() -> str | None:
    """The Prism mock server (npm @stoplight/prism-cli), installed once into the user's cache; None
    when npm or its registry is not reachable."""
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "runai-conformance" / "prism"
    binary = home / "node_modules" / ".bin" / "prism"
    if binary.exists():
        return str(binary)
    if shutil.which("npm") is None:
        return None
    home.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(home), "@stoplight/prism-cli@5"],
            capture_output=True, timeout=240, check=True,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError):
        return None
    return str(binary) if binary.exists() else None


def test_against_prism_with_a_fixed_token_the_run_is_red_on_contract_rules_without_internal_errors(
    tmp_path: Path,
) -> None:
    """Prism answers canned schema-valid bodies and accepts any token: a real third-party target that
    breaks many behavioural rules, with only an admin token (no operator, viewer or peer role)."""
    prism = _prism()
    if prism is None:
        pytest.skip("npm or the npm registry is not reachable: cannot install @stoplight/prism-cli")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mock = subprocess.Popen(
        [prism, "mock", str(ROOT / "specs" / "runai.json"), "-p", str(port), "-h", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        report_dir = tmp_path / "reports"
        done = run_pytest(
            "conformance", "--profile", "smoke", "--target-url", url, "--token", "prism.accepts.anything",
            "--report-dir", str(report_dir), timeout=600,
        )  # fmt: skip
    finally:
        mock.terminate()
        mock.wait(timeout=30)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "INTERNALERROR" not in out
    data = summary_of(report_dir)
    assert data["run"]["complete"]
    # canned answers hand every new user the same id: each test's second create is its first failure
    assert "USR-1" in failed_rules(data), failed_rules(data)
    assert "remove what is left with: runai-conformance sweep --tag" in out or "cleanup done" in out
