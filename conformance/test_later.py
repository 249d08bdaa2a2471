"""What was true is true later (CONTRACT, "Over time": a rule holds for the whole life of what it speaks of;
a value read later still satisfies it, and a token works until its `exp`).

Real backends break rules seconds after a write: a value kept in a cache that expires and was never
written (a lastLogin that reverts), a revocation that lapses, a soft-deleted record a purge job removes,
a token that dies long before its `exp`. This module runs last (the plugin puts it there). Its test makes
facts of its own, lets them age for the profile's `later_seconds`, and judges them again, together with
a sample of everything the run learned on the way (conformance/memory.py, the token book's revocations):
what every earlier test saw, judged again at the run's end. Only the run's own users and tenants are
looked at, so other clients' writes on a shared staging change nothing here.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from runai_conformance.conformance.api import Api, ContractViolation, Secret, access_token, raise_found
from runai_conformance.conformance.rules import rule

SOFT_DELETED = ("Deleting", "Deleted")


@pytest.fixture(scope="module")
def writable(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: the facts judged later are made by writes")


def grant(api: Api, username: str, password: Secret | str) -> httpx.Response:
    return api.tokens.user_token(username, password)


def logged_in(api: Api, user: dict[str, Any], password: Secret) -> Secret:
    answer = api.expect(grant(api, user["username"], password), "AUTH-3", 200, "the password grant for a new user")
    token = access_token(answer)
    if token is None:
        raise ContractViolation("AUTH-3", f"the password grant answered no accessToken\n{api.evidence(answer)}")
    return token


def read(api: Api, path: str, role: str = "admin") -> httpx.Response:
    return api.call(role, "GET", path)


class Facts:
    """Facts to judge again later, each a rule and a check that says what broke it (or nothing)."""

    def __init__(self) -> None:
        self.checks: list[tuple[str, str, Any]] = []

    def add(self, rule_id: str, what: str, check: Any) -> None:
        self.checks.append((rule_id, what, check))

    def judge(self, api: Api, aged: float) -> list[ContractViolation]:
        found = []
        # lastLogin first: judging a password change logs its user in, which moves its lastLogin
        for rule_id, what, check in sorted(self.checks, key=lambda c: c[0] != "USR-11"):
            answer, problem = check()
            if problem:
                evidence = f"\n{api.evidence(answer)}" if answer is not None else ""
                found.append(
                    ContractViolation(rule_id, f"{what}, {aged:.0f} s later: {problem}{evidence}", answer=answer)
                )
        return found


def own_facts(api: Api, facts: Facts) -> dict[str, Secret]:
    """Make facts now: a login's lastLogin, a logout's revocation, a delete, a password change, and (with
    the operator role) a soft and a hard tenant delete. Returns the tokens to use as they age."""
    user = api.create_user()
    token = logged_in(api, user, user["tempPassword"])
    last = api.expect(read(api, f"/api/v1/users/{user['id']}"), "USR-11", 200, "reading a user").json().get("lastLogin")
    if last is None:
        raise ContractViolation("USR-11", f"after a login {user['username']}'s lastLogin is null")
    facts.add(
        "USR-11",
        f"{user['username']}'s lastLogin read {last} after its login",
        lambda: same_last_login(api, user["id"], last),
    )

    out = api.create_user()
    revoked = logged_in(api, out, out["tempPassword"])
    api.expect(api.call("admin", "POST", f"/api/v1/users/{out['id']}/logout"), "USR-9", 200, "logging a user out")
    facts.add("AUTH-4", f"a token of {out['username']} issued before its logout", lambda: stays_dead(api, revoked))

    gone = api.create_user()
    api.expect(api.call("admin", "DELETE", f"/api/v1/users/{gone['id']}"), "USR-6", 204, "deleting a user")
    facts.add("USR-6", f"the deleted user {gone['username']}", lambda: stays_deleted(api, gone["id"], gone["username"]))

    changed = api.create_user()
    changing = logged_in(api, changed, changed["tempPassword"])
    new = Secret(f"Aa1-{uuid.uuid4().hex}")
    body = {"currentPassword": changed["tempPassword"], "newPassword": new}
    api.expect(
        api.call(None, "POST", "/api/v1/me/password", token=changing, json=body), "USR-10", 200, "a password change"
    )
    facts.add(
        "USR-10",
        f"{changed['username']}'s changed password",
        lambda: new_password_only(api, changed, new, changed["tempPassword"]),
    )

    return {
        "the user token granted before the wait": token,
        "the admin token granted before the wait": api.tokens.fresh("admin"),
    }


def run_facts(api: Api, facts: Facts) -> None:
    """A sample of what the run learned: its users' lastLogin as last read, its deleted users, the tokens
    its logouts revoked, its deleted tenants."""
    memory, n = api.http.memory.snapshot(), api.target.profile.later_sample
    for user_id, last in list(memory.last_logins.items())[-n:]:
        facts.add(
            "USR-11",
            f"user {user_id}'s lastLogin, last read {last}",
            lambda u=user_id, v=last: same_last_login(api, u, v),
        )
    for user_id, username in list(memory.deleted_users.items())[-n:]:
        facts.add(
            "USR-6",
            f"the deleted user {username or user_id}",
            lambda u=user_id, name=username: stays_deleted(api, u, name),
        )
    for token in list(api.http.token_book.revoked_tokens())[-n:]:
        facts.add("AUTH-4", "a token a logout of the run revoked", lambda t=token: stays_dead(api, Secret(t)))


def tenant_facts(api: Api, facts: Facts) -> None:
    """A soft and a hard tenant delete made now, and a sample of the run's deleted tenants."""
    soft = tenant(api)
    api.expect(api.call("operator", "DELETE", f"/api/v1/tenants/{soft}"), "TEN-5", 200, "a soft tenant delete")
    facts.add("TEN-5", f"the soft-deleted tenant {soft}", lambda: stays_soft_deleted(api, soft))
    hard = tenant(api)
    api.expect(
        api.call("operator", "DELETE", f"/api/v1/tenants/{hard}", params={"isHardDelete": "true"}),
        "TEN-6",
        200,
        "a hard tenant delete",
    )
    facts.add("TEN-6", f"the hard-deleted tenant {hard}", lambda: stays_hard_deleted(api, hard))
    memory, n = api.http.memory.snapshot(), api.target.profile.later_sample
    for tenant_id in list(memory.soft_deleted_tenants)[-n:]:
        facts.add("TEN-5", f"the soft-deleted tenant {tenant_id}", lambda t=tenant_id: stays_soft_deleted(api, t))
    for tenant_id in list(memory.hard_deleted_tenants)[-n:]:
        facts.add("TEN-6", f"the hard-deleted tenant {tenant_id}", lambda t=tenant_id: stays_hard_deleted(api, t))


