"""Every operation of specs/runai.json, fuzzed by Schemathesis: positive and negative cases, its
built-in checks and the contract checks of conformance/checks.py (ERR-1, USR-1, USR-5, TEN-1, TEN-3);
after a rejected create, a look that it created nothing (ERR-2, USR-3); around a sample of the requests
that must change nothing (reads, 4xx answers), a look that no field of the pool's users moved."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import reject
from schemathesis.core.failures import FailureGroup

from runai_conformance.conformance import checks  # noqa: F401  (registers the contract checks with Schemathesis)
from runai_conformance.conformance.api import WRITE_METHODS, Api, ContractViolation, Secret, access_token
from runai_conformance.conformance.fuzz import (
    OPERATION_RULES,
    is_negative,
    load_schema,
    make_safe,
    rerouted,
    rules_of,
    send_through,
)
from runai_conformance.conformance.guard import SAFE_METHODS
from runai_conformance.conformance.redact import curl
from runai_conformance.conformance.secret import bearer

schema = load_schema()


@dataclass
class FuzzPool:
    """Resources this run created for the fuzzer's path ids, and a local user for /me/password."""

    user_ids: list[str]
    doomed_user_ids: list[str]
    tenant_ids: list[int]
    me_token: Secret | None
    scope: str = ""  # what every pool user's username starts with: the look around a request reads them all
    picks: dict[str, itertools.count] = field(default_factory=dict)

    def pick(self, operation_id: str) -> int:
        """A per-operation counter, so each operation cycles through the pool from its first case."""
        return next(self.picks.setdefault(operation_id, itertools.count()))


@pytest.fixture(scope="session")
def fuzz_pool(api: Api) -> FuzzPool:
    send_through(api.http)
    if api.target.read_only:
        return FuzzPool([], [], [], None)
    users = [api.create_user(f"fuzz{i}") for i in range(3)]
    doomed = [api.create_user(f"fuzz-doomed{i}") for i in range(2)]
    me = api.create_user("fuzz-me")
    answer = api.tokens.user_token(me["username"], me["tempPassword"])
    me_token = access_token(answer) if answer.status_code == 200 else None
    tenant_ids = []
    if api.target.has_role("operator"):
        for _ in range(2):
            created = api.create_tenant()
            if created.status_code == 201:
                tenant_ids.append(created.json()["tenant"]["id"])
    return FuzzPool(
        [u["id"] for u in users], [u["id"] for u in doomed], tenant_ids, me_token, api.ledger.tagged("fuzz")
    )


def auth_headers(api: Api, pool: FuzzPool, op: str, path: str) -> dict[str, Secret]:
    if op == "change_user_password":
        if pool.me_token is None:
            pytest.skip("no local user token for /me/password (read-only run, or the password grant failed)")
        return {"Authorization": bearer(pool.me_token)}
    return api.tokens.headers("operator" if path.startswith("/api/v1/tenants") else "admin")


def violation(
    api: Api, case: Any, response: Any, group: FailureGroup, headers: dict[str, Secret], seed: int
) -> ContractViolation | ExceptionGroup:
    """One ContractViolation per failure of a call, each with its rules (from the failure's type), the
    operation, the exchange and a curl line; several are raised together as an ExceptionGroup."""
    op = str(case.operation.definition.raw.get("operationId"))
    culprit = (
        rejected_parameter(api, case, headers)
        if any(type(f).__name__ == "RejectedPositiveData" for f in group.exceptions)
        else None
    )
    request = response.request
    exchange = exchange_of(api, response, headers, seed)
    found = [
        ContractViolation(
            rules_of(failure, case, response.status_code, culprit),
            api.redact(
                f"{case.operation.label}: {failure.title}: {str(getattr(failure, 'message', '')).strip()}\n"
                + "\n".join(exchange)
            ),
            operation=op,
            request=(str(request.method), str(request.url)),
            status=response.status_code,
        )
        for failure in group.exceptions
    ]
    if len(found) == 1:
        return found[0]
    return ExceptionGroup(f"{case.operation.label}: {len(found)} failures of one call", found)


