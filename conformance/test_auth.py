"""AUTH-1 on every operation (no token; every way a JWT can be malformed, part by part; tampered,
unsigned, foreign-signed and expired tokens), AUTH-3 (the token endpoint's grants), and the token
endpoint as an operation of its own: every wrong grant gets a 4xx Error body (ERR-1), never a 5xx
(ERR-3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import pytest

from runai_conformance.conformance.api import (
    CLOCK_SKEW,
    Api,
    ContractViolation,
    Secret,
    access_token,
    jwt_claims,
    raise_found,
)
from runai_conformance.conformance.fuzz import operation_ids
from runai_conformance.conformance.rules import rule
from runai_conformance.conformance.secret import bearer

OPERATIONS = sorted(operation_ids().items(), key=lambda kv: kv[1])
MAX_EXPIRY_WAIT = 20.0  # seconds the expired-token test waits for a short-lived token to expire
UNKNOWN_TENANT_FOR_READS = 2147483000  # GET only: any int32 can be a real tenant on a shared control plane


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(token: Secret, kind: str) -> Secret:
    """A bad token derived from a good one: payload altered after signing, alg none, another key."""
    return Secret(_forge(token.reveal(), kind))


# Every way a JWT can be malformed, part by part: (name, how to make it from a good token's parts)
MALFORMED: dict[str, Any] = {
    "two-parts": lambda h, p, s: f"{h}.{p}",
    "four-parts": lambda h, p, s: f"{h}.{p}.{s}.{s}",
    "header-not-base64": lambda h, p, s: f"!{h}.{p}.{s}",
    "header-not-json": lambda h, p, s: f"{b64url(b'not json')}.{p}.{s}",
    "payload-not-json": lambda h, p, s: f"{h}.{b64url(b'{')}.{s}",
    "payload-not-object": lambda h, p, s: f"{h}.{b64url(b'[1, 2]')}.{s}",
    "signature-not-base64": lambda h, p, s: f"{h}.{p}.!{s[1:]}",
    "signature-empty": lambda h, p, s: f"{h}.{p}.",
}


def _forge(token: str, kind: str) -> str:
    header, payload, signature = token.split(".")
    if kind in MALFORMED:
        return str(MALFORMED[kind](header, payload, signature))
    claims = jwt_claims(token)
    if kind == "tampered":
        altered = {**claims, "sub": f"{claims.get('sub', '')}-x", "exp": int(claims.get("exp", time.time())) + 3600}
        return f"{header}.{b64url(json.dumps(altered).encode())}.{signature}"
    if kind == "alg-none":
        return f"{b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."
    if kind == "foreign-key":
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        mac = hmac.new(secrets.token_bytes(32), f"{head}.{payload}".encode(), hashlib.sha256).digest()
        return f"{head}.{payload}.{b64url(mac)}"
    raise ValueError(kind)


def request_for(api: Api, op: str, label: str, pool: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """A request that is right in every way but its token, aimed only at this run's own resources."""
    method, path = label.split(" ", 1)
    if "{tenantId}" in path and pool["tenant_id"] is None:
        if method != "GET":
            pytest.skip("no tenant of this run to aim at (no operator role, or creating one failed)")
        pool = {**pool, "tenant_id": UNKNOWN_TENANT_FOR_READS}
    path = path.replace("{userId}", pool["user_id"]).replace("{tenantId}", str(pool["tenant_id"]))
    body: dict[str, Any] = {}
    if op == "create_user":
        body = {"json": {"email": f"{api.ledger.tagged('auth-' + secrets.token_hex(3))}@example.com"}}
    elif op == "create_tenant":
        body = {"json": {"name": api.ledger.tagged("auth-" + secrets.token_hex(3)), "email": "owner@example.com"}}
    elif op == "change_user_password":
        body = {"json": {"currentPassword": "not-the-password", "newPassword": "another-password-1"}}
    return method, path, body


