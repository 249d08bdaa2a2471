"""What a run may change on a shared target: the ledger of what it created, and the guard that refuses,
before sending, every state-changing request that could name anything else.

Pure logic, no I/O: the transport (conformance/transport.py) asks `Guard.check` for every request and
feeds `Ledger` from the answers. Unit-tested in tests/suite/test_guard.py for every id shape.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

SAFE_METHODS = frozenset({"GET", "HEAD"})
BULK_METHODS = frozenset({"DELETE", "PUT", "PATCH"})  # on a collection: could act on every member
INT32_MAX = 2**31 - 1
CREATE_COLLECTIONS = {("api", "v1", "users"), ("api", "v1", "tenants")}
TOKEN_ENDPOINT = ("api", "v1", "token")
DIGIT_RUN = re.compile(r"-?\d+")
ID_KEY = re.compile(r"(?i)(id|username|email|name)$")


class Refused(Exception):
    """The guard would not send a request: it could change something this run did not create.

    Not an AssertionError: the target did nothing wrong, the test asked for something unsafe."""


def normal_id(value: Any) -> str:
    """How an id is compared: trimmed and case-folded, as a lenient server might read it."""
    return str(value).strip().casefold()


@dataclass
class Ledger:
    """What this run created on the target (from the create answers themselves), and every id it saw
    in answers about anything else. Thread-safe."""

    run_tag: str
    users: dict[str, str] = field(default_factory=dict)  # id -> role whose token created it
    tenants: set[int] = field(default_factory=set)
    _user_keys: set[str] = field(default_factory=set, repr=False)  # the users' ids as compared (normal_id)
    foreign: set[str] = field(default_factory=set)  # normalised ids seen in answers, not this run's
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_user(self, user_id: str, role: str) -> None:
        with self._lock:
            self.users[str(user_id)] = role
            self._user_keys.add(normal_id(user_id))

    def add_tenant(self, tenant_id: int) -> None:
        with self._lock:
            self.tenants.add(int(tenant_id))

    def saw(self, ids: Iterable[Any]) -> None:
        """Remember ids from an answer: any of them that is not this run's may be someone else's."""
        with self._lock:
            self.foreign.update(normal_id(i) for i in ids)

    def owns_user(self, user_id: str) -> bool:
        return normal_id(user_id) in self._user_keys

    def owns_tenant(self, tenant_id: int) -> bool:
        return tenant_id in self.tenants

    def tagged(self, name: str) -> str:
        """A name that carries the run tag (emails get it on the local part)."""
        return f"{self.run_tag}-{name}"

    def nonexistent_user_id(self) -> str:
        """A user id nobody can have (USR-7): it carries the run tag, which no real id does, and is new
        each time, so it was never seen in any answer. (The lifecycle tests also use a fresh UUID.)"""
        return f"{self.run_tag}-missing-{uuid.uuid4().hex[:8]}"


def tenant_readings(value: str) -> set[int]:
    """Every integer a lenient server could read from a tenant path segment: `0.5` as 0 or 1, `1e3`,
    ` 1`, `+1`, `01`, and every digit run of anything else with a digit in it. No digit: none."""
    if not any(c.isdigit() for c in value):
        return set()
    return numeric_readings(value) or {int(run) for run in DIGIT_RUN.findall(value)}


def numeric_readings(value: str) -> set[int]:
    """The integers a lenient server could read from a segment that is a number as a whole (`7`,
    ` +07`, `7.0`, `7e0`); none for anything else (a UUID, a name)."""
    try:
        number = float(value.strip())
    except ValueError:
        return set()
    return {math.floor(number), math.ceil(number), int(number), round(number)} if math.isfinite(number) else set()


def could_be_an_existing_tenant(reading: int) -> bool:
    """Tenant ids are int32 and >= 0 (TEN-1): anything outside cannot name a tenant."""
    return 0 <= reading <= INT32_MAX


def path_segments(raw_path: str, base_path: str = "") -> list[str]:
    """The segments of a request path as a server might route it: percent-decoding undone (twice
    encoded too), dot segments resolved, empty segments dropped, the target's base path removed."""
    path = raw_path.split("?", 1)[0]
    for _ in range(3):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    path = posixpath.normpath("/" + path.replace("\\", "/"))
    base = posixpath.normpath("/" + base_path).rstrip("/")
    if base and (path.casefold() == base.casefold() or path.casefold().startswith(base.casefold() + "/")):
        path = path[len(base) :]
    return [s for s in path.split("/") if s]


