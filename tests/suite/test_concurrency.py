"""The run's concurrency: one setting (--concurrency / RUNAI_CONCURRENCY, pytest-xdist's -n underneath) whose
default follows where the target is, and a rate_limit that holds for the run, not for each worker; a worker
killed, or the run stopped, leaves nothing tagged behind and passes no gate."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from runai_conformance.conformance import lazy_coverage
from runai_conformance.conformance.cli import main as cli
from runai_conformance.conformance.fuzz import load_schema
from runai_conformance.conformance.options import REMOTE_CONCURRENCY, concurrency
from runai_conformance.conformance.plugin import balanced
from runai_conformance.reference.server import NetworkModes
from tests.suite.runner import reference, run_suite, start_suite, tagged_leftovers


class Options:
    """The options `concurrency` reads, as pytest's config gives them."""

    def __init__(self, **given: Any) -> None:
        self.given = given

    def getoption(self, name: str) -> Any:
        return self.given.get(name)


@pytest.mark.parametrize(
    ("url", "workers"),
    [
        ("https://staging.example.com", REMOTE_CONCURRENCY),
        ("https://10.20.30.40:8443", REMOTE_CONCURRENCY),
        ("http://127.0.0.1:8080", 1),
        ("http://127.3.4.5", 1),
        ("http://localhost:9000", 1),
        ("http://[::1]:9000", 1),
        (None, 1),  # the embedded reference server
    ],
)
def test_the_default_follows_where_the_target_is(
    url: str | None, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNAI_TARGET_URL", raising=False)
    monkeypatch.delenv("RUNAI_CREDENTIALS", raising=False)
    monkeypatch.delenv("RUNAI_CONCURRENCY", raising=False)
    assert concurrency(Options(target_url=url)) == workers  # type: ignore[arg-type]


def test_the_credentials_files_url_counts_and_the_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNAI_TARGET_URL", "RUNAI_CREDENTIALS", "RUNAI_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    creds = tmp_path / "creds.toml"
    creds.write_text('[target]\nurl = "https://staging.example.com"\n')
    assert concurrency(Options(credentials=str(creds))) == REMOTE_CONCURRENCY  # type: ignore[arg-type]
    assert concurrency(Options(credentials=str(creds), concurrency="2")) == 2  # type: ignore[arg-type]
    monkeypatch.setenv("RUNAI_CONCURRENCY", "3")
    assert concurrency(Options(credentials=str(creds))) == 3  # type: ignore[arg-type]
    creds.write_text("[target\n")  # broken: reported in one line when the run reads it, not here
    monkeypatch.delenv("RUNAI_CONCURRENCY")
    assert concurrency(Options(credentials=str(creds))) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["0", "-2", "many", "1.5"])
def test_a_bad_concurrency_is_one_line(bad: str) -> None:
    with pytest.raises(pytest.UsageError, match=r"--concurrency / RUNAI_CONCURRENCY .*whole number >= 1"):
        concurrency(Options(concurrency=bad))  # type: ignore[arg-type]


def test_the_rate_limit_holds_for_the_run_not_for_each_worker(tmp_path: Path) -> None:
    """rate_limit = 10 with two workers: the target never sees much more than 10 requests in a second."""
    limit = 10
    with reference() as server:
        result = run_suite(
            server, tmp_path, "conformance/test_inputs.py", "conformance/test_users_lifecycle.py", "--profile", "smoke",
            "--concurrency", "2", target_settings=f"rate_limit = {limit}",
        )  # fmt: skip
        times = sorted(entry["at"] for entry in server.requests)
    assert result.returncode == 0, result.output[-3000:]
    assert "2 workers (-n, --concurrency)" in result.output, result.output[-3000:]
    assert len(times) > 4 * limit, "enough requests to see a rate"
    busiest = max(sum(1 for t in times[i:] if t < start + 2.0) for i, start in enumerate(times))
    assert busiest <= 2 * limit + 3, f"{busiest} requests in 2 s with rate_limit = {limit}"  # +3: each limiter's first


