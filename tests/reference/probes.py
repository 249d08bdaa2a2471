"""One plain-httpx probe per CONTRACT rule, for the reference server's own self-tests.

A probe raises AssertionError when its rule does not hold. These talk to the server directly,
without the conformance suite, so that the server and its faults are proven on their own.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from reference import tokens

PROBES: dict[str, Callable[[Api], None]] = {}
SECRET_KEY = re.compile(r"password|secret|metricstore", re.IGNORECASE)


def probe(rule: str) -> Callable[[Callable[[Api], None]], Callable[[Api], None]]:
    def register(func: Callable[[Api], None]) -> Callable[[Api], None]:
        PROBES[rule] = func
        return func

    return register


class Api:
    """A client of one running reference server, with a token per role."""

    def __init__(self, url: str, credentials: dict[str, dict[str, str]], signing_key: bytes) -> None:
        self.http = httpx.Client(base_url=url, timeout=20)
        self.credentials = credentials
        self.signing_key = signing_key
        self._tokens: dict[str, str] = {}

    def token(self, role: str) -> str:
        if role not in self._tokens:
            creds = self.credentials[role]
            answer = self.grant(
                grantType="client_credentials", clientID=creds["client_id"], clientSecret=creds["client_secret"]
            )
            assert answer.status_code == 200, answer.text
            self._tokens[role] = answer.json()["accessToken"]
        return self._tokens[role]

    def grant(self, **body: Any) -> httpx.Response:
        return self.http.post("/api/v1/token", json=body)

    def call(self, role: str | None, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        bearer = token or (self.token(role) if role else None)
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        return self.http.request(method, path, headers=headers, **kw)

    def create_user(self, email: str | None = None, role: str = "admin") -> dict[str, Any]:
        email = email or f"probe-{uuid.uuid4().hex[:10]}@example.com"
        answer = self.call(role, "POST", "/api/v1/users", json={"email": email})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def users(self, role: str = "admin", **params: Any) -> list[dict[str, Any]]:
        answer = self.call(role, "GET", "/api/v1/users", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def count(self, role: str = "admin", **params: Any) -> int:
        answer = self.call(role, "GET", "/api/v1/users/count", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()["count"]

    def login(self, username: str, password: str) -> httpx.Response:
        return self.grant(grantType="password", username=username, password=password)

    def user_token(self, username: str, password: str) -> str:
        answer = self.login(username, password)
        assert answer.status_code == 200, answer.text
        return answer.json()["accessToken"]

    def token_is_live(self, token: str) -> bool:
        """Whether a user token still authenticates (a too-short new password gets 400 only when it does)."""
        answer = self.call(
            None, "POST", "/api/v1/me/password", token=token, json={"currentPassword": "x" * 8, "newPassword": "short"}
        )
        assert answer.status_code in (400, 401), answer.text
        return answer.status_code == 400

    def create_tenant(self, **fields: Any) -> httpx.Response:
        body = {"name": f"probe-{uuid.uuid4().hex[:10]}", "email": "owner@example.com", **fields}
        return self.call("operator", "POST", "/api/v1/tenants", json=body)


def assert_error(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, f"expected {status}, got {answer.status_code}: {answer.text}"
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    body = answer.json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str), body
    assert body.get("code") == status, f"Error.code {body.get('code')} != status {status}"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def forged(payload: dict[str, Any], key: bytes | None, alg: str = "HS256") -> str:
    header = tokens.b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = tokens.b64url(json.dumps(payload).encode())
    if key is None:
        return f"{header}.{body}."
    return tokens.encode(payload, key)


def payload_of(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


# ------------------------------------------------------------------------------------------ AUTH


@probe("AUTH-1")
def auth_rejects_bad_tokens(api: Api) -> None:
    good = api.token("admin")
    claims = payload_of(good)
    header, _, signature = good.split(".")
    altered = tokens.b64url(json.dumps({**claims, "role": "operator"}).encode())
    bad = {
        "none": None,
        "malformed": "not-a-token",
        "altered payload": f"{header}.{altered}.{signature}",
        "alg none": forged(claims, None, alg="none"),
        "other key": forged(claims, b"another-key"),
        "expired": forged({**claims, "exp": int(time.time()) - 60}, api.signing_key),
    }
    for name, token in bad.items():
        answer = api.call(None, "GET", "/api/v1/users", token=token)
        assert answer.status_code == 401, f"{name} token got {answer.status_code}"
        assert_error(answer, 401)


@probe("AUTH-2")
def auth_roles_are_enforced(api: Api) -> None:
    assert api.call("viewer", "GET", "/api/v1/users").status_code == 200
    before = api.count()
    email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    assert_error(api.call("viewer", "POST", "/api/v1/users", json={"email": email}), 403)
    victim = api.create_user()
    assert_error(api.call("viewer", "DELETE", f"/api/v1/users/{victim['id']}"), 403)
    assert_error(api.call("viewer", "POST", f"/api/v1/users/{victim['id']}/password"), 403)
    assert api.count() == before + 1
    assert api.call("admin", "GET", f"/api/v1/users/{victim['id']}").status_code == 200
    assert_error(api.call("admin", "GET", "/api/v1/tenants"), 403)
    assert_error(api.call("admin", "GET", "/api/v1/tenants/1"), 403)
    assert api.call("operator", "GET", "/api/v1/tenants").status_code == 200


@probe("AUTH-3")
def auth_token_endpoint_grants(api: Api) -> None:
    creds = api.credentials["admin"]
    for body in (
        {"grantType": "client_credentials", "clientID": creds["client_id"], "clientSecret": creds["client_secret"]},
        {"grantType": "app_token", "AppId": creds["client_id"], "AppSecret": creds["client_secret"]},
        {"grantType": "app_token", "appId": creds["client_id"], "appSecret": creds["client_secret"]},
        {"grantType": "app_token", "APPID": creds["client_id"], "appsecret": creds["client_secret"]},
    ):
        answer = api.grant(**body)
        assert answer.status_code == 200, f"{list(body)} got {answer.status_code}"
        data = answer.json()
        assert isinstance(data["expiresIn"], int) and data["expiresIn"] > 0
        assert payload_of(data["accessToken"])["exp"] > time.time()
    user = api.create_user()
    assert api.login(user["username"], user["tempPassword"]).status_code == 200
    assert (
        api.grant(grantType="client_credentials", clientID=creds["client_id"], clientSecret="wrong").status_code == 401
    )
    assert api.login(user["username"], "wrong-password").status_code == 401


@probe("AUTH-4")
def auth_logout_revokes_earlier_tokens(api: Api) -> None:
    user = api.create_user()
    before = api.user_token(user["username"], user["tempPassword"])
    assert api.token_is_live(before)
    assert api.call("admin", "POST", f"/api/v1/users/{user['id']}/logout").status_code in (200, 204)
    assert not api.token_is_live(before), "a token issued before the logout still works"
    after = api.user_token(user["username"], user["tempPassword"])
    assert api.token_is_live(after)


# ------------------------------------------------------------------------------------------- ERR


@probe("ERR-1")
def err_bodies_carry_their_status(api: Api) -> None:
    user = api.create_user()
    tenant = api.create_tenant().json()["tenant"]
    answers = [
        api.call("admin", "GET", f"/api/v1/users/{uuid.uuid4()}"),
        api.call("admin", "DELETE", f"/api/v1/users/{uuid.uuid4()}"),
        api.call("admin", "POST", "/api/v1/users", json={"email": user["username"]}),
        api.call("admin", "POST", "/api/v1/users", json={"email": 5}),
        api.call(None, "GET", "/api/v1/users"),
        api.call("viewer", "POST", "/api/v1/users", json={"email": f"e1-{uuid.uuid4().hex[:8]}@example.com"}),
        api.call("operator", "GET", "/api/v1/tenants/999999"),
        api.create_tenant(name=tenant["name"]),
        api.call("admin", "PUT", "/api/v1/users"),
    ]
    errors = [a for a in answers if a.status_code >= 400]
    assert len(errors) >= 6, "too few error answers to judge"
    for answer in errors:
        assert_error(answer, answer.status_code)


@probe("ERR-2")
def err_schema_breaks_get_400_and_change_nothing(api: Api) -> None:
    before = api.count()
    for body in (
        {},
        {"email": 12345},
        {"email": "ok-1@example.com", "notify": "yes"},
        {"email": "ok-2@example.com", "resetPassword": "no"},
        ["ok-3@example.com"],
    ):
        answer = api.call("admin", "POST", "/api/v1/users", json=body)
        assert answer.status_code == 400, f"{body} got {answer.status_code}"
    for params in ({"limit": "abc"}, {"sortBy": "nope"}, {"sortOrder": "up"}, {"limit": "0"}):
        assert api.call("admin", "GET", "/api/v1/users", params=params).status_code == 400, params
    assert api.create_tenant(contractType="gold").status_code == 400
    assert api.count() == before
    assert not [u for u in api.users() if u["username"].startswith("ok-")]


@probe("ERR-3")
def err_no_input_gets_5xx(api: Api) -> None:
    odd = ["ü", "💥", "\u0000", "%", "'; DROP TABLE users; --", "a" * 5000, "\\", "..", "é=@ü"]
    for text in odd:
        for path, params in (
            ("/api/v1/users", {"search": text}),
            ("/api/v1/users/count", {"search": text}),
            ("/api/v1/users", {"filterBy": f"username=@{text}"}),
            ("/api/v1/users", {"filter": text}),
        ):
            answer = api.call("admin", "GET", path, params=params)
            assert answer.status_code < 500, f"{path} {params!r} got {answer.status_code}"
        for method in ("GET", "DELETE"):
            assert api.call("admin", method, f"/api/v1/users/{quote(text[:100], safe='')}x").status_code < 500
    for raw in (b"{", b"[" * 5000, b"\xff\xfe", b'{"email": "\xff@x.co"}'):
        answer = api.call("admin", "POST", "/api/v1/users", content=raw, headers={"content-type": "application/json"})
        assert answer.status_code < 500, f"{raw[:20]!r} got {answer.status_code}"


# ------------------------------------------------------------------------------------------- USR


@probe("USR-1")
def usr_create_answers_id_username_temp_password(api: Api) -> None:
    existing = {u["id"] for u in api.users()}
    email = f"Mixed.Case+{uuid.uuid4().hex[:6]}@Example.COM"
    answer = api.call("admin", "POST", "/api/v1/users", json={"email": email})
    assert answer.status_code == 201
    body = answer.json()
    assert body["username"] == email, f"username {body['username']!r} != email {email!r}"
    assert body["id"] and body["id"] not in existing
    assert body["tempPassword"]


@probe("USR-2")
def usr_email_pattern_and_bounds(api: Api) -> None:
    local = "a" * 64
    longest = f"{local}@{'b' * 63}.{'c' * 63}.{'d' * (254 - 64 - 1 - 63 - 1 - 63 - 1)}"
    assert len(longest) == 254
    answer = api.call("admin", "POST", "/api/v1/users", json={"email": longest})
    assert answer.status_code == 201, answer.text
    for email in ("user@host", "user@host.c", "a@@b.co", "a b@c.co", "a@b", longest + "x", "ü@b.co", "user@.co"):
        answer = api.call("admin", "POST", "/api/v1/users", json={"email": email})
        assert answer.status_code == 400, f"{email!r} got {answer.status_code}"


@probe("USR-3")
def usr_duplicate_email_conflicts(api: Api) -> None:
    user = api.create_user()
    answer = api.call("admin", "POST", "/api/v1/users", json={"email": user["username"]})
    assert answer.status_code == 409, answer.status_code
    assert len(api.users(filterBy=f"username=={user['username']}")) == 1


@probe("USR-4")
def usr_get_shows_what_was_created(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    user = api.create_user()
    first = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()
    time.sleep(0.02)
    second = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert first["id"] == user["id"] and first["username"] == user["username"]
    assert first["isLocal"] is True and first["lastLogin"] is None
    assert first["createdBy"] == payload_of(api.token("admin"))["sub"], first["createdBy"]
    created, updated = parse_time(first["createdAt"]), parse_time(first["updatedAt"])
    assert start <= created <= now and created <= updated <= now
    assert second["createdAt"] == first["createdAt"]


@probe("USR-5")
def usr_representations_carry_no_secret(api: Api) -> None:
    user = api.create_user()
    api.call("admin", "POST", f"/api/v1/users/{user['id']}/password")
    for body in (api.call("admin", "GET", f"/api/v1/users/{user['id']}").json(), *api.users()):
        leaked = [k for k in body if SECRET_KEY.search(k)]
        assert not leaked, f"user representation carries {leaked}"


@probe("USR-6")
def usr_delete_removes_the_user(api: Api) -> None:
    user = api.create_user()
    before = api.count()
    answer = api.call("admin", "DELETE", f"/api/v1/users/{user['id']}")
    assert answer.status_code == 204 and answer.content == b""
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")):
        status = api.call("admin", method, f"/api/v1/users/{user['id']}{suffix}").status_code
        assert status == 404, f"{method} {suffix or '/'} after delete got {status}"
    assert user["id"] not in {u["id"] for u in api.users()}
    assert api.count() == before - 1


@probe("USR-7")
def usr_unknown_id_is_404(api: Api) -> None:
    for user_id in (str(uuid.uuid4()), "does-not-exist"):
        for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")):
            status = api.call("admin", method, f"/api/v1/users/{user_id}{suffix}").status_code
            assert status == 404, f"{method} {user_id}{suffix} got {status}"


@probe("USR-8")
def usr_reset_gives_a_new_password_each_time(api: Api) -> None:
    user = api.create_user()
    seen = [user["tempPassword"]]
    for _ in range(3):
        answer = api.call("admin", "POST", f"/api/v1/users/{user['id']}/password")
        assert answer.status_code == 200
        password = answer.json()["tempPassword"]
        assert password and password not in seen, "a reset repeated an earlier temporary password"
        seen.append(password)


@probe("USR-9")
def usr_logout_is_200(api: Api) -> None:
    user = api.create_user()
    assert api.call("admin", "POST", f"/api/v1/users/{user['id']}/logout").status_code == 200


@probe("USR-10")
def usr_me_password_changes_only_with_the_right_current(api: Api) -> None:
    user = api.create_user()
    token = api.user_token(user["username"], user["tempPassword"])
    change = {"currentPassword": "wrong-current-pw", "newPassword": "never-set-pw-1"}
    assert api.call(None, "POST", "/api/v1/me/password", token=token, json=change).status_code in (400, 403)
    assert api.login(user["username"], "never-set-pw-1").status_code == 401
    for new in ("short77", "x" * 256):
        body = {"currentPassword": user["tempPassword"], "newPassword": new}
        assert api.call(None, "POST", "/api/v1/me/password", token=token, json=body).status_code == 400
    assert api.login(user["username"], user["tempPassword"]).status_code == 200
    body = {"currentPassword": user["tempPassword"], "newPassword": "a-new-password-1"}
    assert api.call(None, "POST", "/api/v1/me/password", token=token, json=body).status_code == 200
    assert api.login(user["username"], "a-new-password-1").status_code == 200
    assert api.login(user["username"], user["tempPassword"]).status_code == 401


@probe("USR-11")
def usr_login_sets_last_login(api: Api) -> None:
    user = api.create_user()
    start = datetime.now(UTC) - timedelta(seconds=1)
    api.user_token(user["username"], user["tempPassword"])
    end = datetime.now(UTC) + timedelta(seconds=1)
    last = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()["lastLogin"]
    assert last is not None and start <= parse_time(last) <= end, last


# ------------------------------------------------------------------------------------------ LIST


def population(api: Api, tag: str) -> list[dict[str, Any]]:
    names = ["alpha", "bravo", "charlie", "delta", "echo"]
    made = [api.create_user(f"{tag}-{name}@example.com") for name in names]
    api.user_token(made[1]["username"], made[1]["tempPassword"])  # one user with a lastLogin
    return made


@probe("LIST-1")
def list_returns_every_user_of_the_tenant_only(api: Api) -> None:
    mine = api.create_user()
    theirs = api.create_user(role="peer")
    ids = {u["id"] for u in api.users()}
    assert mine["id"] in ids, "a user of the tenant is missing from the list"
    assert theirs["id"] not in ids, "a user of another tenant is in the list"


@probe("LIST-2")
def list_filter_terms_all_hold_both_ways(api: Api) -> None:
    tag = f"f{uuid.uuid4().hex[:8]}"
    made = population(api, tag)
    everyone = api.users(filterBy=f"username=@{tag}")
    pivot = next(u for u in everyone if u["id"] == made[2]["id"])
    pivot_local = parse_time(pivot["createdAt"]).astimezone(timezone_plus_two()).isoformat()
    for terms in (
        [f"username=@{tag}", "username=@a"],
        [f"username=@{tag}", f"creationTime>={pivot_local}"],
        [f"username=@{tag}", f"creationTime<={pivot['createdAt']}"],
        [f"username=@{tag}", f"createdBy=={pivot['createdBy']}", "isLocal==true"],
        [f"username=={made[0]['username']}"],
        [f"username=@{tag}", "lastLogin>=2000-01-01"],  # selects nothing where logins set no lastLogin (USR-11)
    ):
        got = {u["id"] for u in api.users(filterBy=",".join(terms))}
        want = {u["id"] for u in everyone if all(satisfies(u, t) for t in terms)}
        assert got == want, f"filterBy {terms}: missing {want - got}, unexpected {got - want}"
        assert want or terms[-1].startswith("lastLogin"), f"filterBy {terms} selects nothing: the probe proves nothing"


def timezone_plus_two() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


def satisfies(user: dict[str, Any], term: str) -> bool:
    match = re.fullmatch(r"(username|createdBy|lastLogin|creationTime|lastUpdated|isLocal)(==|<=|>=|=@)(.+)", term)
    assert match, term
    field, op, value = match.groups()
    actual = user[{"creationTime": "createdAt", "lastUpdated": "updatedAt"}.get(field, field)]
    if actual is None:
        return False
    if field in ("lastLogin", "creationTime", "lastUpdated"):
        actual, value = parse_time(actual), parse_any(value)
    elif field == "isLocal":
        value = value == "true"
    return {
        "==": lambda: actual == value,
        "<=": lambda: actual <= value,
        ">=": lambda: actual >= value,
        "=@": lambda: str(value).lower() in str(actual).lower(),
    }[op]()


def parse_any(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@probe("LIST-3")
def list_bad_terms_get_400(api: Api) -> None:
    assert {u["id"] for u in api.users(filterBy="")} == {u["id"] for u in api.users()}
    for term in (
        "nope==x",
        "Username==x",
        "username!=x",
        "username<x",
        "username=x",
        "username==",
        "creationTime>=yesterday",
    ):
        answer = api.call("admin", "GET", "/api/v1/users", params={"filterBy": term})
        assert answer.status_code == 400, f"{term!r} got {answer.status_code}"


@probe("LIST-4")
def list_search_is_case_insensitive_both_ways(api: Api) -> None:
    tag = f"s{uuid.uuid4().hex[:8]}"
    made = population(api, tag)
    text = f"{tag}-ALP".upper()
    got = {u["id"] for u in api.users(search=text)}
    want = {u["id"] for u in api.users(filterBy=f"username=@{tag}") if text.lower() in u["username"].lower()}
    assert made[0]["id"] in want and got == want, f"search {text!r}: missing {want - got}, unexpected {got - want}"


@probe("LIST-5")
def list_sorts_both_ways(api: Api) -> None:
    population(api, f"o{uuid.uuid4().hex[:8]}")
    for field, key in (("username", "username"), ("creationTime", "createdAt"), ("lastLogin", "lastLogin")):
        for order in ("asc", "desc"):
            values = [u[key] for u in api.users(sortBy=field, sortOrder=order)]
            present = [v for v in values if v is not None]
            nulls = [i for i, v in enumerate(values) if v is None]
            assert present == sorted(present, reverse=order == "desc"), f"sortBy={field} sortOrder={order}"
            assert nulls == list(range(nulls[0], nulls[0] + len(nulls))) if nulls else True
            assert not nulls or nulls[0] == 0 or nulls[-1] == len(values) - 1, "nulls are not grouped at one end"
    assert api.call("admin", "GET", "/api/v1/users", params={"sortBy": "email"}).status_code == 400


@probe("LIST-6")
def list_pages_cover_the_list(api: Api) -> None:
    population(api, f"p{uuid.uuid4().hex[:8]}")
    whole = [u["id"] for u in api.users(sortBy="username")]
    for k in (1, 2, 3):
        pages: list[str] = []
        for offset in range(0, len(whole) + k, k):
            pages += [u["id"] for u in api.users(sortBy="username", limit=k, offset=offset)]
        assert pages == whole, f"pages of {k} do not make up the list"
    assert api.users(offset=len(whole) + 5) == []
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert api.call("admin", "GET", "/api/v1/users", params=params).status_code == 400, params


@probe("LIST-7")
def list_count_matches_the_list(api: Api) -> None:
    tag = f"c{uuid.uuid4().hex[:8]}"
    population(api, tag)
    scope = f"username=@{tag}"  # scoped to the probe's own users, as on a shared target
    for params in (
        {"filterBy": scope},
        {"filterBy": scope, "search": "ALPHA"},
        {"filterBy": f"{scope},username=@a"},
        {"filterBy": "username=@a", "search": tag},
    ):
        assert api.count(**params) == len(api.users(**params)), params


@probe("LIST-8")
def list_accepts_the_deprecated_filter(api: Api) -> None:
    assert api.call("admin", "GET", "/api/v1/users", params={"filter": "anything"}).status_code == 200


# ------------------------------------------------------------------------------------------- TEN


@probe("TEN-1")
def ten_create_answers_the_tenant(api: Api) -> None:
    existing = {t["id"] for t in api.call("operator", "GET", "/api/v1/tenants", params={"deleted": "true"}).json()}
    for sent, expected in (("trial", "trial"), ("normal", "normal"), ("", "normal"), (None, "normal")):
        fields = {} if sent is None else {"contractType": sent}
        answer = api.create_tenant(**fields)
        assert answer.status_code == 201, answer.text
        tenant = answer.json()["tenant"]
        assert tenant["contractType"] == expected, f"contractType {sent!r} came back {tenant['contractType']!r}"
        assert tenant["status"] in ("Creating", "Failed", "Updating", "Deleted", "Deleting", "Ready")
        uuid.UUID(tenant["uuid"])
        assert isinstance(tenant["id"], int) and 0 <= tenant["id"] < 2**31 and tenant["id"] not in existing
        existing.add(tenant["id"])


@probe("TEN-1a")
def ten_role_may_be_null(api: Api) -> None:
    assert api.create_tenant(role=None).status_code == 201


@probe("TEN-2")
def ten_names_and_emails_are_checked(api: Api) -> None:
    for name in ("-lead", "trail-", "a", "under_score", "sp ace"):
        assert api.create_tenant(name=name).status_code == 400, name
    assert api.create_tenant(email="owner@nowhere").status_code == 400
    first = api.create_tenant().json()["tenant"]
    assert api.create_tenant(name=first["name"]).status_code == 409


@probe("TEN-3")
def ten_write_only_fields_never_come_back(api: Api) -> None:
    store = {
        "read": {"url": "http://m.example/r"},
        "write": {"url": "http://m.example/w", "auth": {"basic": {"username": "u", "password": "store-secret-1"}}},
    }
    answer = api.create_tenant(metricStore=store, password="admin-secret-1")
    tenant = answer.json()["tenant"]
    bodies = [answer.json(), api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}").json()]
    bodies += api.call("operator", "GET", "/api/v1/tenants", params={"deleted": "true"}).json()
    for body in bodies:
        text = json.dumps(body)
        assert "store-secret-1" not in text and "admin-secret-1" not in text and "metricStore" not in text, text


@probe("TEN-4")
def ten_get_shows_the_created_tenant(api: Api) -> None:
    created = api.create_tenant(contractType="trial").json()["tenant"]
    answer = api.call("operator", "GET", f"/api/v1/tenants/{created['id']}")
    assert answer.status_code == 200
    got = answer.json()
    assert (got["id"], got["name"], got["contractType"], got["uuid"]) == (
        created["id"],
        created["name"],
        "trial",
        created["uuid"],
    )
    assert api.call("operator", "GET", "/api/v1/tenants/2147483000").status_code == 404


@probe("TEN-5")
def ten_soft_delete_keeps_a_deleted_record(api: Api) -> None:
    tenant = api.create_tenant().json()["tenant"]
    answer = api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}")
    assert answer.status_code == 200 and answer.json() == {"uid": tenant["uuid"]}
    assert tenant["id"] not in {t["id"] for t in api.call("operator", "GET", "/api/v1/tenants").json()}
    deleted = {t["id"]: t for t in api.call("operator", "GET", "/api/v1/tenants", params={"deleted": "true"}).json()}
    assert tenant["id"] in deleted and deleted[tenant["id"]]["status"] in ("Deleting", "Deleted")
    again = api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}")
    assert again.status_code == 200 and again.json()["status"] in ("Deleting", "Deleted")


@probe("TEN-6")
def ten_hard_delete_removes_the_tenant(api: Api) -> None:
    tenant = api.create_tenant().json()["tenant"]
    answer = api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}", params={"isHardDelete": "true"})
    assert answer.status_code == 200 and answer.json() == {"uid": tenant["uuid"]}
    assert api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}").status_code == 404
    for params in ({}, {"deleted": "true"}):
        listed = {t["id"] for t in api.call("operator", "GET", "/api/v1/tenants", params=params).json()}
        assert tenant["id"] not in listed, params


@probe("TEN-7")
def ten_delete_of_missing_tenant_is_404(api: Api) -> None:
    assert api.call("operator", "DELETE", "/api/v1/tenants/2147483001").status_code == 404
    tenant = api.create_tenant().json()["tenant"]
    api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}", params={"isHardDelete": "true"})
    if api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}").status_code == 404:  # else TEN-6 is broken
        assert api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}").status_code == 404


# ------------------------------------------------------------------------------------------- ISO


@probe("ISO-1")
def iso_other_tenants_users_are_invisible(api: Api) -> None:
    tag = f"i{uuid.uuid4().hex[:8]}"
    user = api.create_user(f"{tag}@example.com")
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")):
        status = api.call("peer", method, f"/api/v1/users/{user['id']}{suffix}").status_code
        assert status == 404, f"peer {method} {suffix or '/'} got {status}"
    assert api.call("admin", "GET", f"/api/v1/users/{user['id']}").status_code == 200
    assert api.login(user["username"], user["tempPassword"]).status_code == 200
    assert user["id"] not in {u["id"] for u in api.users("peer")}
    assert api.users("peer", search=tag) == [] and api.count("peer", filterBy=f"username=@{tag}") == 0
