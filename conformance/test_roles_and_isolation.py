"""Roles (AUTH-2) and tenant isolation (ISO-1), each on this run's own users only. A role missing
from the credentials file skips its tests with a reason naming the role."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from runai_conformance.conformance.api import Api, ContractViolation
from runai_conformance.conformance.rules import rule


@pytest.fixture(scope="module")
def victim(api: Api) -> dict[str, Any]:
    """A user of this run in the admin's tenant, that other roles try to touch."""
    if api.target.read_only:
        pytest.skip("read-only run: these tests create a user to protect")
    return api.create_user(f"victim-{secrets.token_hex(2)}")  # unique: the fixture may be made again (-n)


def still_intact(api: Api, victim: dict[str, Any], rule_id: str) -> None:
    """The victim is still there, with its password (nothing was deleted or reset)."""
    api.expect(
        api.call("admin", "GET", f"/api/v1/users/{victim['id']}"),
        rule_id,
        200,
        "the user after another role's attempts",
    )
    answer = api.tokens.user_token(victim["username"], victim["tempPassword"])
    api.expect(answer, rule_id, 200, "the user's password after another role's attempts")


@rule("AUTH-2")
def test_viewer_reads_but_never_writes(api: Api, victim: dict[str, Any]) -> None:
    """The viewer reads, and gets 403 on every write; neither changes any field of the user (updatedAt
    included): each request is followed by a look at the user."""
    api.tokens.token("viewer")  # skips without the role
    seen = api.look(victim["username"])
    for path in ("/api/v1/users", "/api/v1/users/count", f"/api/v1/users/{victim['id']}"):
        answer = api.expect(api.call("viewer", "GET", path), "AUTH-2", 200, f"the viewer reading {path}")
        seen = api.unmoved(seen, "AUTH-2", answer, f"the viewer reading {path}")
    email = f"{api.ledger.tagged('viewer-write')}@example.com"
    attempts = [
        ("POST", "/api/v1/users", {"json": {"email": email}}),
        ("DELETE", f"/api/v1/users/{victim['id']}", {}),
        ("POST", f"/api/v1/users/{victim['id']}/password", {}),
        ("POST", f"/api/v1/users/{victim['id']}/logout", {}),
    ]
    for method, path, body in attempts:
        answer = api.expect(api.call("viewer", method, path, **body), "AUTH-2", 403, "the viewer writing")
        seen = api.unmoved(seen, "AUTH-2", answer, f"the viewer's {method} {path}")
    still_intact(api, victim, "AUTH-2")


@rule("AUTH-2")
def test_admin_uses_every_users_operation(api: Api) -> None:
    """The admin may use the Users API in its tenant: no operation of it answers the admin 403 (what
    each answers otherwise is the USR rules' business)."""
    user = api.create_user(f"admin-uses-{secrets.token_hex(2)}")
    calls = [
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/users/count"),
        ("GET", f"/api/v1/users/{user['id']}"),
        ("POST", f"/api/v1/users/{user['id']}/password"),
        ("POST", f"/api/v1/users/{user['id']}/logout"),
        ("DELETE", f"/api/v1/users/{user['id']}"),
    ]
    for method, path in calls:
        answer = api.call("admin", method, path, params={"limit": 1} if path == "/api/v1/users" else None)
        if answer.status_code == 403:
            raise ContractViolation(
                "AUTH-2",
                f"the admin got 403 on {method} {path} in its own tenant\n{api.evidence(answer)}",
                answer=answer,
            )


@rule("AUTH-2")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/tenants"),
        ("GET", "/api/v1/tenants?deleted=true"),
        ("GET", "/api/v1/tenants/0"),
        ("POST", "/api/v1/tenants"),
    ],
)
def test_admin_has_no_tenants_api(api: Api, method: str, path: str) -> None:
    """Every operation of the Tenants API answers the admin 403 (a POST that a wrong target accepts
    creates a tagged tenant, which the run deletes as operator)."""
    body = {"json": {"name": api.ledger.tagged(f"admin-{secrets.token_hex(3)}"), "email": "o@example.com"}}
    answer = api.call("admin", method, path, **(body if method == "POST" else {}))
    api.expect(answer, "AUTH-2", 403, f"the admin calling {method} {path}")


@rule("AUTH-2")
@pytest.mark.parametrize("params", [{}, {"deleted": "true"}], ids=["list", "deleted-list"])
def test_operator_has_the_tenants_api(api: Api, params: dict[str, str]) -> None:
    answer = api.call("operator", "GET", "/api/v1/tenants", params=params)
    api.expect(answer, "AUTH-2", 200, f"the operator listing tenants {params or ''}")


@rule("ISO-1")
@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")]
)
def test_other_tenants_admin_gets_404_by_id(api: Api, victim: dict[str, Any], method: str, suffix: str) -> None:
    """404, and no field of the user moves (a look before and after: updatedAt and lastLogin included)."""
    api.tokens.token("peer")  # skips without the role, before anything is sent
    seen = api.look(victim["username"])
    answer = api.call("peer", method, f"/api/v1/users/{victim['id']}{suffix}")
    api.expect(answer, "ISO-1", 404, f"another tenant's admin: {method} …{suffix} of this tenant's user")
    api.unmoved(seen, "ISO-1", answer, f"another tenant's admin's {method} …{suffix} of this tenant's user")
    still_intact(api, victim, "ISO-1")


@rule("ISO-1")
def test_other_tenants_admin_cannot_see_the_user_in_lists(api: Api, victim: dict[str, Any]) -> None:
    nobody = f"{api.ledger.tagged('nobody-' + secrets.token_hex(3))}@example.com"
    for path, params in (
        ("/api/v1/users", {"filterBy": f"username=={victim['username']}"}),
        ("/api/v1/users", {"search": victim["username"]}),
        ("/api/v1/users/count", {"filterBy": f"username=={victim['username']}"}),
        ("/api/v1/users/count", {"search": victim["username"]}),
    ):
        body = peer_reads(api, path, params)
        if isinstance(body, dict):
            # A count names no user: it leaks the victim only when it counts the victim's email and
            # counts nothing for an email nobody has (a count that ignores the parameter is LIST-7's).
            unmatched = peer_reads(api, path, {k: v.replace(victim["username"], nobody) for k, v in params.items()})
            counts_nobody = unmatched.get("count") if isinstance(unmatched, dict) else None
            leaked = body.get("count", 0) if counts_nobody == 0 else 0
        else:
            leaked = len([u for u in body if isinstance(u, dict) and u.get("id") == victim["id"]])
        if leaked:
            raise ContractViolation("ISO-1", f"another tenant's admin sees this tenant's user in GET {path} {params}")


def peer_reads(api: Api, path: str, params: dict[str, str]) -> Any:
    answer = api.call("peer", "GET", path, params=params)
    return api.expect(answer, "ISO-1", 200, f"another tenant's admin: GET {path}").json()