def workers_of(pid: int) -> list[int]:
    """The processes `pid` started (pytest-xdist's workers), read off /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def started_two_workers_creating(server: Any, tmp_path: Path) -> subprocess.Popen[str]:
    """A concurrent run (two workers, each with its own run tag) well into creating users on both."""
    proc = start_suite(
        server, tmp_path, "conformance/test_stateful.py", "-k", "users_lifecycle", "--profile", "ci",
        "--concurrency", "2",
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len({RUN_TAG_IN.match(n)[0] for n in tagged_leftovers(server)}) < 2:
        time.sleep(0.1)
    assert len(workers_of(proc.pid)) == 2, "two workers"
    assert len({RUN_TAG_IN.match(n)[0] for n in tagged_leftovers(server)}) == 2, "both workers created users"
    return proc


RUN_TAG_IN = re.compile(r"rcf-[0-9a-f]{8}")


def gate_on(report_dir: Path, tmp_path: Path) -> int:
    return cli(["regress", str(report_dir), str(report_dir), "--out", str(tmp_path / "gate")])


def test_a_killed_worker_leaves_nothing_tagged_and_the_run_passes_no_gate(tmp_path: Path) -> None:
    """A worker killed outright (SIGKILL: no cleanup of its own) mid-run: the controller sweeps the tag it
    gave that worker, and the run is incomplete (its test has no verdict)."""
    with reference(network=NetworkModes(latency=0.01)) as server:
        proc = started_two_workers_creating(server, tmp_path)
        os.kill(workers_of(proc.pid)[0], signal.SIGKILL)
        output, _ = proc.communicate(timeout=600)
        left = tagged_leftovers(server)
    assert left == [], output[-3000:]
    assert proc.returncode != 0, output[-3000:]
    run = json.loads((tmp_path / "reports" / "summary.json").read_text())["run"]
    assert not run["complete"] and any("a worker crashed while running" in r for r in run["incomplete_because"]), run
    assert "INCOMPLETE run" in output, output[-3000:]
    assert gate_on(tmp_path / "reports", tmp_path) == 3


def test_sigterm_to_a_concurrent_run_leaves_nothing_tagged_and_the_run_passes_no_gate(tmp_path: Path) -> None:
    """SIGTERM to the run (the process a CI job's timeout stops), not to its workers: nothing tagged is left,
    by the workers' own cleanup or the controller's sweep of their tags, and no gate passes on the run."""
    with reference(network=NetworkModes(latency=0.01)) as server:
        proc = started_two_workers_creating(server, tmp_path)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=600)
        left = tagged_leftovers(server)
    assert left == [], output[-3000:]
    assert proc.returncode != 0, output[-3000:]
    run = json.loads((tmp_path / "reports" / "summary.json").read_text())["run"]
    assert not run["complete"] and run["interrupted"], run
    assert gate_on(tmp_path / "reports", tmp_path) == 3


def coverage_cases(lazy: bool) -> dict[str, list[tuple[Any, ...]]]:
    """Every fuzzed operation's coverage cases, as its test would run them, made lazily or at collection."""
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test

    schema = load_schema()
    (lazy_coverage.install if lazy else lazy_coverage.uninstall)()
    try:
        found = {}
        for result in schema.get_all_operations():
            operation = result.ok()
            test = build_operation_test(
                config=schema.config, operation=operation, test_func=lambda case: None, given_kwargs={},
                feedback=FeedbackSources(),
            )  # fmt: skip
            examples = test.hypothesis_explicit_examples
            assert isinstance(examples, lazy_coverage.LazyExamples) == lazy
            found[operation.label] = [
                (c.method, c.path, repr(c.path_parameters), repr(c.query), repr(c.headers), repr(c.body))
                for c in (example.kwargs["case"] for example in reversed(examples))
            ]
        return found
    finally:
        lazy_coverage.install()


def test_coverage_cases_made_when_a_test_runs_are_those_schemathesis_makes_at_collection() -> None:
    """The coverage phase is made by the process that runs an operation's test, not by every worker at
    collection (conformance/lazy_coverage.py): the same cases, in the same order."""
    eager, lazy = coverage_cases(lazy=False), coverage_cases(lazy=True)
    assert eager.keys() == lazy.keys() and len(eager) >= 10
    assert sum(len(cases) for cases in eager.values()) > 200, "the coverage phase made cases at all"
    for label in eager:
        assert lazy[label] == eager[label], label


class FakeItem:
    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = type("M", (), {"__name__": f"conformance.{module}"})(), name


@pytest.mark.parametrize("workers", [4, 8, 16])
def test_the_longest_tests_each_start_a_workers_share(workers: int) -> None:
    """pytest-xdist hands each worker a contiguous share of the collection: the longest tests (the fuzzed
    operations with the most coverage cases, longer than a part of a machine) each open a share, so none
    starts after another long one and ends the run late; every item is kept, once."""
    items = [FakeItem("test_listing", f"test_{i}") for i in range(200)]
    items += [FakeItem("test_fuzz", f"test_operation_conforms[{op}]") for op in (
        "GET /api/v1/users/count", "POST /api/v1/tenants", "GET /api/v1/users", "POST /api/v1/users",
        "DELETE /api/v1/users/{userId}",
    )]  # fmt: skip
    items += [FakeItem("test_stateful", f"test_users_lifecycle_machine[shard{i}]") for i in range(8)]
    ordered = balanced(items, workers)  # type: ignore[arg-type]
    assert sorted(map(id, ordered)) == sorted(map(id, items))
    starts, at = [], 0
    for i in range(workers):  # the shares' sizes, as balanced() cuts them
        starts.append(at)
        at += (len(items) - at) // (workers - i)
    firsts = [ordered[i].name for i in starts]
    longest = ["[POST /api/v1/tenants]", "[GET /api/v1/users]", "[POST /api/v1/users]"][: min(3, workers)]
    assert all(any(first.endswith(name) for first in firsts) for name in longest), firsts