def exchange_of(api: Api, response: Any, headers: dict[str, Secret], seed: int) -> list[str]:
    """A fuzzed call as evidence lines: request, response, a reproducing curl line, the replay seed."""
    request = response.request
    body = request.body if isinstance(request.body, (bytes, str)) else None
    sent = {k: v for k, v in dict(request.headers).items() if k.lower() not in {h.lower() for h in headers}}
    return [
        f"request:  {request.method} {request.url}",
        *(
            [f"  body: {body[:1500] if isinstance(body, str) else body[:1500].decode('utf-8', 'replace')}"]
            if body
            else []
        ),
        f"response: {response.status_code} {response.text[:1500]}",
        f"reproduce: {curl(str(request.method), str(request.url), {**sent, **headers}, body, api.redact)}",
        f"replay: add --hypothesis-seed={seed} to the pytest command",
    ]


def rejected_parameter(api: Api, case: Any, headers: dict[str, Secret]) -> str | None:
    """Which query parameter of a rejected valid listing request is rejected on its own (re-sent alone)."""
    if case.method.upper() != "GET" or not case.query:
        return None
    for name, value in case.query.items():
        alone = ",".join(map(str, value)) if isinstance(value, list) else value
        if api.http.get(case.formatted_path, params={name: alone}, headers=headers).status_code == 400:
            return name
    return None


def is_undeclared_method_probe(case: Any) -> bool:
    """Whether Schemathesis' coverage phase made this case to try a method the spec does not declare."""
    return case.method.upper() != str(case.operation.method).upper()


@schema.parametrize()
def test_operation_conforms(case: Any, api: Api, fuzz_pool: FuzzPool, request: pytest.FixtureRequest) -> None:
    op = str(case.operation.definition.raw.get("operationId"))
    if api.target.read_only and case.method.upper() in WRITE_METHODS:
        pytest.skip("read-only run: no POST or DELETE is sent")
    headers = auth_headers(api, fuzz_pool, op, case.path)
    try:
        make_safe(
            case,
            tag=api.ledger.run_tag,
            guard=api.http.guard,
            user_ids=fuzz_pool.user_ids,
            doomed_user_ids=fuzz_pool.doomed_user_ids,
            tenant_ids=fuzz_pool.tenant_ids,
            nonexistent_user=api.ledger.nonexistent_user_id(),
            pick=fuzz_pool.pick(op),
        )
    except LookupError as exc:
        pytest.skip(str(exc))
    if is_undeclared_method_probe(case) and not api.http.guard.allows(case.method, case.formatted_path):
        # The coverage phase's undeclared-method probe of a whole collection (DELETE /api/v1/users):
        # never sent on a shared target; this case is dropped, the operation's other cases run.
        reject()
    if rerouted(case):
        # Another operation's request (userId "count" is GET /api/v1/users/count), judged by that operation's
        # own cases: judged as this one's it would be a false alarm. Sent all the same, so that a 5xx to it
        # is ERR-3's (the run names every 5xx a test receives).
        case.call(base_url=api.target.url, headers=headers)
        return
    sampled = (
        bool(fuzz_pool.scope)
        and must_change_nothing(case, api.ledger.run_tag)
        and fuzz_pool.pick(f"look {op}") % api.target.profile.look_every == 0
    )
    seen = api.look(fuzz_pool.scope) if sampled else None
    response = case.call(base_url=api.target.url, headers=headers)  # the run's timeouts ([target] timeout)
    try:
        case.validate_response(response, headers=headers)
    except FailureGroup as group:
        raise violation(api, case, response, group, headers, request.config.option.hypothesis_seed) from None
    rejected_create_created_nothing(api, case, response, headers, request.config.option.hypothesis_seed)
    if seen is not None:
        changed_nothing(api, case, response, seen, headers, request.config.option.hypothesis_seed)


