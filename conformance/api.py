"""HTTP to the target: tokens per role (renewed before they expire), evidence for failures, and the
ledger of everything this run created, so that cleanup deletes exactly that and nothing else."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from conformance.redact import Redactor, curl
from conformance.results import operation_of
from conformance.target import ConfigError, RoleCredentials, Target
from strategies.pagination import MAX_LIMIT

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RENEW_MARGIN = 0.2  # renew a token when less than this share of its lifetime is left


class ContractViolation(AssertionError):
    """A contract rule does not hold; the message names the rule and carries redacted evidence."""

    def __init__(self, rules: list[str] | str, message: str) -> None:
        self.rules = [rules] if isinstance(rules, str) else list(rules)
        super().__init__(f"[{', '.join(self.rules)}] {message}")


def instant(text: Any, what: str = "date-time", rule_id: str = "USR-4") -> datetime:
    """An ISO 8601 date-time as an aware datetime (naive ones read as UTC); a value that is not one
    is a violation of `rule_id`."""
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ContractViolation(rule_id, f"{what} {text!r} is not an ISO 8601 date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def jwt_claims(token: str) -> dict[str, Any]:
    """The unverified payload of a JWT, or {} when the token is not one."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError, UnicodeDecodeError):
        return {}


class Tokens:
    """Bearer tokens per role from POST /api/v1/token (or fixed tokens), renewed before `exp`."""

    def __init__(self, http: httpx.Client, roles: dict[str, RoleCredentials], redact: Redactor) -> None:
        self.http = http
        self.roles = roles
        self.redact = redact
        self._cache: dict[str, tuple[str, float, float]] = {}
        self._lock = threading.Lock()
        self.fetching = False  # True while a role's own token is fetched (not a request a test makes)

    def grant(self, body: dict[str, Any]) -> httpx.Response:
        """POST /api/v1/token as given; any token in the answer is registered for redaction."""
        answer = self.http.post("/api/v1/token", json=body)
        with contextlib.suppress(ValueError, AttributeError):
            self.redact.add(answer.json().get("accessToken"))
        return answer

    def _fetch(self, creds: RoleCredentials) -> tuple[str, float, float]:
        if creds.token:
            exp = float(jwt_claims(creds.token).get("exp", time.time() + 10**9))
            return creds.token, time.time(), exp
        try:
            self.fetching = True
            answer = self.grant(
                {"grantType": "client_credentials", "clientID": creds.client_id, "clientSecret": creds.client_secret}
            )
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot get a token for the {creds.role} role: {type(exc).__name__}: {exc}") from None
        finally:
            self.fetching = False
        if answer.status_code in (401, 403):
            raise ConfigError(
                f"the target refused the {creds.role} credentials ({answer.status_code} from POST /api/v1/token): check client_id and client_secret"
            )
        if answer.status_code != 200:
            raise ConfigError(
                f"POST /api/v1/token answered {answer.status_code} for the {creds.role} role; is this the Run:ai API?"
            )
        try:
            data = answer.json()
            token = data["accessToken"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                "POST /api/v1/token did not answer {accessToken, expiresIn}; is this the Run:ai API?"
            ) from None
        now = time.time()
        exp = float(jwt_claims(token).get("exp") or now + float(data.get("expiresIn") or 300))
        return token, now, exp

    def token(self, role: str) -> str:
        if role not in self.roles:
            pytest.skip(f"the credentials have no {role} role")
        with self._lock:
            cached = self._cache.get(role)
            now = time.time()
            if cached is None or (cached[2] - now) < RENEW_MARGIN * (cached[2] - cached[1]):
                cached = self._fetch(self.roles[role])
                self._cache[role] = cached
            return cached[0]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def user_token(self, username: str, password: str) -> httpx.Response:
        """A password grant for a user (the suite registers the password for redaction)."""
        self.redact.add(password)
        return self.grant({"grantType": "password", "username": username, "password": password})


@dataclass
class Ledger:
    """What this run created on the target: the only things it may delete, reset or log out."""

    run_tag: str
    users: dict[str, str] = field(default_factory=dict)  # id -> role that created it
    tenants: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_user(self, user_id: str, role: str) -> None:
        with self._lock:
            self.users[user_id] = role

    def add_tenant(self, tenant_id: int) -> None:
        with self._lock:
            self.tenants.add(tenant_id)

    def owns_user(self, user_id: str) -> bool:
        return user_id in self.users

    def owns_tenant(self, tenant_id: int) -> bool:
        return tenant_id in self.tenants

    def tagged(self, name: str) -> str:
        """A name that carries the run tag (emails get it on the local part)."""
        return f"{self.run_tag}-{name}"

    def nonexistent_user_id(self) -> str:
        """An id no user can have: it carries the run tag, which no real id does."""
        return f"{self.run_tag}-missing-{uuid.uuid4().hex[:8]}"


