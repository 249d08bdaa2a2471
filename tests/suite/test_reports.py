"""The run's reports and the nightly gate: summary, matrix, regression report, waivers.

The end-to-end tests run part of the suite against the reference with and without a planted fault,
as a nightly job would, and read what it wrote."""

from __future__ import annotations

import json
import re
import struct
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from runai_conformance.conformance.about import describe
from runai_conformance.conformance.cli import chromium
from runai_conformance.conformance.cli import main as cli
from runai_conformance.conformance.history import Night, night_of
from runai_conformance.conformance.operations import operation_of, operations
from runai_conformance.conformance.options import PARTIAL
from runai_conformance.conformance.render import annotate, compare, regression_markdown
from runai_conformance.conformance.rules import rules
from runai_conformance.conformance.target import ConfigError
from runai_conformance.conformance.waivers import load_waivers
from tests.suite.runner import SuiteResult, reference, run_suite

PART = "conformance/test_users_lifecycle.py"  # where the planted USR-8 fault shows, quickly
FAULT, RULE = "usr-reset-repeats-password", "USR-8"


# Each run here has its own reference server on its own port: the gate is told the target is the same.
def run_part(tmp: Path, name: str, *faults: str, waivers: str | None = None) -> SuiteResult:
    out = tmp / name
    out.mkdir()
    extra = []
    if waivers is not None:
        (out / "waivers.toml").write_text(waivers)
        extra = ["--waivers", str(out / "waivers.toml")]
    with reference(*faults) as server:
        return run_suite(server, out, PART, "--profile", "smoke", *extra)


def waiver(expires: date, rule_id: str = RULE, operation: str = "reset_user_password") -> str:
    return (
        f'[[waiver]]\nrule = "{rule_id}"\noperation = "{operation}"\nreason = "vendor ticket: known"\n'
        f'link = "https://tracker.example.com/RUNAI-1"\nexpires = {expires.isoformat()}\n'
    )


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> SuiteResult:
    result = run_part(tmp_path_factory.mktemp("runs"), "baseline")
    assert result.returncode == 0, result.output[-3000:]
    return result


def summary_of(result: SuiteResult) -> dict:
    return json.loads((result.report_dir / "summary.json").read_text())


def test_a_clean_run_writes_a_summary_with_every_rule(baseline: SuiteResult) -> None:
    data = summary_of(baseline)
    assert list(data["rules"]) == list(rules())
    assert data["profile"] == "smoke" and data["seed"] == 20261122 and data["target"].startswith("http://127.0.0.1:")
    assert {o["rule"] for o in data["spec"]["overlays"]} == {"TEN-4", "LIST-6", "TEN-1a"}
    assert data["rules"][RULE]["status"] == "passed"
    assert data["rules"]["TEN-5"]["status"] == "not-run", "the part run proves no tenant rule"
    assert {t["outcome"] for t in data["tests"]} == {"passed"}
    env = (baseline.report_dir / "allure-results" / "environment.properties").read_text()
    assert "spec.version = tenant-2.23+users-2.24" in env and "ten-4-tenant-get-404.yaml (TEN-4)" in env


def test_every_test_and_rule_says_how_many_requests_it_cost(tmp_path: Path) -> None:
    """summary.json counts each test's requests (the measure for cutting requests that prove nothing): every
    test that ran sent some, together no more than the target saw, and a rule's count is its tests' sum."""
    with reference() as server:
        result = run_suite(server, tmp_path, PART, "--profile", "smoke")
        seen = len(server.requests)
    assert result.returncode == 0, result.output[-3000:]
    data = summary_of(result)
    tests = data["tests"]
    assert tests and all(t["requests"] > 0 for t in tests), [(t["id"], t["requests"]) for t in tests]
    assert sum(t["requests"] for t in tests) <= seen
    for rule_id, entry in data["rules"].items():
        assert entry["requests"] == sum(t["requests"] for t in tests if rule_id in t["rules"]), rule_id


def test_a_planted_fault_is_a_new_failure_and_the_gate_fails(baseline: SuiteResult, tmp_path: Path) -> None:
    current = run_part(tmp_path, "current", FAULT)
    assert current.returncode == 1
    data = summary_of(current)
    assert data["rules"][RULE]["status"] == "failed"
    assert data["rules"][RULE]["failing_operations"] == ["reset_user_password"]
    assert data["rules"][RULE]["evidence"], "a failure carries its evidence"
    assert [r for r, e in data["rules"].items() if e["status"] == "failed"] == [RULE]
    out = tmp_path / "regression"
    assert (
        cli(["regress", str(baseline.report_dir), str(current.report_dir), "--out", str(out), "--allow-mismatch"]) == 1
    )
    markdown = (out / "regression.md").read_text()
    new = markdown.split("## New failures (1)")[1].split("## Fixed")[0]
    assert f"| {RULE} |" in new and "reset_user_password" in new
    assert "gate: FAIL" in markdown and RULE in (out / "regression.html").read_text()
    # its header says what each run was measured against, as `runai-conformance --version` does
    assert markdown.count(" · ".join(describe(data["suite"]))) == 2, markdown[:1500]
    # and the other way round: the fault's rule is fixed, nothing is new
    assert (
        cli(
            [
                "regress",
                str(current.report_dir),
                str(baseline.report_dir),
                "--out",
                str(tmp_path / "back"),
                "--allow-mismatch",
            ]
        )
        == 0
    )
    back = (tmp_path / "back" / "regression.md").read_text()
    assert f"| {RULE} |" in back.split("## Fixed (1)")[1].split("## Still failing")[0]