@dataclass
class Guard:
    """Refuses, before sending, any request that can change state and could name a user or tenant the
    run did not create. `check` raises `Refused`; it never rewrites a request."""

    ledger: Ledger
    read_only: bool = False
    base_path: str = ""
    clients: Mapping[str, str] = field(default_factory=dict, repr=False)  # real client ids -> their secrets
    role_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # the roles' tokens -> their role

    def check(self, method: str, raw_path: str, authorization: str | None = None, body: bytes | None = None) -> None:
        method = method.upper()
        if method in SAFE_METHODS:
            return
        segments = path_segments(raw_path, self.base_path)
        key = tuple(s.casefold() for s in segments[:3])
        what = f"{method} {raw_path.split('?', 1)[0]}"
        if method == "POST" and len(segments) == 3 and key == TOKEN_ENDPOINT:
            self._check_grant(body, what)
            return
        if self.read_only:
            raise Refused(f"{what}: a read-only run sends no request that can change state")
        if key[:2] != ("api", "v1") or len(segments) < 3:
            raise Refused(f"{what}: a state-changing request to a path that names nothing this run created")
        kind = key[2]
        if len(segments) == 3 and kind != "me":
            if key not in CREATE_COLLECTIONS or method in BULK_METHODS:
                raise Refused(f"{what}: a {method} of a whole collection could change every member of it")
            return  # POST creates; an undeclared method (OPTIONS, TRACE, …) names no one
        ident = segments[3] if len(segments) > 3 else ""
        if kind == "users":
            self._check_user(ident, what)
        elif kind == "tenants":
            self._check_tenant(ident, what)
        elif kind == "me":
            self._check_me(authorization, what)
        else:
            raise Refused(f"{what}: a state-changing request to a path that names nothing this run created")

    def allows(self, method: str, raw_path: str, authorization: str | None = None) -> bool:
        """Whether `check` would let the request through."""
        try:
            self.check(method, raw_path, authorization)
        except Refused:
            return False
        return True

    def _check_user(self, ident: str, what: str) -> None:
        if self.ledger.owns_user(ident):
            return
        if normal_id(ident) in self.ledger.foreign:
            raise Refused(f"{what}: user id {ident!r} was seen in an answer and is not one this run created")
        if any(could_be_an_existing_tenant(n) for n in numeric_readings(ident)):
            # A made-up id that reads as a number could be a real user's on a target with numeric ids.
            raise Refused(f"{what}: user id {ident!r} reads as a number, and no user of this run has it")

    def _check_tenant(self, ident: str, what: str) -> None:
        foreign = sorted(
            n for n in tenant_readings(ident) if could_be_an_existing_tenant(n) and not self.ledger.owns_tenant(n)
        )
        if foreign:
            raise Refused(
                f"{what}: tenant id {ident!r} can be read as {', '.join(map(str, foreign))}, "
                "a tenant this run did not create"
            )

    def _check_me(self, authorization: str | None, what: str) -> None:
        token = (authorization or "").partition(" ")[2].strip()
        parts = token.split(".")
        for role_token in self.role_tokens:
            theirs = role_token.split(".")
            same = token == role_token or (
                len(parts) == 3 and len(theirs) == 3 and (parts[1] == theirs[1] or (parts[2] and parts[2] == theirs[2]))
            )
            if same:
                raise Refused(
                    f"{what}: with a configured role's token (or one made from it) it would change that principal"
                )

    def _check_grant(self, body: bytes | None, what: str) -> None:
        """A wrong secret for a real client id locks accounts on some identity providers: a read-only
        run (production) never sends one."""
        if not self.read_only or not body:
            return
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(data, dict):
            return
        folded = {str(k).casefold(): v for k, v in data.items()}
        client = folded.get("clientid", folded.get("appid"))
        given = folded.get("clientsecret", folded.get("appsecret"))
        if isinstance(client, str) and client in self.clients and given != self.clients[client]:
            raise Refused(f"{what}: a read-only run never sends a wrong secret for the real client {client!r}")


def ids_in(data: Any) -> Iterable[Any]:
    """Every scalar under a key that can hold an id or a name (`id`, `userId`, `uuid`, `username`,
    `email`, `name`, …) anywhere in a JSON answer."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (str, int)) and not isinstance(value, bool) and ID_KEY.search(str(key)):
                yield value
            elif isinstance(value, (dict, list)):
                yield from ids_in(value)
    elif isinstance(data, list):
        for item in data:
            yield from ids_in(item)
