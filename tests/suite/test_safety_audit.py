"""The promise to a platform team, audited from the target's side: a whole run against a reference that
holds other people's users and tenants (tenant ids 0 and small integers among them) and logs every
request changes only what the run created; no piece of a token, client secret or password reaches the
terminal or the report dir whatever pytest's flags; sweep touches only complete run tags. (A read-only
run's access log: tests/suite/test_run_hygiene.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from runai_conformance.conformance.guard import path_segments, tenant_readings
from runai_conformance.reference.server import RunningServer, credentials_toml
from tests.suite.runner import ROOT, reference, run_suite, tagged_leftovers

PIECE = 16  # the bar: no 16-character piece of a secret anywhere
CREATES = {("api", "v1", "users"), ("api", "v1", "tenants"), ("api", "v1", "token")}


def everything_before(server: RunningServer) -> tuple[list[str], list[int], list[tuple]]:
    """Every user and tenant on the server now (nobody's run made them), and all their rows."""
    users = [r["id"] for r in server.store.read("SELECT id FROM users")]
    tenants = [r["id"] for r in server.store.read("SELECT id FROM tenants")]
    return users, tenants, server.store.snapshot_rows(users, tenants)


def unsafe_requests(
    log: list[dict[str, Any]], existing_users: list[str], existing_tenants: list[int]
) -> list[dict[str, Any]]:
    """The state-changing requests of the log that name something the run did not create."""
    created_users = {str(r["created"]).casefold() for r in log if "created" in r and r["path"].endswith("/users")}
    created_tenants = {r["created"] for r in log if "created" in r and r["path"].endswith("/tenants")}
    foreign_users = {u.casefold() for u in existing_users}
    bad = []
    for entry in log:
        if entry["method"] in ("GET", "HEAD"):
            continue
        segments = path_segments(entry["path"])
        key = tuple(s.casefold() for s in segments[:3])
        if key[:2] != ("api", "v1") or len(segments) < 3:
            bad.append(entry)
        elif key[2] == "me":
            if entry.get("principal") and "@" not in str(entry["principal"]):
                bad.append(entry)  # /me as one of the roles' clients: a real principal's password
        elif len(segments) == 3:
            if key not in CREATES or entry["method"] in ("DELETE", "PUT", "PATCH"):
                bad.append(entry)  # a bulk write to a collection (an OPTIONS or TRACE probe names no one)
        elif key[2] == "users":
            ident = unquote(segments[3]).strip().casefold()
            if ident not in created_users and ident in foreign_users:
                bad.append(entry)
        elif key[2] == "tenants":
            readings = {n for n in tenant_readings(segments[3]) if 0 <= n < 2**31}
            if readings - created_tenants or (readings & set(existing_tenants)):
                bad.append(entry)
        else:
            bad.append(entry)
    return bad


def test_a_ci_run_changes_only_what_it_created(tmp_path: Path) -> None:
    with reference(seed_foreign=True) as server:
        assert 0 in server.foreign["tenants"]
        users, tenants, before = everything_before(server)
        decoys = set(tagged_leftovers(server))  # another run's tagged resources, planted: not this run's
        result = run_suite(server, tmp_path, "conformance", "--profile", "ci")
        assert result.returncode == 0, result.output[-3000:]
        writes = [r for r in server.requests if r["method"] not in ("GET", "HEAD")]
        assert len(writes) > 300, "the audit needs a run that writes"
        bad = unsafe_requests(server.requests, users, tenants)
        assert bad == [], f"{len(bad)} state-changing requests named what the run did not create: {bad[:5]}"
        assert server.store.snapshot_rows(users, tenants) == before
        left = [name for name in tagged_leftovers(server) if name not in decoys]
        assert left == [], f"a green run left tagged users or tenants behind: {left[:5]}"


def test_the_audit_catches_a_request_that_names_someone_elses_resource() -> None:
    """The audit itself can fail: each unsafe shape the issue found is flagged."""
    log = [
        {"method": "POST", "path": "/api/v1/tenants", "status": 201, "created": 12},
        {"method": "DELETE", "path": "/api/v1/tenants/12", "status": 200},
        {"method": "POST", "path": "/api/v1/users", "status": 201, "created": "u-1"},
        {"method": "DELETE", "path": "/api/v1/users/u-1", "status": 204},
    ]
    assert unsafe_requests(log, ["alice"], [0, 3]) == []
    for entry in (
        {"method": "PUT", "path": "/api/v1/tenants/0", "status": 405},
        {"method": "PATCH", "path": "/api/v1/tenants/0", "status": 405},
        {"method": "DELETE", "path": "/api/v1/tenants/2147483001", "status": 404},
        {"method": "DELETE", "path": "/api/v1/tenants/0.5", "status": 400},
        {"method": "DELETE", "path": "/api/v1/users/alice", "status": 204},
        {"method": "DELETE", "path": "/api/v1/users", "status": 405},
        {"method": "POST", "path": "/api/v1/me/password", "status": 403, "principal": "t1-admin"},
    ):
        assert unsafe_requests([*log, entry], ["alice"], [0, 3]) == [entry], entry


# ------------------------------------------------------------------------------ secrets


def pieces(secret: str) -> set[str]:
    return {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)}


