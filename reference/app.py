"""The reference server's HTTP layer: every operation of specs/runai.json plus the token endpoint.

Order of judgement for an API call: route (404/405) → token (401) → role (403) → request
validation against the merged spec (400) → the operation (404/409/2xx). Every error is an
`Error` body whose `code` is the HTTP status (CONTRACT ERR-1).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import sqlite3
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from werkzeug.datastructures import Headers, ImmutableMultiDict

from reference import tokens
from reference.faults import Faults
from reference.store import Conflict, Store, now_iso
from specs import load_spec

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
LOG_NOTE = "reference.log"  # scope key of the dict where handlers leave what the access log adds
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
    code = 400 if status == 409 and faults is not None and faults.on("err-conflict-code-400") else status
    return JSONResponse({"code": code, "message": message}, status_code=status)


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 date or date-time as an aware instant (naive means UTC), or None."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _ValidationRequest:
    """The openapi-core request protocol over a Starlette request already read."""

    def __init__(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        content_type: str,
    ):
        self.host_url = "http://reference"
        self.method = method.lower()
        self.path = path
        self.body = body or None
        self.content_type = content_type
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(headers), path={})


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
    ):
        if token_answer not in TOKEN_ANSWERS:
            raise ValueError(f"token_answer must be one of {', '.join(TOKEN_ANSWERS)}, not {token_answer!r}")
        self.store = store
        self.faults = faults
        self.token_ttl = token_ttl
        self.access_log = access_log
        self.token_bytes = token_bytes
        self.token_answer = token_answer
        self.issued = issued  # when given, every token signed is appended (self-tests look for leaks)
        self.deleted_user_ids: set[str] = set()  # for usr-delete-twice-204
        self.spec = self._validation_spec(load_spec())
        self.openapi = OpenAPI.from_dict(self.spec)
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
        if self.faults.on("ten-role-null-rejected"):
            schemas["Roles"]["enum"] = [v for v in schemas["Roles"]["enum"] if v is not None]
        if self.faults.on("list-negative-offset-accepted"):
            spec["components"]["parameters"]["Offset"]["schema"].pop("minimum")
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
            response = error(exc.status_code, exc.detail)
            for key, value in (exc.headers or {}).items():
                response.headers[key] = value
            return response

        app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
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
            try:
                principal = self.authenticate(request)
                if note is not None:
                    note["principal"] = principal.identity
                self.authorize(principal, operation)
                params, body = await self.validate(request, operation)
                response = await operation.handler(principal, params, body, request.path_params)
            except ApiError as exc:
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
            )
        except tokens.InvalidToken as exc:
            raise ApiError(401, str(exc)) from None
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
            if revoked and not self.faults.on("auth-logout-keeps-tokens"):
                raise ApiError(401, "the token was revoked by a logout")
            return Principal(user["username"], "user", user["tenant_id"], user["id"])
        raise ApiError(401, "malformed token")

    def authorize(self, principal: Principal, operation: Operation) -> None:
        role = principal.role
        if operation.access == "tenants":
            allowed = role == "operator" or (
                self.faults.on("auth-admin-sees-tenants") and role == "admin" and operation.method == "GET"
            )
        elif operation.access == "users-read":
            allowed = role in ("admin", "viewer")
        elif operation.access == "users-write":
            allowed = role == "admin" or (role == "viewer" and self.faults.on("auth-viewer-can-write"))
        else:  # me
            allowed = role == "user"
        if not allowed:
            raise ApiError(403, f"the {role} role may not call {operation.operation_id}")

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
        if self.token_answer == "reference":
            return {"accessToken": self.sign(claims), "expiresIn": self.token_ttl}
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

    async def token(self, request: Request) -> Response:
        """POST /api/v1/token: client_credentials, app_token and password grants (CONTRACT AUTH-3)."""
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, RecursionError):
            return error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return error(400, "the body must be a JSON object")
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
            if not isinstance(cid, str) or not isinstance(secret, str):
                self.note_grant(request, grant, cid, False)
                return error(400 if not strict else 401, "client id and secret are required")
            client = self.store.check_client(cid, secret)
            self.note_grant(request, grant, cid, client is not None)
            if client is None:
                return error(401, "bad client credentials")
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
                return error(400, "username and password are required")
            user = self.store.login(username, password)
            self.note_grant(request, grant, username, user is not None)
            if user is None:
                return error(401, "bad username or password")
            if not self.faults.on("usr-login-keeps-last-login"):
                self.store.record_login(user["id"])
            return JSONResponse(
                self.issue(
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
            )
        self.note_grant(request, grant, None, False)
        return error(400, "grantType must be client_credentials, app_token or password")

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
        if has_body and content_type.split(";")[0].strip() != "application/json":
            raise ApiError(400, "the request body must be application/json")
        if has_body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "the request body is not UTF-8") from None
        if has_body and operation.operation_id == "create_tenant":
            body = _without_null_metric_store(body)
        raw = _ValidationRequest(
            operation.method,
            request.url.path,
            query,
            dict(request.headers),
            body if has_body else b"",
            content_type or "application/json",
        )
        try:
            result = self.openapi.unmarshal_request(raw)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"invalid request: {type(exc).__name__}") from None
        if result.errors:
            raise ApiError(400, "; ".join(_error_text(e) for e in result.errors))
        params = dict(result.parameters.query)
        params.update(result.parameters.path)
        for key in ("search", "filter"):
            if key not in params and request.query_params.get(key) == "":
                params[key] = ""
        return params, result.body

    # ------------------------------------------------------------------ users

    def user_json(self, row: sqlite3.Row, *, detail: bool = False) -> dict[str, Any]:
        """A user representation; `detail` for GET by id, where two planted faults live."""
        created_at = now_iso() if detail and self.faults.on("usr-created-at-moves") else row["created_at"]
        out = {
            "id": row["id"],
            "username": row["username"],
            "createdBy": row["created_by"],
            "createdAt": created_at,
            "updatedAt": row["updated_at"],
            "lastLogin": row["last_login"],
            "isLocal": True,
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

    def _user_or_404(self, principal: Principal, user_id: str) -> sqlite3.Row | None:
        self._check_id(user_id)
        tenant = None if self.faults.on("iso-get-cross-tenant") else principal.tenant_id
        return self.store.user(user_id, tenant)

    def _selected_users(self, principal: Principal, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert principal.tenant_id is not None
        users = [self.user_json(row) for row in self.store.users(principal.tenant_id)]
        terms = [self._term(t) for t in params.get("filterBy", [])]
        terms = [t for t in terms if t is not None]
        search = params.get("search")
        if terms:
            join = any if self.faults.on("list-filter-terms-or") else all
            users = [u for u in users if join(self._holds(u, term) for term in terms)]
        if search is not None:
            if self.faults.on("err-crash-on-non-ascii-search") and not search.isascii():
                raise ApiError(500, "internal error: cannot encode the search text")
            if self.faults.on("list-search-case-sensitive"):
                users = [u for u in users if search in u["username"]]
            else:
                users = [u for u in users if search.casefold() in u["username"].casefold()]
        return users

    def _term(self, text: str) -> tuple[str, str, Any] | None:
        for field in FILTER_FIELDS:
            if text.startswith(field):
                rest = text[len(field) :]
                op = next((o for o in OPERATORS if rest.startswith(o)), None)
                if op is None or not rest[len(op) :]:
                    break
                value: Any = rest[len(op) :]
                if field in DATE_FIELDS:
                    if op == "=@":
                        raise ApiError(400, f"{field} takes ==, <= or >=, not =@")
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
                return field, op, value
        raise ApiError(400, f"filterBy term {text!r} is not `field op value`")

    @staticmethod
    def _holds(user: dict[str, Any], term: tuple[str, str, Any]) -> bool:
        field, op, value = term
        key = {"creationTime": "createdAt", "lastUpdated": "updatedAt"}.get(field, field)
        actual = user[key]
        if actual is None:
            return False
        if isinstance(value, datetime):
            actual = parse_instant(actual)
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
        users = self._selected_users(principal, params)
        if self.faults.on("list-hides-idle-users") and not params.get("filterBy") and "search" not in params:
            users = [u for u in users if u["lastLogin"] is not None]
        sort_by = params.get("sortBy")
        descending = params.get("sortOrder", "asc") == "desc" and not self.faults.on("list-sort-desc-ignored")
        if sort_by is not None:
            key = {"creationTime": "createdAt", "lastUpdated": "updatedAt", "type": "isLocal"}.get(sort_by, sort_by)
            present = sorted(
                (u for u in users if u[key] is not None), key=lambda u: (u[key], u["id"]), reverse=descending
            )
            missing = [u for u in users if u[key] is None]
            users = present + missing
        elif descending:
            users.reverse()
        offset = params.get("offset", 0)
        if offset < 0:  # only reachable with the list-negative-offset-accepted fault
            offset = 0
        if offset > 0 and self.faults.on("list-offset-skips-one"):
            offset += 1
        return JSONResponse(users[offset : offset + params.get("limit", 500)])

    async def count_users(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        if self.faults.on("list-count-ignores-search"):
            params = {k: v for k, v in params.items() if k != "search"}
        return JSONResponse({"count": len(self._selected_users(principal, params))})

    async def create_user(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.tenant_id is not None
        email = body["email"]
        username = email.lower() if self.faults.on("usr-username-lowercased") else email
        created_by = username if self.faults.on("usr-created-by-self") else principal.identity
        try:
            row, password = self.store.create_user(
                principal.tenant_id, username, created_by, allow_duplicate=self.faults.on("usr-duplicate-email")
            )
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        return JSONResponse({"id": row["id"], "username": row["username"], "tempPassword": password}, status_code=201)

    async def get_user_by_id(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        row = self._user_or_404(principal, path["userId"])
        return self.not_found("user") if row is None else JSONResponse(self.user_json(row, detail=True))

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
        if self.faults.on("usr-delete-keeps-user"):
            return (
                Response(status_code=204) if self.store.user(user_id, principal.tenant_id) else self.not_found("user")
            )
        if not self.store.delete_user(user_id, principal.tenant_id):
            if self.faults.on("usr-delete-twice-204") and user_id in self.deleted_user_ids:
                return Response(status_code=204)
            return self.not_found("user")
        self.deleted_user_ids.add(user_id)
        return Response(status_code=204)

    async def logout_user(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.tenant_id is not None
        self._check_id(path["userId"])
        if not self.store.logout_user(path["userId"], principal.tenant_id):
            return self.not_found("user")
        return Response(status_code=204 if self.faults.on("usr-logout-204") else 200)

    async def reset_user_password(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.tenant_id is not None
        self._check_id(path["userId"])
        generation = 0 if self.faults.on("usr-reset-repeats-password") else None
        password = self.store.reset_password(path["userId"], principal.tenant_id, generation=generation)
        if password is None:
            return self.not_found("user")
        return JSONResponse({"tempPassword": password})

    async def change_user_password(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        assert principal.user_id is not None
        user = self.store.user(principal.user_id, principal.tenant_id)
        if user is None:
            return self.not_found("user")
        current_ok = user["password_hash"] == self.store.hash_password(user["id"], body["currentPassword"])
        if not current_ok and not self.faults.on("usr-me-password-unchecked"):
            raise ApiError(403, "the current password is wrong")
        self.store.set_password(user["id"], body["newPassword"])
        return JSONResponse({})

    # ------------------------------------------------------------------ tenants

    def tenant_json(self, row: sqlite3.Row) -> dict[str, Any]:
        out = {
            "id": row["id"],
            "uuid": row["uuid"],
            "name": row["name"],
            "displayName": row["name"],
            "smg": False,
            "status": row["status"],
            "contractType": row["contract_type"],
            "createdAt": row["created_at"],
            "updatedAt": row["updated_at"],
        }
        if self.faults.on("ten-metric-store-echoed") and row["metric_store"]:
            out["metricStore"] = json.loads(row["metric_store"])
        return out

    async def get_tenants(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        rows = self.store.tenants(include_deleted=bool(params.get("deleted", False)))
        return JSONResponse([self.tenant_json(r) for r in rows])

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
        try:
            row = self.store.create_tenant(fields, allow_duplicate=self.faults.on("ten-duplicate-name"))
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        return JSONResponse({"tenant": self.tenant_json(row), "additionalData": None}, status_code=201)

    async def get_tenant_by_id(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
        row = self.store.tenant(params["tenantId"])
        if row is None:
            if self.faults.on("ten-get-unknown-403") and params["tenantId"] > self.store.highest_tenant_id():
                raise ApiError(403, "forbidden")
            raise ApiError(404, "tenant not found")
        return JSONResponse(self.tenant_json(row))

    async def delete_tenant_by_id(
        self, principal: Principal, params: dict[str, Any], body: Any, path: dict[str, str]
    ) -> Response:
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
        (self.store.hard_delete_tenant if hard else self.store.soft_delete_tenant)(tenant_id)
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
    """One access-log line: method, path, query, status, principal, then body (or grant) and created."""
    entry: dict[str, Any] = {
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


def _plain(value: Any) -> Any:
    """openapi-core's unmarshalled body as plain JSON values."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _error_text(exc: Exception) -> str:
    """A validation error as one readable line; never raises."""
    try:
        errors = getattr(exc.__cause__, "schema_errors", None)
        detail = ": " + "; ".join(getattr(e, "message", str(e)) for e in errors)[:300] if errors else ""
        return f"{exc}{detail}"
    except Exception:
        return type(exc).__name__
