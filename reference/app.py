"""The reference server's HTTP layer: every operation of specs/runai.json plus the token endpoint.

Order of judgement for an API call: route (404/405) → token (401) → role (403) → request
validation against the merged spec (400) → the operation (404/409/2xx). Every error is an
`Error` body whose `code` is the HTTP status (CONTRACT ERR-1).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import html
import itertools
import json
import re
import secrets
import sqlite3
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..specs import load_spec
from . import tokens
from .faults import EMAIL_SHARDS, RESET_REPEATS_EVERY, Faults
from .store import Conflict, Store, now_iso
from .validation import Invalid, RequestValidator

# The deprecated `filter` parameter is part of the contract (LIST-8); openapi-core warns on every use.
warnings.filterwarnings("ignore", message="filter parameter is deprecated")

FILTER_FIELDS = {
    "username": "username",
    "createdBy": "created_by",
    "lastLogin": "last_login",
    "creationTime": "created_at",
    "lastUpdated": "updated_at",
    "isLocal": "is_local",
}
DATE_FIELDS = {"lastLogin", "creationTime", "lastUpdated"}
OPERATORS = ("==", "<=", ">=", "=@")
SORT_FIELDS = {
    "username": "username",
    "createdBy": "created_by",
    "lastLogin": "last_login",
    "creationTime": "created_at",
    "lastUpdated": "updated_at",
    "type": "type",
}
TOKEN_ANSWERS = ("reference", "runai")
COUNTER_IDS = uuid.UUID("6f1c2a4e-0b7d-5e43-9a55-2f3c8d1e7b90")  # the namespace of race-create-same-id's ids
LOG_NOTE = "reference.log"  # scope key of the dict where handlers leave what the access log adds
WRITTEN_PATH = "reference.written_path"  # scope key of a path as written, when it was routed by another spelling
HEALTH_CHECK = "gateway-health-check"  # who a HEAD without a token is under wire-head-skips-auth
NO_GRANT = {"grantType": None, "client": None, "known": False, "secret_ok": False}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    identity: str
    role: str  # operator | admin | viewer | user
    tenant_id: int | None
    user_id: str | None = None


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    handler: Callable[..., Awaitable[Response]]
    access: str  # tenants | users-read | users-write | me


def error(status: int, message: str, faults: Faults | None = None) -> Response:
    if status == 401 and faults is not None and faults.on("err-401-empty-body"):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    code = 400 if status == 409 and faults is not None and faults.on("err-conflict-code-400") else status
    return JSONResponse({"code": code, "message": message}, status_code=status)


def email_shard(email: str) -> int:
    """Which shard of usr-email-shard-rejects' validator an email's domain goes to (stable across runs)."""
    domain = email.rpartition("@")[2].casefold()
    return int.from_bytes(hashlib.sha256(domain.encode()).digest()[:4], "big") % EMAIL_SHARDS


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 date or date-time as an aware instant (naive means UTC), or None."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ReferenceApp:
    """The state and handlers of one server instance."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        *,
        token_ttl: int = 3600,
        access_log: Callable[[str], None] | None = None,
        token_bytes: int | None = None,
        token_answer: str = "reference",
        issued: list[str] | None = None,
        lapse: float = 3.0,
        window: int = 100,
        clock: Callable[[], float] = time.time,
    ):
        if token_answer not in TOKEN_ANSWERS:
            raise ValueError(f"token_answer must be one of {', '.join(TOKEN_ANSWERS)}, not {token_answer!r}")
        if not 0 < lapse < float("inf"):
            raise ValueError(f"lapse must be a number of seconds > 0, not {lapse!r}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a whole number >= 1, not {window!r}")
        self.store = store
        self.faults = faults
        self.token_ttl = token_ttl
        self.access_log = access_log
        self.token_bytes = token_bytes
        self.token_answer = token_answer
        self.issued = issued  # when given, every token signed is appended (self-tests look for leaks)
        self.lapse = lapse  # seconds after which the time-* faults lapse
        # What every lapse of a time-* fault is measured with: seconds since the epoch, which a self-test may
        # move forward (server.Clock). Token iat/exp and stored timestamps keep real time.
        self.clock = clock
        self.window = window  # the result size at which the vol-* faults begin
        self.deleted_user_ids: set[str] = set()  # for usr-delete-twice-204
        # What a few planted faults remember beside the store: the rows of deleted users (a soft delete that
        # some queries forget), the id a deletion freed, each user's latest token and the tokens a logout
        # revoked one by one, and the password a /me/password replaced.
        self.deleted_users: dict[str, sqlite3.Row] = {}
        self.freed_user_ids: dict[int, str] = {}
        self.latest_user_tokens: dict[str, str] = {}
        self.revoked_tokens: set[str] = set()
        self.replaced_password_hashes: dict[str, str] = {}
        self.hard_deletion_log: list[dict[str, Any]] = []  # hard-deleted tenants, for ten-hard-deleted-in-deleted-list
        # ... and what the race-* and time-* faults keep in memory: each tenant's id counter, the logins a
        # session cache holds (user id: (lastLogin, clock time)), when each tenant was soft-deleted, when each
        # token's session began (jti: clock time) and when each user was logged out (user id: clock time).
        self.id_counters: dict[int, int] = {}
        self.resets = itertools.count(1)  # every password reset the server answered, for usr-reset-sometimes-repeats
        self.cached_logins: dict[str, tuple[str, float]] = {}
        self.soft_deleted_at: dict[int, float] = {}
        self.sessions_begun: dict[str, float] = {}
        self.logged_out_at: dict[str, float] = {}
        self.assigned_is_local: dict[str, bool] = {}  # wire-owned-fields-assigned: isLocal as a create sent it
        self.spec = self._validation_spec(load_spec())
        self.validator = RequestValidator(self.spec)  # compiled once (reference/validation.py)
        self.operations = self._operations()

    # ------------------------------------------------------------------ setup

    def _validation_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The merged spec as the server validates against it; some faults are deviations from it."""
        spec = copy.deepcopy(spec)
        spec["servers"] = [{"url": "http://reference"}]
        schemas = spec["components"]["schemas"]
        if self.faults.on("usr-email-without-tld"):
            schemas["UserCreationRequest"]["properties"]["email"]["pattern"] = "^[^@\\s]+@[^@\\s]+$"
        if self.faults.on("err-lenient-notify-type"):
            schemas["UserCreationRequest"]["properties"]["notify"].pop("type")
        if self.faults.on("usr-email-255-accepted"):
            schemas["UserCreationRequest"]["properties"]["email"]["maxLength"] = 255
        new_password = schemas["UserChangePasswordRequest"]["properties"]["newPassword"]
        if self.faults.on("usr-me-password-max-256"):
            new_password["maxLength"] = 256
        if self.faults.on("usr-me-password-min-9"):
            new_password["minLength"] = 9
        if self.faults.on("err-enum-unchecked"):
            schemas["TenantCreationRequest"]["properties"]["contractType"].pop("enum")
        if self.faults.on("err-negative-tenant-id-404"):
            spec["components"]["parameters"]["tenantId"]["schema"].pop("minimum")
        if self.faults.on("ten-role-null-rejected"):
            schemas["Roles"]["enum"] = [v for v in schemas["Roles"]["enum"] if v is not None]
        if self.faults.on("list-negative-offset-accepted"):
            spec["components"]["parameters"]["Offset"]["schema"].pop("minimum")
        parameters = spec["components"]["parameters"]
        term = parameters["usersFilterBy"]["schema"]["items"]
        if self.faults.on("list-unknown-field-ignored"):  # any `name op value`; _term skips names it does not know
            term["pattern"] = term["pattern"].replace(f"({'|'.join(FILTER_FIELDS)})", "[A-Za-z]+")
        if self.faults.on("list-unknown-operator-lenient"):
            term["pattern"] = term["pattern"].replace("(==|<=|>=|=@)", "(==|<=|>=|=@|<|>)")
        if self.faults.on("list-empty-value-ignored"):
            term["pattern"] = term["pattern"].replace(".+$", ".*$")
        sort_fields = schemas["UsersFilterSortFields"]["enum"]
        if self.faults.on("list-sort-unknown-ignored"):  # the enum grew the User properties; the sorter knows none
            sort_fields += [p for p in schemas["User"]["properties"] if p not in sort_fields]
        if self.faults.on("list-sort-type-400"):
            sort_fields.remove("type")
        if self.faults.on("list-limit-501-accepted"):
            parameters["limit"]["schema"]["maximum"] = 501
        if self.faults.on("list-default-limit-100"):
            parameters["limit"]["schema"]["default"] = 100
        if self.faults.on("list-sort-default-desc"):
            parameters["SortOrder"]["schema"]["default"] = "desc"
        tenant = schemas["TenantCreationRequest"]["properties"]
        if self.faults.on("ten-name-trailing-hyphen-accepted"):
            tenant["name"]["pattern"] = tenant["name"]["pattern"].rstrip("$")
        if self.faults.on("ten-email-unchecked"):
            tenant["email"].pop("pattern")
        return spec

    def _operations(self) -> dict[tuple[str, str], Operation]:
        handlers = {
            "get_users": ("users-read", self.get_users),
            "create_user": ("users-write", self.create_user),
            "count_users": ("users-read", self.count_users),
            "logout_user": ("users-write", self.logout_user),
            "reset_user_password": ("users-write", self.reset_user_password),
            "get_user_by_id": ("users-read", self.get_user_by_id),
            "delete_user_by_id": ("users-write", self.delete_user_by_id),
            "change_user_password": ("me", self.change_user_password),
            "get_tenants": ("tenants", self.get_tenants),
            "create_tenant": ("tenants", self.create_tenant),
            "get_tenant_by_id": ("tenants", self.get_tenant_by_id),
            "delete_tenant_by_id": ("tenants", self.delete_tenant_by_id),
        }
        out = {}
        for template, item in self.spec["paths"].items():
            for method, op in item.items():
                access, handler = handlers[op["operationId"]]
                out[(template, method.upper())] = Operation(
                    op["operationId"], method.upper(), template, handler, access
                )
        return out

    def asgi(self) -> Starlette:
        routes = [Route("/api/v1/token", self.token, methods=["POST"])]
        templates = sorted({t for t, _ in self.operations}, key=lambda t: ("{" in t, t))
        for template in templates:
            methods = [m for t, m in self.operations if t == template]
            routes.append(Route(template, self._dispatcher(template), methods=methods))

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if exc.status_code == 405 and self.faults.on("err-undeclared-method-500"):
                return error(500, "internal error: no handler for this method")
            response = error(exc.status_code, exc.detail)
            for key, value in (exc.headers or {}).items():
                response.headers[key] = value
            return response

        app: Any = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
        if self.faults.on("wire-path-spelling-skips-role-check"):
            app = _routed_by_canonical_spelling(app)
        if self.faults.on("wire-errors-follow-accept"):
            app = _errors_as_html_when_preferred(app)
        if self.access_log is None:
            return app
        log = self.access_log

        async def logged(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status = {"code": 0}
            note: dict[str, Any] = {}
            scope[LOG_NOTE] = note
            body = b""
            if scope["method"] not in ("GET", "HEAD"):
                body, receive = await _buffered(receive)

            async def capture(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            await app(scope, receive, capture)
            log(json.dumps(_log_entry(scope, status["code"], note, body)))

        return logged  # type: ignore[return-value]

    def _dispatcher(self, template: str) -> Callable[[Request], Awaitable[Response]]:
        async def dispatch(request: Request) -> Response:
            operation = self.operations[(template, request.method if request.method != "HEAD" else "GET")]
            note = request.scope.get(LOG_NOTE)
            principal: Principal | None = None
            try:
                if (
                    request.method == "HEAD"
                    and "authorization" not in request.headers
                    and self.faults.on("wire-head-skips-auth")
                ):  # the gateway lets credential-less HEADs through as its health check, a viewer of tenant 1
                    principal = Principal(HEALTH_CHECK, "viewer", 1)
                else:
                    principal = self.authenticate(request)
                if note is not None:
                    note["principal"] = principal.identity
                try:
                    if WRITTEN_PATH in request.scope:  # (wire-path-spelling-skips-role-check) no rule names it
                        self._in_scope(principal, operation)
                    else:
                        self.authorize(principal, operation, request.query_params.get("deleted"))
                except ApiError:
                    user_id = request.path_params.get("userId")
                    if (
                        user_id
                        and principal.role == "viewer"
                        and self.faults.on("auth-viewer-403-touches-user")
                        and self.store.user(user_id, principal.tenant_id) is not None
                    ):
                        self.store.stamp_user(user_id, "updated_at", now_iso())  # an audit write, first
                    raise
                try:
                    params, body = await self.validate(request, operation)
                except ApiError:
                    if (
                        operation.operation_id == "change_user_password"
                        and principal.user_id is not None
                        and self.faults.on("err-me-password-400-touches-user")
                    ):
                        self.store.stamp_user(principal.user_id, "updated_at", now_iso())
                    if operation.operation_id == "create_user" and self.faults.on("err-rejected-create-still-inserts"):
                        await self._insert_before_validating(principal, request)
                    if operation.operation_id == "create_tenant" and self.faults.on(
                        "ten-rejected-create-still-inserts"
                    ):
                        await self._insert_tenant_before_validating(request)
                    raise
                response = await operation.handler(principal, params, body, request.path_params)
            except ApiError as exc:
                if principal is None and operation.operation_id == "count_users" and self.faults.on("auth-count-open"):
                    # meant for a public status page: without a valid token it counts every tenant's users
                    return JSONResponse({"count": len(self.store.read("SELECT id FROM users"))})
                return error(exc.status, exc.message, self.faults)
            if note is not None and response.status_code == 201:
                created = json.loads(bytes(response.body))
                if operation.operation_id == "create_user":
                    note["created"] = created.get("id")
                elif operation.operation_id == "create_tenant":
                    note["created"] = (created.get("tenant") or {}).get("id")
            return response

        return dispatch

    # ------------------------------------------------------------------ auth

    def authenticate(self, request: Request) -> Principal:
        if "authorization" not in request.headers and self.faults.on("auth-no-token-403"):
            raise ApiError(403, "access denied")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing bearer token")
        try:
            payload = tokens.decode(
                token.strip(),
                self.store.signing_key,
                now=time.time(),
                allow_alg_none=self.faults.on("auth-accepts-alg-none"),
                check_exp=not self.faults.on("auth-accepts-expired"),
                check_signature=not self.faults.on("auth-signature-unchecked"),
                require_exp=not self.faults.on("auth-token-without-exp"),
            )
        except tokens.MalformedToken as exc:
            raise ApiError(400 if self.faults.on("auth-malformed-token-400") else 401, str(exc)) from None
        except tokens.InvalidToken as exc:
            raise ApiError(401, str(exc)) from None
        if self.faults.on("time-token-dies-early"):  # the session behind a token outlives it by `lapse` only
            iat = payload.get("iat")
            begun = self.sessions_begun.get(str(payload.get("jti")), iat)  # a token of no session: its iat
            if not isinstance(begun, (int, float)) or self.clock() - begun >= self.lapse:
                raise ApiError(401, "the token's session has ended")
        kind = payload.get("kind")
        if kind == "client":
            client = self.store.client(str(payload.get("sub")))
            if client is None:
                raise ApiError(401, "unknown client")
            return Principal(client.client_id, client.role, client.tenant_id)
        if kind == "user":
            user = self.store.user(str(payload.get("uid")), None)
            if user is None:
                raise ApiError(401, "the user no longer exists")
            revoked = float(payload.get("iat", 0)) <= user["tokens_valid_after"]
            if revoked and self.faults.on("time-revocation-lapses"):  # a revocation list whose entries expire
                since = self.logged_out_at.get(user["id"], user["tokens_valid_after"])
                revoked = self.clock() - since < self.lapse
            revoked = revoked or token.strip() in self.revoked_tokens
            if revoked and not self.faults.on("auth-logout-keeps-tokens"):
                raise ApiError(401, "the token was revoked by a logout")
            return Principal(user["username"], "user", user["tenant_id"], user["id"])
        raise ApiError(401, "malformed token")

    def authorize(self, principal: Principal, operation: Operation, deleted: str | None = None) -> None:
        role = principal.role
        if operation.access == "tenants":
            allowed = role == "operator" or (
                self.faults.on("auth-admin-sees-tenants") and role == "admin" and operation.method == "GET"
            )
            if operation.operation_id == "get_tenants" and deleted == "true":  # a permission of its own, unmapped
                allowed = allowed and not self.faults.on("auth-operator-no-deleted-list")
        elif operation.access == "users-read":
            allowed = role in ("admin", "viewer")
            if role == "viewer" and operation.operation_id == "get_user_by_id":
                allowed = not self.faults.on("auth-viewer-cannot-read-user")
        elif operation.access == "users-write":
            allowed = role == "admin" or (role == "viewer" and self.faults.on("auth-viewer-can-write"))
        else:  # me
            allowed = role == "user"
        if not allowed:
            raise ApiError(403, f"the {role} role may not call {operation.operation_id}")

    @staticmethod
    def _in_scope(principal: Principal, operation: Operation) -> None:
        """What an operation's code needs of a token when no role check ran: a tenant for the Users API, a
        user for /me (wire-path-spelling-skips-role-check)."""
        if operation.access.startswith("users") and principal.tenant_id is None:
            raise ApiError(403, f"the token names no tenant for {operation.operation_id}")
        if operation.access == "me" and principal.user_id is None:
            raise ApiError(403, f"the token names no user for {operation.operation_id}")

    def sign(self, claims: dict[str, Any]) -> str:
        """A signed token; with `token_bytes`, padded by a random `pad` claim to about that many bytes."""
        token = tokens.encode(claims, self.store.signing_key)
        if self.token_bytes is not None:
            room = (self.token_bytes - len(token)) * 3 // 4 - len(',"pad":""')  # base64 makes 3 bytes 4 chars
            if room > 0:
                token = tokens.encode({**claims, "pad": secrets.token_urlsafe(room)[:room]}, self.store.signing_key)
        if self.issued is not None:
            self.issued.append(token)
        return token

    def issue(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The token answer: ours (accessToken, expiresIn) or Run:ai's documented one (no expiresIn)."""
        now = time.time()
        claims = {**payload, "iat": now, "exp": int(now) + self.token_ttl, "jti": secrets.token_hex(8)}
        if self.faults.on("time-token-dies-early"):  # the session the token speaks for begins now
            self.sessions_begun[claims["jti"]] = self.clock()
        if self.faults.on("auth-token-without-exp"):  # the lifetime is only in expiresIn
            del claims["exp"]
        if self.token_answer == "reference":
            expires_in = self.token_ttl * (1000 if self.faults.on("auth-expires-in-millis") else 1)
            return {"accessToken": self.sign(claims), "expiresIn": expires_in}
        # The idToken has no `kind`, so it is not accepted as an access token.
        id_claims = {k: v for k, v in claims.items() if k != "kind"} | {"typ": "ID", "jti": secrets.token_hex(8)}
        return {
            "accessToken": self.sign(claims),
            "idToken": self.sign(id_claims),
            "refreshToken": secrets.token_urlsafe(48),
            "externalToken": secrets.token_urlsafe(48),
        }

    def note_grant(self, request: Request, grant: Any, who: Any, secret_ok: bool) -> None:
        """What the access log says of a token request instead of its body: never a secret."""
        note = request.scope.get(LOG_NOTE)
        if note is None:
            return
        who = who[:200] if isinstance(who, str) else None
        if who is None:
            known = False
        elif grant == "password":
            known = bool(self.store.read("SELECT 1 FROM users WHERE username = ? LIMIT 1", (who,)))
        else:
            known = self.store.client(who) is not None
        note["grant"] = {
            "grantType": grant[:200] if isinstance(grant, str) else None,
            "client": who,
            "known": known,
            "secret_ok": secret_ok,
        }

    def token_error(self, status: int, message: str, oauth: str) -> Response:
        """An error of the token endpoint: an Error body, or RFC 6749's shape under err-token-errors-oauth-shape."""
        if self.faults.on("err-token-errors-oauth-shape") and not (
            status == 401 and self.faults.on("err-401-empty-body")
        ):
            return JSONResponse({"error": oauth, "error_description": message}, status_code=status)
        return error(status, message, self.faults)

    async def token(self, request: Request) -> Response:
        """POST /api/v1/token: client_credentials, app_token and password grants (CONTRACT AUTH-3)."""
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, RecursionError):
            return self.token_error(400, "the body is not JSON", "invalid_request")
        if not isinstance(body, dict):
            return self.token_error(400, "the body must be a JSON object", "invalid_request")
        strict = self.faults.on("auth-grant-keys-case-sensitive")
        folded = {str(k).lower(): v for k, v in body.items()}
        grant = folded.get("granttype")

        def field(name: str) -> Any:
            return body.get(name) if strict and grant == "app_token" else folded.get(name.lower())

        if grant in ("client_credentials", "app_token"):
            cid, secret = (
                (field("clientID"), field("clientSecret"))
                if grant == "client_credentials"
                else (field("AppId"), field("AppSecret"))
            )
            if grant == "client_credentials" and self.faults.on("auth-client-id-one-spelling"):
                cid = body.get("clientId", "")  # a typed body: one spelling of the key, empty when absent
            if secret is None and grant == "client_credentials" and self.faults.on("err-token-missing-secret-500"):
                self.note_grant(request, grant, cid, False)
                return self.token_error(
                    500, "internal error: 'NoneType' object has no attribute 'encode'", "server_error"
                )
            if not isinstance(cid, str) or not isinstance(secret, str):
                self.note_grant(request, grant, cid, False)
                return self.token_error(
                    400 if not strict else 401, "client id and secret are required", "invalid_request"
                )
            client = self.store.check_client(cid, secret)
            self.note_grant(request, grant, cid, client is not None)
            if client is None:
                if self.faults.on("auth-unknown-client-404") and self.store.client(cid) is None:
                    return self.token_error(404, f"client {cid} not found", "invalid_client")
                return self.token_error(401, "bad client credentials", "invalid_client")
            return JSONResponse(
                self.issue(
                    {
                        "kind": "client",
                        "sub": client.client_id,
                        "preferred_username": client.client_id,
                        "role": client.role,
                        "tid": client.tenant_id,
                    }
                )
            )
        if grant == "password":
            username, password = field("username"), field("password")
            if not isinstance(username, str) or not isinstance(password, str):
                self.note_grant(request, grant, username, False)
                return self.token_error(400, "username and password are required", "invalid_request")
            if self.faults.on("auth-password-grant-plus-as-space"):  # form-decoded once too often
                username = username.replace("+", " ")
            user = self.store.login(username, password)
            if user is None and self.faults.on("usr-me-password-old-still-works"):
                user = self._login_with_replaced_password(username, password)
            self.note_grant(request, grant, username, user is not None)
            if user is None:
                if self.faults.on("usr-failed-grant-sets-last-login"):  # the attempt is recorded before the check
                    for row in self.store.read("SELECT id FROM users WHERE username = ?", (username,)):
                        self.store.record_login(row["id"])
                return self.token_error(401, "bad username or password", "invalid_grant")
            first_only = self.faults.on("usr-last-login-first-only") and user["last_login"] is not None
            if self.faults.on("time-last-login-reverts"):  # kept in the session cache, never written through
                self.cached_logins[user["id"]] = (now_iso(), self.clock())
            elif self.faults.on("iso-lookalike-login-stamps-all"):  # the session writer updates by username
                for row in self.store.read("SELECT id FROM users WHERE username = ?", (user["username"],)):
                    self.store.record_login(row["id"])
            elif not self.faults.on("usr-login-keeps-last-login") and not first_only:
                self.store.record_login(user["id"])
            answer = self.issue(
                {
                    "kind": "user",
                    "sub": user["username"],
                    "preferred_username": user["username"],
                    "email": user["username"],
                    "uid": user["id"],
                    "role": "user",
                    "tid": user["tenant_id"],
                }
            )
            if self.faults.on("auth-logout-revokes-latest-only"):  # one session per user: a new login replaces it
                self.latest_user_tokens[user["id"]] = answer["accessToken"]
            return JSONResponse(answer)
        self.note_grant(request, grant, None, False)
        return self.token_error(
            400, "grantType must be client_credentials, app_token or password", "unsupported_grant_type"
        )

    def _login_with_replaced_password(self, username: str, password: str) -> sqlite3.Row | None:
        """The user whose password before the last /me/password this is (usr-me-password-old-still-works)."""
        for row in self.store.read("SELECT * FROM users WHERE username = ? ORDER BY created_at", (username,)):
            if self.replaced_password_hashes.get(row["id"]) == self.store.hash_password(row["id"], password):
                return row
        return None

    # ------------------------------------------------------------------ validation

    async def validate(self, request: Request, operation: Operation) -> tuple[dict[str, Any], Any]:
        # Empty text is a value for these (no terms, match everything, ignored); openapi-core would reject it.
        empty_ok = {"filterBy", "search", "filter"}
        query = [(k, v) for k, v in request.query_params.multi_items() if not (k in empty_ok and v == "")]
        for name in ("deleted", "isHardDelete"):
            for key, value in query:
                if key == name and value not in ("true", "false"):
                    raise ApiError(400, f"query parameter {name} must be true or false")
        body = await request.body()
        content_type = request.headers.get("content-type", "").lower()
        has_body = "requestBody" in self.spec["paths"][operation.template][operation.method.lower()]
        if (
            has_body
            and content_type.startswith("application/x-www-form-urlencoded")
            and self.faults.on("err-form-body-500")
        ):
            raise ApiError(500, "internal error: 'NoneType' object is not subscriptable")  # read as a form first
        if has_body and content_type.split(";")[0].strip() != "application/json":
            raise ApiError(400, "the request body must be application/json")
        if has_body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "the request body is not UTF-8") from None
        if has_body and operation.operation_id == "create_tenant":
            body = _without_null_metric_store(body)
        lasts: dict[str, Any] = {}  # wire-repeated-json-key-last-wins: the last value of each key given twice
        if has_body and operation.operation_id == "create_user" and self.faults.on("wire-repeated-json-key-last-wins"):
            body, lasts = _first_occurrences(body)  # the validator's parser keeps the first; json.loads the last
        if has_body and self.faults.on("err-missing-field-422"):
            missing = self._missing_required_fields(operation, body)
            if missing:  # the web framework's default answer for a missing field
                raise ApiError(422, f"field required: {', '.join(missing)}")
        headers = dict(request.headers)
        if request.method == "HEAD" and self.faults.on("wire-head-skips-auth"):  # the gateway's own credential
            headers.setdefault("authorization", f"Bearer {HEALTH_CHECK}")
        try:
            found, in_path, parsed = self.validator.validate(
                operation.template,
                operation.method,
                query,
                dict(request.path_params),
                headers,
                body if has_body else None,
            )
        except Invalid as exc:
            raise ApiError(400, str(exc)) from None
        params = {**found, **in_path}
        for key in ("search", "filter"):
            if key not in params and request.query_params.get(key) == "":
                params[key] = ""
        if "filterBy" not in params and request.query_params.get("filterBy") == "":
            params["filterBy"] = []  # sent, with no terms
        if self.faults.on("wire-repeated-param-last-wins"):  # the handler reads Starlette's query_params: the last
            for name in ("limit", "offset"):
                given = request.query_params.getlist(name)
                if len(given) > 1 and name in params and re.fullmatch(r"-?\d+", given[-1]):
                    params[name] = int(given[-1])
        if lasts:
            return params, {**parsed, **lasts}
        return params, parsed

    def _body_schema(self, operation: Operation) -> dict[str, Any]:
        op = self.spec["paths"][operation.template][operation.method.lower()]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return self.spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]

    def _missing_required_fields(self, operation: Operation, body: bytes) -> list[str]:
        """The required fields a JSON object body lacks (none when the body is no JSON object)."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return []
        if not isinstance(data, dict):
            return []
        return [name for name in self._body_schema(operation).get("required", []) if name not in data]

    async def _insert_before_validating(self, principal: Principal, request: Request) -> None:
        """err-rejected-create-still-inserts: the user row is written as soon as the email is known good, and
        the rest of the body is validated afterwards."""
        try:
            data = json.loads(await request.body())
        except (ValueError, RecursionError):
            return
        rule = self.spec["components"]["schemas"]["UserCreationRequest"]["properties"]["email"]
        email = data.get("email") if isinstance(data, dict) else None
        if principal.tenant_id is None or not isinstance(email, str):
            return
        if not rule["minLength"] <= len(email) <= rule["maxLength"] or not re.match(rule["pattern"], email):
            return
        if not self._same_username(principal.tenant_id, email):
            self.store.create_user(principal.tenant_id, email, principal.identity)

    async def _insert_tenant_before_validating(self, request: Request) -> None:
        """ten-rejected-create-still-inserts: the tenant row is written as soon as its name and email are
        known good (the rest of the body, contractType, role, metricStore, is validated afterwards)."""
        try:
            data = json.loads(await request.body())
        except (ValueError, RecursionError):
            return
        properties = self.spec["components"]["schemas"]["TenantCreationRequest"]["properties"]
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("name", "email")):
            return
        if not all(re.match(properties[k].get("pattern", ".*"), data[k]) for k in ("name", "email")):
            return
        try:
            self.store.create_tenant({"name": data["name"], "email": data["email"], "contract_type": "normal"})
        except Conflict:
            return

    # ------------------------------------------------------------------ users

    def user_json(self, row: sqlite3.Row, *, detail: bool = False) -> dict[str, Any]:
        """A user representation; `detail` for GET by id, where some planted faults live."""
        created_at = now_iso() if detail and self.faults.on("usr-created-at-moves") else row["created_at"]
        updated_at = row["updated_at"]
        if self.faults.on("usr-timestamps-local-time"):  # the server's local time (UTC+2), labelled UTC
            created_at, updated_at = _local_time_as_utc(created_at), _local_time_as_utc(updated_at)
        last_login = row["last_login"]
        cached = self.cached_logins.get(row["id"])  # (time-last-login-reverts) what the session cache still holds
        if cached is not None and self.clock() - cached[1] < self.lapse:
            last_login = cached[0]
        if last_login is None and self.faults.on("usr-last-login-at-create"):  # COALESCE(last_login, created_at)
            last_login = created_at
        out = {
            "id": row["id"],
            "username": row["username"].lower()
            if detail and self.faults.on("usr-get-username-lowercased")
            else row["username"],
            "createdBy": row["created_by"],
            "createdAt": created_at,
            "updatedAt": updated_at,
            "lastLogin": last_login,
            # the detail view reads the identity provider of the user, and API-created users have none
            "isLocal": self.assigned_is_local.get(row["id"], True)
            and not (detail and self.faults.on("usr-is-local-false")),
            "groups": [],
        }
        if detail and self.faults.on("usr-get-leaks-temp-password"):
            out["tempPassword"] = self.store.temp_password(row["id"], row["password_generation"])
        return out

    def not_found(self, what: str) -> Response:
        if self.faults.on("err-404-plain-text"):
            return PlainTextResponse(f"{what} not found", status_code=404)
        return error(404, f"{what} not found")

    def _check_id(self, user_id: str) -> None:
        if self.faults.on("usr-malformed-id-400"):
            try:
                uuid.UUID(user_id)
            except ValueError:
                raise ApiError(400, "malformed user id") from None

    def _acting_tenant(self, principal: Principal, user_id: str, fault: str) -> int:
        """The tenant an operation on a user id runs in: the token's, or with `fault` planted, the user's own."""
        assert principal.tenant_id is not None
        if self.faults.on(fault):
            row = self.store.user(user_id, None)
            if row is not None:
                return int(row["tenant_id"])
        return principal.tenant_id

    def _user_or_404(self, principal: Principal, user_id: str) -> sqlite3.Row | None:
        self._check_id(user_id)
        tenant = None if self.faults.on("iso-get-cross-tenant") else principal.tenant_id
        return self.store.user(user_id, tenant)

    def _selected_users(
        self, principal: Principal, params: dict[str, Any], *, every_tenant: bool = False
    ) -> list[dict[str, Any]]:
        """The users of the token's tenant (of every tenant, where a planted fault says so) that match
        filterBy and search, unsorted and unpaged."""
        assert principal.tenant_id is not None
        search = params.get("search")
        every_tenant = every_tenant or bool(search and self.faults.on("iso-search-cross-tenant"))
        users = [self.user_json(row) for row in self.store.users(None if every_tenant else principal.tenant_id)]
        if params.get("filterBy") == [] and self.faults.on("list-empty-filter-matches-none"):
            return []  # "".split(",") is [""]: one empty term, which no user satisfies
        terms = [self._term(t) for t in params.get("filterBy", [])]
        terms = [t for t in terms if t is not None]
        if terms:
            join = any if self.faults.on("list-filter-terms-or") else all
            users = [u for u in users if join(self._holds(u, term) for term in terms)]
        if search is not None:
            if self.faults.on("err-crash-on-non-ascii-search") and not search.isascii():
                raise ApiError(500, "internal error: cannot encode the search text")
            if self.faults.on("list-search-drops-non-ascii"):
                search = search.encode("ascii", "ignore").decode()
            if self.faults.on("list-search-case-sensitive"):
                users = [u for u in users if search in u["username"]]
            elif self.faults.on("list-search-matches-created-by"):
                text = search.casefold()
                users = [u for u in users if text in u["username"].casefold() or text in u["createdBy"].casefold()]
            else:
                users = [u for u in users if search.casefold() in u["username"].casefold()]
            if self.faults.on("vol-search-window"):  # the search engine's default window of hits
                users = users[: self.window]
        return users

    def _term(self, text: str) -> tuple[str, str, Any] | None:
        """One filterBy term as (field, operator, value), None for a term that is skipped, 400 for a bad one."""
        if self.faults.on("list-unknown-field-ignored") and not text.startswith(tuple(FILTER_FIELDS)):
            return None
        for field in FILTER_FIELDS:
            if text.startswith(field):
                rest = text[len(field) :]
                op = next((o for o in OPERATORS if rest.startswith(o)), None)
                if op is None and rest[:1] in ("<", ">") and self.faults.on("list-unknown-operator-lenient"):
                    op, rest = rest[0] + "=", rest[0] + "=" + rest[1:]
                if op is not None and not rest[len(op) :] and self.faults.on("list-empty-value-ignored"):
                    return None
                if op is None or not rest[len(op) :]:
                    break
                value: Any = rest[len(op) :]
                if field in DATE_FIELDS:
                    if op == "=@":
                        raise ApiError(400, f"{field} takes ==, <= or >=, not =@")
                    if self.faults.on("err-crash-on-long-fraction") and re.search(r"\.\d{7,}", value):
                        raise ApiError(500, "internal error: unconverted data remains")  # strptime's %f: 6 digits
                    instant = parse_instant(value)
                    if instant is None:
                        if self.faults.on("list-bad-date-ignored"):
                            return None
                        raise ApiError(400, f"{field}: {value!r} is not an ISO 8601 date-time")
                    if not self.faults.on("list-filter-dates-as-text"):
                        value = instant
                elif field == "isLocal":
                    if op != "==" or value.lower() not in ("true", "false"):
                        raise ApiError(400, "isLocal takes == true or == false")
                    value = value.lower() == "true"
                if field == "isLocal" and self.faults.on("list-is-local-term-ignored"):
                    return None
                if field == "createdBy" and self.faults.on("list-created-by-term-ignored"):
                    return None
                return field, op, value
        raise ApiError(400, f"filterBy term {text!r} is not `field op value`")

    def _holds(self, user: dict[str, Any], term: tuple[str, str, Any]) -> bool:
        field, op, value = term
        columns = {"creationTime": "createdAt", "lastUpdated": "updatedAt"}
        if self.faults.on("list-creation-time-uses-updated"):
            columns["creationTime"] = "updatedAt"
        if self.faults.on("list-last-updated-uses-created"):
            columns["lastUpdated"] = "createdAt"
        actual = user[columns.get(field, field)]
        if actual is None and field == "lastLogin" and self.faults.on("list-null-matches-le"):
            actual = "1970-01-01T00:00:00Z"  # never logged in, read as the epoch
        if actual is None:
            return False
        if (
            field == "username"
            and op in ("<=", ">=")
            and actual == value
            and self.faults.on("err-crash-on-username-bound")
        ):
            raise ApiError(500, "internal error: range scan past its own bound")
        if isinstance(value, datetime):
            actual = parse_instant(actual)
            if self.faults.on("list-date-bounds-exclusive") and op in ("<=", ">="):
                return actual < value if op == "<=" else actual > value
        elif isinstance(value, str) and isinstance(actual, str):
            if op == "==" and self.faults.on("list-equals-ignores-case"):
                return actual.casefold() == value.casefold()
            if op in ("<=", ">=") and self.faults.on("list-string-bounds-exclusive"):
                return actual < value if op == "<=" else actual > value
            if op == "=@" and self.faults.on("list-contains-prefix-only"):
                return actual.casefold().startswith(value.casefold())
        if op == "==":
            return actual == value
        if op == "<=":
            return actual <= value
        if op == ">=":
            return actual >= value
        return str(value).casefold() in str(actual).casefold()

    async def get_users(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        if "filter" in params and self.faults.on("list-filter-param-rejected"):
            raise ApiError(400, "filter is not supported")
        unfiltered = not params.get("filterBy") and "search" not in params
        every_tenant = unfiltered and self.faults.on("list-cross-tenant-unfiltered")
        users = self._selected_users(principal, params, every_tenant=every_tenant)
        users = self._listed_with_user_faults(principal, params, users)
        if self.faults.on("list-hides-idle-users") and unfiltered:
            users = [u for u in users if u["lastLogin"] is not None]
        sort_by = params.get("sortBy")
        descending = params.get("sortOrder", "asc") == "desc" and not self.faults.on("list-sort-desc-ignored")
        if sort_by in SORT_FIELDS:  # (validation lets no other value through, unless list-sort-unknown-ignored)
            columns = {"creationTime": "createdAt", "lastUpdated": "updatedAt", "type": "isLocal"}
            if self.faults.on("list-sort-last-updated-by-created"):
                columns["lastUpdated"] = "createdAt"
            key = columns.get(sort_by, sort_by)
            if key == "lastLogin" and self.faults.on("list-sort-nulls-middle"):
                users = sorted(users, key=lambda u: (u["lastLogin"] or u["createdAt"], u["id"]), reverse=descending)
            else:
                shuffled = self.faults.on("list-ties-shuffled-per-page")  # a tie-break that differs page by page

                def tie(u: dict[str, Any]) -> str:
                    return _page_hash(u["id"], params.get("offset", 0)) if shuffled else u["id"]

                present = sorted(
                    (u for u in users if u[key] is not None), key=lambda u: (u[key], tie(u)), reverse=descending
                )
                nulls = [u for u in users if u[key] is None]
                users = present + (sorted(nulls, key=tie) if shuffled else nulls)
        elif descending:
            users.reverse()
        offset, limit = params.get("offset", 0), params.get("limit", 500)
        # Validation lets no negative offset through, unless a fault does: list-negative-offset-accepted reads
        # it as 0, and under wire-repeated-param-last-wins it reaches the slice as it is (-1: the last user).
        if offset < 0 and self.faults.on("list-negative-offset-accepted"):
            offset = 0
        if offset > 0 and self.faults.on("list-offset-skips-one"):
            offset += 1
        if offset >= len(users) and self.faults.on("list-offset-past-end-last-page"):
            offset = max(0, len(users) - limit)
        return JSONResponse(self._as_seen_by(principal, users[offset : offset + limit]))

    def _as_seen_by(self, principal: Principal, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Users as a role sees them: with usr-viewer-no-created-by, a field filter meant for another
        role blanks createdBy in every read of the read-only role."""
        if principal.role == "viewer" and self.faults.on("usr-viewer-no-created-by"):
            return [{**u, "createdBy": None} for u in users]
        return users

    async def count_users(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        if self.faults.on("list-count-ignores-search"):
            params = {k: v for k, v in params.items() if k != "search"}
        if "filterBy" in params and self.faults.on("list-count-ignores-date-terms"):
            params = {**params, "filterBy": [t for t in params["filterBy"] if not t.startswith(tuple(DATE_FIELDS))]}
        every_tenant = self.faults.on("iso-count-cross-tenant")
        count = len(self._selected_users(principal, params, every_tenant=every_tenant))
        if self.faults.on("usr-count-includes-deleted"):  # the count query forgets the soft-delete flag
            count += len(self._deleted_users_selected(principal, params))
        if self.faults.on("vol-count-capped"):  # counted over one page of the index
            count = min(count, self.window)
        return JSONResponse({"count": count})

    async def create_user(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.tenant_id is not None
        email = body["email"]
        if self.faults.on("usr-email-shard-rejects") and email_shard(email) == 0:
            raise ApiError(400, "email: does not match the pattern")  # the stale shard's answer
        username = email.lower() if self.faults.on("usr-username-lowercased") else email
        created_by = username if self.faults.on("usr-created-by-self") else principal.identity
        racy = self.faults.on("usr-concurrent-duplicates")
        if racy:  # check, then insert a moment later, with no lock or unique index in between
            if self._same_username(principal.tenant_id, username):
                raise ApiError(409, f"a user with email {username} already exists")
            await asyncio.sleep(0.05)
        recent_only = self.faults.on("vol-duplicate-check-recent")
        if recent_only and username in self._recent_usernames(principal.tenant_id):
            raise ApiError(409, f"a user with email {username} already exists")
        # usr-duplicate-409-but-creates: the uniqueness check runs after the insert, and nothing rolls back
        late_check = self.faults.on("usr-duplicate-409-but-creates")
        user_id = self.freed_user_ids.pop(principal.tenant_id, None) if self.faults.on("usr-id-reused") else None
        counted = self.faults.on("race-create-same-id")
        if counted:  # the tenant's id counter is read, then advanced a moment later, with no lock in between
            number = self.id_counters.get(principal.tenant_id, 0)
            await asyncio.sleep(0.05)
            self.id_counters[principal.tenant_id] = number + 1
            user_id = str(uuid.uuid5(COUNTER_IDS, f"{principal.tenant_id}:{number}"))
        assigned: dict[str, Any] = {}
        if self.faults.on("wire-owned-fields-assigned"):  # every column the body names is copied from it
            columns = {"createdBy": "created_by", "createdAt": "created_at", "lastLogin": "last_login"}
            assigned = {column: body[key] for key, column in columns.items() if isinstance(body.get(key), str)}
        try:
            row, password = self.store.create_user(
                principal.tenant_id,
                username,
                created_by,
                allow_duplicate=self.faults.on("usr-duplicate-email") or late_check or racy or recent_only,
                user_id=user_id,
                update_stamp_lead_ms=5 if self.faults.on("usr-updated-before-created") else 0,
                replace=counted,  # an upsert: a second insert of one id overwrites the first user
                columns=assigned,
            )
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        if self.faults.on("wire-owned-fields-assigned") and isinstance(body.get("isLocal"), bool):
            self.assigned_is_local[row["id"]] = body["isLocal"]
        if late_check and len(self._same_username(principal.tenant_id, username)) > 1:
            raise ApiError(409, f"a user with email {username} already exists")
        if body.get("notify") and self.faults.on("usr-notify-empty-temp-password"):
            password = ""  # the password went out by email, and the answer's copy was blanked
        status = 200 if self.faults.on("usr-create-200") else 201
        return JSONResponse(
            {"id": row["id"], "username": row["username"], "tempPassword": password}, status_code=status
        )

    def _recent_usernames(self, tenant_id: int) -> set[str]:
        """The usernames of the tenant's `window` most recently created users (vol-duplicate-check-recent)."""
        rows = self.store.read(
            "SELECT username FROM users WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            (tenant_id, self.window),
        )
        return {row["username"] for row in rows}

    def _same_username(self, tenant_id: int, username: str) -> list[sqlite3.Row]:
        return self.store.read("SELECT id FROM users WHERE tenant_id = ? AND username = ?", (tenant_id, username))

    def _deleted_user(self, user_id: str, tenant_id: int) -> bool:
        """Whether this id belonged to a user of the tenant that was deleted."""
        row = self.deleted_users.get(user_id)
        return row is not None and row["tenant_id"] == tenant_id

    def _never_existed(self, user_id: str) -> bool:
        """Whether no user of any tenant ever had this id (as far as this server run knows)."""
        return user_id not in self.deleted_users and self.store.user(user_id, None) is None

    def _deleted_users_selected(self, principal: Principal, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The deleted users of the tenant that filterBy and search select, as a query that forgets the
        soft-delete flag sees them (usr-deleted-in-filtered-list, usr-count-includes-deleted)."""
        users = [self.user_json(r) for r in self.deleted_users.values() if r["tenant_id"] == principal.tenant_id]
        terms = [t for t in (self._term(text) for text in params.get("filterBy", [])) if t is not None]
        users = [u for u in users if all(self._holds(u, t) for t in terms)]
        search = params.get("search")
        return users if search is None else [u for u in users if search.casefold() in u["username"].casefold()]

    def _listed_with_user_faults(
        self, principal: Principal, params: dict[str, Any], users: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The list as two USR faults spoil it: deleted users in filtered lists, password hashes in sorted ones."""
        if params.get("filterBy") and self.faults.on("usr-deleted-in-filtered-list"):
            users = users + self._deleted_users_selected(principal, params)
        if params.get("sortBy") is not None and self.faults.on("usr-list-leaks-password-hash"):
            # the sorted query selects every column, and the serializer passes through what it does not know
            hashes = {r["id"]: r["password_hash"] for r in self.store.users(principal.tenant_id)}
            users = [{**u, "passwordHash": hashes.get(u["id"])} for u in users]
        return users

    async def get_user_by_id(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        row = self._user_or_404(principal, path["userId"])
        if row is None:
            return self.not_found("user")
        if row["last_login"] is not None and self.faults.on("err-read-after-login-500"):
            raise ApiError(500, "internal error: time data does not match format '%Y-%m-%d %H:%M:%S'")
        return JSONResponse(self._as_seen_by(principal, [self.user_json(row, detail=True)])[0])

    async def delete_user_by_id(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.tenant_id is not None
        user_id = path["userId"]
        self._check_id(user_id)
        if self.faults.on("iso-delete-cross-tenant-403"):
            other = self.store.user(user_id, None)
            if other is not None and other["tenant_id"] != principal.tenant_id:
                raise ApiError(403, "the user belongs to another tenant")
        owner = self._acting_tenant(principal, user_id, "iso-delete-cross-tenant-deletes")
        if owner != principal.tenant_id:  # the delete runs unscoped, only the answer is scoped
            self.store.delete_user(user_id, owner)
            return self.not_found("user")
        if self.faults.on("usr-delete-keeps-user"):
            return (
                Response(status_code=204) if self.store.user(user_id, principal.tenant_id) else self.not_found("user")
            )
        row = self.store.user(user_id, principal.tenant_id)
        looked_up = row is not None and self.faults.on("race-delete-double-204")
        if looked_up:  # found; the delete runs a moment later and its row count is not read
            await asyncio.sleep(0.05)
        if not self.store.delete_user(user_id, principal.tenant_id) and not looked_up:
            if self.faults.on("usr-delete-twice-204") and user_id in self.deleted_user_ids:
                return Response(status_code=204)
            if self.faults.on("usr-delete-unknown-204") and self._never_existed(user_id):
                return Response(status_code=204)  # "already gone" is success, and the tombstones say gone
            return self.not_found("user")
        self.deleted_user_ids.add(user_id)
        if row is not None:
            self.deleted_users[user_id] = row
            self.freed_user_ids[principal.tenant_id] = user_id
        return Response(status_code=200 if self.faults.on("usr-delete-200") else 204)

    async def logout_user(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.tenant_id is not None
        self._check_id(path["userId"])
        tenant_id = self._acting_tenant(principal, path["userId"], "iso-logout-cross-tenant")
        if self.faults.on("err-logout-never-logged-in-500"):
            row = self.store.user(path["userId"], tenant_id)
            if row is not None and row["last_login"] is None:
                raise ApiError(500, "internal error: no session to revoke")
        self._touch_if_another_tenants(principal, path["userId"])
        if not self._log_out(path["userId"], tenant_id):
            user_id = path["userId"]
            if self.faults.on("usr-logout-deleted-200") and self._deleted_user(user_id, principal.tenant_id):
                return Response(status_code=200)  # the soft-deleted row is still found by the session store
            if self.faults.on("usr-logout-unknown-200") and self._never_existed(user_id):
                return Response(status_code=200)  # no session to end counts as logged out
            return self.not_found("user")
        if self.faults.on("usr-logout-updated-without-zone"):
            self.store.stamp_user(path["userId"], "updated_at", now_iso().removesuffix("Z"))
        return Response(status_code=204 if self.faults.on("usr-logout-204") else 200)

    def _touch_if_another_tenants(self, principal: Principal, user_id: str) -> None:
        """iso-peer-404-touches-user: a user of another tenant is stamped before the tenant check answers 404."""
        if self.faults.on("iso-peer-404-touches-user"):
            row = self.store.user(user_id, None)
            if row is not None and row["tenant_id"] != principal.tenant_id:
                self.store.stamp_user(user_id, "updated_at", now_iso())

    def _log_out(self, user_id: str, tenant_id: int) -> bool:
        """Revoke the user's earlier tokens; False for a user the tenant does not have."""
        if self.faults.on("auth-logout-revokes-latest-only"):  # the session table keeps one token per user
            if self.store.user(user_id, tenant_id) is None:
                return False
            latest = self.latest_user_tokens.pop(user_id, None)
            if latest is not None:
                self.revoked_tokens.add(latest)
            return True
        done = self.store.logout_user(user_id, tenant_id, whole_tenant=self.faults.on("auth-logout-revokes-tenant"))
        if done and self.faults.on("time-revocation-lapses"):  # the revocation list's entry, which expires
            self.logged_out_at[user_id] = self.clock()
        return done

    async def reset_user_password(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.tenant_id is not None
        self._check_id(path["userId"])
        generation = 0 if self.faults.on("usr-reset-repeats-password") else None
        if self.faults.on("usr-reset-sometimes-repeats") and next(self.resets) % RESET_REPEATS_EVERY == 1:
            generation = 0  # one reset in RESET_REPEATS_EVERY: the first temporary password again
        tenant_id = self._acting_tenant(principal, path["userId"], "iso-reset-cross-tenant")
        self._touch_if_another_tenants(principal, path["userId"])
        if self.faults.on("auth-admin-cannot-reset") and self.store.user(path["userId"], tenant_id) is not None:
            raise ApiError(403, "the admin role may not reset passwords")  # a permission check after the lookup
        if self.faults.on("race-reset-same-temp-password"):
            row = self.store.user(path["userId"], tenant_id)
            if row is not None:  # the generation is read here, and the next one written a moment later
                generation = row["password_generation"] + 1
                await asyncio.sleep(0.05)
        password = self.store.reset_password(path["userId"], tenant_id, generation=generation)
        if password is None:
            user_id = path["userId"]
            if self.faults.on("usr-reset-deleted-200") and self._deleted_user(user_id, principal.tenant_id):
                # the soft-deleted row is still updated
                return JSONResponse({"tempPassword": self.store.temp_password(user_id, 1)})
            if self.faults.on("usr-reset-unknown-400") and self._never_existed(user_id):
                raise ApiError(400, "invalid user id")
            return self.not_found("user")
        if self.faults.on("usr-reset-updated-in-future"):
            self.store.stamp_user(path["userId"], "updated_at", _local_time_as_utc(now_iso()))
        if self.faults.on("iso-lookalike-reset-resets-all"):  # the reset job is keyed by username
            row = self.store.user(path["userId"], tenant_id)
            if row is not None:
                for other in self.store.read(
                    "SELECT id, tenant_id FROM users WHERE username = ? AND id != ?", (row["username"], row["id"])
                ):
                    self.store.reset_password(other["id"], other["tenant_id"])
        return JSONResponse({"tempPassword": password}, status_code=201 if self.faults.on("usr-reset-201") else 200)

    async def change_user_password(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.user_id is not None
        user = self.store.user(principal.user_id, principal.tenant_id)
        if user is None:
            return self.not_found("user")
        current_ok = user["password_hash"] == self.store.hash_password(user["id"], body["currentPassword"])
        if not current_ok and self.faults.on("usr-me-password-wrong-still-saved"):
            self.store.set_password(user["id"], body["newPassword"])  # written before the check, not rolled back
            raise ApiError(403, "the current password is wrong")
        if not current_ok and not self.faults.on("usr-me-password-unchecked"):
            raise ApiError(403, "the current password is wrong")
        if self.faults.on("race-password-change-both-win"):
            await asyncio.sleep(0.05)  # checked above, written a moment later: a change in between goes unseen
        if self.faults.on("usr-me-password-old-still-works"):  # kept as an alternate credential
            self.replaced_password_hashes[user["id"]] = user["password_hash"]
        if not self.faults.on("usr-me-password-not-saved"):  # (the change is written to a copy that is dropped)
            self.store.set_password(user["id"], body["newPassword"])
        return Response(status_code=204) if self.faults.on("usr-me-password-204") else JSONResponse({})

    # ------------------------------------------------------------------ tenants

    def tenant_json(self, row: sqlite3.Row) -> dict[str, Any]:
        out = {
            "id": row["id"],
            "uuid": row["uuid"],
            "name": row["name"],
            "displayName": row["name"],
            "smg": False,
            "status": "ready" if row["status"] == "Ready" and self.faults.on("ten-status-lowercase") else row["status"],
            "contractType": row["contract_type"],
            "createdAt": row["created_at"],
            "updatedAt": row["updated_at"],
        }
        if self.faults.on("ten-metric-store-echoed") and row["metric_store"]:
            out["metricStore"] = json.loads(row["metric_store"])
        if self.faults.on("ten-credential-in-url") and row["metric_store"]:
            write = json.loads(row["metric_store"]).get("write") or {}
            out["remoteWriteUrl"] = _with_basic_auth(write.get("url", ""), (write.get("auth") or {}).get("basic"))
        return out

    async def get_tenants(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        self._purge_lapsed_tenants()
        deleted = bool(params.get("deleted", False))
        rows = self.store.tenants(include_deleted=deleted or self.faults.on("ten-soft-deleted-still-listed"))
        items = [self.tenant_json(r) for r in rows]
        if self.faults.on("ten-password-in-list"):
            items = [
                {**item, "password": row["admin_password_hash"]} if row["admin_password_hash"] else item
                for item, row in zip(items, rows, strict=True)
            ]
        if deleted:  # with ten-hard-deleted-in-deleted-list, the log of hard deletions is read as well
            items += self.hard_deletion_log
        return JSONResponse(items)

    def _purge_lapsed_tenants(self) -> None:
        """time-soft-delete-purged: the clean-up job hard-deletes each soft-deleted tenant `lapse` seconds after
        its delete (run lazily, before the tenant operations that could show it)."""
        now = self.clock()
        for tenant_id, deleted_at in list(self.soft_deleted_at.items()):
            if now - deleted_at >= self.lapse:
                del self.soft_deleted_at[tenant_id]
                self.store.hard_delete_tenant(tenant_id)

    async def create_tenant(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        for side in ("read", "write"):
            url = ((body.get("metricStore") or {}).get(side) or {}).get("url")
            if url is not None and not URI.match(str(url)):
                raise ApiError(400, f"metricStore.{side}.url is not a URI")
        contract_type = body.get("contractType") or (
            "" if self.faults.on("ten-empty-contract-type-kept") and "contractType" in body else "normal"
        )
        if "contractType" not in body and self.faults.on("ten-absent-contract-type-null"):
            contract_type = None
        fields = {
            "name": body["name"],
            "email": body["email"],
            "contract_type": contract_type,
            "role": body.get("role"),
            "metric_store": json.dumps(_plain(body["metricStore"])) if body.get("metricStore") is not None else None,
            "admin_password_hash": self.store.hash_password(body["name"], body["password"])
            if body.get("password")
            else None,
        }
        if self.faults.on("ten-uuid-not-uuid"):
            fields["uuid"] = f"tnt-{secrets.token_hex(16)}"
        tenant_id = None
        if self.faults.on("ten-id-reused-after-hard-delete"):  # the next id from the rows left, not a sequence
            tenant_id = int(self.store.read("SELECT COALESCE(MAX(id), 0) + 1 FROM tenants")[0][0])
        try:
            row = self.store.create_tenant(
                fields, allow_duplicate=self.faults.on("ten-duplicate-name"), tenant_id=tenant_id
            )
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        tenant = self.tenant_json(row)
        if self.faults.on("ten-create-answer-name-lowercased"):
            tenant["name"] = tenant["name"].lower()
        if self.faults.on("ten-create-answer-contract-type-default"):
            tenant["contractType"] = "normal"
        status = 200 if self.faults.on("ten-create-200") else 201
        return JSONResponse({"tenant": tenant, "additionalData": None}, status_code=status)

    async def get_tenant_by_id(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        self._purge_lapsed_tenants()
        row = self.store.tenant(params["tenantId"])
        if row is None:
            if self.faults.on("ten-get-unknown-403") and params["tenantId"] > self.store.highest_tenant_id():
                raise ApiError(403, "forbidden")
            raise ApiError(404, "tenant not found")
        if row["deleted"] and self.faults.on("ten-get-soft-deleted-404"):
            raise ApiError(404, "tenant not found")
        tenant = self.tenant_json(row)
        if self.faults.on("ten-get-contract-type-default"):
            tenant["contractType"] = "normal"
        return JSONResponse(tenant)

    async def delete_tenant_by_id(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        self._purge_lapsed_tenants()
        tenant_id = params["tenantId"]
        row = self.store.tenant(tenant_id)
        if row is None:
            if self.faults.on("ten-delete-unknown-200"):
                return JSONResponse({"uid": "00000000-0000-0000-0000-000000000000"})
            raise ApiError(404, "tenant not found")
        hard = bool(params.get("isHardDelete", False))
        if self.faults.on("ten-soft-delete-purges"):
            hard = True
        elif self.faults.on("ten-hard-delete-is-soft"):
            hard = False
        if not hard:
            self.store.soft_delete_tenant(tenant_id)
            if self.faults.on("time-soft-delete-purged"):  # a clean-up job takes it `lapse` seconds later
                self.soft_deleted_at.setdefault(tenant_id, self.clock())
            uid = str(row["id"]) if self.faults.on("ten-soft-delete-uid-is-id") else row["uuid"]
            return JSONResponse({"uid": uid})
        self.store.hard_delete_tenant(tenant_id)
        if self.faults.on("ten-hard-deleted-in-deleted-list"):
            self.hard_deletion_log.append({**self.tenant_json(row), "status": "Deleted", "updatedAt": now_iso()})
        if self.faults.on("ten-hard-delete-204"):
            return Response(status_code=204)
        return JSONResponse({"uid": row["uuid"]})


async def _buffered(receive: Any) -> tuple[bytes, Any]:
    """The whole request body, read ahead so that the access log has it even when the app never reads
    it (a 401, a 404), and an ASGI `receive` that hands it to the app again."""
    chunks, last = [], None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            last = message
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return last or {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _log_entry(scope: Any, status: int, note: dict[str, Any], body: bytes) -> dict[str, Any]:
    """One access-log line: when (seconds since the epoch), method, path, query, status, principal, then body
    (or grant) and created."""
    entry: dict[str, Any] = {
        "at": round(time.time(), 3),
        "method": scope["method"],
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("utf-8", "replace"),
        "status": status,
        "principal": note.get("principal"),
    }
    if scope["method"] not in ("GET", "HEAD"):
        where = scope["path"].rstrip("/").lower()
        if where == "/api/v1/token":
            entry["grant"] = note.get("grant", NO_GRANT)
        elif where == "/api/v1/me/password":
            entry["body"] = "<redacted>"
        else:  # 4 bytes at most per character: 16000 bytes hold the first 4000 characters
            entry["body"] = body[:16000].decode("utf-8", "replace")[:4000]
    if "created" in note:
        entry["created"] = note["created"]
    return entry


URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")  # RFC 3986: a scheme, then a non-empty rest


def _with_basic_auth(url: str, basic: dict[str, Any] | None) -> str:
    """The url with the basic-auth username and password put in as userinfo (what ten-credential-in-url shows)."""
    if not basic:
        return url
    parts = urlsplit(url)
    userinfo = f"{quote(str(basic.get('username', '')), safe='')}:{quote(str(basic.get('password', '')), safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def _without_null_metric_store(body: bytes) -> bytes:
    """`metricStore: null` is the same as no metricStore (it is nullable); openapi-core trips on
    `nullable` beside `allOf`, so the key is dropped before validation."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return body
    if isinstance(data, dict) and "metricStore" in data and data["metricStore"] is None:
        del data["metricStore"]
        return json.dumps(data).encode()
    return body


class _FirstWins(dict[str, Any]):
    """A JSON object as a parser that keeps the first of a repeated key reads it; `lasts` holds what
    json.loads would have kept instead."""

    lasts: dict[str, Any]


def _first_wins(pairs: list[tuple[str, Any]]) -> _FirstWins:
    out = _FirstWins()
    out.lasts = {}
    for key, value in pairs:
        if key in out:
            out.lasts[key] = value
        else:
            out[key] = value
    return out


def _first_occurrences(body: bytes) -> tuple[bytes, dict[str, Any]]:
    """wire-repeated-json-key-last-wins: the body as the validator reads it (each top-level key's first
    value), and the last value of each top-level key given more than once (what the handler reads)."""
    try:
        data = json.loads(body, object_pairs_hook=_first_wins)
    except (ValueError, RecursionError):
        return body, {}
    if not isinstance(data, _FirstWins) or not data.lasts:
        return body, {}
    return json.dumps(data).encode(), dict(data.lasts)


def _canonical_path(path: str) -> str:
    """A path with doubled slashes collapsed and a trailing slash dropped."""
    path = re.sub("/{2,}", "/", path)
    return path.rstrip("/") or "/"


def _routed_by_canonical_spelling(app: Any) -> Any:
    """wire-path-spelling-skips-role-check: the router sees the canonical spelling of a path; the app is told
    the path as written (scope WRITTEN_PATH), which no rule of the role check names."""

    async def canonical(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = _canonical_path(scope["path"])
            if path != scope["path"]:
                raw = scope.get("raw_path")
                scope = {
                    **scope,
                    "path": path,
                    "raw_path": _canonical_path(raw.decode("latin-1")).encode("latin-1") if raw else path.encode(),
                    WRITTEN_PATH: scope["path"],
                }
        await app(scope, receive, send)

    return canonical


def _prefers_html(accept: str) -> bool:
    """Whether an Accept header ranks text/html above application/json (or above what covers it)."""
    ranks = {"html": 0.0, "json": 0.0}
    for part in accept.split(","):
        media, *options = (p.strip() for p in part.split(";"))
        quality = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media == "text/html":
            ranks["html"] = max(ranks["html"], quality)
        elif media in ("application/json", "application/*", "*/*"):
            ranks["json"] = max(ranks["json"], quality)
    return ranks["html"] > ranks["json"]


def _errors_as_html_when_preferred(app: Any) -> Any:
    """wire-errors-follow-accept: an error answer to a request that prefers text/html becomes an HTML page."""

    async def negotiated(scope: Any, receive: Any, send: Any) -> None:
        accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
        if scope["type"] != "http" or not _prefers_html(accept):
            await app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def as_html(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held["start"] = message  # held until the whole error body is known
                return
            if "start" not in held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start = held.pop("start")
            try:
                text = str(json.loads(b"".join(chunks)).get("message", ""))
            except (ValueError, AttributeError):
                text = b"".join(chunks).decode("utf-8", "replace")
            title = f"{start['status']} Error"
            page = (
                f"<!DOCTYPE html><html><head><title>{title}</title></head>"
                f"<body><h1>{title}</h1><p>{html.escape(text)}</p></body></html>"
            ).encode()
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-type", b"content-length")
            ]
            headers += [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(page)).encode())]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        await app(scope, receive, as_html)

    return negotiated


def _page_hash(user_id: str, offset: int) -> str:
    """A tie-break that depends on the page asked for (list-ties-shuffled-per-page)."""
    return hashlib.sha256(f"{offset}:{user_id}".encode()).hexdigest()


def _local_time_as_utc(stamp: str) -> str:
    """The instant in UTC+2 wall-clock time, still written with a Z (usr-timestamps-local-time)."""
    instant = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(hours=2)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _plain(value: Any) -> Any:
    """openapi-core's unmarshalled body as plain JSON values."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