@pytest.fixture(scope="module")
def tenants_made(api: Api, writable: None) -> tuple[Facts, float] | None:
    """The tenants' facts, made as the module starts, so that they age while the users' test waits; None
    without the operator role (the tenants' test then skips, naming it)."""
    if not api.target.has_role("operator"):
        return None
    facts = Facts()
    tenant_facts(api, facts)
    return facts, time.monotonic()


def tenant(api: Api) -> int:
    answer = api.expect(api.create_tenant(rule="TEN-1"), "TEN-1", 201, "creating a tenant")
    return int(answer.json()["tenant"]["id"])


def same_last_login(api: Api, user_id: str, last: Any) -> tuple[httpx.Response, str | None]:
    answer = read(api, f"/api/v1/users/{user_id}", api.ledger.users.get(user_id, "admin"))
    if answer.status_code != 200:
        return answer, f"GET answered {answer.status_code}"
    now = answer.json().get("lastLogin")
    return answer, None if now == last else f"lastLogin is now {now!r}, with no login in between"


def stays_dead(api: Api, token: Secret) -> tuple[httpx.Response, str | None]:
    answer = api.token_state(token)
    return answer, None if answer.status_code == 401 else f"it authenticates again ({answer.status_code}, not 401)"


def stays_deleted(api: Api, user_id: str, username: str) -> tuple[httpx.Response, str | None]:
    answer = read(api, f"/api/v1/users/{user_id}", api.ledger.users.get(user_id, "admin"))
    if answer.status_code == 404:
        return answer, None
    if answer.status_code == 200 and username and answer.json().get("username") != username:
        return answer, None  # the id was handed to a new user: USR-1's, judged where creates are
    return answer, f"GET of its id answered {answer.status_code}, not 404"