def secret_pieces(server: RunningServer) -> set[str]:
    """Every 16-character piece of the secrets a run against `server` held: the signatures of the tokens it
    issued, its clients' secrets and the passwords of the users the run created."""
    created = [r["created"] for r in server.requests if "created" in r and r["path"].endswith("/users")]
    passwords = [server.store.temp_password(uid, g) for uid in created for g in range(6)]
    secrets = [t.split(".")[2] for t in server.issued] + [c["client_secret"] for c in server.credentials.values()]
    return set().union(*(pieces(s) for s in secrets + passwords))


def leaks(text: str, grams: set[str]) -> list[str]:
    """Every 16-character piece of a secret in `text`."""
    found = []
    for run in re.findall(rf"\S{{{PIECE},}}", text):
        found += [run[i : i + PIECE] for i in range(len(run) - PIECE + 1) if run[i : i + PIECE] in grams]
    return found


def test_no_piece_of_a_secret_in_output_or_reports_whatever_the_flags(tmp_path: Path) -> None:
    """About 1 kB tokens (as identity providers issue), planted AUTH-1 and USR-10 defects, so failures
    print their locals: `-l --tb=long` and `-l -vv`."""
    with reference("auth-accepts-alg-none", "usr-me-password-unchecked", token_bytes=1024) as server:
        parts = ["conformance/test_auth.py", "conformance/test_users_lifecycle.py"]
        for sub in ("long", "vv"):
            (tmp_path / sub).mkdir()
        runs = [
            run_suite(server, tmp_path / "long", *parts, "-l", "--tb=long"),
            run_suite(server, tmp_path / "vv", *parts, "-l", "-vv"),
        ]
        assert min(len(t) for t in server.issued) > 900, "the tokens must be about 1 kB"
        grams = secret_pieces(server)
        for result in runs:
            assert result.returncode == 1, result.output[-2000:]
            assert {"AUTH-1", "USR-10"} <= result.failed_rules, result.failed_rules
            assert "[REDACTED]" in result.output, "the failures quote the exchange, masked"
            where = {"the terminal": result.output}
            where |= {
                str(p): p.read_text(encoding="utf-8", errors="replace")
                for p in result.report_dir.rglob("*")
                if p.is_file()
            }
            for name, text in where.items():
                assert not leaks(text, grams), f"a piece of a secret in {name}: {leaks(text, grams)[:3]}"


# ------------------------------------------------------------------------------ sweep


def sweep(creds: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runai_conformance.conformance.cli", "sweep", "--credentials", str(creds), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def names(server: RunningServer) -> set[str]:
    users = server.store.read("SELECT username FROM users")
    return {r["username"] for r in users} | {r["name"] for r in server.store.read("SELECT name FROM tenants")}


def test_sweep_removes_complete_run_tags_only_and_says_what_it_deleted(tmp_path: Path) -> None:
    with reference(seed_foreign=True) as server:
        creds = tmp_path / "creds.toml"
        creds.write_text(credentials_toml(server.store, server.url))
        server.store.create_user(1, "rcf-0000dead-left@example.com", "seed")
        server.store.create_tenant({"name": "rcf-0000dead-t", "email": "o@example.com", "contract_type": "normal"})
        users, tenants, before = everything_before(server)
        dry = sweep(creds, "--all", "--older-than", "0", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would delete user rcf-0000dead-left@example.com" in dry.stdout
        assert "would delete tenant rcf-0000dead-t" in dry.stdout
        assert "found 2 resource(s)" in dry.stdout and "nothing deleted" in dry.stdout
        assert server.store.snapshot_rows(users, tenants) == before, "--dry-run deleted something"
        done = sweep(creds, "--all", "--older-than", "0")
        assert done.returncode == 0, done.stderr
        assert "deleted user rcf-0000dead-left@example.com" in done.stdout and "swept 2 resource(s)" in done.stdout
        left = names(server)
        assert "rcf-0000dead-left@example.com" not in left and "rcf-0000dead-t" not in left
        assert {"rcf-bob@example.com", "rcf-production", "production", "alice@example.com"} <= left
        kept_users = [u for u in users if server.store.read("SELECT id FROM users WHERE id = ?", (u,))]
        kept_tenants = [t for t in tenants if server.store.read("SELECT id FROM tenants WHERE id = ?", (t,))]
        assert len(kept_users) == len(users) - 1 and len(kept_tenants) == len(tenants) - 1


def test_sweep_refuses_bad_input_and_a_refused_token_in_one_line(tmp_path: Path) -> None:
    with reference() as server:
        creds = tmp_path / "creds.toml"
        creds.write_text(credentials_toml(server.store, server.url))
        for args in (["--all", "--older-than", "-5"], ["--all", "--older-than", "soon"]):
            bad = sweep(creds, *args)
            assert bad.returncode == 2 and "Traceback" not in bad.stderr and "older-than" in bad.stderr, bad.stderr
        refused = subprocess.run(
            [sys.executable, "-m", "runai_conformance.conformance.cli", "sweep", "--target-url", server.url, "--token", "not.a.token",
             "--all"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode != 0, refused.stdout
        lines = [line for line in (refused.stdout + refused.stderr).splitlines() if line.strip()]
        assert len(lines) == 1 and "401" in lines[0] and "Traceback" not in lines[0], lines
        assert [r for r in server.requests if r["method"] == "DELETE"] == []
