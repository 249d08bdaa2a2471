"""Every way in (CONTRACT, "Every request, however it is written"): requests as a gateway, a framework or an
attacker writes them, not only as a well-behaved client does, each judged by the rules of the operation
it reaches (the OWASP testing guide's parameter pollution, mass assignment, path normalisation, verb
tampering and content negotiation).

- A query parameter or a JSON key given twice, a valid and an invalid value in both orders: 400, or the
  target acts on one of them, and the value it acts on obeys every bound, pattern and enum.
- Fields the server owns sent in a create body: ignored or refused with 400; the rules on them still hold.
- Spellings of a path a router may normalise (a trailing or doubled slash, a dot segment, a
  percent-encoded letter), without a token, as the viewer and as another tenant's admin: authorized as the
  operation they reach (or answered 400, 404 or a redirect), and the user they name is left as it was.
- HEAD is GET without a body (same status, same auth); a method-override header changes no permission.
- The `Accept` header does not change an error's shape; a JSON body with another or no `Content-Type` is
  answered 2xx or 4xx, never 5xx.

Requests the client library would normalise (a dot segment) go out as raw request targets, and the
evidence shows each request exactly as sent. Everything that changes state names only the run's own users
(the guard reads the raw target too).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from runai_conformance.conformance.api import Api, ContractViolation, raise_found
from runai_conformance.conformance.rules import rule

ROUTED_ELSEWHERE = (400, 404, 301, 302, 307, 308)  # a spelling a target may refuse or redirect instead of routing


@pytest.fixture(scope="module")
def writable(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: these tests create the users they aim at")


@pytest.fixture(scope="module")
def trio(api: Api, writable: None) -> tuple[str, list[dict[str, Any]]]:
    """Three users of the run's under a tag of their own, sorted by username."""
    key = f"wire{uuid.uuid4().hex[:6]}"
    made = [api.create_user(f"{key}-{i}") for i in range(3)]
    return api.ledger.tagged(key), sorted(made, key=lambda u: u["username"])


def raw(api: Api, role: str | None, method: str, target: str, **kw: Any) -> httpx.Response:
    """A request whose target goes out byte for byte as written (dot segments kept)."""
    return api.call(role, method, target, extensions={"target": target.encode()}, **kw)


def body_of(*pairs: tuple[str, Any]) -> bytes:
    """A JSON object with its keys in this order, a key given twice if it comes twice."""
    return ("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}").encode()


# ------------------------------------------------------------------------------ a parameter given twice


