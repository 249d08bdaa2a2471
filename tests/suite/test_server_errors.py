"""Every 5xx is ERR-3's (CONTRACT ERR-3, issue 26): whichever kind of test receives it — a fuzzed call, a
Hypothesis property, a state machine's step, a hand-written probe — the test fails naming ERR-3 with that
request as evidence, beside whatever else it found; no 5xx is ever a failure no rule names, and the gate
counts it. A throttled 503 (Retry-After) is no verdict; the preflight's and the cleanup's requests are
no test's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import httpx

from runai_conformance.conformance.api import Api, ContractViolation
from runai_conformance.conformance.cli import main as cli
from runai_conformance.conformance.guard import Refused
from runai_conformance.conformance.network import Network
from runai_conformance.conformance.reporting import with_server_errors
from runai_conformance.conformance.transport import GuardedClient
from runai_conformance.reference.faults import FAULTS
from tests.suite.runner import mock_client, reference, run_suite

USER = "/api/v1/users/1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def answering(*statuses: int, retry_after: str | None = None):
    """A target answering these statuses in turn (then 200), with Retry-After on every 5xx when given."""
    left = list(statuses)

    def answer(request: httpx.Request) -> httpx.Response:
        status = left.pop(0) if left else 200
        headers = {"retry-after": retry_after} if retry_after is not None and status >= 500 else {}
        return httpx.Response(status, headers=headers, json={"code": status, "message": "m"})

    return answer


def test_a_tests_5xx_answers_are_noted_by_operation_with_the_last_kept() -> None:
    c = mock_client(answering(500, 502, 503, 200))
    c.start_test("conformance/test_listing.py::test_x")
    first = c.get("/api/v1/users", params={"filterBy": "username==a"})
    last = c.get("/api/v1/users", params={"filterBy": "username==b"})
    c.get(USER)  # a 503 without Retry-After is an answer like any other
    c.get(USER)  # 200
    noted = dict(c.received_5xx())
    assert set(noted) == {"get_users", "get_user_by_id"}
    assert noted["get_users"].count == 2 and noted["get_users"].last is last is not first
    assert noted["get_user_by_id"].last.status_code == 503
    c.start_test("conformance/test_listing.py::test_y")
    assert c.received_5xx() == [], "each test starts with none"


def test_a_throttled_503_is_no_5xx_answer_until_it_outlasts_the_patience() -> None:
    c = mock_client(answering(503, retry_after="0"))  # waited out and retried: the 200 is the answer
    c.start_test("t")
    assert c.get("/api/v1/users").status_code == 200
    assert c.received_5xx() == []
    c = mock_client(answering(*[503] * 10, retry_after="0"), Network(throttle_retries=2))
    c.start_test("t")
    persisted = c.get("/api/v1/users")  # a 503 on every try: no longer a deploy, a 5xx, ERR-3's
    assert persisted.status_code == 503
    assert [(op, seen.last) for op, seen in c.received_5xx()] == [("get_users", persisted)]
    c = mock_client(answering(503, 503, 503, retry_after="5"), Network(patience=8.0))
    c.start_test("t")
    assert c.get("/api/v1/users").status_code == 503, "5 s held, then 5 more would pass the patience of 8 s"
    assert len(c.received_5xx()) == 1


def test_the_preflight_and_the_cleanup_are_no_tests() -> None:
    c = mock_client(answering(500, 500))
    c.get("/api/v1/users")  # before the first test: the preflight
    c.start_test("t")
    c.cleaning_up = True
    c.delete(USER)  # the run's own cleanup (the guard lets it through: the id is made up)
    assert c.received_5xx() == []


def state_for(c: GuardedClient) -> SimpleNamespace:
    """What reporting reads of a run: its client, its redactor and the evidence of an exchange."""
    api = SimpleNamespace(http=c, redact=c.redact)
    api.evidence = lambda answer: Api.evidence(api, answer)  # type: ignore[arg-type]
    return SimpleNamespace(api=api, redact=c.redact)


def test_a_violation_a_5xx_showed_is_err3_and_every_other_5xx_is_added() -> None:
    c = mock_client(answering(500, 500, 502))
    c.start_test("t")
    listed = c.get("/api/v1/users", params={"filterBy": "username<=x"})
    c.get("/api/v1/users/count")
    c.post(f"{USER}/logout")  # a 502 the test never looked at
    found = [
        ContractViolation("LIST-2", "GET /api/v1/users: expected 200, got 500", answer=listed),
        ContractViolation("ERR-1", "a 500 answer is not an Error body", answer=listed),  # about the body: stands
        ContractViolation("LIST-7", "count is 3, the list has 2", operation="count_users"),  # found on its own
        KeyError("count"),  # the test then crashed reading an answer that never came
    ]
    named = with_server_errors(state_for(c), found)  # type: ignore[arg-type]
    assert [(v.rules, v.operation, v.status) for v in named if isinstance(v, ContractViolation)] == [
        (["ERR-3"], None, 500),
        (["ERR-1"], None, 500),
        (["LIST-7"], "count_users", None),
        (["ERR-3"], "count_users", 500),
        (["ERR-3"], "logout_user", 502),
    ]
    assert not [leaf for leaf in named if not isinstance(leaf, ContractViolation)], "the crash is no failure of its own"
    assert named[0].met_by == ["LIST-2"] and str(named[0]).startswith("[ERR-3] a 500 answer")
    assert "request:  POST http://target/api/v1/users/" in str(named[4]) and "reproduce: curl" in str(named[4])
    assert "the test then stopped: KeyError" in str(named[4])


def test_one_err3_per_5xx_and_a_refusal_stays_itself() -> None:
    c = mock_client(answering(500))
    c.start_test("t")
    answer = c.get("/api/v1/users/count")
    request = ("GET", str(answer.request.url))
    found = [
        ContractViolation("ERR-3", "Server error", operation="count_users", request=request, status=500),
        ContractViolation("LIST-7", "undocumented status 500", operation="count_users", request=request, status=500),
        ContractViolation([], "TRACE answered 500, not 405", operation="count_users", request=request, status=500),
        Refused("DELETE of a user this run did not create"),
    ]
    named = with_server_errors(state_for(c), found)  # type: ignore[arg-type]
    assert [type(v).__name__ for v in named] == ["ContractViolation", "Refused"]
    assert named[0].rules == ["ERR-3"] and not named[0].met_by


def test_a_failure_no_rule_names_holds_no_5xx_but_one_without_a_5xx_stays() -> None:
    undeclared = ContractViolation([], "TRACE answered 200, not 405", operation="get_users", status=200)
    assert with_server_errors(None, [undeclared]) == [undeclared] and undeclared.rules == []


# A planted 500 in each kind of test: the part that meets it, and what its own checks said before every
# 5xx was ERR-3's (a wrong rule, a failure no rule names, or nothing at all).
KINDS = {
    "err-undeclared-method-500": (
        "conformance/test_fuzz.py::test_operation_conforms::test_operation_conforms[GET /api/v1/users/count]",
        "fuzzing: beside ERR-3, the 500 to TRACE was a failure no rule names",
    ),
    "err-crash-on-username-bound": (
        "conformance/test_listing.py::test_filter_returns_exactly_the_matching_users",
        "a Hypothesis property: LIST-2 (expected 200, got 500)",
    ),
    "err-read-after-login-500": (
        "conformance/test_stateful.py::test_users_lifecycle_machine",
        "a state machine: USR-4 (expected 200, got 500)",
    ),
    "err-logout-never-logged-in-500": (
        "conformance/test_roles_and_isolation.py::test_admin_uses_every_users_operation",
        "a hand-written probe: passed (it only looks for 403)",
    ),
}


def kind(test_id: str) -> str:
    """The test a report's id belongs to, whatever the id's spelling (path or JUnit class) and without the
    state machine's part: `...::test_users_lifecycle_machine[shard3]` is the machine's."""
    return re.sub(r"\[shard\d+\]$", "", test_id.rsplit("::", 1)[-1])


def test_a_5xx_in_every_kind_of_test_is_err3_with_its_request_and_the_gate_counts_it(tmp_path: Path) -> None:
    parts = [part for part, _ in KINDS.values()]
    (tmp_path / "green").mkdir()
    (tmp_path / "red").mkdir()
    assert {FAULTS[f].rule for f in KINDS} == {"ERR-3"}
    with reference() as server:
        green = run_suite(server, tmp_path / "green", *parts, "--profile", "ci")
    assert green.returncode == 0 and not green.failed, green.output[-3000:]
    assert sorted({kind(t) for t in green.passed}) == sorted(kind(p) for p in parts), green.passed
    with reference(*KINDS) as server:
        red = run_suite(server, tmp_path / "red", *parts, "--profile", "ci", "--shrink-seconds", "0")
    assert red.returncode == 1, red.output[-3000:]
    assert sorted({kind(t) for t in red.failed}) == sorted(kind(p) for p in parts), red.failed
    assert all(rules == {"ERR-3"} for rules in red.failed.values()), red.failed
    data = json.loads((red.report_dir / "summary.json").read_text())
    assert data["unattributed"] == [], "no 5xx is a failure no rule names"
    assert {r for r, e in data["rules"].items() if e["status"] == "failed"} == {"ERR-3"}
    evidence = data["rules"]["ERR-3"]["evidence"]
    for part in parts:
        mine = [e["message"] for e in evidence if kind(e["test"]) == kind(part)]
        assert mine and all("[ERR-3]" in m and "request:" in m and "response: 5" in m for m in mine), (part, mine)
    assert {"get_users", "get_user_by_id", "logout_user", "count_users"} <= set(data["rules"]["ERR-3"]["cells"])
    assert [line for line in red.output.splitlines() if line.startswith("FAILED")] and all(
        line.startswith("FAILED [ERR-3] ") for line in red.output.splitlines() if line.startswith("FAILED")
    )
    out = tmp_path / "regression"
    assert cli(["regress", str(green.report_dir), str(red.report_dir), "--out", str(out), "--allow-mismatch"]) == 1
    regression = (out / "regression.md").read_text()
    assert "| ERR-3 |" in regression.split("## New failures", 1)[1].split("##", 1)[0], regression