@pytest.fixture(scope="module")
def auth_pool(api: Api) -> dict[str, Any]:
    """A user and (with the operator role) a tenant of this run, for operations that need an id, and
    that user's own token: the bad tokens for /me/password are made from it, never from a role's."""
    if api.target.read_only:
        return {"user_id": api.ledger.nonexistent_user_id(), "tenant_id": None, "user_token": None}
    user = api.create_user(f"auth-target-{secrets.token_hex(2)}")  # unique: the fixture may be made again (-n)
    tenant_id = None
    if api.target.has_role("operator"):
        created = api.create_tenant()
        if created.status_code == 201:
            tenant_id = created.json()["tenant"]["id"]
    me = api.create_user(f"auth-me-{secrets.token_hex(2)}")
    user_token = access_token(api.tokens.user_token(me["username"], me["tempPassword"]))
    return {"user_id": user["id"], "tenant_id": tenant_id, "user_token": user_token}


def good_token(api: Api, pool: dict[str, Any] | None = None, op: str = "") -> Secret:
    """A valid token to forge bad ones from: the run's own user's for /me/password, else the admin's."""
    token = api.tokens.token("admin")
    if op == "change_user_password":
        token = (pool or {}).get("user_token")
        if token is None:
            pytest.skip("no token of a user of this run to forge /me/password tokens from (the password grant failed)")
    if len(token.reveal().split(".")) != 3 or not jwt_claims(token):
        pytest.skip("the target's tokens are not JWTs, so they cannot be tampered with")
    return token


def expect_401(api: Api, answer: Any, what: str) -> None:
    if answer.status_code != 401:
        raise ContractViolation(
            "AUTH-1", f"{what}: expected 401, got {answer.status_code}\n{api.evidence(answer)}", answer=answer
        )
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("code") != 401 or not isinstance(body.get("message"), str):
        raise ContractViolation(  # the status is right: only the body's shape (ERR-1) is wrong
            "ERR-1", f"{what}: the 401 is not an Error body with code 401\n{api.evidence(answer)}", answer=answer
        )


@rule("AUTH-1", "ERR-1")
@pytest.mark.parametrize("kind", ["none", "malformed", *MALFORMED, "tampered", "alg-none", "foreign-key"])
@pytest.mark.parametrize(("label", "op"), OPERATIONS, ids=[op for _, op in OPERATIONS])
def test_bad_token_gets_401(api: Api, auth_pool: dict[str, Any], label: str, op: str, kind: str) -> None:
    method, path, body = request_for(api, op, label, auth_pool)
    if api.target.read_only and method != "GET":
        pytest.skip("read-only run: no POST or DELETE is sent")
    token = (
        {"none": None, "malformed": "not-a-token"}.get(kind)
        if kind in ("none", "malformed")
        else forge(good_token(api, auth_pool, op), kind)
    )
    answer = api.http.request(method, path, headers={"Authorization": bearer(token)} if token else {}, **body)
    expect_401(api, answer, f"{label} with a {kind} token")


@rule("AUTH-1")
def test_expired_token_gets_401(api: Api) -> None:
    token = good_token(api)
    claims = jwt_claims(token)
    lifetime = float(claims.get("exp", 0)) - float(claims.get("iat", time.time()))
    if not 0 < lifetime <= MAX_EXPIRY_WAIT:
        pytest.skip(
            f"the target's tokens live {lifetime:.0f} s; the expired-token check waits at most {MAX_EXPIRY_WAIT:.0f} s"
        )
    client_id, client_secret = client_credentials(api)
    answer = api.tokens.grant({"grantType": "client_credentials", "clientId": client_id, "clientSecret": client_secret})
    fresh = access_token(answer)
    if fresh is None:
        raise ContractViolation(
            "AUTH-3",
            f"the client_credentials grant answered no accessToken\n{api.evidence(answer)}",
            answer=answer,
        )
    deadline = float(jwt_claims(fresh)["exp"]) + 1.5
    while time.time() < deadline:
        time.sleep(min(0.5, max(0.0, deadline - time.time())))
    expect_401(api, api.http.get("/api/v1/users", headers={"Authorization": bearer(fresh)}), "an expired token")