def must_change_nothing(case: Any, run_tag: str) -> bool:
    """Whether a case of the Users API is one a correct target answers without changing anything: a read, a
    request that breaks the schema, a /me/password (fuzzed passwords are never the current one), a request
    naming a user that never existed. Only these are worth a look before they are sent."""
    if case.path.startswith("/api/v1/tenants"):
        return False
    op = str(case.operation.definition.raw.get("operationId"))
    return (
        case.method.upper() in SAFE_METHODS
        or is_negative(case)
        or op == "change_user_password"
        or str((case.path_parameters or {}).get("userId", "")).startswith(f"{run_tag}-missing-")  # never existed
    )


def changed_nothing(api: Api, case: Any, response: Any, seen: Any, headers: dict[str, Secret], seed: int) -> None:
    """A fuzzed request that must change nothing (a read, any 4xx) changed no field of any user of the pool,
    updatedAt and lastLogin included. The rule is the request's: ERR-2 for one that breaks the schema,
    else the operation's (USR-10 for a wrong current password, USR-7 for an id that never existed, …)."""
    op = str(case.operation.definition.raw.get("operationId"))
    status = response.status_code
    if case.method.upper() in SAFE_METHODS and status < 400:
        rule = OPERATION_RULES.get(op, "ERR-2")
    elif 400 <= status < 500 and status != 429:
        by_status = {404: "USR-7", 409: "USR-3"}  # an id that never existed; a duplicate email
        rule = "ERR-2" if is_negative(case) else by_status.get(status, OPERATION_RULES.get(op, "ERR-2"))
    else:
        return  # a write that succeeded, or a 5xx (ERR-3 judged it)
    after = api.look(seen.scope, defer=True)
    moved = seen.moved(after) if after.answer.status_code == 200 and seen.answer.status_code == 200 else []
    if moved:
        raise ContractViolation(
            rule,
            api.redact(
                f"{case.operation.label}: answered {status} and must change nothing, yet {'; '.join(moved)}\n"
                + "\n".join(exchange_of(api, response, headers, seed))
                + f"\nthe look afterwards:\n{api.evidence(after.answer)}"
            ),
            operation=op,
            request=(str(response.request.method), str(response.request.url)),
            status=status,
        )
    after.verdict()


def rejected_create_created_nothing(api: Api, case: Any, response: Any, headers: dict[str, Secret], seed: int) -> None:
    """A rejected create changes nothing (ERR-2 for a request that breaks the schema, USR-3 for a
    duplicate email): afterwards no user with its email, or tenant with its name, exists that this run
    was not handed by a 201 (the ledger's). Only names that carry the run tag are looked up: nobody
    else can own one."""
    op = str(case.operation.definition.raw.get("operationId"))
    key = {"create_user": "email", "create_tenant": "name"}.get(op)
    name = case.body.get(key) if key and isinstance(case.body, dict) else None
    if not isinstance(name, str) or not name.startswith(api.ledger.run_tag):
        return
    if response.status_code == 409 and op == "create_user":
        rule = "USR-3"
    elif 400 <= response.status_code < 500 and response.status_code not in (409, 429) and is_negative(case):
        rule = "ERR-2"
    else:
        return  # accepted, throttled, or a valid create rejected (positive_data_acceptance judged that)
    found, look = api.users_named(name) if op == "create_user" else api.tenants_named(name)
    made = [str(r.get("id")) for r in found if not handed_out(api, op, r.get("id"))]
    if made:
        raise ContractViolation(
            rule,
            api.redact(
                f"{case.operation.label}: the create was rejected with {response.status_code}, yet {made} named "
                f"{name!r} now exists: a rejected request changes nothing\n"
                + "\n".join(exchange_of(api, response, headers, seed))
                + f"\nthe look afterwards:\n{api.evidence(look)}"
            ),
            operation=op,
            request=(str(response.request.method), str(response.request.url)),
            status=response.status_code,
        )


def handed_out(api: Api, op: str, resource_id: Any) -> bool:
    """Whether a create answer of this run (the ledger's 201s) handed out this user or tenant id."""
    if op == "create_user":
        return api.ledger.owns_user(str(resource_id))
    return str(resource_id) in {str(t) for t in api.ledger.tenants}