def test_a_violation_is_shown_as_its_evidence_and_where_it_was_met_unless_a_traceback_is_asked_for(
    tmp_path: Path,
) -> None:
    with reference(FAULT) as server:
        shown = run_suite(server, tmp_path / "default", PART, "--profile", "smoke")
        traced = run_suite(server, tmp_path / "long", PART, "--profile", "smoke", "--tb=long")
    for result in (shown, traced):
        assert result.returncode == 1 and RULE in result.failed_rules, result.output[-3000:]
        assert f"[{RULE}] reset #1 handed out an earlier temporary password" in result.output, result.output[-3000:]
    failure = shown.output.split(" FAILURES ")[1].split("short test summary")[0]
    assert not re.search(r"(?m)^E   ", failure) and "def test_" not in failure, failure
    assert re.search(r"(?m)^test_password_reset_never_repeats_a_password at conformance/test_\w+\.py:\d+$", failure), (
        failure
    )
    assert re.search(r"(?m)^E   ", traced.output) and "def test_" in traced.output, traced.output[-3000:]


def test_a_waiver_turns_the_failure_waived_and_the_gate_passes(baseline: SuiteResult, tmp_path: Path) -> None:
    live = waiver(date.today() + timedelta(days=30)) + waiver(date.today() + timedelta(days=30), "USR-9", "logout_user")
    current = run_part(tmp_path, "waived", FAULT, waivers=live)
    assert current.returncode == 0, current.output[-3000:]
    assert "waiver USR-9 on logout_user is stale" in current.output
    data = summary_of(current)
    assert data["rules"][RULE]["status"] == "waived"
    assert {w["rule"]: w["status"] for w in data["waivers"]} == {RULE: "matched", "USR-9": "stale"}
    junit = (current.report_dir / "junit.xml").read_text()
    assert 'type="pytest.xfail"' in junit and "vendor ticket: known" in junit
    out = tmp_path / "regression"
    assert (
        cli(["regress", str(baseline.report_dir), str(current.report_dir), "--out", str(out), "--allow-mismatch"]) == 0
    )
    markdown = (out / "regression.md").read_text()
    assert "## New failures (0)" in markdown
    assert f"| {RULE} |" in markdown.split("## Waived (1)")[1].split("## Newly skipped")[0]
    assert "| USR-9 |" in markdown.split("## Stale waivers (1)")[1]


def test_an_expired_waiver_waives_nothing_and_fails(baseline: SuiteResult, tmp_path: Path) -> None:
    current = run_part(tmp_path, "expired", FAULT, waivers=waiver(date.today() - timedelta(days=1)))
    assert current.returncode == 1
    assert f"waiver {RULE} on reset_user_password is expired" in current.output
    assert summary_of(current)["rules"][RULE]["status"] == "failed"
    assert (
        cli(
            [
                "regress",
                str(baseline.report_dir),
                str(current.report_dir),
                "--out",
                str(tmp_path / "r"),
                "--allow-mismatch",
            ]
        )
        == 1
    )
    # an expired waiver fails even a run that is otherwise green
    green = run_part(tmp_path, "expired-green", waivers=waiver(date.today() - timedelta(days=1)))
    assert green.returncode == 1 and "expired" in green.output
    assert (
        cli(
            [
                "regress",
                str(baseline.report_dir),
                str(green.report_dir),
                "--out",
                str(tmp_path / "g"),
                "--allow-mismatch",
            ]
        )
        == 1
    )


def test_missing_roles_skip_their_tests_and_the_report_says_why(tmp_path: Path) -> None:
    with reference() as server:
        result = run_suite(
            server,
            tmp_path,
            "conformance/test_roles_and_isolation.py",
            "--profile",
            "smoke",
            drop_roles=("viewer", "peer"),
        )
    assert result.returncode == PARTIAL, "rules left without a verdict: not green " + result.output[-3000:]
    assert result.skipped and result.passed, "the operator and admin tests still run"
    data = summary_of(result)
    assert "ISO-1" in data["run"]["partial"]["rules"], data["run"]
    iso = data["rules"]["ISO-1"]
    assert iso["status"] == "skipped" and any("peer" in r for r in iso["skip_reasons"]), iso
    assert any("viewer" in r for r in data["rules"]["AUTH-2"]["skip_reasons"]), data["rules"]["AUTH-2"]
    assert "peer" in (result.report_dir / "matrix.html").read_text()