def client_credentials(api: Api) -> tuple[str, Secret]:
    creds = api.target.roles["admin"]
    if not creds.client_id or not creds.client_secret:
        pytest.skip("the admin role is a fixed token; the grants need client_id and client_secret")
    return creds.client_id, creds.client_secret


@rule("AUTH-3")
@pytest.mark.parametrize(
    "keys",
    [
        ("client_credentials", "clientId", "clientSecret"),
        ("client_credentials", "clientID", "clientSecret"),
        ("app_token", "AppId", "AppSecret"),
        ("app_token", "appId", "appSecret"),
        ("app_token", "APPID", "appsecret"),
    ],
    ids=["client_credentials", "client_credentials-clientID", "app_token", "app_token-camel", "app_token-mixed-case"],
)
def test_token_grant_answers_a_jwt(api: Api, keys: tuple[str, str, str]) -> None:
    client_id, client_secret = client_credentials(api)
    grant, id_key, secret_key = keys
    answer = api.tokens.grant({"grantType": grant, id_key: client_id, secret_key: client_secret})
    if answer.status_code != 200:
        raise ContractViolation(
            "AUTH-3",
            f"the {grant} grant with keys {id_key}/{secret_key}: expected 200, got {answer.status_code}\n{api.evidence(answer)}",
            answer=answer,
        )
    token = access_token(answer)
    exp = jwt_claims(token).get("exp") if token is not None else None
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp <= time.time():
        raise ContractViolation(
            "AUTH-3",
            f"the {grant} grant answered no accessToken that is a JWT with a future exp\n{api.evidence(answer)}",
            answer=answer,
        )
    expires_in = answer.json().get("expiresIn")  # optional (Run:ai documents none); when there, a lifetime
    if expires_in is not None and (
        not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool) or expires_in <= 0
    ):
        raise ContractViolation(
            "AUTH-3",
            f"the {grant} grant answered expiresIn {expires_in!r}, not a positive number of seconds\n{api.evidence(answer)}",
            answer=answer,
        )
    claims = jwt_claims(token) if token is not None else {}
    lifetime = float(exp) - float(claims.get("iat") or time.time())  # seconds, by the token itself
    if expires_in is not None and expires_in > 10 * lifetime + CLOCK_SKEW:  # a cached token may say less
        raise ContractViolation(
            "AUTH-3",
            f"the {grant} grant answered expiresIn {expires_in}, but its token lives {lifetime:.0f} s: "
            f"expiresIn is not a lifetime in seconds\n{api.evidence(answer)}",
            answer=answer,
        )


@rule("AUTH-3")
def test_bad_credentials_get_401(api: Api) -> None:
    """Wrong secrets get 401. A made-up client id always; a real client id with a wrong secret only on a
    writable run (a wrong secret for a real account can lock it on a production identity provider)."""
    made_up = f"{api.ledger.run_tag}-no-such-client"
    bodies: list[dict[str, Any]] = [
        {"grantType": "client_credentials", "clientId": made_up, "clientSecret": "wrong-" + secrets.token_hex(8)},
        {"grantType": "app_token", "AppId": made_up, "AppSecret": "wrong-" + secrets.token_hex(8)},
    ]
    if not api.target.read_only:
        client_id, client_secret = client_credentials(api)
        bodies += [
            {
                "grantType": "client_credentials",
                "clientId": client_id,
                "clientSecret": Secret(client_secret.reveal() + "x"),
            },
            {"grantType": "app_token", "AppId": client_id, "AppSecret": "wrong-" + secrets.token_hex(4)},
        ]
    for body in bodies:
        answer = api.tokens.grant(body)
        if answer.status_code != 401:
            raise ContractViolation(
                "AUTH-3",
                f"a wrong secret for {body['grantType']}: expected 401, got {answer.status_code}\n{api.evidence(answer)}",
                answer=answer,
            )


