"""Schemathesis over the merged spec, taught the contract where the schema is silent.

- Our strategies are registered as formats on an in-memory copy of `specs/runai.json`, so positive
  cases draw `filterBy` terms from the grammar and emails and tenant names from the published
  patterns, not random strings that a correct server rightly rejects.
- Every case is made safe before it is sent: names get the run tag, and path ids of operations
  that change state point only at resources this run created, or at ids that cannot exist.
- Every failure is classified to the CONTRACT rule it breaks.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import AcceptedNegativeData, CustomFailure, MalformedJson, ServerError
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import (
    AllowHeaderMismatch,
    IgnoredAuth,
    JsonSchemaError,
    MissingContentType,
    MissingHeaderNotRejected,
    MissingHeaders,
    RejectedPositiveData,
    UndefinedContentType,
    UndefinedStatusCode,
    UnsupportedMethodResponse,
)

from ..specs import load_spec
from ..strategies import emails, filter_by, pagination, tenants
from . import lazy_coverage
from .api import ContractViolation
from .guard import SAFE_METHODS, Guard, Refused
from .operations import operation_of
from .transport import GuardedClient, SchemathesisTransport, install

EMAIL_PATTERN = re.compile(r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$")
TENANT_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]$")
MAX_EMAIL = 254


FORMATS = {
    "runai-filter-term": filter_by.terms(),
    "runai-email": emails.emails(max_size=MAX_EMAIL - 16),  # room for the run tag
    "runai-tenant-name": tenants.tenant_names(max_size=40),
}

# Per-operation rule for what Schemathesis' response checks find (status, content type, schema).
OPERATION_RULES = {
    "get_users": "LIST-1",
    "count_users": "LIST-7",
    "create_user": "USR-1",
    "get_user_by_id": "USR-4",
    "delete_user_by_id": "USR-6",
    "logout_user": "USR-9",
    "reset_user_password": "USR-8",
    "change_user_password": "USR-10",
    "get_tenants": "TEN-5",
    "create_tenant": "TEN-1",
    "get_tenant_by_id": "TEN-4",
    "delete_tenant_by_id": "TEN-5",
}
TENANT_OPERATIONS = ("get_tenants", "create_tenant", "get_tenant_by_id")
TENANT_FIELDS = {"id", "uuid", "name", "status", "contractType"}  # the fields TEN-1 states


# What a fuzzed operation proves when it passes: the response checks plus the operation's own rules.
COMMON_RULES = ("ERR-1", "ERR-2", "ERR-3")
FUZZ_RULES = {
    "get_users": ("LIST-1", "LIST-2", "LIST-3", "LIST-5", "LIST-6", "LIST-8", "USR-5"),
    "count_users": ("LIST-7", "LIST-2", "LIST-3"),
    "create_user": ("USR-1", "USR-2", "USR-3"),
    "get_user_by_id": ("USR-4", "USR-5", "USR-7"),
    "delete_user_by_id": ("USR-6", "USR-7"),
    "logout_user": ("USR-9", "USR-7"),
    "reset_user_password": ("USR-8", "USR-7"),
    "change_user_password": ("USR-10",),
    "get_tenants": ("TEN-1", "TEN-3"),
    "create_tenant": ("TEN-1", "TEN-1a", "TEN-2", "TEN-3"),
    "get_tenant_by_id": ("TEN-1", "TEN-3", "TEN-4"),
    "delete_tenant_by_id": ("TEN-5", "TEN-6"),
}


def operation_ids() -> dict[str, str]:
    """'METHOD /path' label -> operationId, for every operation of the merged spec."""
    spec = load_spec()
    return {f"{m.upper()} {p}": op["operationId"] for p, item in spec["paths"].items() for m, op in item.items()}


def fuzz_spec() -> dict[str, Any]:
    """The merged spec with our formats on the fields the grammar and patterns describe."""
    spec = copy.deepcopy(load_spec())
    components = spec["components"]
    components["parameters"]["usersFilterBy"]["schema"]["items"]["format"] = "runai-filter-term"
    components["schemas"]["UserCreationRequest"]["properties"]["email"]["format"] = "runai-email"
    tenant = components["schemas"]["TenantCreationRequest"]["properties"]
    tenant["name"]["format"] = "runai-tenant-name"
    tenant["email"]["format"] = "runai-email"
    return spec


def load_schema() -> Any:
    """The Schemathesis schema the fuzz tests are parametrized from (parsed once per process)."""
    for name, strategy in FORMATS.items():
        schemathesis.openapi.format(name, strategy)
    config = SchemathesisConfig.from_dict(
        {
            "generation": {
                # The contract does not ask a server to reject unknown query parameters, and the
                # token is the suite's to set (AUTH-1 tests cover missing and bad tokens).
                "allow-extra-parameters": False,
                "with-security-parameters": False,
            },
            "operations": [
                {
                    # A wrong current password is 400 or 403 (USR-10): fuzzed passwords are always wrong.
                    "include-operation-id": "change_user_password",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404"]}},
                },
            ],
        }
    )
    lazy_coverage.install()  # coverage cases made by the process that runs the test, not by every worker
    schema = schemathesis.openapi.from_dict(fuzz_spec(), config=config)
    schema.hook(filter_query)
    SCHEMA_TRANSPORTS.append(install(schema))
    return schema


SCHEMA_TRANSPORTS: list[SchemathesisTransport] = []  # every schema's transport: the run gives them its client


def send_through(client: GuardedClient) -> None:
    """Every Schemathesis request from now on (cases and the checks' re-sends) leaves through `client`."""
    for transport in SCHEMA_TRANSPORTS:
        transport.client = client


def filter_query(ctx: Any, query: dict[str, Any] | None) -> bool:
    """Drop cases whose filterBy serializes to nothing. `filterBy=` is an empty list of terms, which
    filters nothing (LIST-3); Schemathesis may mean it as the invalid `[""]`, which looks the same on
    the wire. The listing properties test the empty filterBy on purpose."""
    value = (query or {}).get("filterBy")
    if isinstance(value, list):
        value = ",".join(map(str, value))
    return value != ""


# ------------------------------------------------------------------------------ making cases safe


def tag_email(email: Any, tag: str) -> Any:
    """A valid email with the run tag on its local part (trimmed to fit 254); anything else unchanged."""
    if not isinstance(email, str) or not EMAIL_PATTERN.match(email) or not 5 <= len(email) <= MAX_EMAIL:
        return email
    local, domain = email.rsplit("@", 1)
    room = MAX_EMAIL - len(domain) - 1 - len(tag) - 1
    if room < 1:
        return email
    return f"{tag}-{local[:room]}@{domain}"


def tag_tenant_name(name: Any, tag: str) -> Any:
    """A valid tenant name with the run tag in front; anything else unchanged."""
    if not isinstance(name, str) or not TENANT_NAME_PATTERN.match(name):
        return name
    return f"{tag}-{name}"


def make_safe(
    case: Any,
    *,
    tag: str,
    guard: Guard,
    user_ids: list[str],
    doomed_user_ids: list[str],
    tenant_ids: list[int],
    nonexistent_user: str,
    pick: int,
) -> None:
    """Tag created names and point the path ids of every state-changing case (undeclared methods of
    the coverage phase included) at this run's own resources, or at ids that cannot exist (in place).
    Deletes get users of their own (`doomed_user_ids`), so the others stay readable for every operation.
    The guard judges the tenant ids: what it would refuse is replaced by one of this run's tenants."""
    op = str(case.operation.definition.raw.get("operationId", ""))
    method = case.method.upper()
    if isinstance(case.body, dict):
        if op == "create_user" and "email" in case.body:
            case.body["email"] = tag_email(case.body["email"], tag)
            case.meta and case.meta.mark_dirty(ParameterLocation.BODY)
        if op == "create_tenant" and "name" in case.body:
            # Unique per case: Hypothesis favours short names, and repeats would mostly meet 409.
            case.body["name"] = tag_tenant_name(case.body["name"], f"{tag}-{pick:x}")
            case.meta and case.meta.mark_dirty(ParameterLocation.BODY)
    params = dict(case.path_parameters or {})
    if (
        op == "get_user_by_id"
        and method in SAFE_METHODS
        and user_ids
        and pick % 2 == 0
        and not (case.meta and case.meta.is_negative_at(ParameterLocation.PATH))
    ):
        # Reads are safe with any id; half of them read this run's users, so their bodies get judged too.
        params["userId"] = user_ids[pick // 2 % len(user_ids)]
    if method not in SAFE_METHODS and "userId" in params:
        choices = [*(doomed_user_ids if method == "DELETE" else user_ids), nonexistent_user]
        params["userId"] = choices[pick % len(choices)]
    if method not in SAFE_METHODS and "tenantId" in params:
        try:
            guard.check(method, f"/api/v1/tenants/{params['tenantId']}")
        except Refused:
            if not tenant_ids:
                raise LookupError("no tenant of this run to aim a state-changing request at") from None
            params["tenantId"] = tenant_ids[pick % len(tenant_ids)]
    if params != (case.path_parameters or {}):
        case.path_parameters = params
        case.meta and case.meta.mark_dirty(ParameterLocation.PATH)


def rerouted(case: Any) -> bool:
    """Whether a server may route a case's request to another operation than the case's own, whose answer
    the case's schema and rules do not judge. Servers route the percent-decoded path: a path id that
    spells a sibling's literal segment reaches the sibling (GET /api/v1/users/{userId} with the userId
    `count` is GET /api/v1/users/count: a concrete path is matched first, OpenAPI 3 Paths Object), and one
    holding a slash or a dot segment (`a/logout`, `..`) reaches whatever route the server makes of it."""
    values = [unquote(str(value)) for value in (case.path_parameters or {}).values()]
    if any("/" in value or value in (".", "..") for value in values):
        return True
    own = case.operation.definition.raw.get("operationId")
    path = unquote(case.formatted_path).replace("?", "%3F")  # a `?` decoded from a value is no query
    return operation_of(str(case.operation.method), path) != own


# ------------------------------------------------------------------------------ classifying failures


# Schemathesis failures about HTTP itself, not about this API's contract: CONTRACT.md names no rule for
# them, so they are reported under their own heading and never folded into an operation's rule.
NO_CONTRACT_RULE = (UnsupportedMethodResponse, AllowHeaderMismatch, MissingHeaders, MissingHeaderNotRejected)
SERVER_ERRORS = (ServerError,)
ERROR_BODY_FAILURES = (JsonSchemaError, UndefinedContentType, MissingContentType, MalformedJson)


def rules_of(failure: Any, case: Any, status: int | None, culprit: str | None = None) -> tuple[str, ...]:
    """The CONTRACT rule(s) a Schemathesis failure shows broken, from the failure's type; () when no
    rule of the contract names it."""
    op = str(case.operation.definition.raw.get("operationId", ""))
    if isinstance(failure, CustomFailure):
        if isinstance(failure.exception, ContractViolation):  # a contract check of conformance/checks.py
            return tuple(failure.exception.rules)
        return ()  # not a check of this suite: no CONTRACT rule to name
    if isinstance(failure, NO_CONTRACT_RULE):
        return ()
    if isinstance(failure, SERVER_ERRORS):
        return ("ERR-3",)
    if isinstance(failure, IgnoredAuth):
        return ("AUTH-1",)
    if isinstance(failure, AcceptedNegativeData):
        return (negative_rule(case, op),)
    if isinstance(failure, RejectedPositiveData):
        return (positive_rule(case, op, culprit),)
    if status is not None and status >= 400 and isinstance(failure, ERROR_BODY_FAILURES):
        return ("ERR-1",)
    if isinstance(failure, UndefinedStatusCode):
        return (status_rule(case, op, status),)
    if isinstance(failure, JsonSchemaError) and op in TENANT_OPERATIONS and breaks_tenant_field(failure):
        return ("TEN-1",)  # a tenant's id, uuid, name, status or contractType, in any representation
    return (OPERATION_RULES.get(op, "ERR-2"),)


def breaks_tenant_field(failure: JsonSchemaError) -> bool:
    """Whether a schema failure is about one of the tenant fields TEN-1 states: wrong in place, or missing
    (a `required` failure points at the object, so its missing keys are looked at)."""
    if TENANT_FIELDS & {str(p) for p in failure.instance_path}:
        return True
    return (
        bool(failure.schema_path)
        and failure.schema_path[-1] == "required"
        and isinstance(failure.instance, dict)
        and bool(TENANT_FIELDS - failure.instance.keys())
    )


def is_negative(case: Any) -> bool:
    """Whether Schemathesis generated `case` to break the schema (its negative mode)."""
    mode = getattr(getattr(getattr(case, "meta", None), "generation", None), "mode", None)
    return bool(mode is not None and mode.is_negative)


def status_rule(case: Any, op: str, status: int | None) -> str:
    """The rule broken by an answer with a status the operation does not document: a 4xx other than
    400 to a request that breaks the schema is ERR-2's (or its field's own rule); a hard delete's
    other answer is TEN-6's; anything else the operation's."""
    if status is not None and 400 <= status < 500 and is_negative(case):
        return negative_rule(case, op)
    if op == "delete_tenant_by_id" and is_hard_delete(case.query or {}):
        return "TEN-6"
    return OPERATION_RULES.get(op, "ERR-2")


def is_hard_delete(query: dict[str, Any]) -> bool:
    value = query.get("isHardDelete")
    values = value if isinstance(value, list) else [value]
    return any(str(v).lower() == "true" for v in values)


def negative_rule(case: Any, op: str) -> str:
    """The rule broken when the target accepted a schema-violating request."""
    body = case.body if isinstance(case.body, dict) else {}
    query = case.query or {}
    if (
        op == "create_user"
        and isinstance(body.get("email"), str)
        and not (EMAIL_PATTERN.match(body["email"]) and 5 <= len(body["email"]) <= MAX_EMAIL)
    ):
        return "USR-2"
    if op == "create_tenant":
        name, email = body.get("name"), body.get("email")
        if (isinstance(name, str) and not TENANT_NAME_PATTERN.match(name)) or (
            isinstance(email, str) and not EMAIL_PATTERN.match(email)
        ):
            return "TEN-2"
    if op == "change_user_password":
        return "USR-10"
    if op in ("get_users", "count_users"):
        if _invalid_int(query.get("offset"), 0, None) or _invalid_int(
            query.get("limit"), pagination.MIN_LIMIT, pagination.MAX_LIMIT
        ):
            return "LIST-6"
        if "sortBy" in query or "sortOrder" in query:
            return "LIST-5"
        if "filterBy" in query:
            return "LIST-3"
    return "ERR-2"


def positive_rule(case: Any, op: str, culprit: str | None = None) -> str:
    """The rule broken when the target rejected a schema-valid request."""
    body = case.body if isinstance(case.body, dict) else {}
    if op == "create_tenant":
        return "TEN-1a" if "role" in body and body["role"] is None else "TEN-2"
    if op == "create_user":
        return "USR-2"
    if op in ("get_user_by_id", "delete_user_by_id", "logout_user", "reset_user_password"):
        return "USR-7"  # any string is a valid id; one that names no user gets 404, not a rejection
    if op in ("get_users", "count_users"):
        return LIST_PARAMETER_RULES.get(culprit or "", "LIST-6")
    return OPERATION_RULES.get(op, "ERR-2")


# The rule a listing parameter serves, for a valid value of it that the target rejected.
LIST_PARAMETER_RULES = {
    "filterBy": "LIST-2",
    "filter": "LIST-8",
    "sortBy": "LIST-5",
    "sortOrder": "LIST-5",
    "offset": "LIST-6",
    "limit": "LIST-6",
    "search": "LIST-4",
}


def _invalid_int(value: Any, low: int, high: int | None) -> bool:
    if value is None:
        return False
    try:
        number = int(value)
    except (TypeError, ValueError):
        return True
    return number < low or (high is not None and number > high)
