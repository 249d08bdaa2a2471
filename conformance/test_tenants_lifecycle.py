"""The tenant lifecycle (TEN-2, TEN-4..TEN-7): create → read → soft delete → hard delete, and what
GET and the two lists show after each step. Only this run's tenants are created and deleted."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.api import Api, ContractViolation
from conformance.rules import rule

UNLIKELY_TENANT_ID = 2147483000  # read-only probes only: never sent to a delete


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
