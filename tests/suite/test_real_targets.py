"""A real control plane is remote, behind TLS with a corporate CA, behind a gateway that throttles, and
sometimes stops answering. The reference plays each (reference/server.py NetworkModes, its TLS mode);
the suite must stay green where the target is right, and say "inconclusive" or stop in one line
where the network, not the target, is the problem."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest

from runai_conformance.conformance.cli import main as cli
from runai_conformance.reference.server import NetworkModes, credentials_toml
from tests.suite.runner import reference, run_suite, start_suite, tagged_leftovers


def test_tls_with_a_corporate_ca_is_green_with_ca_bundle(company_ca, tmp_path: Path) -> None:
    ca, (cert, key) = company_ca
    with reference(tls=(cert, key)) as server:
        assert server.url.startswith("https://")
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", target_settings=f'ca_bundle = "{ca}"')
    assert result.returncode == 0, result.output[-3000:]
    assert result.passed and not result.failed


def test_tls_without_the_ca_is_one_line_naming_the_setting(company_ca, tmp_path: Path) -> None:
    _, (cert, key) = company_ca
    with reference(tls=(cert, key)) as server:
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke")
        assert server.requests == [], "nothing reached the target"
    assert result.returncode == 4, result.output[-3000:]
    lines = [line for line in result.output.splitlines() if "runai-conformance:" in line and "ca_bundle" in line]
    assert len(lines) == 1 and "not trusted" in lines[0], result.output[-2000:]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ('ca_bundle = "/nonexistent/ca.pem"', "ca_bundle '/nonexistent/ca.pem' is not a file"),
        ('proxy = "not a url"', "proxy 'not a url' is not a proxy URL"),
        ("timeout = -1", "timeout must be a number of seconds > 0"),
        ('verify = "no"', "verify must be true or false"),
        ("rate_limit = 0", "rate_limit (requests per second) must be a number of seconds > 0"),
        ("cafile = 1", "[target] has unknown key(s) cafile"),
    ],
)
def test_a_bad_network_setting_is_one_line(setting: str, words: str, tmp_path: Path) -> None:
    with reference() as server:
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", target_settings=setting)
        assert server.requests == []
    assert result.returncode == 4 and words in result.output, result.output[-2000:]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("status", [429, 503])
def test_a_throttling_gateway_gives_no_failure_and_every_wait_is_counted(status: int, tmp_path: Path) -> None:
    """Every 25th request answered 429, or 503 with Retry-After (no 5xx answer for ERR-3: a request to come
    back later), whatever the pace: each is waited out and sent again, writes included, so nothing is
    inconclusive, except after a 503 a password change, whose effect cannot be read back, and a delete of
    the run's own that a read back finds done: their tests are inconclusive and told (a partial run,
    accepted here). A Retry-After of 0 does not slow the run down."""
    modes = NetworkModes(throttle_every=25, throttle_status=status)
    with reference(network=modes) as server:
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", "--accept-partial")
        leftovers = tagged_leftovers(server)
    assert modes.throttled > 20, "the gateway did throttle"
    assert result.returncode == 0 and not result.failed, result.output[-3000:]
    data = json.loads((result.report_dir / "summary.json").read_text())
    run, pacing = data["run"], data["pacing"]
    assert pacing[f"answers_{status}"] == modes.throttled and pacing["settled_rate"] is None, pacing
    if status == 429:
        assert run["inconclusive"] == 0 and run["partial"] is None, run
    elif run["inconclusive"]:
        assert f"{run['inconclusive']} test(s) INCONCLUSIVE" in result.output
        told = [t["message"] for t in data["tests"] if t["message"].startswith("inconclusive")]
        # a password change, or a delete of the run's own read back as done; anything else is sent again
        assert all(
            m.startswith("inconclusive: POST /api/v1/me/password: it was answered 503")
            or (m.startswith("inconclusive: DELETE /api/v1/") and "and it is deleted" in m)
            for m in told
        ), told
    assert f"throttled ({status}): waiting" in result.output, "a wait shows"
    assert leftovers == [], "the cleanup waits out the gateway too"


def test_workers_show_the_progress_of_their_long_tests(tmp_path: Path) -> None:
    """With -n N a worker's progress lines reach the terminal (pytest-xdist shows nothing a worker writes
    during a test), each marked with the worker's id."""
    with reference(network=NetworkModes(latency=0.02)) as server:
        result = run_suite(
            server, tmp_path, "conformance/test_stateful.py", "-k", "users_lifecycle and (shard0 or shard1)",
            "--profile", "ci", "-n", "2", "--progress-every", "0.2",
        )  # fmt: skip
    assert result.returncode == 0, result.output[-3000:]
    counts: dict[str, list[int]] = {}
    for test, n in re.findall(
        r"^runai-conformance \[gw\d\]: (conformance/test_stateful.py::\S+): (\d+) requests in", result.output, re.M
    ):
        counts.setdefault(test, []).append(int(n))
    # one of the machine's parts (each a test of its own) went on long enough to say so twice, and it moved
    assert any(len(seen) >= 2 and seen[-1] > seen[0] for seen in counts.values()), result.output[-3000:]


