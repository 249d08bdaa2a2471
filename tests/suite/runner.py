"""Run the conformance suite as a user would (`pytest conformance …` in a subprocess) against a
reference server started here, and read what it reported."""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from runai_conformance.conformance.api import Api
from runai_conformance.conformance.guard import Guard, Ledger
from runai_conformance.conformance.network import Network
from runai_conformance.conformance.redact import Redactor
from runai_conformance.conformance.sweep import clean_up
from runai_conformance.conformance.target import build_target
from runai_conformance.conformance.transport import GuardedClient
from runai_conformance.reference.server import RunningServer, credentials_toml, running
from tests.suite.forkserver import Starter

ROOT = Path(__file__).resolve().parents[2]
SEED = "20261122"  # fixed, so that what a self-test proves does not depend on the draw


@dataclass
class SuiteResult:
    returncode: int
    output: str
    report_dir: Path
    failed: dict[str, set[str]] = field(default_factory=dict)  # test id -> rules named by its failure
    passed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)

    @property
    def failed_rules(self) -> set[str]:
        return set().union(*self.failed.values()) if self.failed else set()


def read_junit(path: Path) -> tuple[dict[str, set[str]], set[str], set[str]]:
    failed: dict[str, set[str]] = {}
    passed: set[str] = set()
    skipped: set[str] = set()
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:  # the rules its typed violations broke, as the plugin recorded them
            failed[name] = {p.get("value", "") for p in case.iter("property") if p.get("name") == "broken"}
        elif case.find("skipped") is not None:
            skipped.add(name)
        else:
            passed.add(name)
    return failed, passed, skipped


PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q")


def assert_one_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    """A run that cannot start stops with one line of ours that says why (and pytest's own summary), with
    no traceback and no `_pytest.outcomes.Exit` around the sentence."""
    text = done.stdout + done.stderr
    assert done.returncode not in (0, 1, 5), text[-2000:]
    assert "Traceback" not in text and "_pytest.outcomes" not in text, text[-2000:]
    said = [line for line in text.splitlines() if "runai-conformance:" in line]
    assert len(said) == 1, text[-2000:]
    for word in expected:
        assert word in said[0], said[0]


def suite_args(credentials: Path, report_dir: Path) -> list[str]:
    """The options every self-test's suite run has: its credentials file, its report dir, the fixed seed."""
    return ["--credentials", str(credentials), "--report-dir", str(report_dir), f"--hypothesis-seed={SEED}"]


