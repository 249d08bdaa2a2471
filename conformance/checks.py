"""Contract checks that judge a single response, registered with Schemathesis.

Each is a small function named by what it proves, tied to the CONTRACT rule(s) it proves, and
raises AssertionError with what was expected and what came back. Schemathesis runs them beside its
built-in checks on every fuzzed call.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import schemathesis

from .violations import ContractViolation, secret_fields

# check name -> the rules it proves; filled by `contract_check`.
CHECK_RULES: dict[str, tuple[str, ...]] = {}

USER_OPERATIONS = {"get_users", "get_user_by_id"}
TENANT_OPERATIONS = {"get_tenants", "get_tenant_by_id", "create_tenant"}


def contract_check(*rules: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a check with Schemathesis and record the rules it proves; what it raises reaches the
    test as a ContractViolation of those rules (Schemathesis keeps it as its CustomFailure's exception)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        CHECK_RULES[func.__name__] = rules

        @functools.wraps(func)
        def check(ctx: Any, response: Any, case: Any) -> Any:
            try:
                return func(ctx, response, case)
            except ContractViolation:
                raise
            except AssertionError as exc:
                raise ContractViolation(rules, str(exc), operation=operation_id(case) or None) from None

        return schemathesis.check(check)

    return register


def operation_id(case: Any) -> str:
    return str(case.operation.definition.raw.get("operationId", ""))


def _json(response: Any) -> Any:
    try:
        return json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        return ...


@contract_check("ERR-1")
def error_body_carries_status(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx answer is a JSON Error body whose code equals the HTTP status."""
    if response.status_code < 400:
        return
    body = _json(response)
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not isinstance(body.get("code"), int):
        raise AssertionError(
            f"a {response.status_code} answer is not an Error body {{code, message}}: {response.text[:300]!r}"
        )
    if body["code"] != response.status_code:
        raise AssertionError(f"Error.code is {body['code']} but the HTTP status is {response.status_code}")


@contract_check("USR-5", "TEN-3")
def no_secret_in_representation(ctx: Any, response: Any, case: Any) -> None:
    """No user or tenant representation carries a password, temporary password, secret or metricStore."""
    op = operation_id(case)
    if response.status_code >= 300 or op not in USER_OPERATIONS | TENANT_OPERATIONS:
        return
    leaked = secret_fields(_json(response))
    if leaked:  # one rule, the one of the representation's kind
        raise ContractViolation(
            "USR-5" if op in USER_OPERATIONS else "TEN-3", f"{op} answered with secret fields {leaked}", operation=op
        )


@contract_check("USR-1")
def created_user_is_the_email_sent(ctx: Any, response: Any, case: Any) -> None:
    """A created user answers {id, username, tempPassword}: username is the email sent, id and password non-empty."""
    if operation_id(case) != "create_user" or response.status_code != 201 or not isinstance(case.body, dict):
        return
    body = _json(response)
    if not isinstance(body, dict):
        raise AssertionError("create_user answered 201 without a JSON object")
    if body.get("username") != case.body.get("email"):
        raise AssertionError(f"username {body.get('username')!r} is not the email sent {case.body.get('email')!r}")
    if not body.get("id") or not body.get("tempPassword"):
        raise AssertionError("create_user answered an empty id or tempPassword")


@contract_check("TEN-1")
def created_tenant_is_what_was_sent(ctx: Any, response: Any, case: Any) -> None:
    """A created tenant has the name sent, and the contractType sent (normal when empty or absent)."""
    if operation_id(case) != "create_tenant" or response.status_code != 201 or not isinstance(case.body, dict):
        return
    tenant = (_json(response) or {}).get("tenant") if isinstance(_json(response), dict) else None
    if not isinstance(tenant, dict):
        raise AssertionError("create_tenant answered 201 without a tenant object")
    if tenant.get("name") != case.body.get("name"):
        raise AssertionError(f"tenant.name {tenant.get('name')!r} is not the name sent {case.body.get('name')!r}")
    expected = case.body.get("contractType") or "normal"
    if tenant.get("contractType") != expected:
        raise AssertionError(
            f"contractType {case.body.get('contractType')!r} was sent; the tenant says {tenant.get('contractType')!r}"
        )