def test_a_target_that_stops_answering_ends_the_run_in_one_line_and_a_sweep_finishes(tmp_path: Path) -> None:
    modes = NetworkModes(stop_after=700)
    with reference(network=modes) as server:
        start = time.monotonic()
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", target_settings="timeout = 1")
        took = time.monotonic() - start
        modes.stop_after = None  # the target is back: what the run could not remove, a sweep removes
        tag = next(
            line.split("run tag ")[1].split(")")[0].split(";")[0]
            for line in result.output.splitlines()
            if "run tag " in line
        )
        creds = tmp_path / "sweep.toml"
        creds.write_text(credentials_toml(server.store, server.url))
        assert cli(["sweep", "--credentials", str(creds), "--tag", tag]) == 0
        assert tagged_leftovers(server) == []
    assert result.returncode == 4, result.output[-3000:]
    stopped = [line for line in result.output.splitlines() if "the target stopped answering after" in line]
    assert stopped and "Traceback" not in result.output, result.output[-3000:]
    assert took < 90, f"the run took {took:.0f} s to stop"
    assert f"runai-conformance sweep --tag {tag}" in result.output or "cleanup done" in result.output
    assert not json.loads((result.report_dir / "summary.json").read_text())["run"]["complete"]


def test_run_ai_token_answer_and_app_token_grant_from_the_credentials_file(tmp_path: Path) -> None:
    with reference(token_answer="runai") as server:
        result = run_suite(
            server, tmp_path, "conformance/test_users_lifecycle.py", "--profile", "smoke", grant="app_token"
        )
        grants = [r["grant"] for r in server.requests if r["path"] == "/api/v1/token" and r.get("grant")]
    assert result.returncode == 0, result.output[-3000:]
    assert any(g.get("grantType") == "app_token" and g["known"] and g["secret_ok"] for g in grants), grants[:3]


def test_ctrl_c_during_the_cleanup_is_one_line_with_the_sweep_command(tmp_path: Path) -> None:
    modes = NetworkModes()
    with reference(network=modes) as server:
        proc = start_suite(server, tmp_path, "conformance/test_users_lifecycle.py", "--profile", "smoke")
        seen = ""
        assert proc.stdout is not None
        while "[100%]" not in seen:  # the last test is done: the cleanup starts (no newline yet)
            char = proc.stdout.read(1)
            assert char, seen[-2000:]
            seen += char
        modes.latency = 1.0  # a slow target: the cleanup is still going when Ctrl-C comes
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
        output = seen + rest
        modes.latency = 0.0
        tag = output.split("run tag ")[1].split(")")[0].split(";")[0]
        sweep = tmp_path / "sweep.toml"
        sweep.write_text(credentials_toml(server.store, server.url))
        assert cli(["sweep", "--credentials", str(sweep), "--tag", tag]) == 0
        assert tagged_leftovers(server) == []
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    assert "the cleanup was interrupted" in output and f"runai-conformance sweep --tag {tag}" in output
