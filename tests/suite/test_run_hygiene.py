"""A run on a shared target: read-only means no writes, nothing tagged survives a green, red or
interrupted run, no secret reaches the report dir, and bad input stops the run in one line."""

from __future__ import annotations

import http.server
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from runai_conformance.conformance import plugin
from runai_conformance.conformance import test_users_lifecycle as lifecycle
from runai_conformance.conformance.cli import main
from runai_conformance.reference.server import credentials_toml
from tests.suite.runner import (
    ROOT,
    assert_one_line,
    reference,
    run_pytest,
    run_suite,
    start_suite,
    suite_api,
    tagged_leftovers,
    untouched_snapshot,
)

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
REFERENCE_TEMP_PASSWORD = re.compile(r"[A-Za-z0-9_-]{22}-Tp1")  # the shape of the reference's temporary passwords


def test_read_only_sends_nothing_that_changes_state_nor_a_wrong_secret_for_a_real_client(tmp_path: Path) -> None:
    with reference() as server:
        before = untouched_snapshot(server)
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", "--read-only")
        assert result.returncode == 0, result.output[-3000:]
        writes = [
            r
            for r in server.requests
            if r["method"] in ("POST", "PUT", "PATCH", "DELETE") and r["path"] != "/api/v1/token"
        ]
        assert writes == [], writes[:5]
        grants = [r["grant"] for r in server.requests if r["path"] == "/api/v1/token"]
        assert [g for g in grants if g["known"] and not g["secret_ok"]] == [], "a wrong secret for a real client"
        assert [g for g in grants if not g["known"]], "AUTH-3's wrong-secret check ran, with a made-up client id"
        assert result.passed, "a read-only run must still test the reads"
        assert untouched_snapshot(server) == before
        rules = json.loads((result.report_dir / "summary.json").read_text())["rules"]
        assert any("read-only" in reason for reason in rules["USR-8"]["skip_reasons"]), (
            "the report says what was skipped"
        )


def test_no_secret_in_any_report_file_even_when_the_target_leaks_them(tmp_path: Path) -> None:
    # This fault puts temporary passwords into GET answers, which the failure evidence quotes.
    with reference("usr-get-leaks-temp-password") as server:
        result = run_suite(server, tmp_path, "conformance/test_fuzz.py", "--profile", "ci")
        assert result.returncode == 1
        # the pages made from the run afterwards too: the regression report and the matrix again
        assert main(["regress", str(result.report_dir), str(result.report_dir)]) == 0
        assert main(["matrix", str(result.report_dir)]) == 0
        secrets = [c["client_secret"] for c in server.credentials.values()]
        files = [p for p in result.report_dir.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"junit.xml", "summary.json", "matrix.html", "matrix.md", "regression.md", "regression.html"} <= names
        assert any(p.parent.name == "allure-results" for p in files)
        for path in [*files, None]:
            text = result.output if path is None else path.read_text(encoding="utf-8", errors="replace")
            where = "the printed output" if path is None else str(path)
            assert not [s for s in secrets if s in text], f"a client secret in {where}"
            assert not JWT.search(text), f"a token in {where}"
            assert not REFERENCE_TEMP_PASSWORD.search(text), f"a temporary password in {where}"
        for name in ("junit.xml", "summary.json", "matrix.html"):
            assert "[REDACTED]" in (result.report_dir / name).read_text(), f"the leak should show in {name}, redacted"


