"""The tenant lifecycle (TEN-2, TEN-4..TEN-7): create → read → soft delete → hard delete, and what
GET and the two lists show after each step. Only this run's tenants are created and deleted."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from runai_conformance.conformance.api import Api, ContractViolation, Secret
from runai_conformance.conformance.checks import secret_fields
from runai_conformance.conformance.rules import rule

UNLIKELY_TENANT_ID = 2147483000  # read-only probes only: never sent to a delete
INT32_MAX = 2**31 - 1
STATUSES = {"Creating", "Failed", "Updating", "Deleted", "Deleting", "Ready"}


@pytest.fixture(scope="module", autouse=True)
def operator(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: the lifecycle tests create and delete tenants")
    if not api.target.has_role("operator"):
        pytest.skip("the credentials have no operator role: the Tenants API needs it")


def created(api: Api, **fields: Any) -> dict[str, Any]:
    return api.expect(api.create_tenant(**fields), "TEN-1", 201, "creating a tenant").json()["tenant"]


def listed(api: Api, deleted: bool) -> dict[int, dict[str, Any]]:
    params = {"deleted": "true"} if deleted else {}
    answer = api.expect(api.call("operator", "GET", "/api/v1/tenants", params=params), "TEN-5", 200, "listing tenants")
    return {t["id"]: t for t in answer.json() if isinstance(t, dict) and "id" in t}


@rule("TEN-1")
@pytest.mark.parametrize("contract", ["trial", "normal", "", None], ids=["trial", "normal", "empty", "absent"])
def test_create_answers_the_tenant_sent(api: Api, contract: str | None) -> None:
    """201 {tenant}: the name sent exactly (mixed case kept), the contractType sent (normal when empty or
    absent), a status of the enum, a UUID, a non-negative int32 id."""
    name = api.ledger.tagged(f"Mixed-{secrets.token_hex(3)}")
    fields: dict[str, Any] = {"name": name}
    if contract is not None:
        fields["contractType"] = contract
    answer = api.expect(api.create_tenant(**fields), "TEN-1", 201, "creating a tenant")
    tenant = answer.json().get("tenant") if isinstance(answer.json(), dict) else None
    if not isinstance(tenant, dict):
        raise ContractViolation("TEN-1", "create_tenant answered 201 without a tenant object", answer=answer)
    problems = []
    if tenant.get("name") != name:
        problems.append(f"tenant.name {tenant.get('name')!r} is not the name sent {name!r}")
    if tenant.get("contractType") != (contract or "normal"):
        problems.append(f"contractType is {tenant.get('contractType')!r} for {contract!r} sent")
    if tenant.get("status") not in STATUSES:
        problems.append(f"status {tenant.get('status')!r} is not in the enum {sorted(STATUSES)}")
    try:
        uuid.UUID(str(tenant.get("uuid")))
    except ValueError:
        problems.append(f"uuid {tenant.get('uuid')!r} is not a UUID")
    tenant_id = tenant.get("id")
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool) or not 0 <= tenant_id <= INT32_MAX:
        problems.append(f"id {tenant_id!r} is not an int32 >= 0")
    if problems:
        raise ContractViolation("TEN-1", "; ".join(problems), answer=answer)


@rule("TEN-1")
def test_ids_are_never_reused(api: Api) -> None:
    """A new tenant's id is new: not the id of a tenant hard-deleted a moment ago."""
    first = created(api)
    gone = api.call("operator", "DELETE", f"/api/v1/tenants/{first['id']}", params={"isHardDelete": "true"})
    api.expect(gone, "TEN-6", 200, "a hard delete")
    again = created(api)
    if again["id"] == first["id"]:
        raise ContractViolation(
            "TEN-1",
            f"a new tenant got the id {first['id']} of a tenant hard-deleted before it",
            operation="create_tenant",
        )