def run_pytest(
    *args: str,
    timeout: float = 120,
    command: Sequence[str] = PYTEST,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`pytest ARGS` in the project as a user types it (or another `command` started from `cwd`, as an
    installed copy is), waited for, output captured (stdout and stderr as one); `env` adds to the
    environment. `python -m pytest` of this checkout starts from the pre-warmed starter (forkserver.py)."""
    environment = {**os.environ, **(env or {})}
    if tuple(command[: len(PYTEST)]) == PYTEST:  # `python -m pytest …`, from wherever: the starter forks it
        return starter().run([*PYTEST[3:], *command[len(PYTEST) :], *args], cwd, environment, timeout)
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment)


_STARTER: list[Starter] = []


def starter() -> Starter:
    """This self-test process's starter of suite runs, started on first use and ended at exit."""
    if not _STARTER:
        _STARTER.append(Starter(ROOT))
        atexit.register(_STARTER[0].close)
    return _STARTER[0]


def start_suite(server: RunningServer, tmp: Path, *args: str) -> subprocess.Popen[str]:
    """`pytest ARGS` against `server` (reports in tmp/reports), started and left running for a test that
    interrupts it; stdout unbuffered (stderr joined), so the test can follow it as it goes."""
    creds = tmp / "credentials.toml"
    creds.write_text(credentials_toml(server.store, server.url))
    return subprocess.Popen(
        [*PYTEST, *suite_args(creds, tmp / "reports"), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def run_suite(
    server: RunningServer,
    tmp: Path,
    *args: str,
    timeout: float = 600,
    drop_roles: tuple[str, ...] = (),
    target_settings: str = "",
    grant: str | None = None,
    command: Sequence[str] = PYTEST,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> SuiteResult:
    """`pytest ARGS` (ARGS name the part of conformance/ to run) against `server`, reports in tmp/reports;
    the credentials file leaves out `drop_roles` and has `target_settings` (TOML lines) in its [target].
    `command` and `cwd` start it another way (`runai-conformance run` of an installed copy, say); `env` adds
    to its environment."""
    tmp.mkdir(parents=True, exist_ok=True)
    creds = tmp / "credentials.toml"
    text = credentials_toml(server.store, server.url)
    if grant:  # every role gets its token with this grant (client_credentials, app_token)
        text = re.sub(r"(?m)^(client_secret = .*)$", rf'\1\ngrant = "{grant}"', text)
    if target_settings:
        text = text.replace("[target]\n", f"[target]\n{target_settings.strip()}\n", 1)
    for role in drop_roles:
        text = re.sub(rf"(?ms)^\[roles\.{role}\]\n.*?(?=^\[|\Z)", "", text)
    creds.write_text(text)
    report_dir = tmp / "reports"
    done = run_pytest(*suite_args(creds, report_dir), *args, timeout=timeout, command=command, cwd=cwd, env=env)
    return suite_result(done.returncode, done.stdout + done.stderr, report_dir)


def suite_result(returncode: int, output: str, report_dir: Path) -> SuiteResult:
    result = SuiteResult(returncode, output, report_dir)
    junit = report_dir / "junit.xml"
    if junit.exists():
        result.failed, result.passed, result.skipped = read_junit(junit)
    return result


@contextmanager
def once_per_session(factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, bool]]:
    """A directory every worker of the self-test session (-n) shares, and whether the caller is the first to
    come: it builds there while the others wait on a lock; a build that fails is tried again by the next."""
    base = factory.getbasetemp()
    home = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    home.mkdir(exist_ok=True)
    with (home / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        first = not (home / "ready").exists()
        yield home, first
        (home / "ready").touch()


def clean_smoke_run(factory: pytest.TempPathFactory) -> SuiteResult:
    """The checkout's whole smoke run against a clean reference, made once for the self-test session and
    read by every test that needs it as it is (a baseline, the checkout's verdicts): never changed."""
    with once_per_session(factory, "clean-smoke") as (home, first):
        if first:
            with reference() as server:
                made = run_suite(server, home / "run", "conformance", "--profile", "smoke")
            (home / "result.json").write_text(json.dumps({"returncode": made.returncode, "output": made.output}))
    kept = json.loads((home / "result.json").read_text())
    return suite_result(kept["returncode"], kept["output"], home / "run" / "reports")


def client_token(url: str, creds: dict[str, str]) -> str:
    """An access token for a client of the reference server (client_credentials grant)."""
    answer = httpx.post(
        f"{url}/api/v1/token",
        json={
            "grantType": "client_credentials",
            "clientId": creds["client_id"],  # as the suite sends it (conformance/api.py)
            "clientSecret": creds["client_secret"],
        },
    )
    return str(answer.json()["accessToken"])


@contextmanager
def reference(*faults: str, token_ttl: int | None = None, **modes: Any) -> Iterator[RunningServer]:
    """The reference with `faults` planted and `modes` (token_bytes, token_answer, seed_foreign) set.
    Its tokens live an hour, unless auth-accepts-expired is planted: the suite only waits for tokens
    that expire within MAX_EXPIRY_WAIT, so then 10 s."""
    if token_ttl is None:
        token_ttl = 10 if "auth-accepts-expired" in faults else 3600
    with running(list(faults), token_ttl=token_ttl, **modes) as server:
        yield server


def mock_client(handler: Callable[[httpx.Request], httpx.Response], network: Network | None = None) -> GuardedClient:
    """The run's one client (guard, ledger, redaction) in front of a mock target answering with `handler`."""
    guard = Guard(Ledger("rcf-0badc0de"))
    return GuardedClient(
        ledger=guard.ledger, guard=guard, redact=Redactor(), network=network, transport=httpx.MockTransport(handler),
        base_url="http://target",
    )  # fmt: skip


@contextmanager
def suite_api(server: RunningServer, tmp: Path, profile: str = "ci") -> Iterator[Api]:
    """The suite's own Api (as its `api` fixture builds it) for `server`, cleaned up at the end."""
    creds = tmp / "credentials.toml"
    creds.write_text(credentials_toml(server.store, server.url))
    target = build_target(url=None, credentials=creds, token=None, profile=profile, read_only=False, report_dir=tmp)
    api = Api.connect(target)
    with api.http:
        try:
            yield api
        finally:
            clean_up(api)


def tagged_leftovers(server: RunningServer) -> list[str]:
    """Users and tenants on the server whose names carry a run tag."""
    users = server.store.read("SELECT username FROM users WHERE username LIKE 'rcf-%'")
    tenants = server.store.read("SELECT name FROM tenants WHERE name LIKE 'rcf-%'")
    return [r["username"] for r in users] + [r["name"] for r in tenants]


def untouched_snapshot(server: RunningServer) -> list[tuple]:
    """Everything on the server the suite did not create: it must be exactly the same after a run."""
    users = server.store.read(
        "SELECT id, tenant_id, username, password_hash, tokens_valid_after FROM users WHERE username NOT LIKE 'rcf-%' ORDER BY id"
    )
    tenants = server.store.read("SELECT id, name, status, deleted FROM tenants WHERE name NOT LIKE 'rcf-%' ORDER BY id")
    return [tuple(r) for r in users] + [tuple(r) for r in tenants]