def test_interrupted_run_leaves_nothing_tagged(tmp_path: Path) -> None:
    with reference() as server:
        proc = start_suite(server, tmp_path, "conformance/test_fuzz.py", "--profile", "nightly")
        deadline = time.monotonic() + 60
        while not tagged_leftovers(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tagged_leftovers(server), "the run never created anything to clean up"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode != 0
        assert tagged_leftovers(server) == [], output[-2000:]
        assert "cleanup done" in output


def run_with(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pytest("conformance", "--report-dir", str(tmp_path / "r"), *args)


def test_an_interrupt_that_lands_between_two_lines_is_reported_as_an_interrupt() -> None:
    """Python 3.11 can leave the frame Ctrl-C interrupted without a line number: pytest's report of the
    interrupt failed on it (a TypeError, exit 1 as if a test had failed) in a fresh-clone CI run."""
    frame = sys._getframe()
    between = types.TracebackType(None, frame, 10**6, -1)  # an instruction without a line
    assert between.tb_lineno is None
    excinfo = pytest.ExceptionInfo.from_exc_info(
        (KeyboardInterrupt, KeyboardInterrupt(), types.TracebackType(between, frame, frame.f_lasti, frame.f_lineno))
    )
    plugin.pytest_keyboard_interrupt(excinfo)
    shown = str(excinfo.getrepr(funcargs=True))  # what pytest's terminal reporter prints at the end
    assert "KeyboardInterrupt" in shown and "test_an_interrupt_that_lands_between_two_lines" in shown, shown


def test_broken_credentials_file_gets_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "creds.toml"
    bad.write_text('[roles.admin]\nclient_id = "x"\nclient_secret = \n')
    assert_one_line(
        run_with(tmp_path, "--credentials", str(bad), "--target-url", "http://127.0.0.1:9"), str(bad), "not valid TOML"
    )
    bad.write_text('[roles.admin]\nclient_id = "x"\n')
    assert_one_line(
        run_with(tmp_path, "--credentials", str(bad), "--target-url", "http://127.0.0.1:9"), "client_secret"
    )
    assert_one_line(run_with(tmp_path, "--credentials", str(tmp_path / "nope.toml")), "does not exist")


def test_unreachable_target_gets_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert_one_line(
        run_with(tmp_path, "--target-url", f"http://127.0.0.1:{port}", "--token", "t"), "cannot reach", str(port)
    )


def test_target_that_is_not_this_api_gets_one_line(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert_one_line(run_with(tmp_path, "--target-url", url, "--token", "t"), "does not look like the Run:ai API")
    finally:
        server.shutdown()


def test_refused_credentials_get_one_line(tmp_path: Path) -> None:
    with reference() as server:
        creds = tmp_path / "creds.toml"
        creds.write_text(
            f'[target]\nurl = "{server.url}"\n[roles.admin]\nclient_id = "t1-admin"\nclient_secret = "wrong"\n'
        )
        assert_one_line(run_with(tmp_path, "--credentials", str(creds)), "refused the admin credentials")
        assert [r for r in server.requests if r["method"] != "GET" and r["path"] != "/api/v1/token"] == []


def sweep_command(creds: Path) -> list[str]:
    return [sys.executable, "-m", "runai_conformance.conformance.cli", "sweep", "--credentials", str(creds)]


def test_sweep_removes_one_runs_leftovers_and_nothing_else(tmp_path: Path) -> None:
    with reference() as server:
        creds = tmp_path / "creds.toml"
        creds.write_text(credentials_toml(server.store, server.url))
        left, other_run, untagged = "rcf-0000dead", "rcf-0000beef", "someone"
        for name in (left, other_run, untagged):
            server.store.create_user(1, f"{name}-x@example.com", "seed")
            server.store.create_tenant({"name": f"{name}-t", "email": "o@example.com", "contract_type": "normal"})
        before = untouched_snapshot(server)
        command = sweep_command(creds)
        done = subprocess.run([*command, "--tag", left], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert sorted(tagged_leftovers(server)) == sorted([f"{other_run}-x@example.com", f"{other_run}-t"])
        assert untouched_snapshot(server) == before
        # --all spares what is younger than --older-than, so runs in progress keep their resources
        done = subprocess.run([*command, "--all"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and len(tagged_leftovers(server)) == 2
        done = subprocess.run(
            [*command, "--all", "--older-than", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0 and tagged_leftovers(server) == []
        assert untouched_snapshot(server) == before
        bad = subprocess.run([*command, "--tag", "alice"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "not a run tag" in bad.stderr and "Traceback" not in bad.stderr


def test_sweep_pages_through_more_leftovers_than_one_page_holds(tmp_path: Path) -> None:
    with reference() as server:
        creds = tmp_path / "creds.toml"
        creds.write_text(credentials_toml(server.store, server.url))
        for n in range(1100):  # LIST-6: a page holds at most 500
            server.store.create_user(1, f"rcf-0000dead-{n:04d}@example.com", "seed")
        before = untouched_snapshot(server)
        done = subprocess.run(
            [*sweep_command(creds), "--tag", "rcf-0000dead"], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert tagged_leftovers(server) == []
        assert untouched_snapshot(server) == before


def test_lifecycle_checks_find_their_user_among_more_than_a_page_of_the_runs(tmp_path: Path) -> None:
    """A nightly run tags more users than one page holds (LIST-6: 500): the checks that look for one
    user in the list must still find it (a false alarm the nightly benchmark found)."""
    with reference() as server:
        with suite_api(server, tmp_path) as api:
            for n in range(600):
                server.store.create_user(1, f"{api.ledger.run_tag}-bulk-{n:04d}@example.com", "seed")
            lifecycle.test_duplicate_email_conflicts_and_creates_nothing(api)
            lifecycle.test_delete_removes_the_user_everywhere(api)
        assert tagged_leftovers(server) == []