@rule("AUTH-3", "USR-11")
def test_password_grant_for_a_created_user(api: Api) -> None:
    """With a `+` in the email, as many real addresses have (a form-decoding server reads it as a space).
    A wrong password gets 401 and is no login: a look before and after shows every field of the user as it
    was, lastLogin included (USR-11)."""
    user = api.create_user("grant+plus")
    answer = api.tokens.user_token(user["username"], user["tempPassword"])
    if answer.status_code != 200 or not jwt_claims(str(answer.json().get("accessToken", ""))).get("exp"):
        raise ContractViolation(
            "AUTH-3",
            f"the password grant with a new user's temporary password: expected 200 and a JWT\n{api.evidence(answer)}",
            answer=answer,
        )
    seen = api.look(user["username"])
    wrong = api.tokens.user_token(user["username"], "wrong-" + secrets.token_hex(6))
    if wrong.status_code != 401:
        raise ContractViolation(
            "AUTH-3",
            f"the password grant with a wrong password: expected 401, got {wrong.status_code}\n{api.evidence(wrong)}",
            answer=wrong,
        )
    api.unmoved(seen, "USR-11", wrong, "the password grant with a wrong password")


def wrong_grants(api: Api) -> list[tuple[str, dict[str, Any]]]:
    """Every way a grant request can be wrong, none naming a real account: (what, request keywords)."""
    nobody = f"{api.ledger.run_tag}-no-such-client"
    wrong = "wrong-" + secrets.token_hex(6)
    return [
        ("an empty object", {"json": {}}),
        ("no grantType", {"json": {"clientId": nobody, "clientSecret": wrong}}),
        ("an unknown grantType", {"json": {"grantType": "no-such-grant", "clientId": nobody, "clientSecret": wrong}}),
        ("client_credentials without clientSecret", {"json": {"grantType": "client_credentials", "clientId": nobody}}),
        ("client_credentials without clientId", {"json": {"grantType": "client_credentials", "clientSecret": wrong}}),
        ("app_token without AppSecret", {"json": {"grantType": "app_token", "AppId": nobody}}),
        ("password without password", {"json": {"grantType": "password", "username": f"{nobody}@example.com"}}),
        ("numbers for strings", {"json": {"grantType": "client_credentials", "clientId": 5, "clientSecret": 6}}),
        ("a JSON array", {"json": [nobody, wrong]}),
        (
            "a body that is not JSON",
            {"content": b"grantType=client_credentials", "headers": {"Content-Type": "application/json"}},
        ),
    ]


@rule("AUTH-3", "ERR-1", "ERR-3")
def test_every_wrong_grant_gets_a_4xx_error_body(api: Api) -> None:
    """The token endpoint is an operation too: every wrong grant gets a 4xx (no token: AUTH-3) with an
    Error body whose code is the status (ERR-1), never a 5xx (ERR-3). Each failure is reported on its own."""
    found: list[ContractViolation] = []
    for what, request in wrong_grants(api):
        answer = api.http.post("/api/v1/token", **request)
        status = answer.status_code
        if status >= 500:
            found.append(
                ContractViolation("ERR-3", f"a grant with {what} got {status}\n{api.evidence(answer)}", answer=answer)
            )
            continue
        if status < 400:
            found.append(
                ContractViolation(
                    "AUTH-3", f"a grant with {what} got {status}, not a 4xx\n{api.evidence(answer)}", answer=answer
                )
            )
            continue
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("code") != status or not isinstance(body.get("message"), str):
            found.append(
                ContractViolation(
                    "ERR-1",
                    f"a grant with {what} got {status} without an Error body {{code: {status}, message}}\n{api.evidence(answer)}",
                    answer=answer,
                )
            )
    raise_found(found, "wrong grants answered against the contract")
