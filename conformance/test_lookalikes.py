"""Tenants side by side (CONTRACT, "Tenants side by side"): the same email in two tenants is two users (or the
second is refused with 409), and nothing done in one tenant, and no check made there, reads or changes
the other tenant's user (ISO-1); each tenant's uniqueness, listing and count see only its own (USR-3,
LIST-1, LIST-7).

The run creates one email in its own tenant (as admin) and in the other (as peer), then acts on one of
them (a login, a password reset, a logout, a password change, reads) and looks at every field of the
other after each action; in both directions. Both users are the run's own.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from runai_conformance.conformance.api import Api, ContractViolation, Secret, access_token, raise_found
from runai_conformance.conformance.rules import rule


@pytest.fixture(scope="module")
def twins(api: Api) -> dict[str, dict[str, Any]]:
    """The same new email in the admin's tenant and in the peer's: role -> that tenant's user."""
    if api.target.read_only:
        pytest.skip("read-only run: the look-alike users are created by this run")
    api.tokens.token("peer")  # skips without the role
    email = f"{api.ledger.tagged('twin-' + uuid.uuid4().hex[:6])}@example.com"
    made = {}
    for role in ("admin", "peer"):
        answer = api.call(role, "POST", "/api/v1/users", json={"email": email})
        if role == "peer" and answer.status_code == 409:
            pytest.skip("the target refuses an email another tenant has (409): no look-alike users to compare")
        made[role] = api.expect(answer, "USR-1", 201, f"creating {email} as {role}").json()
        made[role]["tempPassword"] = Secret(made[role]["tempPassword"])
    return made


def whole(api: Api, role: str, user: dict[str, Any]) -> dict[str, Any]:
    """Every field of a user as its own tenant's admin reads it."""
    return api.expect(api.call(role, "GET", f"/api/v1/users/{user['id']}"), "ISO-1", 200, "reading a look-alike").json()


def actions(api: Api, role: str, user: dict[str, Any]) -> list[tuple[str, Any]]:
    """What the run does to one of the twins, in its own tenant, each a function returning its answer."""
    path = f"/api/v1/users/{user['id']}"
    state: dict[str, Any] = {"password": user["tempPassword"]}

    def login() -> httpx.Response:
        answer = api.tokens.user_token(user["username"], state["password"])
        state["token"] = access_token(answer) if answer.status_code == 200 else None
        return answer

    def change() -> httpx.Response:
        new = Secret(f"Aa1-{uuid.uuid4().hex}")
        answer = api.call(
            None,
            "POST",
            "/api/v1/me/password",
            token=state["token"],
            json={"currentPassword": state["password"], "newPassword": new},
        )
        if answer.status_code == 200:
            state["password"] = new
        return answer

    return [
        ("a password grant", login),
        ("a read", lambda: api.call(role, "GET", path)),
        (
            "a list and a count of its email",
            lambda: (
                api.call(role, "GET", "/api/v1/users", params={"filterBy": f"username=={user['username']}"}),
                api.call(role, "GET", "/api/v1/users/count", params={"search": user["username"]}),
            )[1],
        ),
        ("a password change", change),
        ("a password reset", lambda: api.call(role, "POST", f"{path}/password")),
        ("a logout", lambda: api.call(role, "POST", f"{path}/logout")),
    ]


@rule("ISO-1")
@pytest.mark.parametrize("acting", ["admin", "peer"])
def test_acting_on_one_twin_leaves_the_other_as_it_was(api: Api, twins: dict[str, dict[str, Any]], acting: str) -> None:
    """Every action on one tenant's user leaves every field of the other tenant's look-alike as it was, and
    the look-alike's password still logs it in."""
    other = "peer" if acting == "admin" else "admin"
    found = []
    before = whole(api, other, twins[other])
    for what, act in actions(api, acting, twins[acting]):
        answer = act()
        now = whole(api, other, twins[other])
        moved = {k: (before.get(k), now.get(k)) for k in {*before, *now} if before.get(k) != now.get(k)}
        if moved:
            found.append(
                ContractViolation(
                    "ISO-1",
                    f"{what} of {twins[acting]['username']} in the {acting}'s tenant changed the other tenant's look-alike: {moved}\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
            before = now
    raise_found(found, "actions in one tenant reached the other")


@rule("USR-3", "LIST-1", "LIST-7", "ISO-1")
def test_each_tenant_sees_only_its_own_twin(api: Api, twins: dict[str, dict[str, Any]]) -> None:
    """Each tenant's list and count of the email hold its own user alone, and creating the email again in
    a tenant conflicts with that tenant's user (409) and creates nothing in either."""
    found = []
    email = twins["admin"]["username"]
    for role, user in twins.items():
        listed = api.call(role, "GET", "/api/v1/users", params={"filterBy": f"username=={email}"})
        ids = [u.get("id") for u in api.expect(listed, "LIST-1", 200, "listing an email").json()]
        if ids != [user["id"]]:
            found.append(
                ContractViolation(
                    "LIST-1",
                    f"the {role}'s list of {email} holds {ids}, not its own user {user['id']} alone\n{api.evidence(listed)}",
                    answer=listed,
                )
            )
        counted = api.call(role, "GET", "/api/v1/users/count", params={"filterBy": f"username=={email}"})
        count = api.expect(counted, "LIST-7", 200, "counting an email").json().get("count")
        if count != 1:
            # more than its own user: the count sees the other tenant's twin (ISO-1: invisible in its count);
            # fewer: the count leaves out its own user (LIST-7)
            found.append(
                ContractViolation(
                    "ISO-1" if isinstance(count, int) and count > 1 else "LIST-7",
                    f"the {role}'s count of {email} is {count}, not 1\n{api.evidence(counted)}",
                    answer=counted,
                )
            )
        again = api.call(role, "POST", "/api/v1/users", json={"email": email})
        if again.status_code != 409:
            found.append(
                ContractViolation(
                    "USR-3",
                    f"creating {email} again in the {role}'s tenant: expected 409\n{api.evidence(again)}",
                    answer=again,
                )
            )
    raise_found(found, "a tenant saw the other's look-alike")