@rule("TEN-3")
def test_write_only_fields_never_come_back(api: Api) -> None:
    """Created with a password and a metricStore with credentials: no representation (the create answer,
    GET by id, the list, the list with deleted=true) carries metricStore or password, nor any of the
    credentials' values under any other name."""
    password, write_secret = Secret(f"Tenant-{uuid.uuid4().hex}"), Secret(f"Basic-{uuid.uuid4().hex}")
    store = {
        "read": {"url": "https://metrics.example.com/read"},
        "write": {
            "url": "https://metrics.example.com/write",
            "auth": {"basic": {"username": f"writer-{secrets.token_hex(3)}", "password": write_secret}},
        },
    }
    answer = api.expect(api.create_tenant(password=password, metricStore=store), "TEN-1", 201, "creating a tenant")
    tenant = answer.json()["tenant"]
    shown = {
        "the create answer": answer,
        "GET by id": api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}"),
        "the list": api.call("operator", "GET", "/api/v1/tenants"),
        "the list with deleted=true": api.call("operator", "GET", "/api/v1/tenants", params={"deleted": "true"}),
    }
    for where, got in shown.items():
        mine = got.json()
        if isinstance(mine, list):  # other tenants are not this test's business: only the one it made
            mine = [t for t in mine if isinstance(t, dict) and t.get("id") == tenant["id"]]
        text = got.text if not isinstance(got.json(), list) else repr(mine)
        leaked = secret_fields(mine) + [
            f"the value of {what}"
            for what, value in (("password", password), ("the write password", write_secret))
            if value.reveal() in text
        ]
        if leaked:
            raise ContractViolation("TEN-3", f"{where} carries {leaked}", answer=got)


@rule("TEN-2")
def test_name_in_use_conflicts(api: Api) -> None:
    tenant = created(api)
    again = api.create_tenant(name=tenant["name"])
    api.expect(again, "TEN-2", 409, "creating a tenant with a name in use")


@rule("TEN-4")
def test_read_shows_the_created_tenant(api: Api) -> None:
    tenant = created(api, contractType="trial")
    got = api.expect(
        api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}"), "TEN-4", 200, "reading a created tenant"
    ).json()
    wrong = {k: (got.get(k), tenant[k]) for k in ("id", "uuid", "name") if got.get(k) != tenant[k]}
    if got.get("contractType") != "trial":
        wrong["contractType"] = (got.get("contractType"), "trial")
    if wrong:
        raise ContractViolation(
            "TEN-4", f"GET differs from what was created (got, expected): {wrong}", operation="get_tenant_by_id"
        )


@rule("TEN-4")
def test_id_that_never_existed_is_404(api: Api) -> None:
    api.expect(
        api.call("operator", "GET", f"/api/v1/tenants/{UNLIKELY_TENANT_ID}"),
        "TEN-4",
        404,
        "GET of a tenant id that never existed",
    )


@rule("TEN-5")
def test_soft_delete_keeps_a_deleted_record(api: Api) -> None:
    tenant = created(api)
    answer = api.expect(
        api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}"), "TEN-5", 200, "a soft delete"
    )
    if answer.json() != {"uid": tenant["uuid"]}:
        raise ContractViolation(
            "TEN-5", f"a soft delete answered {answer.json()}, not {{uid: {tenant['uuid']}}}", answer=answer
        )
    if tenant["id"] in listed(api, deleted=False):
        raise ContractViolation(
            "TEN-5", "a soft-deleted tenant is still in GET /api/v1/tenants", operation="get_tenants"
        )
    shown = listed(api, deleted=True).get(tenant["id"])
    if shown is None or shown.get("status") not in ("Deleting", "Deleted"):
        raise ContractViolation(
            "TEN-5",
            f"with deleted=true the soft-deleted tenant shows as {shown and shown.get('status')!r}",
            operation="get_tenants",
        )
    again = api.expect(
        api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}"), "TEN-5", 200, "GET of a soft-deleted tenant"
    )
    if again.json().get("status") not in ("Deleting", "Deleted"):
        raise ContractViolation(
            "TEN-5", f"GET of a soft-deleted tenant shows status {again.json().get('status')!r}", answer=again
        )


@rule("TEN-6")
def test_hard_delete_removes_the_tenant(api: Api) -> None:
    tenant = created(api)
    answer = api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}", params={"isHardDelete": "true"})
    api.expect(answer, "TEN-6", 200, "a hard delete")
    if answer.json() != {"uid": tenant["uuid"]}:
        raise ContractViolation(
            "TEN-6", f"a hard delete answered {answer.json()}, not {{uid: {tenant['uuid']}}}", answer=answer
        )
    api.expect(api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}"), "TEN-6", 404, "GET after a hard delete")
    for deleted in (False, True):
        if tenant["id"] in listed(api, deleted=deleted):
            raise ContractViolation(
                "TEN-6",
                f"a hard-deleted tenant is in the list (deleted={str(deleted).lower()})",
                operation="get_tenants",
            )


@rule("TEN-7")
def test_deleting_a_missing_tenant_is_404(api: Api) -> None:
    tenant = created(api)
    hard = api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}", params={"isHardDelete": "true"})
    if hard.status_code == 200 and api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}").status_code == 404:
        # Only once the hard delete demonstrably happened (else TEN-6 is what broke).
        again = api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}", params={"isHardDelete": "true"})
        api.expect(again, "TEN-7", 404, "deleting a hard-deleted tenant")