@rule("LIST-5", "LIST-6")
def test_a_repeated_query_parameter_is_refused_or_one_valid_value_is_used(
    api: Api, trio: tuple[str, list[dict[str, Any]]]
) -> None:
    """limit 1 and 501, offset 0 and -1, sortOrder asc and a value outside the enum, each pair in both
    orders: 400, or the answer is the one the valid value gives."""
    tag, users = trio
    scope = {"filterBy": f"username=@{tag}", "sortBy": "username"}
    names = [u["username"] for u in users]
    found = []
    for first, second in (("1", "501"), ("501", "1")):
        answer = api.call("admin", "GET", "/api/v1/users", params=[*scope.items(), ("limit", first), ("limit", second)])
        if answer.status_code == 200 and len(answer.json()) > 1:
            found.append(
                ContractViolation(
                    "LIST-6",
                    f"limit={first}&limit={second} answered {len(answer.json())} users: it acted on limit 501\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
        elif answer.status_code not in (200, 400):
            found.append(
                ContractViolation(
                    "LIST-6",
                    f"limit={first}&limit={second}: expected 400 or 200\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
    for first, second in (("0", "-1"), ("-1", "0")):
        answer = api.call(
            "admin", "GET", "/api/v1/users", params=[*scope.items(), ("offset", first), ("offset", second)]
        )
        if answer.status_code == 200 and [u["username"] for u in answer.json()] != names:
            found.append(
                ContractViolation(
                    "LIST-6",
                    f"offset={first}&offset={second} answered another page than offset 0: it acted on offset -1\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
        elif answer.status_code not in (200, 400):
            found.append(
                ContractViolation(
                    "LIST-6",
                    f"offset={first}&offset={second}: expected 400 or 200\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
    for first, second in (("asc", "sideways"), ("sideways", "asc")):
        answer = api.call(
            "admin", "GET", "/api/v1/users", params=[*scope.items(), ("sortOrder", first), ("sortOrder", second)]
        )
        if answer.status_code == 200 and [u["username"] for u in answer.json()] != names:
            found.append(
                ContractViolation(
                    "LIST-5",
                    f"sortOrder={first}&sortOrder={second} answered the list out of ascending order: it acted on a value outside the enum\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
        elif answer.status_code not in (200, 400):
            found.append(
                ContractViolation(
                    "LIST-5",
                    f"sortOrder={first}&sortOrder={second}: expected 400 or 200\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
    raise_found(found, "repeated parameters acted on invalid values")


# ------------------------------------------------------------------------------ a JSON key given twice


@rule("USR-2")
def test_a_repeated_json_key_is_refused_or_one_valid_value_is_used(api: Api, writable: None) -> None:
    """An email given twice in one body, a valid and an invalid one in both orders: 400, or the user
    created carries the valid one."""
    found = []
    for order in ("valid first", "invalid first"):
        email = f"{api.ledger.tagged('twice-' + uuid.uuid4().hex[:6])}@example.com"
        pairs = [("email", email), ("email", "no-at-sign")]
        sent = body_of(*(pairs if order == "valid first" else pairs[::-1]))
        answer = api.call("admin", "POST", "/api/v1/users", content=sent, headers={"Content-Type": "application/json"})
        if answer.is_success and answer.json().get("username") != email:
            what = f"created {answer.json().get('username')!r}, which breaks the pattern"
            found.append(
                ContractViolation(
                    "USR-2", f"a body with the email twice ({order}) {what}\n{api.evidence(answer)}", answer=answer
                )
            )
        elif not answer.is_success and answer.status_code != 400:
            found.append(
                ContractViolation(
                    "USR-2",
                    f"a body with the email twice ({order}): expected 400 or 201\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
    raise_found(found, "repeated JSON keys were read two ways")


@rule("TEN-2")
def test_a_repeated_tenant_name_is_refused_or_the_valid_one_is_used(api: Api, writable: None) -> None:
    """A tenant name given twice in one body, a valid and an invalid one in both orders: 400, or the
    tenant created carries the valid one."""
    api.tokens.token("operator")  # skips without the role
    found = []
    for order in ("valid first", "invalid first"):
        name = api.ledger.tagged("twice" + uuid.uuid4().hex[:6])
        pairs = [("name", name), ("name", "-not a name-")]
        sent = body_of(*(pairs if order == "valid first" else pairs[::-1]), ("email", "owner@example.com"))
        answer = api.call(
            "operator", "POST", "/api/v1/tenants", content=sent, headers={"Content-Type": "application/json"}
        )
        made = (answer.json().get("tenant") or {}).get("name") if answer.is_success else None
        if answer.is_success and made != name:
            what = f"created a tenant named {made!r}, which breaks the pattern"
            found.append(
                ContractViolation(
                    "TEN-2", f"a body with the name twice ({order}) {what}\n{api.evidence(answer)}", answer=answer
                )
            )
        elif not answer.is_success and answer.status_code != 400:
            found.append(
                ContractViolation(
                    "TEN-2",
                    f"a body with the name twice ({order}): expected 400 or 201\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
    raise_found(found, "repeated JSON keys were read two ways")


# ------------------------------------------------------------------------------ fields the server owns


@rule("USR-1", "USR-4")
def test_fields_the_server_owns_are_ignored_or_refused(api: Api, writable: None) -> None:
    """A create body carrying every field the server owns, each with a wrong value (an id another user of
    the run has, another creator, a future createdAt, a lastLogin, isLocal false): 400, or a user whose
    fields are what the rules say, none of what was sent."""
    control = api.create_user()
    normal = api.expect(
        api.call("admin", "GET", f"/api/v1/users/{control['id']}"), "USR-4", 200, "reading a user"
    ).json()
    email = f"{api.ledger.tagged('owned-' + uuid.uuid4().hex[:6])}@example.com"
    sent = {
        "email": email,
        "id": control["id"],
        "createdBy": "mallory",
        "createdAt": "2999-01-01T00:00:00Z",
        "updatedAt": "2999-01-01T00:00:00Z",
        "lastLogin": "2020-01-01T00:00:00Z",
        "isLocal": False,
    }
    answer = api.call("admin", "POST", "/api/v1/users", json=sent)  # the client judges the id's newness (USR-1)
    found = []
    if answer.status_code == 201:
        made = api.expect(
            api.call("admin", "GET", f"/api/v1/users/{answer.json()['id']}"), "USR-4", 200, "reading it"
        ).json()
        for key, wanted in (("createdBy", normal.get("createdBy")), ("lastLogin", None), ("isLocal", True)):
            if made.get(key) != wanted:
                what = f"a create body with {key} {sent[key]!r} made a user whose {key} is {made.get(key)!r}, not {wanted!r}"
                found.append(ContractViolation("USR-4", f"{what}\n{api.evidence(answer)}", answer=answer))
        if made.get("createdAt") == sent["createdAt"]:
            found.append(
                ContractViolation(
                    "USR-4", f"a create body's createdAt in the future was kept\n{api.evidence(answer)}", answer=answer
                )
            )
    elif answer.status_code != 400:
        found.append(
            ContractViolation(
                "USR-1",
                f"a create body with the server's fields: expected 201 or 400\n{api.evidence(answer)}",
                answer=answer,
            )
        )
    raise_found(found, "fields the server owns were taken from the body")


@rule("TEN-1")
def test_a_tenants_owned_fields_are_ignored_or_refused(api: Api, writable: None) -> None:
    """A create body carrying the id and uuid of an existing tenant and a status: 400, or a new tenant
    with an id of its own."""
    api.tokens.token("operator")  # skips without the role
    first = api.expect(api.create_tenant(), "TEN-1", 201, "creating a tenant").json()["tenant"]
    again = api.create_tenant(id=first["id"], uuid=first["uuid"], status="Ready")
    if again.status_code == 201 and again.json()["tenant"].get("id") == first["id"]:
        what = f"a create body with the id {first['id']} of an existing tenant made a tenant with that id"
        raise ContractViolation("TEN-1", f"{what}: an id is new\n{api.evidence(again)}", answer=again)
    if again.status_code not in (201, 400):
        raise ContractViolation(
            "TEN-1", f"a create body with the server's fields: expected 201 or 400\n{api.evidence(again)}", answer=again
        )


# ------------------------------------------------------------------------------ path spellings and methods


def spellings(user_id: str) -> dict[str, str]:
    """Ways to write /api/v1/users/{id} that a router may read as that path."""
    return {
        "a trailing slash": f"/api/v1/users/{user_id}/",
        "a doubled slash": f"/api/v1//users/{user_id}",
        "a dot segment": f"/api/v1/users/./{user_id}",
        "a dot-dot segment": f"/api/v1/tenants/../users/{user_id}",
        "a percent-encoded letter": f"/api/v1/%75sers/{user_id}",
    }


# who sends the spellings and HEADs: the rule a wrong answer (or a change) breaks, the right answer, and
# the methods of the spellings
SENDERS = {
    None: ("AUTH-1", 401, ("GET", "DELETE")),
    "viewer": ("AUTH-2", 403, ("DELETE",)),
    "peer": ("ISO-1", 404, ("GET", "DELETE")),
}


def spelled_by(api: Api, role: str | None) -> None:
    """Each spelling of a user's path sent by `role` (None: without a token): its right answer, or the
    spelling refused or redirected (400, 404, 3xx); never a 2xx. The user is left as it was."""
    if role is not None:
        api.tokens.token(role)  # skips without the role
    rule_id, right, methods = SENDERS[role]
    user = api.create_user()
    before = api.look(user["username"])
    who = "without a token" if role is None else f"as {role}"
    found: list[ContractViolation] = []
    for method in methods:
        for how, target in spellings(str(user["id"])).items():
            answer = raw(api, role, method, target)
            if answer.status_code not in (right, *ROUTED_ELSEWHERE):
                what = f"{method} with {how} ({target}) {who}: expected {right} (or 400, 404, a redirect)"
                found.append(ContractViolation(rule_id, f"{what}\n{api.evidence(answer)}", answer=answer))
    try:
        api.unmoved(before, rule_id, answer, f"requests with path spellings {who}")
    except ContractViolation as moved:
        found.append(moved)
    raise_found(found, "path spellings were authorized as another operation")


@rule("AUTH-1")
def test_every_spelling_of_a_path_without_a_token_gets_401(api: Api, writable: None) -> None:
    """A path spelling is authorized as the operation it reaches: without a token 401 (or 400, 404, 3xx)."""
    spelled_by(api, None)


@rule("AUTH-2")
def test_every_spelling_of_a_path_keeps_the_viewer_from_deleting(api: Api, writable: None) -> None:
    """The viewer's DELETE of any spelling of a user's path: 403 (or 400, 404, 3xx), and the user stays."""
    spelled_by(api, "viewer")


@rule("ISO-1")
def test_every_spelling_of_a_path_hides_the_user_from_the_other_tenant(api: Api, writable: None) -> None:
    """The other tenant's admin's GET and DELETE of any spelling of a user's path: 404 (or 400, 3xx)."""
    spelled_by(api, "peer")


@rule("USR-4")
def test_a_spelling_the_target_routes_reaches_the_user_it_names(api: Api, writable: None) -> None:
    """The admin's GET of each spelling the target routes (200) answers the user the path names."""
    user = api.create_user()
    for how, target in spellings(str(user["id"])).items():
        answer = raw(api, "admin", "GET", target)
        if answer.status_code == 200 and answer.json().get("id") != user["id"]:
            raise ContractViolation(
                "USR-4", f"GET with {how} ({target}) answered another user\n{api.evidence(answer)}", answer=answer
            )


def head_as(api: Api, role: str | None) -> None:
    """HEAD of every GET path answers what GET answers, with the same auth, and no body."""
    if role is not None:
        api.tokens.token(role)  # skips without the role
    rule_id = SENDERS[role][0]
    user = api.create_user()
    found = []
    for path in ("/api/v1/users", "/api/v1/users/count", f"/api/v1/users/{user['id']}"):
        got, head = api.call(role, "GET", path), api.call(role, "HEAD", path)
        if head.status_code != got.status_code:
            what = f"HEAD {path} as {role or 'nobody'} answered {head.status_code}, GET {got.status_code}"
            found.append(
                ContractViolation(rule_id, f"{what}: HEAD is GET without a body\n{api.evidence(head)}", answer=head)
            )
        elif head.content:
            found.append(ContractViolation(rule_id, f"HEAD {path} answered a body\n{api.evidence(head)}", answer=head))
    raise_found(found, "HEAD answered otherwise than GET")


@rule("AUTH-1")
def test_head_without_a_token_is_get_without_a_token(api: Api, writable: None) -> None:
    """HEAD without a token: 401, as GET."""
    head_as(api, None)


@rule("AUTH-2")
def test_head_as_the_viewer_is_get_as_the_viewer(api: Api, writable: None) -> None:
    """The viewer's HEAD answers what its GET answers."""
    head_as(api, "viewer")


@rule("ISO-1")
def test_head_as_the_other_tenant_is_get_as_the_other_tenant(api: Api, writable: None) -> None:
    """The other tenant's HEAD of this tenant's user: 404, as its GET."""
    head_as(api, "peer")


@rule("AUTH-2")
def test_no_method_override_header_changes_a_permission(api: Api, writable: None) -> None:
    """A method-override header (X-HTTP-Method-Override, X-Method-Override, X-HTTP-Method) on the
    viewer's GET or POST of a user changes no permission: the viewer deletes nothing."""
    api.tokens.token("viewer")  # skips without the role
    user = api.create_user()
    before = api.look(user["username"])
    for header in ("X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"):
        for method in ("GET", "POST"):
            answer = api.call("viewer", method, f"/api/v1/users/{user['id']}", headers={header: "DELETE"})
            if answer.status_code == 204:
                what = f"the viewer's {method} with {header}: DELETE answered 204"
                raise ContractViolation("AUTH-2", f"{what}\n{api.evidence(answer)}", answer=answer)
    api.unmoved(before, "AUTH-2", answer, "the viewer's requests with method-override headers")


# ------------------------------------------------------------------------------ media types


@rule("ERR-1", "ERR-3")
def test_accept_changes_no_errors_shape_and_any_content_type_gets_no_5xx(api: Api, writable: None) -> None:
    """Errors (401 without a token, 404 for an id that never existed, 400 for a bad limit) answered to an
    Accept of XML, HTML, plain text or none are the JSON Error body with the status as code. A valid JSON
    body sent as text, form data, XML, with a charset or with no Content-Type is answered 2xx or 4xx."""
    found = []
    missing = f"/api/v1/users/{uuid.uuid4()}"
    errors = [(None, missing, {}), ("admin", missing, {}), ("admin", "/api/v1/users", {"limit": "0"})]
    for accept in ("application/xml", "text/html", "text/plain", "text/html;q=0.9, application/json;q=0.1", None):
        for role, path, params in errors:
            headers = {"Accept": accept} if accept else {}
            answer = api.call(role, "GET", path, params=params, headers=headers)
            try:
                body = json.loads(answer.content)
            except (ValueError, UnicodeDecodeError):
                body = None
            if (
                not isinstance(body, dict)
                or body.get("code") != answer.status_code
                or not isinstance(body.get("message"), str)
            ):
                found.append(
                    ContractViolation(
                        "ERR-1",
                        f"GET {path} with Accept {accept!r}: {answer.status_code} without a JSON Error body whose code is the status\n{api.evidence(answer)}",
                        answer=answer,
                    )
                )
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/json; charset=utf-8",
        None,
    ):
        email = f"{api.ledger.tagged('media-' + uuid.uuid4().hex[:6])}@example.com"
        headers = {"Content-Type": content_type} if content_type else {}
        answer = api.call(
            "admin", "POST", "/api/v1/users", content=json.dumps({"email": email}).encode(), headers=headers
        )
        if answer.status_code >= 500:
            found.append(
                ContractViolation(
                    "ERR-3",
                    f"a JSON body sent as {content_type or 'no Content-Type'}: {answer.status_code}\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
    raise_found(found, "media types changed the answers")
