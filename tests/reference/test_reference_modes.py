"""The reference server's optional modes: the rich access log, large tokens, Run:ai's token answer, foreign data."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from runai_conformance.reference import tokens
from runai_conformance.reference.server import FOREIGN_TENANTS, FOREIGN_USERS, running, seed_foreign
from runai_conformance.reference.store import Store
from tests.reference.probes import payload_of

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def program(*args: str | Path) -> Iterator[str]:
    """`python -m runai_conformance.reference --port 0 ARGS` until its ready line, which it yields; SIGTERM on exit.
    (Not test_reference_server's helper: that module imports the suite, which is rewritten apart.)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runai_conformance.reference", "--port", "0", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().rstrip()
        assert line.startswith("reference: serving http://"), line
        yield line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def grant(url: str, **body: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/token", json=body)


def bearer(url: str, creds: dict[str, str]) -> dict[str, str]:
    answer = grant(
        url, grantType="client_credentials", clientID=creds["client_id"], clientSecret=creds["client_secret"]
    )
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


# ------------------------------------------------------------------------------------------- access log


def logged(server: Any, count: int) -> list[dict[str, Any]]:
    """The access log once it holds `count` lines: a line is written after its answer is sent, so the
    client can read the answer before the server has logged it."""
    deadline = time.monotonic() + 5
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.requests)


def test_access_log_names_the_principal_the_body_and_what_was_created() -> None:
    with running() as server:
        admin = bearer(server.url, server.credentials["admin"])
        operator = bearer(server.url, server.credentials["operator"])
        email = f"log-{uuid.uuid4().hex[:8]}@example.com"
        user = httpx.post(f"{server.url}/api/v1/users", json={"email": email}, headers=admin).json()
        tenant = httpx.post(
            f"{server.url}/api/v1/tenants", json={"name": "logged", "email": "o@example.com"}, headers=operator
        ).json()["tenant"]
        httpx.get(f"{server.url}/api/v1/users", params={"search": "log-"}, headers=admin)
        httpx.post(f"{server.url}/api/v1/users", json={"email": "x@example.com"}, headers={"Authorization": "Bearer x"})
        huge = b'{"email": "\xff' + b"y" * 20000 + b'"}'
        httpx.post(f"{server.url}/api/v1/users", content=huge, headers={**admin, "Content-Type": "application/json"})
        created_user, created_tenant, listing, unauthorised, bad = logged(server, 7)[-5:]  # 2 grants, then 5
    assert abs(created_user.pop("at") - time.time()) < 60, "when the answer went out, in seconds since the epoch"
    assert created_user == {
        "method": "POST",
        "path": "/api/v1/users",
        "query": "",
        "status": 201,
        "principal": "t1-admin",
        "body": json.dumps({"email": email}, separators=(",", ":")),
        "created": user["id"],
    }
    assert created_tenant["created"] == tenant["id"] and created_tenant["principal"] == "operator"
    assert listing["query"] == "search=log-" and "body" not in listing and "created" not in listing
    assert unauthorised["status"] == 401 and unauthorised["principal"] is None
    assert unauthorised["body"] == '{"email":"x@example.com"}'  # logged though the server never read it
    assert bad["status"] == 400 and bad["body"] == '{"email": "\ufffd' + "y" * 3988 and "created" not in bad


def test_access_log_of_a_token_grant_has_no_secret() -> None:
    with running() as server:
        creds = server.credentials["admin"]
        user = httpx.post(
            f"{server.url}/api/v1/users", json={"email": "pw@example.com"}, headers=bearer(server.url, creds)
        ).json()
        grant(server.url, grantType="client_credentials", clientID=creds["client_id"], clientSecret="wrong-Secret-1")
        grant(server.url, grantType="app_token", AppId="nobody", AppSecret=creds["client_secret"])
        grant(server.url, grantType="password", username="pw@example.com", password=user["tempPassword"])
        login = grant(server.url, grantType="password", username="pw@example.com", password=user["tempPassword"])
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        httpx.post(
            f"{server.url}/api/v1/me/password",
            json={"currentPassword": user["tempPassword"], "newPassword": "New-Passw0rd-x"},
            headers=headers,
        )
        lines = logged(server, 7)[-5:]  # a grant and a create, then 5
    wrong, unknown, login, _, change = lines
    assert wrong["grant"] == {
        "grantType": "client_credentials",
        "client": creds["client_id"],
        "known": True,
        "secret_ok": False,
    }
    assert wrong["status"] == 401 and "body" not in wrong
    assert unknown["grant"] == {"grantType": "app_token", "client": "nobody", "known": False, "secret_ok": False}
    assert login["grant"] == {"grantType": "password", "client": "pw@example.com", "known": True, "secret_ok": True}
    assert change["body"] == "<redacted>" and change["principal"] == "pw@example.com"
    text = json.dumps(lines)
    for secret in (creds["client_secret"], "wrong-Secret-1", user["tempPassword"], "New-Passw0rd-x"):
        assert secret not in text


def test_access_log_file_has_the_new_fields(tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    with program("--access-log", log) as ready:
        grant(ready.split()[2], grantType="client_credentials", clientID="operator", clientSecret="x")
    line = json.loads(log.read_text().splitlines()[-1])
    assert abs(line.pop("at") - time.time()) < 60
    assert line == {
        "method": "POST",
        "path": "/api/v1/token",
        "query": "",
        "status": 401,
        "principal": None,
        "grant": {"grantType": "client_credentials", "client": "operator", "known": True, "secret_ok": False},
    }


# ------------------------------------------------------------------------------------------- tokens


@pytest.mark.parametrize("size", [None, 1024, 4000])
def test_token_bytes_pads_tokens_that_stay_valid(size: int | None) -> None:
    with running(token_bytes=size) as server:
        headers = bearer(server.url, server.credentials["admin"])
        assert httpx.get(f"{server.url}/api/v1/users", headers=headers).status_code == 200
    token = headers["Authorization"].split()[1]
    if size is None:
        assert len(token) < 400 and "pad" not in payload_of(token)
    else:
        assert abs(len(token) - size) <= 64, len(token)


def test_runai_token_answer_has_no_expires_in_and_takes_client_id() -> None:
    with running(token_answer="runai", token_bytes=1024) as server:
        creds = server.credentials["admin"]
        for key in ("clientId", "clientID"):
            answer = grant(
                server.url,
                grantType="client_credentials",
                **{key: creds["client_id"]},
                clientSecret=creds["client_secret"],
            )
            assert answer.status_code == 200, answer.text
            data = answer.json()
            assert set(data) == {"accessToken", "idToken", "refreshToken", "externalToken"}
            assert payload_of(data["accessToken"])["exp"] > time.time()
            tokens.decode(data["idToken"], server.store.signing_key, now=time.time())
            for name in ("accessToken", "idToken"):
                assert abs(len(data[name]) - 1024) <= 64
            headers = {"Authorization": f"Bearer {data['accessToken']}"}
            assert httpx.get(f"{server.url}/api/v1/users", headers=headers).status_code == 200
            headers = {"Authorization": f"Bearer {data['idToken']}"}
            assert httpx.get(f"{server.url}/api/v1/users", headers=headers).status_code == 401
    with running() as server:
        creds = server.credentials["admin"]
        data = grant(
            server.url, grantType="client_credentials", clientId=creds["client_id"], clientSecret=creds["client_secret"]
        ).json()
        assert set(data) == {"accessToken", "expiresIn"}


def test_bad_mode_options_are_refused() -> None:
    for args in (["--token-answer", "keycloak"], ["--token-bytes", "0"]):
        result = subprocess.run(
            [sys.executable, "-m", "runai_conformance.reference", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith(
            "python -m runai_conformance.reference: error"
        )
    with pytest.raises(ValueError, match="token_answer"), running(token_answer="keycloak"):
        pass


@pytest.mark.parametrize(
    "args",
    [
        ["--lapse", "0"],
        ["--lapse", "-1"],
        ["--lapse", "soon"],
        ["--lapse", "inf"],
        ["--window", "0"],
        ["--window", "2.5"],
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_lapse_or_window_gets_one_line(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runai_conformance.reference", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"reference: error: {args[0]} must be a") and repr(args[1]) in lines[0], lines[0]


def test_lapse_and_window_reach_the_server(tmp_path: Path) -> None:
    """--window 2 caps vol-count-capped's count at 2 (tenant one has 3 users); --lapse 0.5 ends
    time-token-dies-early's tokens half a second after they were issued."""
    creds = tmp_path / "creds.toml"
    faults = ["--fault", "vol-count-capped", "--fault", "time-token-dies-early"]
    with program(*faults, "--window", "2", "--lapse", "0.5", "--credentials-out", creds) as ready:
        url = ready.split()[2]
        headers = bearer(url, tomllib.loads(creds.read_text())["roles"]["admin"])
        answer = httpx.get(f"{url}/api/v1/users/count", headers=headers)
        assert answer.status_code == 200 and answer.json() == {"count": 2}, answer.text
        time.sleep(0.6)
        assert httpx.get(f"{url}/api/v1/users/count", headers=headers).status_code == 401
    for knobs in ({"lapse": 0}, {"lapse": float("nan")}, {"window": 0}):
        with pytest.raises(ValueError, match=next(iter(knobs))), running(**knobs):  # type: ignore[arg-type]
            pass


def test_later_ages_the_time_faults_without_waiting() -> None:
    """An hour's lapse passes at once with `later`: time-token-dies-early's token dies, a token issued afterwards
    lives its own lapse; time-soft-delete-purged's tenant is purged. On the clean server `later` changes nothing
    (a token's exp is real time)."""
    faults = ["time-token-dies-early", "time-soft-delete-purged"]
    with running(faults, lapse=3600) as server:
        started = time.monotonic()
        admin, operator = (
            bearer(server.url, server.credentials["admin"]),
            bearer(server.url, server.credentials["operator"]),
        )
        tenant = httpx.post(
            f"{server.url}/api/v1/tenants", json={"name": "aged", "email": "o@example.com"}, headers=operator
        ).json()["tenant"]
        assert httpx.delete(f"{server.url}/api/v1/tenants/{tenant['id']}", headers=operator).status_code == 200
        assert httpx.get(f"{server.url}/api/v1/users/count", headers=admin).status_code == 200
        server.later(1800)
        assert httpx.get(f"{server.url}/api/v1/users/count", headers=admin).status_code == 200
        server.later(1800)
        assert httpx.get(f"{server.url}/api/v1/users/count", headers=admin).status_code == 401
        admin = bearer(server.url, server.credentials["admin"])  # issued now: a lapse of its own from here
        assert httpx.get(f"{server.url}/api/v1/users/count", headers=admin).status_code == 200
        operator = bearer(server.url, server.credentials["operator"])
        assert httpx.get(f"{server.url}/api/v1/tenants/{tenant['id']}", headers=operator).status_code == 404
        assert time.monotonic() - started < 30
        with pytest.raises(ValueError, match="forward"):
            server.later(-1)
    with running() as server:
        admin = bearer(server.url, server.credentials["admin"])
        server.later(10 * 365 * 24 * 3600)
        assert httpx.get(f"{server.url}/api/v1/users/count", headers=admin).status_code == 200


# ------------------------------------------------------------------------------------------- foreign data


def test_seed_foreign_plants_tenant_zero_and_snapshots_are_stable(tmp_path: Path) -> None:
    store = Store(tmp_path / "ref.sqlite")
    try:
        made = seed_foreign(store)
        assert made["tenants"] == [wanted for _, wanted in FOREIGN_TENANTS] and 0 in made["tenants"]
        assert [store.user(uid, None)["username"] for uid in made["users"]] == [email for _, email in FOREIGN_USERS]
        assert seed_foreign(store) == made  # idempotent
        before = store.snapshot_rows(made["users"], made["tenants"])
        assert len(before) == len(FOREIGN_USERS) + len(FOREIGN_TENANTS)
        assert before == store.snapshot_rows(made["users"], made["tenants"])
        store.logout_user(made["users"][0], 1)
        assert before != store.snapshot_rows(made["users"], made["tenants"])
        assert store.create_tenant({"name": "next", "email": "n@example.com", "contract_type": "normal"})["id"] == 8
    finally:
        store.close()


def test_seed_foreign_in_running_server_and_program() -> None:
    with running() as server:
        assert server.foreign == {} and server.store.tenant(0) is None
    with running(seed_foreign=True) as server:
        answer = httpx.get(f"{server.url}/api/v1/tenants/0", headers=bearer(server.url, server.credentials["operator"]))
        assert answer.status_code == 200 and answer.json()["name"] == "production"
        assert len(server.foreign["users"]) == len(FOREIGN_USERS)
    with program("--seed-foreign") as ready:
        assert ready.endswith(" foreign-tenants=0,3,4,7")