class Cells(HTMLParser):
    """Row ids and the links of a matrix page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and (found.get("id") or "").startswith("rule-"):
            self.rows.append(str(found["id"])[5:])
        if tag == "a" and (found.get("href") or "").startswith("#"):
            self.links.append(str(found["href"])[1:])
        if found.get("id"):
            self.anchors.add(str(found["id"]))


def test_the_matrix_shows_every_rule_and_links_failures_to_evidence(tmp_path: Path) -> None:
    current = run_part(tmp_path, "matrix", FAULT)
    page = (current.report_dir / "matrix.html").read_text()
    cells = Cells()
    cells.feed(page)
    assert cells.rows == list(rules())
    assert cells.links and set(cells.links) <= cells.anchors, "every failure cell links to its evidence"
    assert f"ev-{RULE}" in cells.links
    assert all(op in page for op in operations())
    markdown = (current.report_dir / "matrix.md").read_text()
    assert all(f"| {r} |" in markdown for r in rules())
    # the command writes the same pages again from the summary
    again = tmp_path / "again"
    assert cli(["matrix", str(current.report_dir / "summary.json"), "--out", str(again)]) == 0
    assert (again / "matrix.html").read_text().count("<tr id=") == len(rules())


@pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine (apt-get install chromium, or CHROMIUM=…)")
def test_the_matrix_renders_in_headless_chromium(baseline: SuiteResult, tmp_path: Path) -> None:
    picture = tmp_path / "matrix.png"
    assert cli(["screenshot", str(baseline.report_dir / "matrix.html"), str(picture), "--height", "2600"]) == 0
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1500, 2600)
    assert len(data) > 50_000, "a page with a table of every rule is not a blank picture"


def test_bad_input_to_the_report_commands_gets_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    for args in (
        ["regress", str(tmp_path / "missing"), str(tmp_path / "junk.json")],
        ["regress", str(tmp_path / "junk.json"), str(tmp_path / "junk.json")],
        ["matrix", str(tmp_path / "other.json")],
        ["screenshot", str(tmp_path / "missing.html"), str(tmp_path / "x.png")],
    ):
        assert cli(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("runai-conformance: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("text", "suffix", "says"),
    [
        ('[[waiver]]\nrule = "USR-99"\nreason = "x"\nexpires = 2030-01-01\n', ".toml", "not a CONTRACT rule id"),
        ('[[waiver]]\nrule = "USR-8"\nexpires = 2030-01-01\n', ".toml", "a reason is required"),
        ('[[waiver]]\nrule = "USR-8"\nreason = "x"\nexpires = "soon"\n', ".toml", "expires must be a date"),
        ('[[waiver]]\nrule = "USR-8"\nreason = "x"\nexpires = 2030-01-01\nowner = "me"\n', ".toml", "unknown field"),
        (
            "- rule: USR-8\n  reason: x\n  expires: 2030-01-01\n  operation: reset_password\n",
            ".yaml",
            "not an operationId",
        ),
        ("waivers: [\n", ".yaml", "not valid yaml"),
        ("rule = 1\n[[waiver\n", ".toml", "not valid toml"),
    ],
)
def test_a_broken_waivers_file_is_one_line_naming_the_problem(
    tmp_path: Path, text: str, suffix: str, says: str
) -> None:
    path = tmp_path / f"waivers{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_waivers(path, set(operations()))
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_waivers_read_from_yaml_and_toml_alike(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        "waivers:\n  - rule: USR-8\n    operation: reset_user_password\n    reason: known\n    expires: 2030-01-01\n"
    )
    (tmp_path / "w.toml").write_text(waiver(date(2030, 1, 1)).replace("vendor ticket: known", "known"))
    yaml_w, toml_w = (load_waivers(tmp_path / n, set(operations())) for n in ("w.yaml", "w.toml"))
    assert [(w.rule, w.operation, w.expires) for w in yaml_w] == [(w.rule, w.operation, w.expires) for w in toml_w]


def test_requests_map_to_their_operations() -> None:
    assert operation_of("GET", "http://h/api/v1/users/count?filterBy=x") == "count_users"
    assert operation_of("GET", "http://h/api/v1/users/8f1c0d2e-0000-4000-8000-000000000000") == "get_user_by_id"
    assert operation_of("POST", "/api/v1/users/abc/logout") == "logout_user"
    assert operation_of("DELETE", "http://h/api/v1/tenants/7?hard=true") == "delete_tenant_by_id"
    assert operation_of("POST", "http://h/api/v1/token") == "token_grant"
    assert operation_of("PATCH", "http://h/api/v1/users") is None


def _summary(statuses: dict[str, tuple[str, list[str]]]) -> dict:
    return {
        "target": "t",
        "profile": "ci",
        "seed": 1,
        "finished": "now",
        "waivers": [],
        "run": {"complete": True, "incomplete_because": []},
        "rules": {
            r: {"title": r, "status": s, "failing_operations": ops, "waivers": [], "skip_reasons": []}
            for r, (s, ops) in statuses.items()
        },
    }


def test_compare_sorts_every_change_into_its_category() -> None:
    before = _summary(
        {
            "USR-1": ("passed", []),
            "USR-2": ("failed", ["create_user"]),
            "USR-3": ("failed", ["create_user"]),
            "USR-4": ("passed", []),
            "USR-5": ("failed", ["get_users"]),
            "USR-6": ("passed", []),
        }
    )
    after = _summary(
        {
            "USR-1": ("failed", ["create_user"]),  # new
            "USR-2": ("passed", []),  # fixed
            "USR-3": ("failed", ["create_user"]),  # still failing
            "USR-4": ("skipped", []),  # newly skipped
            "USR-5": ("failed", ["get_users", "get_user_by_id"]),  # still failing, and new on one more operation
            "USR-6": ("passed", []),
        }
    )
    reg = compare(before, after)
    assert [r for r, _ in reg.rows["new failures"]] == ["USR-1", "USR-5"]
    assert [r for r, _ in reg.rows["fixed"]] == ["USR-2"]
    assert [r for r, _ in reg.rows["still failing"]] == ["USR-3", "USR-5"]
    assert [r for r, _ in reg.rows["newly skipped"]] == ["USR-4"]
    assert reg.gate_fails
    assert reg.cannot_judge == ["1 rule(s) that ran in the baseline did not run now: USR-4"]
    assert not compare(after, after).gate_fails and not compare(after, after).cannot_judge
    incomplete = {**after, "run": {"complete": False, "incomplete_because": ["interrupted"]}}
    assert compare(after, incomplete).cannot_judge == ["the current run did not complete (interrupted)"]
    moved = {**after, "target_id": "https://other.example.com"}
    assert compare(after, moved).cannot_judge and not compare(after, moved, allow_mismatch=True).cannot_judge


def _night(day: int, verdicts: dict[str, str]) -> Night:
    return Night(f"2026-05-0{day}T02:00:00+00:00", 1, "ci", "t", 1, True, 60.0, 100, verdicts)


def test_a_history_annotates_the_gate_and_leaves_its_verdict() -> None:
    """With a history's nights, each failing rule the gate lists carries the date its failing streak began
    and each rule that flaps is marked, a fixed one too; the rows and the verdict stay those without it."""
    before = _summary({"USR-1": ("passed", []), "USR-2": ("failed", ["create_user"]), "USR-3": ("failed", ["—"])})
    after = _summary({"USR-1": ("failed", ["create_user"]), "USR-2": ("passed", []), "USR-3": ("failed", ["—"])})
    after |= {"started": "2026-05-04T02:00:00+00:00", "exit_status": 1}
    verdicts = [("passed", "failed", "passed"), ("failed", "passed", "failed"), ("passed", "failed", "failed")]
    nights = [_night(day, dict(zip(after["rules"], v, strict=True))) for day, v in enumerate(verdicts, start=1)]
    plain, noted = compare(before, after), compare(before, after)
    annotate(noted, nights)
    assert (noted.verdict, noted.cannot_judge) == (plain.verdict, plain.cannot_judge) == ("FAIL", [])
    assert {c: [r for r, _ in rows] for c, rows in noted.rows.items()} == {
        c: [r for r, _ in rows] for c, rows in plain.rows.items()
    }
    assert dict(noted.rows["new failures"])["USR-1"] == (
        "create_user; first seen 2026-05-04; FLAPPING (PFPF over the last 4 nights)"
    )
    assert dict(noted.rows["still failing"])["USR-3"] == "—; first seen 2026-05-02"  # P F F F: no flap
    assert dict(noted.rows["fixed"])["USR-2"] == "was failing on create_user; FLAPPING (FPFP over the last 4 nights)"
    assert "history: 4 nights" in regression_markdown(noted) and "history:" not in regression_markdown(plain)
    # a history that holds tonight's run reads it as it is, once; the nights after it do not count
    again = compare(before, after)
    annotate(again, [*nights, night_of(after), _night(5, dict.fromkeys(after["rules"], "passed"))])
    assert (again.nights, again.first_seen, again.flapping) == (4, noted.first_seen, noted.flapping)
