"""The reference server as a program: start-up line, signals, persistence, bad --db, concurrency."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from runai_conformance.reference.faults import FAULTS
from runai_conformance.reference.server import running
from tests.suite.runner import client_token

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def server_process(*args: str | Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m runai_conformance.reference --port 0 ARGS`, until its ready line; stopped with SIGTERM on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runai_conformance.reference", "--port", "0", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("reference: serving http://127.0.0.1:"), line + (
            proc.stderr.read() if proc.stderr else ""
        )
        yield proc, line.split()[2]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


def token(url: str, creds: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {client_token(url, creds)}"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_starts_with_one_ready_line_and_stops_cleanly(sig: signal.Signals, tmp_path: Path) -> None:
    creds_file = tmp_path / "creds.toml"
    with server_process("--credentials-out", creds_file) as (proc, url):
        creds = tomllib.loads(creds_file.read_text())
        assert creds["target"]["url"] == url
        assert set(creds["roles"]) == {"operator", "admin", "viewer", "peer"}
        assert httpx.get(f"{url}/api/v1/users", headers=token(url, creds["roles"]["admin"])).status_code == 200
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
        out, err = proc.communicate()
        assert "reference: stopped" in out and "Traceback" not in err


def test_restart_with_the_same_db_keeps_users_and_tenants(tmp_path: Path) -> None:
    db, creds_file = tmp_path / "ref.sqlite", tmp_path / "creds.toml"
    email = f"keep-{uuid.uuid4().hex[:8]}@example.com"
    with server_process("--db", db, "--credentials-out", creds_file) as (_, url):
        roles = tomllib.loads(creds_file.read_text())["roles"]
        user = httpx.post(f"{url}/api/v1/users", json={"email": email}, headers=token(url, roles["admin"])).json()
        tenant = httpx.post(
            f"{url}/api/v1/tenants",
            json={"name": "kept-tenant", "email": "o@example.com"},
            headers=token(url, roles["operator"]),
        ).json()["tenant"]
    with server_process("--db", db, "--credentials-out", creds_file) as (_, url):
        roles = tomllib.loads(creds_file.read_text())["roles"]
        got = httpx.get(f"{url}/api/v1/users/{user['id']}", headers=token(url, roles["admin"]))
        assert got.status_code == 200 and got.json()["username"] == email
        got = httpx.get(f"{url}/api/v1/tenants/{tenant['id']}", headers=token(url, roles["operator"]))
        assert got.status_code == 200 and got.json()["name"] == "kept-tenant"
        assert (
            httpx.post(
                f"{url}/api/v1/token",
                json={"grantType": "password", "username": email, "password": user["tempPassword"]},
            ).status_code
            == 200
        )


@pytest.mark.parametrize("kind", ["corrupt", "unwritable", "missing-folder"])
def test_bad_db_gets_one_line(kind: str, tmp_path: Path) -> None:
    db = tmp_path / "ref.sqlite"
    if kind == "corrupt":
        db.write_bytes(b"this is not a database" * 100)
    elif kind == "unwritable":
        if os.geteuid() == 0:
            db = Path("/proc/ref.sqlite")  # root can write anywhere else
        else:
            tmp_path.chmod(0o500)
    else:
        db = tmp_path / "no" / "such" / "ref.sqlite"
    before = db.read_bytes() if db.is_file() else None
    result = subprocess.run(
        [sys.executable, "-m", "runai_conformance.reference", "--port", "0", "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reference: error: cannot use database"), result.stderr
    assert (db.read_bytes() if db.is_file() else None) == before


def test_list_faults_names_every_fault_with_its_rule() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runai_conformance.reference", "--list-faults"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    listed = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert listed == {name: fault.rule for name, fault in FAULTS.items()}


def test_unknown_fault_gets_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runai_conformance.reference", "--fault", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        result.returncode == 2 and result.stderr.strip() == "reference: error: unknown fault nope (see --list-faults)"
    )


def test_concurrent_clients_get_no_5xx_and_lose_no_write() -> None:
    """8 clients create, read and delete users for a bounded time; the final state sums what was acknowledged."""
    clients, seconds = 8, 4.0
    with running() as server:
        headers = token(server.url, server.credentials["admin"])
        start_ids = {u["id"] for u in httpx.get(f"{server.url}/api/v1/users", headers=headers).json()}
        created: list[set[str]] = [set() for _ in range(clients)]
        deleted: list[set[str]] = [set() for _ in range(clients)]
        server_errors: list[str] = []
        stop_at = time.monotonic() + seconds

        def work(n: int) -> None:
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
                i = 0
                while time.monotonic() < stop_at and i < 2000:
                    i += 1
                    answer = http.post(
                        "/api/v1/users", json={"email": f"load-{n}-{i}-{uuid.uuid4().hex[:6]}@example.com"}
                    )
                    if answer.status_code >= 500:
                        server_errors.append(f"POST {answer.status_code}")
                        continue
                    user_id = answer.json()["id"]
                    created[n].add(user_id)
                    read = http.get(f"/api/v1/users/{user_id}")
                    if read.status_code != 200:
                        server_errors.append(f"GET {read.status_code}")
                    if i % 2 == 0 and http.delete(f"/api/v1/users/{user_id}").status_code == 204:
                        deleted[n].add(user_id)
                    listing = http.get("/api/v1/users/count")
                    if listing.status_code >= 500:
                        server_errors.append(f"count {listing.status_code}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        assert not any(t.is_alive() for t in threads), "a client did not finish"
        assert not server_errors, server_errors[:5]
        expected = start_ids | set().union(*created) - set().union(*deleted)
        final = {
            u["id"] for u in httpx.get(f"{server.url}/api/v1/users", headers=headers, params={"limit": 500}).json()
        }
        total = httpx.get(f"{server.url}/api/v1/users/count", headers=headers).json()["count"]
        assert sum(map(len, created)) > 50, "too little load to prove anything"
        assert total == len(expected)
        if total <= 500:
            assert final == expected
