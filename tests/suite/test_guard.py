"""The guard, the one place that decides what a run may change: every id shape, both verdicts; the
ledger fed from answers; the transport refusing before anything is sent; secrets that cannot print."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runai_conformance.conformance.guard import Guard, Ledger, Refused, tenant_readings
from runai_conformance.conformance.redact import Redactor
from runai_conformance.conformance.secret import Secret, bearer
from runai_conformance.conformance.transport import GuardedClient

OURS_USER = "5f0c7a3e-0000-4000-8000-00000000abcd"
OURS_TENANT = 41
SEEN_USER = "9d1e6b2a-1111-4111-8111-111111111111"  # an id seen in an answer about somebody else
ROLE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLW9mLXRoZS1hZG1pbg"
USER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJ1c2VyIn0.c2lnbmF0dXJlLW9mLWEtdXNlcg"


def guard(read_only: bool = False) -> Guard:
    ledger = Ledger("rcf-0123abcd")
    ledger.add_user(OURS_USER, "admin")
    ledger.add_tenant(OURS_TENANT)
    ledger.saw([SEEN_USER, 0, 1, "alice@example.com"])
    return Guard(ledger, read_only=read_only, clients={"t1-admin": "the-secret"}, role_tokens={ROLE_TOKEN: "admin"})


def allowed(g: Guard, method: str, path: str, **kw: object) -> bool:
    try:
        g.check(method, path, **kw)  # type: ignore[arg-type]
    except Refused:
        return False
    return True


# ------------------------------------------------------------------------------ tenants


@pytest.mark.parametrize(
    "ident",
    [
        "0",
        "1",
        "7",
        "2147483647",
        "0.5",
        "1e3",
        " 1",
        "%201",
        "+1",
        "01",
        "1.0",
        "7abc",
        "abc7",
        "0x1",
        "1e999",
        "%2531",
    ],
)
def test_a_tenant_id_that_can_name_someone_elses_tenant_is_refused(ident: str) -> None:
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        assert not allowed(guard(), method, f"/api/v1/tenants/{ident}"), (method, ident)


@pytest.mark.parametrize("ident", [str(OURS_TENANT), f"0{OURS_TENANT}", f"{OURS_TENANT}.0", f"+{OURS_TENANT}"])
def test_this_runs_tenant_in_any_spelling_passes(ident: str) -> None:
    assert allowed(guard(), "DELETE", f"/api/v1/tenants/{ident}")


@pytest.mark.parametrize("ident", ["abc", "nan", "inf", "-1", "-7", "2147483648", "99999999999", "true", ""])
def test_a_tenant_id_that_cannot_exist_passes(ident: str) -> None:
    if ident == "":
        assert not allowed(guard(), "DELETE", "/api/v1/tenants/")  # the whole collection
        return
    assert allowed(guard(), "DELETE", f"/api/v1/tenants/{ident}")


def test_a_fraction_is_every_integer_it_can_be_read_as() -> None:
    assert tenant_readings("0.5") == {0, 1}
    assert tenant_readings("1e3") == {1000}
    assert tenant_readings("abc") == set()


@given(st.integers(min_value=0, max_value=2**31 - 1).filter(lambda n: n != OURS_TENANT))
def test_every_int32_tenant_id_but_ours_is_refused(number: int) -> None:
    g = guard()
    assert not allowed(g, "DELETE", f"/api/v1/tenants/{number}")
    assert not allowed(g, "PUT", f"/api/v1/tenants/{number:08d}")


# ------------------------------------------------------------------------------ users


@pytest.mark.parametrize("suffix", ["", "/logout", "/password"])
@pytest.mark.parametrize(
    ("ident", "verdict"),
    [
        (OURS_USER, True),
        (OURS_USER.upper(), True),
        ("3c1f6b0e-2222-4222-8222-222222222222", True),  # made up, never seen in an answer
        ("rcf-0123abcd-missing-1", True),
        (SEEN_USER, False),
        (SEEN_USER.upper(), False),
        (f" {SEEN_USER} ", False),
        ("alice@example.com", False),
        ("0", False),  # made up, but numeric: someone's on a target with numeric ids
        ("17", False),
        ("1.0", False),
    ],
)
def test_user_ids(ident: str, verdict: bool, suffix: str) -> None:
    for method in ("DELETE", "POST", "PUT"):
        assert allowed(guard(), method, f"/api/v1/users/{ident}{suffix}") is verdict, (method, ident)


def test_paths_are_read_as_a_server_would_route_them() -> None:
    g = guard()
    assert not allowed(g, "DELETE", f"/api/v1/users/{OURS_USER}/../../tenants/0")
    assert not allowed(g, "DELETE", f"/api/v1/users/{OURS_USER}%2F..%2F..%2Ftenants%2F0")
    assert not allowed(g, "DELETE", f"//api//v1//users//{SEEN_USER}")
    assert not allowed(g, "DELETE", f"/API/V1/USERS/{SEEN_USER}")
    assert allowed(g, "DELETE", f"/API/v1/users/{OURS_USER}")


def test_reads_always_pass_and_writes_to_collections_only_create() -> None:
    g = guard()
    assert allowed(g, "GET", f"/api/v1/users/{SEEN_USER}")
    assert allowed(g, "HEAD", "/api/v1/tenants/0")
    assert allowed(g, "POST", "/api/v1/users") and allowed(g, "POST", "/api/v1/tenants")
    assert allowed(g, "POST", "/api/v1/token")
    for method in ("DELETE", "PUT", "PATCH"):
        assert not allowed(g, method, "/api/v1/users") and not allowed(g, method, "/api/v1/tenants/")
    assert not allowed(g, "POST", "/api/v1/clusters")
    assert not allowed(g, "DELETE", "/")


def test_me_with_a_roles_token_or_one_made_from_it_is_refused() -> None:
    g = guard()
    header, payload, signature = ROLE_TOKEN.split(".")
    for token in (ROLE_TOKEN, f"{header}.{payload}.", f"{header}.e30.{signature}", f"xx.{payload}.yy"):
        assert not allowed(g, "POST", "/api/v1/me/password", authorization=f"Bearer {token}"), token
    for token in (USER_TOKEN, "not-a-token", None):
        auth = f"Bearer {token}" if token else None
        assert allowed(g, "POST", "/api/v1/me/password", authorization=auth), token


def test_read_only_refuses_every_write_and_a_wrong_secret_for_a_real_client() -> None:
    g = guard(read_only=True)
    assert not allowed(g, "DELETE", f"/api/v1/users/{OURS_USER}")
    assert not allowed(g, "POST", "/api/v1/users")
    assert allowed(g, "GET", "/api/v1/users")

    def grant(body: str) -> bool:
        try:
            g.check("POST", "/api/v1/token", body=body.encode())
        except Refused:
            return False
        return True

    assert grant('{"grantType": "client_credentials", "clientId": "t1-admin", "clientSecret": "the-secret"}')
    assert not grant('{"grantType": "client_credentials", "clientID": "t1-admin", "clientSecret": "wrong"}')
    assert not grant('{"grantType": "app_token", "APPID": "t1-admin", "AppSecret": "wrong"}')
    assert grant('{"grantType": "client_credentials", "clientId": "made-up", "clientSecret": "wrong"}')
    assert guard().check("POST", "/api/v1/token", body=b'{"clientId": "t1-admin", "clientSecret": "x"}') is None


# ------------------------------------------------------------------------------ the transport


def client(handler: httpx.MockTransport, g: Guard | None = None) -> GuardedClient:
    g = g or guard()
    return GuardedClient(ledger=g.ledger, guard=g, redact=Redactor(), transport=handler, base_url="http://target")


def test_a_refused_request_never_leaves() -> None:
    sent: list[httpx.Request] = []
    c = client(httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(204)))
    with pytest.raises(Refused, match="tenant id '0'"):
        c.delete("/api/v1/tenants/0")
    assert sent == []


def test_the_ledger_is_kept_from_create_answers_and_other_ids_are_remembered() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/api/v1/users":
            return httpx.Response(
                201, json={"id": "new-user-1", "username": "x", "tempPassword": "Temp-Password-123456"}
            )
        if request.method == "POST" and request.url.path == "/api/v1/tenants":
            return httpx.Response(201, json={"tenant": {"id": 99, "uuid": "u", "name": "t"}})
        if request.url.path == "/api/v1/users":
            return httpx.Response(200, json=[{"id": "someone-else", "username": "bob@example.com"}])
        return httpx.Response(204)

    g = Guard(Ledger("rcf-0123abcd"))
    c = client(httpx.MockTransport(answer), g)
    c.post("/api/v1/users", json={"email": "rcf-0123abcd-a@example.com"})
    c.post("/api/v1/tenants", json={"name": "rcf-0123abcd-t", "email": "o@example.com"})
    c.get("/api/v1/users")
    assert g.ledger.owns_user("new-user-1") and g.ledger.owns_tenant(99)
    c.delete("/api/v1/users/new-user-1")
    c.delete("/api/v1/tenants/99")
    with pytest.raises(Refused):
        c.delete("/api/v1/users/someone-else")
    assert "Temp-Password-123456" not in c.redact("it was Temp-Password-123456")


def test_secrets_print_masked_and_are_revealed_only_on_the_wire() -> None:
    seen: list[str] = []
    c = client(
        httpx.MockTransport(
            lambda r: seen.append(r.headers["authorization"] + r.content.decode()) or httpx.Response(200, json={})
        )
    )
    token, password = Secret("tok-" + "x" * 40), Secret("pass-word-123")
    assert "tok-" not in repr(token) and "tok-" not in f"{token}" and "pass" not in str({"p": password})
    c.post("/api/v1/token", headers={"Authorization": bearer(token)}, json={"password": password})
    assert seen == [f"Bearer {token.reveal()}" + '{"password":"pass-word-123"}']
    tail = token.reveal()[-14:]
    assert tail not in c.redact(f"pytest cut it: 'tok-xxxx...{tail}'")
