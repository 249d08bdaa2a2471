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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from runai_conformance.reference import tokens

PROBES: dict[str, Callable[[Api], None]] = {}
SECRET_KEY = re.compile(r"password|secret|metricstore", re.IGNORECASE)
# The servers the probes meet are started with these (running(lapse=…, window=…)): the probes age the server
# past the lapse of the time faults (Api.age) and build populations past the window of the volume faults.
PROBE_LAPSE = 0.3  # seconds
PROBE_WINDOW = 20  # results
# How much later a probe looks at an event again: twice the lapse, past it whatever the server's rounding.
AGED = 2 * PROBE_LAPSE


def probe(rule: str) -> Callable[[Callable[[Api], None]], Callable[[Api], None]]:
    def register(func: Callable[[Api], None]) -> Callable[[Api], None]:
        PROBES[rule] = func
        return func

    return register


class Api:
    """A client of one running reference server, with a token per role. `later` (RunningServer.later) ages the
    server without waiting; without it, `age` waits for real."""

    def __init__(
        self,
        url: str,
        credentials: dict[str, dict[str, str]],
        signing_key: bytes,
        later: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=url, timeout=20, event_hooks={"response": [self._note_5xx]}, transport=transport
        )
        self.server_errors: list[str] = []  # every 5xx answer since the last clear: ERR-3's, whoever met it
        self.credentials = credentials
        self.signing_key = signing_key
        self.later = later
        self._tokens: dict[str, str] = {}

    def age(self, seconds: float) -> None:
        """Let `seconds` go by for the server: its clock moved on, or a real wait where it has no such clock."""
        if self.later is not None:
            self.later(seconds)
        else:
            time.sleep(seconds)

    def _note_5xx(self, response: httpx.Response) -> None:
        if response.status_code >= 500:
            self.server_errors.append(f"{response.request.method} {response.request.url.path} {response.status_code}")

    def token(self, role: str) -> str:
        if role not in self._tokens:
            creds = self.credentials[role]
            # clientId, as the suite's own token fetch (conformance/api.py) spells it; AUTH-3 tries both spellings
            answer = self.grant(
                grantType="client_credentials", clientId=creds["client_id"], clientSecret=creds["client_secret"]
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
        answer = self.http.request(method, path, headers=headers, **kw)
        if answer.status_code == 401 and role and not token:
            # A role's token that dies before its exp is AUTH-3's to judge (with a token of its own): the role
            # gets a new one, once, so that the other probes still see what they look at.
            self._tokens.pop(role, None)
            headers["Authorization"] = f"Bearer {self.token(role)}"
            answer = self.http.request(method, path, headers=headers, **kw)
        return answer

    def create_user(self, email: str | None = None, role: str = "admin") -> dict[str, Any]:
        email = email or f"probe-{uuid.uuid4().hex[:10]}@example.com"
        answer = self.call(role, "POST", "/api/v1/users", json={"email": email})
        assert answer.status_code in (200, 201), answer.text  # setup: the status itself is USR-1's to judge
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
    assert answer.headers.get("content-type", "").startswith("application/json"), (
        f"a {status} answer is {answer.headers.get('content-type')!r}, not JSON: {answer.text[:200]!r}"
    )
    try:
        body = answer.json()
    except ValueError:
        raise AssertionError(f"a {status} answer is no JSON: {answer.text[:200]!r}") from None
    assert isinstance(body, dict) and isinstance(body.get("message"), str), f"a {status} answer is no Error: {body}"
    assert body.get("code") == status, f"Error.code {body.get('code')} != status {status}"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def moving_fields(api: Api, user_id: str) -> dict[str, Any]:
    """The fields of a user a request that must change nothing could move: updatedAt and lastLogin."""
    body = api.call("admin", "GET", f"/api/v1/users/{user_id}").json()
    return {key: body.get(key) for key in ("updatedAt", "lastLogin")}


def zoned_and_not_future(text: Any, what: str) -> None:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    assert value.tzinfo is not None, f"{what} {text!r} has no zone"
    assert value <= datetime.now(UTC) + timedelta(seconds=1), f"{what} {text} is in the future"


def forged(payload: dict[str, Any], key: bytes | None, alg: str = "HS256") -> str:
    header = tokens.b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = tokens.b64url(json.dumps(payload).encode())
    if key is None:
        return f"{header}.{body}."
    return tokens.encode(payload, key)


def payload_of(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def at_once(n: int, request: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """`request(0)` … `request(n - 1)` sent at the same moment (the client is thread-safe), answers in that order."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(request, range(n)))


# ------------------------------------------------------------------------------------------ AUTH


@probe("AUTH-1")
def auth_rejects_bad_tokens(api: Api) -> None:
    """No token, a malformed one, a bad signature, alg none, an expired one: 401 on every operation. Statuses
    only: the body of a 401 is ERR-1's to judge."""
    good = api.token("admin")
    claims = payload_of(good)
    header, body, signature = good.split(".")
    altered = tokens.b64url(json.dumps({**claims, "role": "operator"}).encode())
    not_json = tokens.b64url(b"not json")
    bad = {
        "none": None,
        "malformed": "not-a-token",
        "two parts": f"{header}.{body}",
        "four parts": f"{good}.{signature}",
        "not JSON": f"{not_json}.{not_json}.{signature}",
        "altered payload": f"{header}.{altered}.{signature}",
        "no signature": f"{header}.{body}.",
        "alg none": forged(claims, None, alg="none"),
        "other key": forged(claims, b"another-key"),
        "expired": forged({**claims, "exp": int(time.time()) - 60}, api.signing_key),
    }
    missing = uuid.uuid4()
    operations = [
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/users/count", None),
        ("POST", "/api/v1/users", {}),
        ("GET", f"/api/v1/users/{missing}", None),
        ("DELETE", f"/api/v1/users/{missing}", None),
        ("POST", f"/api/v1/users/{missing}/logout", None),
        ("POST", f"/api/v1/users/{missing}/password", None),
        ("POST", "/api/v1/me/password", {}),
        ("GET", "/api/v1/tenants", None),
        ("POST", "/api/v1/tenants", {}),
        ("GET", "/api/v1/tenants/2147483000", None),
        ("DELETE", "/api/v1/tenants/2147483000", None),
    ]
    for method, path, payload in operations:
        for name, token in bad.items():
            answer = api.call(None, method, path, token=token, json=payload)
            assert answer.status_code == 401, f"{method} {path} with {name} token got {answer.status_code}"
    assert api.call("admin", "GET", "/api/v1/users/count").status_code == 200
    # However a request is written: HEAD is GET without a body, with the same auth.
    user = api.create_user()
    for path in ("/api/v1/users", "/api/v1/users/count", f"/api/v1/users/{user['id']}"):
        status = api.call(None, "HEAD", path).status_code
        assert status == 401, f"HEAD {path} without a token got {status}"


@probe("AUTH-2")
def auth_roles_are_enforced(api: Api) -> None:
    tag = f"v{uuid.uuid4().hex[:8]}"
    scope = f"username=@{tag}"  # counts of the probe's own users: a whole tenant's, past a window, is LIST-7's to judge
    email = f"{tag}-viewer@example.com"
    assert_error(api.call("viewer", "POST", "/api/v1/users", json={"email": email}), 403)
    victim = api.create_user(f"{tag}-victim@example.com")
    unmoved = moving_fields(api, victim["id"])
    for path in ("/api/v1/users", "/api/v1/users/count", f"/api/v1/users/{victim['id']}"):
        status = api.call("viewer", "GET", path).status_code
        assert status == 200, f"viewer GET {path} got {status}"
    for method, suffix in (("DELETE", ""), ("POST", "/password"), ("POST", "/logout")):
        assert_error(api.call("viewer", method, f"/api/v1/users/{victim['id']}{suffix}"), 403)
    assert moving_fields(api, victim["id"]) == unmoved, "the viewer's refused writes moved the user"
    assert api.count(filterBy=scope) == 1, "the viewer's refused create created a user"
    for method, suffix in (("GET", ""), ("POST", "/password"), ("POST", "/logout"), ("DELETE", "")):
        status = api.call("admin", method, f"/api/v1/users/{victim['id']}{suffix}").status_code
        assert status < 400, f"admin {method} /users/{{id}}{suffix} of a user of its tenant got {status}"
    assert_error(api.call("admin", "GET", "/api/v1/tenants"), 403)
    assert_error(api.call("admin", "GET", "/api/v1/tenants/1"), 403)
    assert_error(api.call("admin", "DELETE", "/api/v1/tenants/2147483000"), 403)
    for params in ({}, {"deleted": "true"}):
        status = api.call("operator", "GET", "/api/v1/tenants", params=params).status_code
        assert status == 200, f"operator GET /api/v1/tenants {params} got {status}"
    # However a path is written: a trailing or a doubled slash is refused, redirected, or authorized as the
    # operation it reaches. (httpx sends a path as written; a 307 to the canonical spelling is not followed.)
    target = api.create_user(f"s{uuid.uuid4().hex[:8]}-spelled@example.com")
    for path in (f"/api/v1/users/{target['id']}/", f"/api/v1//users/{target['id']}"):
        status = api.call("viewer", "DELETE", path).status_code
        assert not 200 <= status < 300, f"the viewer's DELETE {path} got {status}"
    status = api.call("admin", "GET", f"/api/v1/users/{target['id']}").status_code
    assert status == 200, f"after the viewer's DELETEs of other spellings of its path, GET of the user got {status}"


@probe("AUTH-3")
def auth_token_endpoint_grants(api: Api) -> None:
    """Every documented grant body gets 200 with an accessToken whose payload has exp (and expiresIn, when
    given, in seconds); bad or unknown credentials get 401. Statuses and token answers only."""
    creds = api.credentials["admin"]
    cid, secret = creds["client_id"], creds["client_secret"]
    for body in (
        {"grantType": "client_credentials", "clientID": cid, "clientSecret": secret},
        {"grantType": "client_credentials", "clientId": cid, "clientSecret": secret},
        {"grantType": "app_token", "AppId": cid, "AppSecret": secret},
        {"grantType": "app_token", "appId": cid, "appSecret": secret},
        {"grantType": "app_token", "APPID": cid, "appsecret": secret},
    ):
        sent = time.time()
        answer = api.grant(**body)
        assert answer.status_code == 200, f"{list(body)} got {answer.status_code}"
        token_answer_holds(api, answer.json(), sent, f"{list(body)}")
    for email in (f"grant-{uuid.uuid4().hex[:8]}@example.com", f"grant+{uuid.uuid4().hex[:8]}@example.com"):
        user = api.create_user(email)
        sent = time.time()
        answer = api.login(user["username"], user["tempPassword"])
        assert answer.status_code == 200, f"password grant for {email} got {answer.status_code}"
        token_answer_holds(api, answer.json(), sent, f"password grant for {email}", user_token=True)
    unknown = f"no-such-client-{uuid.uuid4().hex[:8]}"
    for body in (
        {"grantType": "client_credentials", "clientID": cid, "clientSecret": "wrong"},
        {"grantType": "client_credentials", "clientId": cid, "clientSecret": "wrong"},
        {"grantType": "app_token", "AppId": cid, "AppSecret": "wrong"},
        {"grantType": "client_credentials", "clientID": unknown, "clientSecret": secret},
        {"grantType": "client_credentials", "clientId": unknown, "clientSecret": secret},
        {"grantType": "app_token", "AppId": unknown, "AppSecret": secret},
    ):
        status = api.grant(**body).status_code
        assert status == 401, f"bad credentials {body} got {status}"
    assert api.login(user["username"], "wrong-password").status_code == 401
    assert api.login(f"nobody-{uuid.uuid4().hex[:8]}@example.com", "any-password").status_code == 401
    # Over time: a token works until its exp, however long ago it was issued. The admin client's token as the
    # server would have issued it an hour ago, with an hour still to run:
    now = time.time()
    claims = {**payload_of(api.token("admin")), "iat": now - 3600, "exp": int(now) + 3600, "jti": uuid.uuid4().hex}
    old = forged(claims, api.signing_key)
    status = api.call(None, "GET", "/api/v1/users/count", token=old).status_code
    assert status == 200, f"a token issued an hour ago, its exp an hour ahead, got {status}"


def token_answer_holds(api: Api, data: dict[str, Any], sent: float, what: str, *, user_token: bool = False) -> None:
    """AUTH-3's answer: an accessToken that works, a JWT whose payload has a future exp, expiresIn in seconds."""
    claims = payload_of(data["accessToken"])
    exp = claims.get("exp")
    assert isinstance(exp, (int, float)) and exp > time.time(), f"{what}: accessToken exp is {exp!r}"
    if "expiresIn" in data:
        expires_in = data["expiresIn"]
        assert isinstance(expires_in, int) and abs(sent + expires_in - exp) <= 60, (
            f"{what}: expiresIn {expires_in!r} s disagrees with exp, {exp - sent:.0f} s away"
        )
    if user_token:
        assert api.token_is_live(data["accessToken"]), f"{what}: the accessToken is refused"
    else:
        status = api.call(None, "GET", "/api/v1/users/count", token=data["accessToken"]).status_code
        assert status == 200, f"{what}: the accessToken got {status}"


@probe("AUTH-4")
def auth_logout_revokes_earlier_tokens(api: Api) -> None:
    """Every token of the user issued before the logout gets 401, not only the latest; no other user's token
    is touched; a token issued afterwards works."""
    user, bystander = api.create_user(), api.create_user()
    earlier = [api.user_token(user["username"], user["tempPassword"]) for _ in range(2)]
    theirs = api.user_token(bystander["username"], bystander["tempPassword"])
    assert all(api.token_is_live(t) for t in [*earlier, theirs])
    assert api.call("admin", "POST", f"/api/v1/users/{user['id']}/logout").status_code in (200, 204)
    for n, token in enumerate(earlier, 1):
        assert not api.token_is_live(token), f"token {n} of {len(earlier)} issued before the logout still works"
    assert api.token_is_live(theirs), "a logout revoked another user's token"
    after = api.user_token(user["username"], user["tempPassword"])
    assert api.token_is_live(after), "a token issued after the logout is refused"
    api.age(AGED)  # over time: the revocation lasts
    for n, token in enumerate(earlier, 1):
        assert not api.token_is_live(token), f"token {n} issued before the logout works again {AGED:g} s after it"


# ------------------------------------------------------------------------------------------- ERR


@probe("ERR-1")
def err_bodies_carry_their_status(api: Api) -> None:
    """4xx answers of the API (401 included) and of the token endpoint are Error bodies with code == status."""
    user = api.create_user()
    tenant = api.create_tenant().json()["tenant"]
    creds = api.credentials["admin"]
    expired = forged({**payload_of(api.token("admin")), "exp": int(time.time()) - 60}, api.signing_key)
    answers = [
        api.call("admin", "GET", f"/api/v1/users/{uuid.uuid4()}"),
        api.call("admin", "DELETE", f"/api/v1/users/{uuid.uuid4()}"),
        api.call("admin", "POST", "/api/v1/users", json={"email": user["username"]}),
        api.call("admin", "POST", "/api/v1/users", json={"email": 5}),
        api.call(None, "GET", "/api/v1/users"),
        api.call(None, "GET", "/api/v1/users", token=expired),
        api.call(None, "DELETE", f"/api/v1/users/{user['id']}", token=expired),
        api.call("viewer", "POST", "/api/v1/users", json={"email": f"e1-{uuid.uuid4().hex[:8]}@example.com"}),
        api.call("operator", "GET", "/api/v1/tenants/999999"),
        api.create_tenant(name=tenant["name"]),
        api.call("admin", "PUT", "/api/v1/users"),
        api.grant(grantType="client_credentials", clientID=creds["client_id"], clientSecret="wrong"),
        api.login(user["username"], "wrong-password"),
        api.grant(grantType="password", username=user["username"]),
        api.grant(grantType="no-such-grant"),
        api.http.post("/api/v1/token", content=b"{", headers={"content-type": "application/json"}),
    ]
    errors = [a for a in answers if a.status_code >= 400]
    assert len(errors) >= 12, "too few error answers to judge"
    for answer in errors:
        assert_error(answer, answer.status_code)
    # The Accept header does not change an error's shape: a 404 and a 401 to requests preferring text/html.
    for accept in ("text/html", "text/html;q=0.9, application/json;q=0.1"):
        for answer in (
            api.call("admin", "GET", f"/api/v1/users/{uuid.uuid4()}", headers={"Accept": accept}),
            api.call(None, "GET", "/api/v1/users", headers={"Accept": accept}),
        ):
            assert answer.status_code >= 400, f"Accept {accept!r}: {answer.request.url.path} got {answer.status_code}"
            try:
                assert_error(answer, answer.status_code)
            except AssertionError as exc:
                raise AssertionError(f"Accept {accept!r}: {exc}") from None


@probe("ERR-2")
def err_schema_breaks_get_400_and_change_nothing(api: Api) -> None:
    """Wrong types, missing required fields, values outside an enum or below a minimum, in every body and
    parameter the suite writes: 400, and nothing created or changed."""
    tag = f"e2-{uuid.uuid4().hex[:8]}"
    for body in (
        {},
        {"notify": True},
        {"email": 12345},
        {"email": f"{tag}-1@example.com", "notify": "yes"},
        {"email": f"{tag}-2@example.com", "resetPassword": "no"},
        {"email": f"{tag}-3@example.com", "notify": 1},
        [f"{tag}-4@example.com"],
    ):
        answer = api.call("admin", "POST", "/api/v1/users", json=body)
        assert answer.status_code == 400, f"create_user {body} got {answer.status_code}"
    for params in ({"limit": "abc"}, {"sortBy": "nope"}, {"sortOrder": "up"}, {"limit": "0"}):
        assert api.call("admin", "GET", "/api/v1/users", params=params).status_code == 400, params
    names = [f"{tag}-t{n}" for n in range(4)]
    for body in (
        {"email": "owner@example.com"},
        {"name": names[0]},
        {"name": names[1], "email": "owner@example.com", "contractType": "gold"},
        {"name": names[2], "email": "owner@example.com", "contractType": 5},
        {"name": 12345, "email": "owner@example.com"},
    ):
        answer = api.call("operator", "POST", "/api/v1/tenants", json=body)
        assert answer.status_code == 400, f"create_tenant {body} got {answer.status_code}"
    for method in ("GET", "DELETE"):
        status = api.call("operator", method, "/api/v1/tenants/-1").status_code
        assert status == 400, f"{method} of tenant id -1 (below the minimum 0) got {status}"
    user = api.create_user(f"{tag}-me@example.com")
    token = api.user_token(user["username"], user["tempPassword"])
    unmoved = moving_fields(api, user["id"])
    for body in (
        {"newPassword": "a-new-password-1"},
        {"currentPassword": user["tempPassword"]},
        {"currentPassword": user["tempPassword"], "newPassword": 123456789},
    ):
        answer = api.call(None, "POST", "/api/v1/me/password", token=token, json=body)
        assert answer.status_code == 400, f"/me/password {list(body)} got {answer.status_code}"
    assert moving_fields(api, user["id"]) == unmoved, "a rejected /me/password moved the user"
    assert api.login(user["username"], user["tempPassword"]).status_code == 200
    assert api.count(filterBy=f"username=@{tag}") == 1, "a rejected create_user created a user"
    assert [u["username"] for u in api.users(search=tag)] == [user["username"]]
    listed = api.call("operator", "GET", "/api/v1/tenants").json()
    assert not [t for t in listed if str(t.get("name", "")).startswith(tag)], "a rejected create_tenant created one"


@probe("ERR-3")
def err_no_input_gets_5xx(api: Api) -> None:
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "application/xml"):
        email = f"probe-{uuid.uuid4().hex[:10]}@example.com"
        answer = api.call(
            "admin",
            "POST",
            "/api/v1/users",
            content=json.dumps({"email": email}),
            headers={"Content-Type": content_type},
        )
        assert answer.status_code < 500, f"a JSON body sent as {content_type} got {answer.status_code}"
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
    for field in ("creationTime", "lastUpdated", "lastLogin"):
        for value in ("2020-01-01T00:00:00.1234567Z", "2020-01-01T00:00:00.123456789+02:00", "2020-13-45"):
            for op in ("==", "<=", ">="):
                for path in ("/api/v1/users", "/api/v1/users/count"):
                    answer = api.call("admin", "GET", path, params={"filterBy": f"{field}{op}{value}"})
                    assert answer.status_code < 500, f"{path} filterBy {field}{op}{value} got {answer.status_code}"
    for method, path in (("PUT", "/api/v1/users/count"), ("PATCH", "/api/v1/users"), ("TRACE", "/api/v1/tenants")):
        assert api.call("admin", method, path).status_code < 500, f"{method} {path} (no such operation) got a 5xx"
    user = api.create_user()  # a user's own states: named in a term, logged out before any login, logged in
    for op in ("<=", ">="):
        answer = api.call("admin", "GET", "/api/v1/users", params={"filterBy": f"username{op}{user['username']}"})
        assert answer.status_code < 500, f"filterBy username{op}<a user's username> got {answer.status_code}"
    answer = api.call("admin", "POST", f"/api/v1/users/{user['id']}/logout")
    assert answer.status_code < 500, f"logout of a user who never logged in got {answer.status_code}"
    assert api.grant(grantType="password", username=user["username"], password=user["tempPassword"]).status_code < 500
    answer = api.call("admin", "GET", f"/api/v1/users/{user['id']}")
    assert answer.status_code < 500, f"GET of a user who has logged in got {answer.status_code}"
    for raw in (b"{", b"[" * 5000, b"\xff\xfe", b'{"email": "\xff@x.co"}'):
        answer = api.call("admin", "POST", "/api/v1/users", content=raw, headers={"content-type": "application/json"})
        assert answer.status_code < 500, f"{raw[:20]!r} got {answer.status_code}"
    cid = api.credentials["admin"]["client_id"]
    for body in (
        {"grantType": "client_credentials", "clientID": cid},
        {"grantType": "client_credentials", "clientId": cid},
        {"grantType": "client_credentials", "clientSecret": "x"},
        {"grantType": "client_credentials"},
        {"grantType": "client_credentials", "clientID": cid, "clientSecret": None},
        {"grantType": "client_credentials", "clientID": cid, "clientSecret": 5},
        {"grantType": "app_token", "AppId": cid},
        {"grantType": "password", "username": "someone@example.com"},
        {"grantType": 5},
        {},
    ):
        answer = api.grant(**body)
        assert answer.status_code < 500, f"token grant {body} got {answer.status_code}"


# ------------------------------------------------------------------------------------------- USR


@probe("USR-1")
def usr_create_answers_id_username_temp_password(api: Api) -> None:
    """201 {id, username, tempPassword} with or without the optional fields: username the email as sent, an id
    never seen before (not the id of a user just deleted), a non-empty tempPassword."""
    freed = api.create_user()
    seen = {u["id"] for u in api.users()} | {freed["id"]}
    api.call("admin", "DELETE", f"/api/v1/users/{freed['id']}")
    for extra in ({}, {"notify": True}, {"notify": False}, {"resetPassword": True}):
        email = f"Mixed.Case+{uuid.uuid4().hex[:6]}@Example.COM"
        answer = api.call("admin", "POST", "/api/v1/users", json={"email": email, **extra})
        assert answer.status_code == 201, f"create_user {extra} got {answer.status_code}"
        body = answer.json()
        assert body["username"] == email, f"username {body['username']!r} != email {email!r}"
        assert body["id"] and body["id"] not in seen, f"create_user {extra} answered an id already used: {body['id']}"
        assert isinstance(body["tempPassword"], str) and body["tempPassword"], f"{extra}: empty tempPassword"
        seen.add(body["id"])
    # At the same time: six creates of different emails get six ids, each the id of its own user. (In the peer's
    # tenant, as the other crowds: the admin's list, which LIST-6 pages one by one, stays short.)
    emails = [f"together-{uuid.uuid4().hex[:8]}-{n}@example.com" for n in range(6)]
    answers = at_once(6, lambda n: api.call("peer", "POST", "/api/v1/users", json={"email": emails[n]}))
    assert [a.status_code for a in answers] == [201] * 6, f"simultaneous creates got {[a.status_code for a in answers]}"
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 6, f"six simultaneous creates answered {len(set(ids))} distinct ids: {ids}"
    for email, user_id in zip(emails, ids, strict=True):
        got = api.call("peer", "GET", f"/api/v1/users/{user_id}")
        shown = got.json().get("username") if got.status_code == 200 else got.status_code
        assert shown == email, f"the id answered to the create of {email} reads back as {shown}"


@probe("USR-2")
def usr_email_pattern_and_bounds(api: Api) -> None:
    local = "a" * 64
    longest = f"{local}@{'b' * 63}.{'c' * 63}.{'d' * (254 - 64 - 1 - 63 - 1 - 63 - 1)}"
    assert len(longest) == 254
    answer = api.call("admin", "POST", "/api/v1/users", json={"email": longest})
    assert answer.status_code in (200, 201), answer.text  # accepted; the status itself is USR-1's
    for email in ("user@host", "user@host.c", "a@@b.co", "a b@c.co", "a@b", longest + "x", "ü@b.co", "user@.co"):
        answer = api.call("admin", "POST", "/api/v1/users", json={"email": email})
        assert answer.status_code == 400, f"{email!r} got {answer.status_code}"
    # Every valid email is taken, whatever its domain (fifty domains: a validator sharded by domain with one
    # stale shard rejects some of them).
    for n in range(50):
        answer = api.call(
            "admin", "POST", "/api/v1/users", json={"email": f"valid-{uuid.uuid4().hex[:6]}@d{n}.example.com"}
        )
        assert answer.status_code in (200, 201), f"a valid email at d{n}.example.com got {answer.status_code}"
    # However a body is written: an email key given twice gets 400, or the server acts on one email, a valid one.
    for order in ("valid first", "valid last"):
        valid, invalid = f"twice-{uuid.uuid4().hex[:8]}@example.com", f"no-at-sign-{uuid.uuid4().hex[:8]}"
        emails = (valid, invalid) if order == "valid first" else (invalid, valid)
        raw = f'{{"email": {json.dumps(emails[0])}, "email": {json.dumps(emails[1])}}}'
        answer = api.call(
            "admin", "POST", "/api/v1/users", content=raw.encode(), headers={"content-type": "application/json"}
        )
        if answer.status_code == 400:
            continue
        assert 200 <= answer.status_code < 300, f"the email key twice ({order}) got {answer.status_code}"
        made = answer.json()["username"]
        assert made == valid, f"the email key twice ({order}), {valid!r} and {invalid!r}, created {made!r}"
        assert api.users(search=invalid) == [], f"the email key twice ({order}) created a user named {invalid!r}"


@probe("USR-3")
def usr_duplicate_email_conflicts(api: Api) -> None:
    """An email of the tenant gets 409 and creates nothing, also when the creates race."""
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    api.create_user(email)
    answer = api.call("admin", "POST", "/api/v1/users", json={"email": email})
    assert answer.status_code == 409, answer.status_code
    assert api.count(filterBy=f"username=={email}") == 1, "a duplicate create changed the count"
    assert len(api.users(filterBy=f"username=={email}")) == 1
    # Concurrency: the same new email sent four times at once has exactly one winner.
    racing = f"race-{uuid.uuid4().hex[:8]}@example.com"
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(
            pool.map(lambda _: api.call("admin", "POST", "/api/v1/users", json={"email": racing}).status_code, range(4))
        )
    winners = [s for s in statuses if 200 <= s < 300]  # 201, or 200 where USR-1 is what breaks
    assert len(winners) == 1 and statuses.count(409) == 3, f"four concurrent creates of one email answered {statuses}"
    # At volume: the email of a user with PROBE_WINDOW + 5 users created after it is still taken.
    tag = f"u{uuid.uuid4().hex[:8]}"
    first = api.create_user(f"{tag}-first@example.com", role="peer")
    crowd(api, f"{tag}-later", PROBE_WINDOW + 5)
    answer = api.call("peer", "POST", "/api/v1/users", json={"email": first["username"]})
    assert answer.status_code == 409, f"the email of a user {PROBE_WINDOW + 5} creates ago got {answer.status_code}"
    same = api.users("peer", filterBy=f"username=={first['username']}")
    assert len(same) == 1, f"{len(same)} users are named {first['username']}"


@probe("USR-4")
def usr_get_shows_what_was_created(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    email = f"Probe.Case-{uuid.uuid4().hex[:8]}@Example.com"
    user = api.create_user(email)
    first = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()
    time.sleep(0.02)
    second = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert first["id"] == user["id"], f"id {first['id']!r} != {user['id']!r}"
    assert first["username"] == user["username"], f"username {first['username']!r} != {user['username']!r}"
    assert first["isLocal"] is True, f"isLocal is {first['isLocal']!r}"
    assert first["lastLogin"] is None, f"lastLogin is {first['lastLogin']!r} before any login"
    assert first["createdBy"] == payload_of(api.token("admin"))["sub"], first["createdBy"]
    created, updated = parse_time(first["createdAt"]), parse_time(first["updatedAt"])
    assert start <= created <= now, f"createdAt {first['createdAt']} is not between {start} and {now}"
    assert start <= updated <= now, f"updatedAt {first['updatedAt']} is not between {start} and {now}"
    assert created <= updated, f"createdAt {first['createdAt']} > updatedAt {first['updatedAt']}"
    assert second["createdAt"] == first["createdAt"]
    # every representation, for every role that reads users: the same fixed fields
    # (a view the role is refused, or a list that leaves the user out, is another rule's to judge)
    fixed = ("username", "createdBy", "createdAt", "isLocal")
    answers = [api.call("viewer", "GET", f"/api/v1/users/{user['id']}")]
    answers += [
        api.call(role, "GET", "/api/v1/users", params={"search": user["username"]}) for role in ("admin", "viewer")
    ]
    views = [a.json() for a in answers[:1] if a.status_code == 200]
    views += [u for a in answers[1:] if a.status_code == 200 for u in a.json() if u["id"] == user["id"]]
    for view in views:
        assert all(view[k] == first[k] for k in fixed), f"{view} differs from GET by id {first} in {fixed}"
    # every timestamp clause again after each write (a reset, a logout)
    for suffix in ("/password", "/logout"):
        api.call("admin", "POST", f"/api/v1/users/{user['id']}{suffix}")  # its status is another rule's
        after = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()
        for key in ("createdAt", "updatedAt"):
            zoned_and_not_future(after[key], f"after {suffix}: {key}")
        assert parse_time(after["createdAt"]) <= parse_time(after["updatedAt"]), f"after {suffix}: {after}"
    # Fields the server owns, sent in a create body: refused with 400, or ignored, so that all of the above holds.
    owned = {
        "createdBy": "mallory@example.com",
        "createdAt": "2999-01-01T00:00:00.000Z",
        "lastLogin": "2020-01-01T00:00:00.000Z",
        "isLocal": False,
        "id": str(uuid.uuid4()),
    }
    email = f"owned-{uuid.uuid4().hex[:8]}@example.com"
    answer = api.call("admin", "POST", "/api/v1/users", json={"email": email, **owned})
    if answer.status_code != 400:
        assert 200 <= answer.status_code < 300, (
            f"a create body with the fields the server owns got {answer.status_code}"
        )
        got = api.call("admin", "GET", f"/api/v1/users/{answer.json()['id']}").json()
        creator = payload_of(api.token("admin"))["sub"]
        assert got["createdBy"] == creator, f"createdBy {got['createdBy']!r}, not the creator {creator!r}"
        zoned_and_not_future(got["createdAt"], "createdAt of a create whose body sent one in 2999")
        assert got["lastLogin"] is None, f"lastLogin {got['lastLogin']!r} before any login (the body sent one)"
        assert got["isLocal"] is True, f"isLocal {got['isLocal']!r} (the body sent false)"


@probe("USR-5")
def usr_representations_carry_no_secret(api: Api) -> None:
    """GET by id and every list view (filtered, searched, sorted both ways, paged): no secret-named field."""
    user = api.create_user()
    api.call("admin", "POST", f"/api/v1/users/{user['id']}/password")
    bodies = [api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()]
    views: list[dict[str, Any]] = [
        {},
        {"filterBy": f"username=={user['username']}"},
        {"search": user["username"]},
        {"limit": 5, "offset": 0},
    ]
    views += [{"sortBy": by, "sortOrder": order} for by in ("username", "creationTime") for order in ("asc", "desc")]
    for params in views:
        answer = api.call("admin", "GET", "/api/v1/users", params=params)
        if answer.status_code == 200:  # a refused view shows nothing; statuses are other rules' to judge
            bodies += answer.json()
    for body in bodies:
        leaked = [k for k in body if SECRET_KEY.search(k)]
        assert not leaked, f"user representation carries {leaked}"


@probe("USR-6")
def usr_delete_removes_the_user(api: Api) -> None:
    tag = f"d{uuid.uuid4().hex[:8]}"
    scope = f"username=@{tag}"  # counts of the probe's own users: a whole tenant's, past a window, is LIST-7's to judge
    user = api.create_user(f"{tag}-gone@example.com")
    api.create_user(f"{tag}-stays@example.com")
    before = api.count(filterBy=scope)
    answer = api.call("admin", "DELETE", f"/api/v1/users/{user['id']}")
    assert answer.status_code == 204 and answer.content == b"", f"delete got {answer.status_code} {answer.content!r}"
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")):
        status = api.call("admin", method, f"/api/v1/users/{user['id']}{suffix}").status_code
        assert status == 404, f"{method} {suffix or '/'} after delete got {status}"
    for params in (
        {},
        {"filterBy": f"username=={user['username']}"},
        {"filterBy": f"username=@{user['username']}"},
        {"search": user["username"]},
        {"sortBy": "username"},
    ):
        assert user["id"] not in {u["id"] for u in api.users(**params)}, f"the deleted user is listed with {params}"
    assert api.count(filterBy=scope) == before - 1, "the count did not drop by one"
    assert api.count(filterBy=f"username=={user['username']}") == 0, "the deleted user is counted"
    # At the same time: of four deletes of one user, exactly one gets 204.
    racer = api.create_user()
    statuses = sorted(
        a.status_code for a in at_once(4, lambda _: api.call("admin", "DELETE", f"/api/v1/users/{racer['id']}"))
    )
    assert statuses == [204, 404, 404, 404], f"four simultaneous deletes of one user got {statuses}"


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
        assert answer.status_code == 200, f"reset got {answer.status_code}"
        password = answer.json()["tempPassword"]
        assert password and password not in seen, "a reset repeated an earlier temporary password"
        seen.append(password)
    # At the same time: four resets of one user hand out four temporary passwords, none seen before. (In the
    # peer's tenant, as the crowds: the admin's list, which LIST-6 pages one by one, stays short.)
    racer = api.create_user(role="peer")
    answers = at_once(4, lambda _: api.call("peer", "POST", f"/api/v1/users/{racer['id']}/password"))
    assert [a.status_code for a in answers] == [200] * 4, f"simultaneous resets got {[a.status_code for a in answers]}"
    passwords = {a.json()["tempPassword"] for a in answers} - {racer["tempPassword"]}
    assert len(passwords) == 4, f"four simultaneous resets handed out {len(passwords)} new temporary passwords"


@probe("USR-9")
def usr_logout_is_200(api: Api) -> None:
    user = api.create_user()
    status = api.call("admin", "POST", f"/api/v1/users/{user['id']}/logout").status_code
    assert status == 200, f"logout got {status}"


@probe("USR-10")
def usr_me_password_changes_only_with_the_right_current(api: Api) -> None:
    """A wrong current password changes nothing; 7 and 256 characters get 400; 8 and 255 characters get 200,
    after which the new password logs in and the old one does not."""
    user = api.create_user()
    token = api.user_token(user["username"], user["tempPassword"])

    def change(current: str, new: str) -> int:
        body = {"currentPassword": current, "newPassword": new}
        return api.call(None, "POST", "/api/v1/me/password", token=token, json=body).status_code

    status = change("wrong-current-pw", "never-set-pw-1")
    assert status in (400, 403), f"a wrong current password got {status}"
    assert api.login(user["username"], "never-set-pw-1").status_code == 401, "a wrong current password changed it"
    for new in ("short77", "x" * 256):
        status = change(user["tempPassword"], new)
        assert status == 400, f"a new password of {len(new)} characters got {status}"
    assert api.login(user["username"], user["tempPassword"]).status_code == 200
    old = user["tempPassword"]
    for new in (f"Pw8{uuid.uuid4().hex[:5]}", "p" * 247 + uuid.uuid4().hex[:8]):
        status = change(old, new)
        assert status == 200, f"a new password of {len(new)} characters got {status}"
        assert api.login(user["username"], new).status_code == 200, "the new password does not log in"
        assert api.login(user["username"], old).status_code == 401, "the old password still logs in"
        old = new
    # At the same time: of four changes with the right current password, one wins; the others find it wrong.
    racer = api.create_user(role="peer")  # (the peer's tenant, as the crowds: the admin's list stays short)
    token = api.user_token(racer["username"], racer["tempPassword"])
    news = [f"Pw{n}-{uuid.uuid4().hex[:8]}" for n in range(4)]

    def change_to(n: int) -> httpx.Response:
        body = {"currentPassword": racer["tempPassword"], "newPassword": news[n]}
        return api.call(None, "POST", "/api/v1/me/password", token=token, json=body)

    statuses = [a.status_code for a in at_once(4, change_to)]
    won = [new for new, status in zip(news, statuses, strict=True) if status == 200]
    assert len(won) == 1 and all(s in (200, 400, 403) for s in statuses), (
        f"four simultaneous changes with the right current password got {statuses}"
    )
    logs_in = [p for p in [racer["tempPassword"], *news] if api.login(racer["username"], p).status_code == 200]
    assert logs_in == won, f"after the race, {len(logs_in)} passwords log in, not only the winner's"


@probe("USR-11")
def usr_login_sets_last_login(api: Api) -> None:
    """Every password grant, not only the first, sets lastLogin to its time."""
    user = api.create_user()
    stamps = []
    for n in range(2):
        time.sleep(0.02 * n)  # timestamps have milliseconds: two logins must be told apart
        start = datetime.now(UTC) - timedelta(seconds=1)
        api.user_token(user["username"], user["tempPassword"])
        end = datetime.now(UTC) + timedelta(seconds=1)
        last = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()["lastLogin"]
        assert last is not None and start <= parse_time(last) <= end, f"login {n + 1}: lastLogin {last}"
        stamps.append(parse_time(last))
    assert stamps[1] > stamps[0], f"a second login left lastLogin at {stamps[0]}"
    unmoved = moving_fields(api, user["id"])
    time.sleep(0.02)
    assert api.login(user["username"], "a-wrong-password-1").status_code == 401
    assert moving_fields(api, user["id"]) == unmoved, "a grant with a wrong password moved lastLogin"
    api.age(AGED)  # over time: the login's time stays
    later = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()["lastLogin"]
    assert later == last, f"{AGED:g} s after the login, lastLogin is {later}, not {last}"


# ------------------------------------------------------------------------------------------ LIST


def population(api: Api, tag: str) -> list[dict[str, Any]]:
    names = ["alpha", "bravo", "charlie", "delta", "echo"]
    made = [api.create_user(f"{tag}-{name}@example.com") for name in names]
    api.user_token(made[1]["username"], made[1]["tempPassword"])  # one user with a lastLogin
    return made


def crowd(api: Api, tag: str, n: int, role: str = "peer") -> list[str]:
    """n users `{tag}-{k:03}@example.com` of the role's tenant (the peer's by default, so that the admin's list,
    which LIST-6 pages one by one, stays short), created 8 at a time; their emails. A user that a simultaneous
    create lost (USR-1's to judge) is created again, one at a time, so that a crowd is whole for the rule it
    serves."""
    emails = [f"{tag}-{k:03}@example.com" for k in range(n)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda email: api.create_user(email, role=role), emails))
    for _ in range(3):
        if api.count(role, filterBy=f"username=@{tag}") == n:  # (cheaper than the list; a wrong count is LIST-7's)
            break
        listed = {u["username"] for u in api.users(role, filterBy=f"username=@{tag}", limit=500)}
        missing = [email for email in emails if email not in listed]
        if not missing:
            break
        for email in missing:
            api.call(role, "POST", "/api/v1/users", json={"email": email})  # its status is USR-1's or USR-3's
    return emails


def touch(api: Api, user: dict[str, Any]) -> None:
    """Move the user's updatedAt on: a password reset by the admin or, where that is refused (a fault of
    another rule), a password change by the user."""
    if api.call("admin", "POST", f"/api/v1/users/{user['id']}/password").is_success:
        return
    token = api.user_token(user["username"], user["tempPassword"])
    change = {"currentPassword": user["tempPassword"], "newPassword": f"touched-{uuid.uuid4().hex[:8]}"}
    api.call(None, "POST", "/api/v1/me/password", token=token, json=change)


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
    capital = api.create_user(f"{tag}-Zulu@example.com")  # "Z" sorts before every small letter
    touch(api, made[0])  # the first created is the last updated
    scope = f"username=@{tag}"
    everyone = {u["id"]: u for u in api.users(filterBy=scope)}
    first, pivot, zulu = everyone[made[0]["id"]], everyone[made[2]["id"]], everyone[capital["id"]]
    assert parse_time(first["createdAt"]) < parse_time(first["updatedAt"]), "updatedAt did not move: proves nothing"
    pivot_local = parse_time(pivot["createdAt"]).astimezone(timezone_plus_two()).isoformat()
    # Each line must tell a server that obeys the term from one that misreads it; `want` is computed from
    # what the list shows, so the probe stays right whatever the server stores (faults of other rules).
    for terms in (
        # first, while the population's login is fresh: a lastLogin that does not last is USR-11's to judge
        [scope, "lastLogin>=2000-01-01"],  # a null lastLogin satisfies no term, whatever the operator
        [scope, "lastLogin<=2999-01-01T00:00:00Z"],
        [scope, "username=@lph"],  # =@ matches inside the value, not only at its start
        [scope, f"creationTime>={pivot_local}"],  # the pivot's own instant, in another offset: bounds include it
        [scope, f"creationTime<={pivot['createdAt']}"],
        [scope, f"creationTime<={first['createdAt']}"],  # its updatedAt is later: creationTime is createdAt
        [scope, f"creationTime=={first['createdAt']}"],
        [scope, f"lastUpdated>={first['updatedAt']}"],  # its createdAt is earlier: lastUpdated is updatedAt
        [scope, f"lastUpdated<={pivot['updatedAt']}"],
        [scope, f"createdBy=={pivot['createdBy']}", "isLocal==true"],
        [scope, f"createdBy=={pivot['createdBy']}x"],
        [scope, "isLocal==false"],
        [f"username=={made[0]['username']}"],
        [f"username=={zulu['username']}"],
        [f"username=={zulu['username'].swapcase()}"],  # == on strings is exact
        [scope, f"username<={tag}-b"],  # strings compare by code point: "Z" < "a" < "b"
        [scope, f"username<={zulu['username']}"],  # string bounds include the value itself
        [scope, f"username>={zulu['username']}"],
        [scope, f"username>={tag}-b"],
    ):
        got = {u["id"] for u in api.users(filterBy=",".join(terms))}
        want = {i for i, u in everyone.items() if all(satisfies(u, t) for t in terms)}
        assert got == want, f"filterBy {terms}: missing {want - got}, unexpected {got - want}"
    for terms in ([scope, "username=@lph"], [f"username=={zulu['username']}"], [scope, f"username>={tag}-b"]):
        want = {i for i, u in everyone.items() if all(satisfies(u, t) for t in terms)}
        assert want, f"filterBy {terms} selects nothing: the probe proves nothing"


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
    assert {u["id"] for u in api.users(filterBy="")} == {u["id"] for u in api.users()}, "filterBy= filters"
    for term in (
        "nope==x",
        "Username==x",
        "username!=x",
        "nope<=x",
        "username<x",
        "username>x",
        "creationTime<2000-01-01",
        "username=x",
        "username==",
        "createdBy=@",
        "creationTime>=",
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
    # The creator's name is in every user's createdBy and (almost surely) in no username: search looks only
    # at the username.
    creator = next(u for u in api.users(filterBy=f"username=@{tag}") if u["id"] == made[0]["id"])["createdBy"]
    got = {u["id"] for u in api.users(search=creator)}
    want = {u["id"] for u in api.users() if creator.lower() in u["username"].lower()}
    assert got == want, f"search {creator!r}: missing {want - got}, unexpected {got - want}"
    # A text outside ASCII that no username holds finds nobody.
    got = {u["id"] for u in api.users(filterBy=f"username=@{tag}", search="日本")}
    assert got == set(), f"search '日本' (in no username) found {len(got)} users"
    # At volume: a search that PROBE_WINDOW + 5 users match returns them all.
    tag = f"w{uuid.uuid4().hex[:8]}"
    emails = crowd(api, tag, PROBE_WINDOW + 5)
    found = {u["username"] for u in api.users("peer", search=tag, limit=500)}
    assert found == set(emails), f"search {tag!r} over {len(emails)} matching users found {len(found)}"


@probe("LIST-5")
def list_sorts_both_ways(api: Api) -> None:
    tag = f"o{uuid.uuid4().hex[:8]}"
    made = population(api, tag)
    time.sleep(0.01)  # a later millisecond than the login's (in process, both can share one): a sort places it
    api.create_user(f"{tag}-foxtrot@example.com")  # never logs in, created after the login: a null in the middle
    touch(api, made[0])  # the first created is the last updated
    scope = f"username=@{tag}"
    fields = {
        "username": "username",
        "createdBy": "createdBy",
        "creationTime": "createdAt",
        "lastUpdated": "updatedAt",
        "lastLogin": "lastLogin",
    }
    for field, key in fields.items():
        for order in ("asc", "desc", None):  # no sortOrder: ascending
            params = {"filterBy": scope, "sortBy": field} | ({"sortOrder": order} if order else {})
            values = [u[key] for u in api.users(**params)]
            present = [
                parse_time(v) if key.endswith("At") or key == "lastLogin" else v for v in values if v is not None
            ]
            nulls = [i for i, v in enumerate(values) if v is None]
            assert present == sorted(present, reverse=order == "desc"), f"sortBy={field} sortOrder={order}"
            assert nulls == list(range(nulls[0], nulls[0] + len(nulls))) if nulls else True, "nulls not grouped"
            assert not nulls or nulls[0] == 0 or nulls[-1] == len(values) - 1, "nulls are not grouped at one end"
    for order in ("asc", "desc"):  # `type` is in the enum, though no user field shows it
        answer = api.call("admin", "GET", "/api/v1/users", params={"sortBy": "type", "sortOrder": order})
        assert answer.status_code == 200, f"sortBy=type got {answer.status_code}"
    for params in ({"sortBy": "email"}, {"sortBy": "createdAt"}, {"sortBy": "id"}, {"sortOrder": "ASC"}):
        answer = api.call("admin", "GET", "/api/v1/users", params=params)
        assert answer.status_code == 400, f"{params} got {answer.status_code}"


@probe("LIST-6")
def list_pages_cover_the_list(api: Api) -> None:
    tag = f"p{uuid.uuid4().hex[:8]}"
    population(api, tag)
    for sort in ("createdBy",):  # a key every user of the population shares: ties
        tied = {"filterBy": f"username=@{tag}", "sortBy": sort, "sortOrder": "asc"}
        everyone = {u["id"] for u in api.users(**tied)}
        for k in (1, 2, 3):
            pages = [u["id"] for o in range(0, len(everyone) + k, k) for u in api.users(**tied, limit=k, offset=o)]
            assert len(pages) == len(set(pages)) and set(pages) == everyone, f"pages of {k} under ties ({sort})"
    # Pages of 1, 2 and 3 of the probe's own users, and pages of 25 of the whole list (which the other probes
    # have grown to ~90 users: pages of 1 of it were ~170 requests, a third of all a fault's probes sent)
    for scope, sizes in (({"filterBy": f"username=@{tag}"}, (1, 2, 3)), ({}, (25,))):
        listed = [u["id"] for u in api.users(sortBy="username", **scope)]
        for k in sizes:
            pages: list[str] = []
            for offset in range(0, len(listed) + k, k):
                pages += [u["id"] for u in api.users(sortBy="username", limit=k, offset=offset, **scope)]
            assert pages == listed, f"pages of {k} do not make up the list {scope}"
    whole = listed
    for offset in (len(whole), len(whole) + 5):
        assert api.users(sortBy="username", offset=offset) == [], f"offset {offset} past the end is not []"
    assert len(api.users(limit=500)) == len(whole)
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert api.call("admin", "GET", "/api/v1/users", params=params).status_code == 400, params
    # A limit or an offset given twice: 400, or the server acts on one of the values, one within the bounds.
    for limits in ((1, 501), (501, 1)):
        answer = api.call("admin", "GET", "/api/v1/users", params=[("limit", n) for n in limits])
        shown = len(answer.json()) if answer.status_code == 200 else None
        assert answer.status_code == 400 or (answer.status_code == 200 and shown is not None and shown <= 1), (
            f"limit={limits[0]}&limit={limits[1]} got {answer.status_code} with {shown} users"
        )
    for offsets in ((0, -1), (-1, 0)):
        answer = api.call(
            "admin", "GET", "/api/v1/users", params=[("sortBy", "username"), *(("offset", n) for n in offsets)]
        )
        shown = [u["id"] for u in answer.json()] if answer.status_code == 200 else None
        assert answer.status_code == 400 or shown == whole, (
            f"offset={offsets[0]}&offset={offsets[1]} got {answer.status_code}, not 400 or the page at offset 0"
        )
    # The default limit is 500: a tenant with more than 100 users (the peer's, so that the other probes
    # keep lists of a few dozen) lists them all without a limit.
    tag = f"q{uuid.uuid4().hex[:8]}"
    crowd(api, tag, 101)
    assert len(api.users("peer", filterBy=f"username=@{tag}")) == 101, "without limit, the list stops short of 500"


@probe("LIST-7")
def list_count_matches_the_list(api: Api) -> None:
    tag = f"c{uuid.uuid4().hex[:8]}"
    made = population(api, tag)
    scope = f"username=@{tag}"  # scoped to the probe's own users, as on a shared target
    pivot = next(u for u in api.users(filterBy=scope) if u["id"] == made[2]["id"])
    for params in (
        {"filterBy": f"{scope},lastLogin>=2000-01-01"},  # first, while the population's login is fresh
        {"filterBy": scope},
        {"filterBy": scope, "search": "ALPHA"},
        {"filterBy": f"{scope},username=@a"},
        {"filterBy": "username=@a", "search": tag},
        {"filterBy": f"{scope},creationTime>={pivot['createdAt']}"},
        {"filterBy": f"{scope},lastUpdated<={pivot['updatedAt']}"},
    ):
        assert api.count(**params) == len(api.users(**params)), params
    # At volume: the count of PROBE_WINDOW + 5 users.
    tag = f"k{uuid.uuid4().hex[:8]}"
    crowd(api, tag, PROBE_WINDOW + 5)
    count = api.count("peer", filterBy=f"username=@{tag}")
    listed = len(api.users("peer", filterBy=f"username=@{tag}", limit=500))
    assert count == listed == PROBE_WINDOW + 5, f"{PROBE_WINDOW + 5} users: count {count}, list {listed}"


@probe("LIST-8")
def list_accepts_the_deprecated_filter(api: Api) -> None:
    assert api.call("admin", "GET", "/api/v1/users", params={"filter": "anything"}).status_code == 200


# ------------------------------------------------------------------------------------------- TEN


TENANT_STATUSES = ("Creating", "Failed", "Updating", "Deleted", "Deleting", "Ready")


def is_uuid(text: Any) -> bool:
    try:
        return isinstance(text, str) and str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def tenant_list(api: Api, *, deleted: bool = False) -> list[dict[str, Any]]:
    """GET /api/v1/tenants (?deleted=true); [] when the operator is refused it, which is AUTH-2's to judge."""
    answer = api.call("operator", "GET", "/api/v1/tenants", params={"deleted": "true"} if deleted else {})
    return answer.json() if answer.status_code == 200 else []


@probe("TEN-1")
def ten_create_answers_the_tenant(api: Api) -> None:
    issued = {t["id"] for t in tenant_list(api) + tenant_list(api, deleted=True)}
    # The newest tenant, hard-deleted: the next id a sequence would hand out again if it were max(id) + 1.
    gone = api.create_tenant().json()["tenant"]
    api.call("operator", "DELETE", f"/api/v1/tenants/{gone['id']}", params={"isHardDelete": "true"})
    issued.add(gone["id"])
    for sent, expected in (("trial", "trial"), ("normal", "normal"), ("", "normal"), (None, "normal")):
        name = f"Probe-{uuid.uuid4().hex[:10]}"  # capitals: the name comes back as sent
        answer = api.create_tenant(name=name, **({} if sent is None else {"contractType": sent}))
        assert answer.status_code == 201, f"{answer.status_code}: {answer.text}"
        tenant = answer.json()["tenant"]
        assert tenant["name"] == name, f"name {name!r} came back {tenant['name']!r}"
        assert tenant["contractType"] == expected, f"contractType {sent!r} came back {tenant['contractType']!r}"
        assert tenant["status"] in TENANT_STATUSES, f"status {tenant['status']!r}"
        assert is_uuid(tenant["uuid"]), f"uuid {tenant['uuid']!r} is not a UUID"
        assert isinstance(tenant["id"], int) and 0 <= tenant["id"] < 2**31, tenant["id"]
        assert tenant["id"] not in issued, f"id {tenant['id']} was issued before"
        issued.add(tenant["id"])


@probe("TEN-1a")
def ten_role_may_be_null(api: Api) -> None:
    answer = api.create_tenant(role=None)
    assert 200 <= answer.status_code < 300, f"role null got {answer.status_code}"  # the exact 201 is TEN-1's


@probe("TEN-2")
def ten_names_and_emails_are_checked(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    for name in ("-lead", "trail-", f"{tag}-", "a", "under_score", "sp ace", f"{tag}_x"):
        assert api.create_tenant(name=name).status_code == 400, name
    for email in ("owner@nowhere", "owner", "owner@host.c", "o wner@host.co", "owner@@host.co"):
        assert api.create_tenant(email=email).status_code == 400, email
    for name in (f"{tag}-a-b", f"X{tag}9"):  # the other way: names that keep to the pattern are taken
        answer = api.create_tenant(name=name, email="o.w+n_er@host.example.co")
        assert 200 <= answer.status_code < 300, f"{name} got {answer.status_code}"  # the exact 201 is TEN-1's
    first = api.create_tenant().json()["tenant"]
    assert api.create_tenant(name=first["name"]).status_code == 409


def keys_of(value: Any) -> set[str]:
    """Every key of every object inside a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_of(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(v) for v in value))
    return set()


@probe("TEN-3")
def ten_write_only_fields_never_come_back(api: Api) -> None:
    # Secret values with no character a URL would escape: found wherever they are put (a field, a URL's userinfo).
    secrets = ("store-user-7f3a", "store-secret-7f3a", "reader-secret-7f3a", "admin-secret-7f3a")
    store = {
        "read": {"url": "http://m.example/r", "auth": {"basic": {"username": "reader", "password": secrets[2]}}},
        "write": {"url": "http://m.example/w", "auth": {"basic": {"username": secrets[0], "password": secrets[1]}}},
    }
    answer = api.create_tenant(metricStore=store, password=secrets[3])
    tenant = answer.json()["tenant"]
    by_id = f"/api/v1/tenants/{tenant['id']}"

    def representations() -> list[Any]:
        bodies = [api.call("operator", "GET", by_id).json()]
        return bodies + tenant_list(api) + tenant_list(api, deleted=True)

    bodies = [answer.json(), *representations()]
    api.call("operator", "DELETE", by_id)  # and once more as a soft-deleted tenant
    for body in bodies + representations():
        text = json.dumps(body)
        leaked = [s for s in secrets if s in text] + sorted(k for k in keys_of(body) if SECRET_KEY.search(k))
        assert not leaked, f"a tenant representation carries {leaked}: {text[:300]}"


@probe("TEN-4")
def ten_get_shows_the_created_tenant(api: Api) -> None:
    name = f"Probe-{uuid.uuid4().hex[:10]}"
    created = api.create_tenant(name=name, contractType="trial").json()["tenant"]
    answer = api.call("operator", "GET", f"/api/v1/tenants/{created['id']}")
    assert answer.status_code == 200, f"GET of a created tenant got {answer.status_code}"
    got = answer.json()
    shown = (got["id"], got["name"], got["contractType"], got["uuid"])
    assert shown == (created["id"], name, "trial", created["uuid"]), f"GET shows {shown}"
    assert api.call("operator", "GET", "/api/v1/tenants/2147483000").status_code == 404


@probe("TEN-5")
def ten_soft_delete_keeps_a_deleted_record(api: Api) -> None:
    tenant = api.create_tenant().json()["tenant"]
    answer = api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}")
    assert answer.status_code == 200, f"soft delete got {answer.status_code}"
    assert answer.json() == {"uid": tenant["uuid"]}, f"soft delete answered {answer.json()}, uuid {tenant['uuid']}"
    live = {t["id"] for t in tenant_list(api)}
    assert tenant["id"] not in live, "a soft-deleted tenant is still in GET /api/v1/tenants"
    for when in ("", f" {AGED:g} s later"):  # over time: the deleted record stays
        if when:
            api.age(AGED)
        listed = api.call("operator", "GET", "/api/v1/tenants", params={"deleted": "true"})
        assert listed.status_code == 200, f"GET /api/v1/tenants?deleted=true got {listed.status_code}{when}"
        deleted = {t["id"]: t for t in listed.json()}
        assert tenant["id"] in deleted, f"a soft-deleted tenant is missing from ?deleted=true{when}"
        assert deleted[tenant["id"]]["status"] in ("Deleting", "Deleted"), deleted[tenant["id"]]["status"] + when
        again = api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}")
        assert again.status_code == 200, f"GET of a soft-deleted tenant got {again.status_code}{when}"
        assert again.json()["status"] in ("Deleting", "Deleted"), again.json()["status"] + when


@probe("TEN-6")
def ten_hard_delete_removes_the_tenant(api: Api) -> None:
    tenant = api.create_tenant().json()["tenant"]
    answer = api.call("operator", "DELETE", f"/api/v1/tenants/{tenant['id']}", params={"isHardDelete": "true"})
    assert answer.status_code == 200, f"hard delete got {answer.status_code}"
    assert answer.json() == {"uid": tenant["uuid"]}, f"hard delete answered {answer.json()}, uuid {tenant['uuid']}"
    assert api.call("operator", "GET", f"/api/v1/tenants/{tenant['id']}").status_code == 404
    for deleted in (False, True):
        listed = {t["id"] for t in tenant_list(api, deleted=deleted)}
        assert tenant["id"] not in listed, f"a hard-deleted tenant is listed (deleted={deleted})"


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
    token = api.user_token(user["username"], user["tempPassword"])
    before = api.call("admin", "GET", f"/api/v1/users/{user['id']}").json()
    for method, suffix in (("GET", ""), ("POST", "/logout"), ("POST", "/password"), ("DELETE", "")):
        status = api.call("peer", method, f"/api/v1/users/{user['id']}{suffix}").status_code
        assert status == 404, f"peer {method} {suffix or '/'} got {status}"
    # ... and changed nothing: the user is there, not updated, its token live, its password the same.
    after = api.call("admin", "GET", f"/api/v1/users/{user['id']}")
    assert after.status_code == 200, f"the user is gone after the peer's calls ({after.status_code})"
    assert after.json()["updatedAt"] == before["updatedAt"], "the peer's calls updated the user"
    assert api.token_is_live(token), "the peer's calls revoked the user's token"
    assert api.login(user["username"], user["tempPassword"]).status_code == 200
    assert user["id"] not in {u["id"] for u in api.users("peer")}
    assert api.users("peer", search=tag) == [], "the peer's search finds the user"
    assert api.count("peer", filterBy=f"username=@{tag}") == 0, "the peer's count counts the user"
    assert api.count("peer", filterBy=f"username=@{tag}", search=tag) == 0, "the peer's count finds the user"
    # Tenants side by side: one new email in both tenants is two users (or the second create gets 409); a
    # password grant and a password reset of the one leave the other as it was. (All its fields but createdAt,
    # whose every read is USR-4's to judge.)
    email = f"l{uuid.uuid4().hex[:8]}-twin@example.com"
    mine = api.create_user(email)
    answer = api.call("peer", "POST", "/api/v1/users", json={"email": email})
    if answer.status_code == 409:
        return
    assert 200 <= answer.status_code < 300, f"the same email in the peer's tenant got {answer.status_code}"
    theirs = answer.json()

    def look_alike() -> dict[str, Any]:
        body = api.call("peer", "GET", f"/api/v1/users/{theirs['id']}").json()
        return {key: value for key, value in body.items() if key != "createdAt"}

    before = look_alike()
    api.user_token(mine["username"], mine["tempPassword"])
    assert look_alike() == before, f"a password grant of {email} in tenant one changed its look-alike in tenant two"
    api.call("admin", "POST", f"/api/v1/users/{mine['id']}/password")  # its status is USR-8's to judge
    assert look_alike() == before, f"a password reset of {email} in tenant one changed its look-alike in tenant two"
    assert api.login(email, theirs["tempPassword"]).status_code == 200, (
        f"after a password reset of {email} in tenant one, its look-alike's password no longer logs in"
    )