class Api:
    """Calls to the target as a role; evidence of an exchange for failure messages."""

    def __init__(self, target: Target, http: httpx.Client, tokens: Tokens, redact: Redactor, ledger: Ledger) -> None:
        self.target = target
        self.http = http
        self.tokens = tokens
        self.redact = redact
        self.ledger = ledger
        self.exercised: set[str] = set()  # operations the current test sent requests to (for the reports)
        self.last_operation: list[str] = []  # the operation of the latest request, if any

    @classmethod
    def connect(cls, target: Target, tag: str | None = None) -> Api:
        """The suite's client for `target`: its HTTP pool, role tokens, a redactor that knows the
        target's secrets and a ledger of what it creates under `tag` (the run tag unless given), with
        the request hook the reports read. The caller closes `api.http`."""
        redact = Redactor(target.secrets)
        http = httpx.Client(base_url=target.url, timeout=30.0, follow_redirects=False)
        api = cls(target, http, Tokens(http, target.roles, redact), redact, Ledger(tag or target.run_tag))
        http.event_hooks["request"] = [api.note_request]
        return api

    def note_request(self, request: httpx.Request) -> None:
        """httpx request hook: remember the operation, except the suite's own role-token fetches."""
        if not self.tokens.fetching:
            op = operation_of(request.method, str(request.url))
            if op is not None:
                self.exercised.add(op)
                self.last_operation = [op]

    def call(self, role: str | None, method: str, path: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        """One request, as `role` (or with a given token, or with none when both are None)."""
        if self.target.read_only and method.upper() in WRITE_METHODS:
            pytest.skip("read-only run: no POST or DELETE is sent")
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif role is not None:
            headers.update(self.tokens.headers(role))
        return self.http.request(method, path, headers=headers, **kw)

    def evidence(self, answer: httpx.Response) -> str:
        """The request, the response and a reproducing curl line, with secrets masked."""
        request = answer.request
        body = request.content.decode("utf-8", "replace") if request.content else ""
        return "\n".join(
            [
                f"request:  {request.method} {self.redact(str(request.url))}",
                *([f"  body: {self.redact(body[:2000])}"] if body else []),
                f"response: {answer.status_code} {self.redact(answer.text[:2000])}",
                f"reproduce: {curl(request.method, str(request.url), request.headers, request.content, self.redact)}",
            ]
        )

    def expect(self, answer: httpx.Response, rule: str, statuses: int | tuple[int, ...], what: str) -> httpx.Response:
        """Fail with rule and evidence unless the answer has one of the statuses."""
        wanted = (statuses,) if isinstance(statuses, int) else statuses
        if answer.status_code not in wanted:
            raise ContractViolation(
                rule,
                f"{what}: expected {' or '.join(map(str, wanted))}, got {answer.status_code}\n{self.evidence(answer)}",
            )
        return answer

    # -------------------------------------------------------------- creating (and remembering) resources

    def create_user(self, name: str | None = None, *, role: str = "admin", rule: str = "USR-1") -> dict[str, Any]:
        """A tagged user created as `role`; its temporary password is registered for redaction."""
        email = f"{self.ledger.tagged(name or uuid.uuid4().hex[:8])}@example.com"
        answer = self.call(role, "POST", "/api/v1/users", json={"email": email})
        self.remember(answer, "create_user", role)
        self.expect(answer, rule, 201, f"creating user {email}")
        return answer.json()

    def create_tenant(self, *, rule: str = "TEN-1", **fields: Any) -> httpx.Response:
        """A tagged tenant created as operator (the raw answer; its id is remembered when created)."""
        body = {"name": self.ledger.tagged(uuid.uuid4().hex[:8]), "email": "owner@example.com", **fields}
        answer = self.call("operator", "POST", "/api/v1/tenants", json=body)
        self.remember(answer, "create_tenant", "operator")
        return answer

    def remember(self, answer: Any, operation_id: str, role: str) -> None:
        """Put what a create answer (httpx or Schemathesis response) made into the ledger, whatever the test then asserts."""
        if answer.status_code != 201:
            return
        try:
            body = json.loads(answer.content or b"null")
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(body, dict):
            return
        if operation_id == "create_user" and isinstance(body.get("id"), str):
            self.ledger.add_user(body["id"], role)
            self.redact.add(body.get("tempPassword"))
        elif operation_id == "create_tenant" and isinstance(body.get("tenant"), dict):
            tenant_id = body["tenant"].get("id")
            if isinstance(tenant_id, int):
                self.ledger.add_tenant(tenant_id)

    # -------------------------------------------------------------- cleanup

    def cleanup(self) -> list[str]:
        """Delete everything in the ledger, then anything else carrying this run's tag. Returns problems."""
        problems: list[str] = []
        for user_id, role in list(self.ledger.users.items()):
            problems += self._delete_user(user_id, role)
        for tenant_id in sorted(self.ledger.tenants):
            problems += self._delete_tenant(tenant_id)
        problems += sweep(self, self.ledger.run_tag)
        return problems

    def _delete_user(self, user_id: str, role: str) -> list[str]:
        try:
            answer = self.http.delete(f"/api/v1/users/{user_id}", headers=self.tokens.headers(role))
        except (httpx.HTTPError, ConfigError) as exc:
            return [f"user {user_id}: {type(exc).__name__}"]
        if answer.status_code not in (204, 200, 404):
            return [f"user {user_id}: DELETE answered {answer.status_code}"]
        return self._still_there(f"/api/v1/users/{user_id}", role, f"user {user_id}")

    def _delete_tenant(self, tenant_id: int) -> list[str]:
        try:
            answer = self.http.delete(
                f"/api/v1/tenants/{tenant_id}", params={"isHardDelete": "true"}, headers=self.tokens.headers("operator")
            )
        except (httpx.HTTPError, ConfigError) as exc:
            return [f"tenant {tenant_id}: {type(exc).__name__}"]
        if answer.status_code not in (200, 204, 404):
            return [f"tenant {tenant_id}: DELETE answered {answer.status_code}"]
        return self._still_there(f"/api/v1/tenants/{tenant_id}", "operator", f"tenant {tenant_id}")

    def _still_there(self, path: str, role: str, what: str) -> list[str]:
        """A delete the target acknowledged but did not do is reported, not trusted."""
        try:
            answer = self.http.get(path, headers=self.tokens.headers(role))
        except (httpx.HTTPError, ConfigError) as exc:
            return [f"{what}: {type(exc).__name__} while checking the delete"]
        return [] if answer.status_code == 404 else [f"{what}: still there after the target acknowledged its delete"]


def _older_than(resource: dict[str, Any], cutoff: float | None) -> bool:
    if cutoff is None:
        return True
    try:
        created = datetime.fromisoformat(str(resource.get("createdAt")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False  # unknown age: leave it, it may belong to a run in progress
    return created < cutoff


def sweep(api: Api, prefix: str, *, older_than: float | None = None) -> list[str]:
    """Delete every user and tenant whose name starts with `prefix` (a run tag, or the common tag prefix),
    and, with `older_than` (seconds), only those created at least that long ago.

    Only names carrying the tag are touched: the tag is what makes a resource the suite's own."""
    cutoff = None if older_than is None else time.time() - older_than
    problems: list[str] = []
    for role in ("admin", "peer"):
        if not api.target.has_role(role):
            continue
        users: list[Any] = []
        try:
            for offset in range(0, 100 * MAX_LIMIT, MAX_LIMIT):  # every page (a crashed nightly run leaves thousands)
                answer = api.http.get(
                    "/api/v1/users",
                    params={"search": prefix, "sortBy": "username", "limit": MAX_LIMIT, "offset": offset},
                    headers=api.tokens.headers(role),
                )
                page = answer.json() if answer.status_code == 200 else []
                if not isinstance(page, list):
                    break
                users += page
                if len(page) < MAX_LIMIT:
                    break
        except (httpx.HTTPError, ValueError, ConfigError) as exc:
            problems.append(f"listing {role} users: {type(exc).__name__}")
            continue
        for user in users:
            if (
                isinstance(user, dict)
                and str(user.get("username", "")).startswith(prefix)
                and _older_than(user, cutoff)
            ):
                problems += api._delete_user(str(user["id"]), role)
    if api.target.has_role("operator"):
        try:
            answer = api.http.get("/api/v1/tenants", params={"deleted": "true"}, headers=api.tokens.headers("operator"))
            tenants = answer.json() if answer.status_code == 200 else []
        except (httpx.HTTPError, ValueError, ConfigError) as exc:
            return [*problems, f"listing tenants: {type(exc).__name__}"]
        for tenant in tenants if isinstance(tenants, list) else []:
            if (
                isinstance(tenant, dict)
                and str(tenant.get("name", "")).startswith(prefix)
                and isinstance(tenant.get("id"), int)
                and _older_than(tenant, cutoff)
            ):
                problems += api._delete_tenant(tenant["id"])
    return problems