def new_password_only(api: Api, user: dict[str, Any], new: Secret, old: Secret) -> tuple[httpx.Response, str | None]:
    fresh = grant(api, user["username"], new)
    if fresh.status_code != 200:
        return fresh, f"the password grant with the new password answered {fresh.status_code}"
    stale = grant(api, user["username"], old)
    return stale, None if stale.status_code == 401 else f"the old password logs in again ({stale.status_code})"


def stays_soft_deleted(api: Api, tenant_id: int) -> tuple[httpx.Response, str | None]:
    answer = read(api, f"/api/v1/tenants/{tenant_id}", "operator")
    if answer.status_code != 200 or answer.json().get("status") not in SOFT_DELETED:
        return (
            answer,
            f"GET answered {answer.status_code} {answer.text[:120]!r}, not 200 with status Deleting or Deleted",
        )
    listed = api.call("operator", "GET", "/api/v1/tenants", params={"deleted": "true"})
    if listed.status_code == 200 and not any(t.get("id") == tenant_id for t in listed.json()):
        return listed, "it is no longer in GET /api/v1/tenants?deleted=true"
    return listed, None


def stays_hard_deleted(api: Api, tenant_id: int) -> tuple[httpx.Response, str | None]:
    answer = read(api, f"/api/v1/tenants/{tenant_id}", "operator")
    return answer, None if answer.status_code == 404 else f"GET of its id answered {answer.status_code}, not 404"


@rule("USR-4", "USR-6", "USR-10", "USR-11", "AUTH-1", "AUTH-3", "AUTH-4")
def test_what_was_true_holds_later(api: Api, writable: None, tenants_made: tuple[Facts, float] | None) -> None:
    """This test's own facts, and a sample of the run's, judged again after `later_seconds`; tokens used as
    they age (a token that dies before its exp is named by the run as AUTH-3/AUTH-1, with its age). Every
    user read again is judged on every field that never changes (USR-4), as every read is. (It asks for the
    tenants' facts so that they are made before its wait, and age with it.)"""
    facts = Facts()
    tokens = own_facts(api, facts)
    run_facts(api, facts)
    started = time.monotonic()
    wait = api.target.profile.later_seconds
    time.sleep(wait / 2)  # the point is age: the same tokens at half the wait, then at the end of it
    for what, token in tokens.items():
        use(api, token, what)
    time.sleep(max(0.0, wait - (time.monotonic() - started)))
    for what, token in tokens.items():
        use(api, token, what)
    raise_found(facts.judge(api, time.monotonic() - started), "facts no longer hold")


def use(api: Api, token: Secret, what: str) -> None:
    """A request with the token: a live one authenticates; one that died before its exp is the run's to
    name (the transport judges every 401 to a token the run was granted)."""
    answer = api.call(None, "GET", "/api/v1/users", token=token, params={"limit": 1})
    if answer.status_code == 403:  # a user token may not list users: it authenticated all the same
        return
    api.expect(answer, "AUTH-1", 200, f"a request with {what}")


@rule("TEN-5", "TEN-6")
def test_a_deleted_tenant_stays_as_deleted_later(api: Api, tenants_made: tuple[Facts, float] | None) -> None:
    """A soft-deleted tenant is still Deleting or Deleted by id and with deleted=true, a hard-deleted one
    still 404, `later_seconds` after the delete (they aged while the users' facts did), and the run's own."""
    if tenants_made is None:
        pytest.skip("the credentials have no operator role: the Tenants API needs it")
    facts, made = tenants_made
    time.sleep(max(0.0, api.target.profile.later_seconds - (time.monotonic() - made)))  # aged, if not already
    raise_found(facts.judge(api, time.monotonic() - made), "deleted tenants came back")
