"""Calls to the target as a role: tokens per role (renewed before they expire), evidence for failures,
creating tagged resources, and cleanup of what the run's ledger holds. Every request leaves through the
run's one GuardedClient (conformance/transport.py)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx
import pytest

from ..strategies.pagination import MAX_LIMIT
from .guard import Guard, Ledger, Refused, normal_id
from .network import NetworkError
from .pacing import PACING_FILE, Pacer
from .redact import Redactor, curl
from .secret import Secret, bearer, jwt_claims
from .target import ConfigError, RoleCredentials, Target
from .tokenlife import JUDGED_BY_TEST
from .transport import GuardedClient, sent_url
from .violations import ContractViolation, raise_found, secret_fields, strings_in

CLOCK_SKEW = 60.0  # seconds the target's clock may differ from ours

__all__ = [
    "Api",
    "ContractViolation",
    "Ledger",
    "Refused",
    "Secret",
    "Snapshot",
    "Tokens",
    "access_token",
    "instant",
    "jwt_claims",
    "raise_found",
]

T = TypeVar("T")
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="runai-conformance")
BARRIER_WAIT = 30.0  # seconds the threads of simultaneous requests wait for each other before they go


def simultaneously(*calls: Callable[[], T]) -> list[T]:
    """Calls made at the same moment: one thread each, released together by a barrier. A pool starts its
    threads one by one, and on a busy machine the first request of a race can be answered before the last
    one leaves: no race at all, and a check of what must have one winner passes unseen. In order given."""
    gate = threading.Barrier(len(calls), timeout=BARRIER_WAIT)

    def one(call: Callable[[], T]) -> T:
        gate.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="runai-simultaneous") as pool:
        return [future.result() for future in [pool.submit(one, call) for call in calls]]


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# USR-4: what never changes about a created user, compared wherever the user appears (any read, any role)
USER_FIXED = ("username", "createdBy", "createdAt", "isLocal")
RENEW_MARGIN = 0.2  # renew a token when less than this share of its lifetime is left


def instant(text: Any, what: str = "date-time", rule_id: str = "USR-4") -> datetime:
    """An ISO 8601 date-time as an aware datetime (naive ones read as UTC); a value that is not one
    is a violation of `rule_id`."""
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ContractViolation(rule_id, f"{what} {text!r} is not an ISO 8601 date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def same_value(key: str, first: Any, now: Any) -> bool:
    """Whether two reads of a fixed field agree: date-times as instants (the spelling may differ), the
    rest exactly."""
    if first == now:
        return True
    if key == "createdAt":
        try:
            return instant(first) == instant(now)
        except ContractViolation:
            return False
    return False


def zoned_instant(text: Any) -> datetime | None:
    """An RFC 3339 date-time (with a zone: `Z` or an offset) as an aware datetime; None for anything else,
    a date-time without a zone included (its instant is unknown)."""
    if not isinstance(text, str) or "T" not in text.upper():
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def timestamp_problems(
    user: dict[str, Any],
    *,
    created_at: Any = None,
    login: tuple[float, float] | None = None,
    last_login_known: bool = True,
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Every USR-4/USR-11 clause about a user's timestamps, judged on one representation of it, as
    (rule, what is wrong): createdAt and updatedAt are date-times with a zone, not in the future (the shared
    CLOCK_SKEW allowed), createdAt <= updatedAt, createdAt is still `created_at` (as first read); lastLogin
    is null while `login` is None (no successful login yet), else a date-time within CLOCK_SKEW of the
    latest successful login, which happened between the two wall-clock times of `login` (not judged when
    `last_login_known` is false: a grant of it is in flight)."""
    now = now or datetime.now(UTC)
    skew = timedelta(seconds=CLOCK_SKEW)
    problems: list[tuple[str, str]] = []
    stamps = {key: zoned_instant(user.get(key)) for key in ("createdAt", "updatedAt")}
    for key, value in stamps.items():
        if value is None:
            problems.append(("USR-4", f"{key} {user.get(key)!r} is not a date-time with a zone"))
        elif value > now + skew:
            problems.append(("USR-4", f"{key} {user.get(key)} is in the future (now {now:%H:%M:%S} UTC)"))
    created, updated = stamps["createdAt"], stamps["updatedAt"]
    if created is not None and updated is not None and created > updated:
        problems.append(("USR-4", f"createdAt {user.get('createdAt')} is after updatedAt {user.get('updatedAt')}"))
    if created_at is not None and created is not None and zoned_instant(created_at) != created:
        problems.append(("USR-4", f"createdAt moved from {created_at} to {user.get('createdAt')}"))
    last = user.get("lastLogin")
    if not last_login_known:
        return problems
    if login is None:
        if last is not None:
            problems.append(("USR-4", f"lastLogin is {last!r} before any successful login"))
        return problems
    at = zoned_instant(last)
    started, ended = (datetime.fromtimestamp(t, UTC) for t in login)
    if at is None:
        problems.append(("USR-11", f"lastLogin is {last!r} after a successful login, not a date-time with a zone"))
    elif not started - skew <= at <= ended + skew:
        problems.append(
            ("USR-11", f"lastLogin is {last}, but the latest successful login was at {started:%H:%M:%S.%f} UTC")
        )
    return problems


@dataclass(frozen=True)
class Snapshot:
    """One look at the run's users in a scope: every field of each (id -> its representation), and the
    answer that showed them."""

    scope: str
    users: dict[str, dict[str, Any]]
    answer: httpx.Response
    judged: BaseException | None = None  # what the client's judgement of this read found, held back

    def verdict(self) -> None:
        """Raise what the client's judgement of the read found (after the caller said what it saw first)."""
        if self.judged is not None:
            raise self.judged

    def moved(self, later: Snapshot) -> list[str]:
        """What differs in a later look: every field that changed (timestamps included, compared as
        written), every user that came or went."""
        found = [f"user {uid} is gone" for uid in self.users if uid not in later.users]
        found += [f"user {uid} appeared" for uid in later.users if uid not in self.users]
        for uid, before in self.users.items():
            after = later.users.get(uid)
            if after is None:
                continue
            for key in sorted(before.keys() | after.keys()):
                if before.get(key, "<absent>") != after.get(key, "<absent>"):
                    found.append(f"user {uid} {key}: {before.get(key, '<absent>')!r} -> {after.get(key, '<absent>')!r}")
        return found


@dataclass
class Logins:
    """What the run knows of one username's password grants: the wall-clock times around the latest
    successful one (None: no login yet), and how many are in flight (while one is, lastLogin may be either)."""

    latest: tuple[float, float] | None = None
    in_flight: int = 0


class Tokens:
    """Bearer tokens per role from POST /api/v1/token (or fixed tokens), renewed before `exp`; every
    token is held as a Secret and registered with the guard (token -> role), which refuses `/me/…` with
    it and tells the ledger which role created a user."""

    def __init__(self, http: GuardedClient, roles: dict[str, RoleCredentials]) -> None:
        self.http = http
        self.roles = roles
        self._cache: dict[str, tuple[Secret, float, float]] = {}
        self._lock = threading.Lock()
        self.logins: dict[str, Logins] = {}  # username -> its password grants by this run (USR-4, USR-11)
        self.users_of_tokens: dict[str, str] = {}  # a user token this run was granted -> the username
        self.after_login: Callable[[str], None] | None = None  # told the username of every successful grant
        self._logins_lock = threading.Lock()

    def grant(self, body: dict[str, Any]) -> httpx.Response:
        """POST /api/v1/token as given (values may be Secrets; the transport reveals them)."""
        return self.http.post("/api/v1/token", json=body)

    def _fetch(self, creds: RoleCredentials) -> tuple[Secret, float, float]:
        if creds.token:
            exp = float(jwt_claims(creds.token).get("exp", time.time() + 10**9))
            return creds.token, time.time(), exp
        try:
            if creds.grant == "app_token":  # Run:ai's application token grant, as runapy sends it
                body = {"grantType": "app_token", "AppId": creds.client_id, "AppSecret": creds.client_secret}
            else:
                body = {
                    "grantType": "client_credentials",
                    "clientId": creds.client_id,
                    "clientSecret": creds.client_secret,
                }
            answer = self.grant(body)
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot get a token for the {creds.role} role: {type(exc).__name__}: {exc}") from None
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
            token = Secret(data["accessToken"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError("POST /api/v1/token did not answer {accessToken}; is this the Run:ai API?") from None
        now = time.time()
        exp = jwt_claims(token).get("exp")
        if not isinstance(exp, (int, float)):  # AUTH-3: the expiry is the JWT's exp; expiresIn is a fallback
            exp = now + float(data.get("expiresIn") or 300)
        return token, now, float(exp)

    def token(self, role: str) -> Secret:
        if role not in self.roles:
            pytest.skip(f"the credentials have no {role} role")
        with self._lock:
            cached = self._cache.get(role)
            now = time.time()
            dead = cached is not None and cached[0].reveal() in self.http.token_book.dead  # died early: a new one
            if cached is None or dead or (cached[2] - now) < RENEW_MARGIN * (cached[2] - cached[1]):
                cached = self._fetch(self.roles[role])
                self._cache[role] = cached
                self.http.guard.role_tokens[cached[0].reveal()] = role
            return cached[0]

    def fresh(self, role: str) -> Secret:
        """A new token for the role, granted now and not cached: for a test that uses a token as it ages."""
        if role not in self.roles:
            pytest.skip(f"the credentials have no {role} role")
        return self._fetch(self.roles[role])[0]

    def headers(self, role: str) -> dict[str, Secret]:
        return {"Authorization": bearer(self.token(role))}

    def user_token(self, username: str, password: Secret | str) -> httpx.Response:
        """A password grant for a user (the transport registers the password for redaction); a successful
        one is remembered as that user's latest login, and the user is read afterwards (`after_login`)."""
        with self._logins_lock:
            state = self.logins.setdefault(str(username), Logins())
            state.in_flight += 1
        started, answer = time.time(), None
        try:
            answer = self.grant({"grantType": "password", "username": username, "password": password})
        finally:
            with self._logins_lock:
                state.in_flight -= 1
                if answer is not None and answer.status_code == 200:
                    state.latest = (started, time.time())
        token = access_token(answer) if answer.status_code == 200 else None
        if token is not None:
            self.users_of_tokens[token.reveal()] = str(username)
            if self.after_login is not None:
                self.after_login(str(username))
        return answer

    def forget_logins(self, username: str) -> None:
        """A user was created under this username: none of the run's earlier grants was its login."""
        with self._logins_lock:
            self.logins.pop(username, None)

    def logins_of(self, username: str) -> Logins:
        with self._logins_lock:
            state = self.logins.get(username, Logins())
            return Logins(state.latest, state.in_flight)


def access_token(answer: httpx.Response) -> Secret | None:
    """The accessToken of a token answer, as a Secret (None when there is none)."""
    try:
        value = answer.json().get("accessToken")
    except (ValueError, AttributeError):
        return None
    return Secret(value) if isinstance(value, str) and value else None


class Api:
    """Calls to the target as a role, through the run's one guarded client; evidence of an exchange
    for failure messages."""

    def __init__(self, target: Target, http: GuardedClient, tokens: Tokens) -> None:
        self.target = target
        self.http = http
        self.tokens = tokens
        self.redact = http.redact
        self.ledger = http.ledger
        # user id -> (its fixed fields as first read, the request that read them): USR-4 across representations
        self._fixed: dict[str, tuple[dict[str, Any], str]] = {}
        self._issued: dict[str, str] = {}  # every user id a create answer handed out -> that user's username
        self._ids_of: dict[str, str] = {}  # username -> the id the latest create answer for it handed out
        # usernames the run created more than one user of (look-alikes in two tenants): a password grant for
        # one says nothing of the other's lastLogin, which only the test that knows which one judges
        self._shared_names: set[str] = set()
        # Every write of the run to one of its users (a create, a reset, a logout, a password change, a
        # login) is followed by a read of that user, which the client judges (timestamps, fixed fields).
        # The state machines turn it off: they read every user of theirs after every step anyway.
        self.read_after_writes = True
        tokens.after_login = self._read_after_login

    @classmethod
    def connect(cls, target: Target, tag: str | None = None) -> Api:
        """The suite's client for `target`: one guarded HTTP client (ledger of what it creates under
        `tag`, the run tag unless given; a redactor that knows the target's secrets), role tokens.
        The caller closes `api.http`."""
        ledger = Ledger(tag or target.run_tag)
        clients = {
            c.client_id: c.client_secret.reveal() for c in target.roles.values() if c.client_id and c.client_secret
        }
        guard = Guard(ledger, read_only=target.read_only, base_path=urlparse(target.url).path, clients=clients)
        try:
            network = target.network.client_options()
        except NetworkError as exc:
            raise ConfigError(str(exc)) from None
        http = GuardedClient(
            ledger=ledger,
            guard=guard,
            redact=Redactor(target.secrets),
            network=target.network,
            pacer=Pacer(target.shared / PACING_FILE, cap=target.network.rate_limit, patience=target.network.patience)
            if target.shared
            else None,
            shared=target.shared,
            base_url=target.url,
            follow_redirects=False,
            **network,
        )
        return cls(target, http, Tokens(http, target.roles))

    def concurrently(self, *calls: Callable[[], T]) -> list[T]:
        """Independent requests at once: against a remote target a check that needs several answers
        waits for the slowest, not for their sum. Results in the order given; the first error raises."""
        if len(calls) < 2:
            return [call() for call in calls]
        futures = [_POOL.submit(call) for call in calls]
        return [future.result() for future in futures]

    @property
    def exercised(self) -> set[str]:
        return self.http.exercised

    def call(
        self,
        role: str | None,
        method: str,
        path: str,
        *,
        token: Secret | str | None = None,
        judges_token: bool = False,
        **kw: Any,
    ) -> httpx.Response:
        """One request, as `role` (or with a given token, or with none when both are None). `judges_token`:
        the test itself judges what a 401 says of the token's life (AUTH-4's logout checks), not the run."""
        if self.target.read_only and method.upper() in WRITE_METHODS:
            pytest.skip("read-only run: no POST or DELETE is sent")
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = bearer(token)
        elif role is not None:
            headers.update(self.tokens.headers(role))
        if judges_token:
            kw["extensions"] = {**kw.get("extensions", {}), JUDGED_BY_TEST: True}
        answer = self.http.request(method, path, headers=headers, **kw)
        self.judge_representation(answer)
        self.judge_new_id(answer)
        self.read_after_write(answer, token)
        return answer

    def token_state(self, token: Secret) -> httpx.Response:
        """Whether a user token authenticates, judged by the caller: POST /me/password with a too-short new
        password answers 400 (or 403 for a target that checks the current password first) to a live token,
        401 to a dead one, and changes nothing either way."""
        return self.call(
            None,
            "POST",
            "/api/v1/me/password",
            token=token,
            judges_token=True,
            json={"currentPassword": "x" * 8, "newPassword": "short"},
        )

    def read_after_write(self, answer: httpx.Response, token: Secret | str | None = None) -> None:
        """USR-4/USR-11 after every write: a successful create, password reset, logout or password change
        of one of the run's users is followed by a GET of that user, whose timestamps the client judges."""
        request = answer.request
        if not self.read_after_writes or request.method != "POST" or not answer.is_success or self.http.cleaning_up:
            return
        segments = [s for s in request.url.path.split("/") if s]
        user_id: str | None = None
        if segments[-1:] == ["users"] and answer.status_code == 201:
            try:
                body = answer.json()
            except ValueError:
                return
            user_id = str(body.get("id")) if isinstance(body, dict) and body.get("id") else None
        elif segments[-1:] in (["password"], ["logout"]) and segments[-3:-2] == ["users"]:
            user_id = segments[-2]
        elif segments[-2:] == ["me", "password"] and token is not None:
            raw = token.reveal() if isinstance(token, Secret) else token
            user_id = self._ids_of.get(self.tokens.users_of_tokens.get(raw, ""))
        if user_id is not None and self.ledger.owns_user(user_id):
            self.call(self.ledger.users.get(user_id, "admin"), "GET", f"/api/v1/users/{user_id}")

    def _read_after_login(self, username: str) -> None:
        user_id = self._ids_of.get(username)
        if self.read_after_writes and user_id is not None and self.ledger.owns_user(user_id):
            self.call(self.ledger.users.get(user_id, "admin"), "GET", f"/api/v1/users/{user_id}")

    def judge_new_id(self, answer: httpx.Response) -> None:
        """USR-1 "`id` is new": no create answer of this run hands out an id an earlier one did, not even
        the id of a user the run has deleted since."""
        request = answer.request
        if answer.status_code != 201 or request.method != "POST" or not request.url.path.endswith("/users"):
            return
        try:
            body = answer.json()
        except ValueError:
            return
        if not isinstance(body, dict) or not body.get("id"):
            return
        key = normal_id(body["id"])
        earlier = self._issued.get(key)
        self._issued[key] = str(body.get("username"))
        before = self._ids_of.get(str(body.get("username")))
        if before is not None and before != str(body["id"]):  # the run has two users of one name (two tenants)
            self._shared_names.add(str(body.get("username")))
        self._ids_of[str(body.get("username"))] = str(body["id"])
        self.tokens.forget_logins(str(body.get("username")))
        if earlier is not None:
            raise ContractViolation(
                "USR-1",
                f"the new user {body.get('username')!r} got id {body['id']}, which an earlier create answer of this "
                f"run gave to {earlier!r}: an id is new\n{self.evidence(answer)}",
                answer=answer,
            )

    def judge_representation(self, answer: httpx.Response) -> None:
        """Every representation, wherever it appears: every user or tenant a test reads (by id, in any
        list, sorted, filtered or paged) and every created tenant is checked for secrets, by key (a field
        named like a password, secret or metricStore) and by value (any password, token or client secret
        this run has sent or received, under any name). USR-5 for users, TEN-3 for tenants."""
        if self.http.cleaning_up or not answer.is_success:
            return
        request = answer.request
        segments = [s for s in request.url.path.split("/") if s][-4:]
        kind = next((k for k in ("users", "tenants") if k in segments[-2:]), None)
        reads = request.method == "GET" and segments[-1:] != ["count"]
        if kind is None or not (reads or (request.method == "POST" and segments[-1:] == ["tenants"])):
            return
        if segments[-1] in ("password", "logout", "me"):
            return
        try:
            body = answer.json()
        except ValueError:
            return
        leaked = secret_fields(body)
        if self.redact.found_in(strings_in(body)):
            leaked.append("the value of a password, token or secret this run knows")
        if leaked:
            rule_id = "USR-5" if kind == "users" else "TEN-3"
            raise ContractViolation(
                rule_id, f"a {kind[:-1]} representation carries {leaked}\n{self.evidence(answer)}", answer=answer
            )
        if kind == "users" and request.method == "GET":
            self.judge_fixed_fields(answer, body)

    def judge_fixed_fields(self, answer: httpx.Response, body: Any) -> None:
        """USR-4 in every representation: a user this run created shows the same username, createdBy,
        createdAt (as an instant) and isLocal in every read — GET by id and every list item, for every
        role — as in the first read of it; and every timestamp clause holds in every read (USR-4: date-times
        with a zone, not in the future, createdAt <= updatedAt; lastLogin null until the run's first
        successful grant for it, USR-11: then the time of the latest). Users of other clients are never
        compared."""
        items = body if isinstance(body, list) else [body]
        problems = []
        stamps: list[tuple[str, str]] = []  # (rule, what): USR-4/USR-11 timestamp clauses, on every read
        for item in items:
            if not isinstance(item, dict) or not self.ledger.owns_user(str(item.get("id"))):
                continue
            fixed = {key: item.get(key) for key in USER_FIXED}
            if str(item["id"]) not in self._fixed:  # the first read: where it was, redacted only now
                path = answer.request.url.raw_path.decode("ascii", "replace")
                self._fixed[str(item["id"])] = (fixed, f"{answer.request.method} {self.redact(path)}")
            first, where = self._fixed[str(item["id"])]
            changed = [key for key in USER_FIXED if not same_value(key, first[key], fixed[key])]
            if changed:
                problems.append(
                    f"user {item['id']}: {', '.join(f'{k} {fixed[k]!r} (was {first[k]!r})' for k in changed)}; first read in {where}"
                )
            logins = self.tokens.logins_of(str(item.get("username")))
            known = logins.in_flight == 0 and str(item.get("username")) not in self._shared_names
            stamps += [
                (rule_id, f"user {item['id']}: {text}")
                for rule_id, text in timestamp_problems(item, login=logins.latest, last_login_known=known)
            ]
        found = []
        if problems:
            found.append(
                ContractViolation(
                    "USR-4",
                    f"a user's fixed fields differ between two reads: {'; '.join(problems)}\n{self.evidence(answer)}",
                    answer=answer,
                )
            )
        for rule_id in dict.fromkeys(r for r, _ in stamps):
            if rule_id == "USR-4" and problems:
                continue  # one violation per rule
            found.append(
                ContractViolation(
                    rule_id,
                    f"a user's timestamps: {'; '.join(t for r, t in stamps if r == rule_id)}\n{self.evidence(answer)}",
                    answer=answer,
                )
            )
        raise_found(found, "broken rules in one read")

    def evidence(self, answer: httpx.Response) -> str:
        """The request, the response and a reproducing curl line, with secrets masked."""
        request = answer.request
        body = request.content.decode("utf-8", "replace") if request.content else ""
        url = sent_url(request)  # the path exactly as it went out, dot segments and all
        return "\n".join(
            [
                f"request:  {request.method} {self.redact(url)}",
                *([f"  body: {self.redact(body[:2000])}"] if body else []),
                f"response: {answer.status_code} {self.redact(answer.text[:2000])}",
                f"reproduce: {curl(request.method, url, request.headers, request.content, self.redact)}",
            ]
        )

    def expect(self, answer: httpx.Response, rule: str, statuses: int | tuple[int, ...], what: str) -> httpx.Response:
        """Fail with rule and evidence unless the answer has one of the statuses."""
        wanted = (statuses,) if isinstance(statuses, int) else statuses
        if answer.status_code not in wanted:
            raise ContractViolation(
                rule,
                f"{what}: expected {' or '.join(map(str, wanted))}, got {answer.status_code}\n{self.evidence(answer)}",
                answer=answer,
            )
        return answer

    def look(self, scope: str, *, defer: bool = False) -> Snapshot:
        """The run's users whose username contains `scope` (a tag of this run, or one of its users'
        usernames), every field of each, as the admin's list shows them: one read. Only names that carry
        the run tag are looked at, so other clients' writes on a shared target never count. The client
        judges the read as every read; with `defer` what it finds is held in the snapshot (`verdict`), so
        that a caller who sees a field move names the rule of the request that moved it first."""
        if not scope.startswith(self.ledger.run_tag):
            raise ValueError(f"a look is scoped to this run's tag {self.ledger.run_tag}, not {scope!r}")
        params = {"filterBy": f"username=@{scope}", "limit": MAX_LIMIT}
        answer = self.http.request("GET", "/api/v1/users", params=params, headers=self.tokens.headers("admin"))
        judged: BaseException | None = None
        try:
            self.judge_representation(answer)
        except (ContractViolation, ExceptionGroup) as exc:
            if not defer:
                raise
            judged = exc
        try:
            listed = answer.json() if answer.status_code == 200 else []
        except ValueError:
            listed = []
        items = listed if isinstance(listed, list) else []
        users = {
            str(u["id"]): u
            for u in items
            if isinstance(u, dict) and "id" in u and str(u.get("username", "")).startswith(self.ledger.run_tag)
        }
        return Snapshot(scope, users, answer, judged)

    def unmoved(self, before: Snapshot, rule_id: str, cause: httpx.Response, what: str) -> Snapshot:
        """A request that must change nothing (a rejected one, a read) changed nothing: a second look at
        `before`'s scope shows every field of every user as before, or `rule_id` (the rule of the request)
        fails, naming what moved, with the request and the look. Returns the second look."""
        after = self.look(before.scope, defer=True)
        self.nothing_moved(before, after, rule_id, cause, what)
        after.verdict()
        return after

    def nothing_moved(self, before: Snapshot, after: Snapshot, rule_id: str, cause: httpx.Response, what: str) -> None:
        """Fail `rule_id` (the rule of `cause`, a request that must change nothing) when anything differs
        between two looks at the same scope, naming every field that moved."""
        if before.answer.status_code != 200 or after.answer.status_code != 200:
            return  # no look to compare: the listing rules judge a list that does not answer
        moved = before.moved(after)
        if moved:
            raise ContractViolation(
                rule_id,
                f"{what} answered {cause.status_code} and must change nothing, yet {self.redact('; '.join(moved))}\n"
                f"{self.evidence(cause)}\nthe look afterwards:\n{self.evidence(after.answer)}",
                answer=cause,
            )

    def users_named(self, email: str) -> tuple[list[dict[str, Any]], httpx.Response]:
        """The admin tenant's users whose username is exactly `email`, and the answer that listed them."""
        params = {"filterBy": f"username=={email}", "limit": MAX_LIMIT}
        return self._named("admin", "/api/v1/users", params, "username", email)

    def tenants_named(self, name: str) -> tuple[list[dict[str, Any]], httpx.Response]:
        """The live tenants named exactly `name`, and the answer that listed them."""
        return self._named("operator", "/api/v1/tenants", {}, "name", name)

    def _named(
        self, role: str, path: str, params: dict[str, Any], key: str, value: str
    ) -> tuple[list[dict[str, Any]], httpx.Response]:
        """A look that changes nothing: the items of a list whose `key` is `value` (none when the answer is
        not a JSON list: the listing rules judge that elsewhere)."""
        answer = self.call(role, "GET", path, params=params)
        try:
            listed = answer.json() if answer.status_code == 200 else []
        except ValueError:
            listed = []
        items = [i for i in listed if isinstance(i, dict) and i.get(key) == value] if isinstance(listed, list) else []
        return items, answer

    # -------------------------------------------------------------- creating resources (the transport ledgers them)

    def create_user(self, name: str | None = None, *, role: str = "admin", rule: str = "USR-1") -> dict[str, Any]:
        """A tagged user created as `role`; its temporary password comes back as a Secret."""
        email = f"{self.ledger.tagged(name or uuid.uuid4().hex[:8])}@example.com"
        answer = self.call(role, "POST", "/api/v1/users", json={"email": email})
        body = self.expect(answer, rule, 201, f"creating user {email}").json()
        if isinstance(body, dict) and isinstance(body.get("tempPassword"), str):
            body["tempPassword"] = Secret(body["tempPassword"])
        return body

    def create_tenant(self, *, rule: str = "TEN-1", **fields: Any) -> httpx.Response:
        """A tagged tenant created as operator (the raw answer)."""
        body = {"name": self.ledger.tagged(uuid.uuid4().hex[:8]), "email": "owner@example.com", **fields}
        return self.call("operator", "POST", "/api/v1/tenants", json=body)

    # -------------------------------------------------------------- cleanup

    def cleanup(self) -> list[str]:
        """Delete everything in the ledger; returns problems (`sweep.clean_up` then sweeps the run's tag)."""
        self.http.cleaning_up = True
        problems: list[str] = []
        deletes = [
            *(lambda u=user_id, r=role: self.delete_user(u, r) for user_id, role in list(self.ledger.users.items())),
            *(lambda t=tenant_id: self.delete_tenant(t) for tenant_id in sorted(self.ledger.tenants)),
        ]
        for found in self.concurrently(*deletes):  # eight at a time: a remote target's latency, not their sum
            problems += found
        return problems

    def delete_user(self, user_id: str, role: str) -> list[str]:
        """Delete one of this run's users and check it is gone; returns problems."""
        try:
            answer = self.as_role(role, "DELETE", f"/api/v1/users/{user_id}")
        except (httpx.HTTPError, ConfigError, Refused) as exc:
            return [f"user {user_id}: {type(exc).__name__}"]
        except pytest.skip.Exception as exc:  # no credentials for the role that created it; a target gone
            return [f"user {user_id}: not deleted ({exc.msg})"]
        if answer.status_code not in (204, 200, 404):
            return [f"user {user_id}: DELETE answered {answer.status_code}"]
        return self._still_there(f"/api/v1/users/{user_id}", role, f"user {user_id}")

    def delete_tenant(self, tenant_id: int) -> list[str]:
        """Hard-delete one of this run's tenants and check it is gone; returns problems."""
        try:
            answer = self.as_role("operator", "DELETE", f"/api/v1/tenants/{tenant_id}", params={"isHardDelete": "true"})
        except (httpx.HTTPError, ConfigError, Refused) as exc:
            return [f"tenant {tenant_id}: {type(exc).__name__}"]
        except pytest.skip.Exception as exc:
            return [f"tenant {tenant_id}: not deleted ({exc.msg})"]
        if answer.status_code not in (200, 204, 404):
            return [f"tenant {tenant_id}: DELETE answered {answer.status_code}"]
        return self._still_there(f"/api/v1/tenants/{tenant_id}", "operator", f"tenant {tenant_id}")

    def as_role(self, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """The run's own request as a role (its cleanup, a sweep), sent once more with a new token when the
        role's token died before its exp (the token book marks it; the run has named that already)."""
        headers = self.tokens.headers(role)
        answer = self.http.request(method, path, headers=headers, **kw)
        if (
            answer.status_code == 401
            and headers["Authorization"].reveal().partition(" ")[2] in self.http.token_book.dead
        ):
            answer = self.http.request(method, path, headers=self.tokens.headers(role), **kw)
        return answer

    def _still_there(self, path: str, role: str, what: str) -> list[str]:
        """A delete the target acknowledged but did not do is reported, not trusted."""
        try:
            answer = self.as_role(role, "GET", path)
        except (httpx.HTTPError, ConfigError) as exc:
            return [f"{what}: {type(exc).__name__} while checking the delete"]
        except pytest.skip.Exception as exc:
            return [f"{what}: the delete could not be checked ({exc.msg})"]
        return [] if answer.status_code == 404 else [f"{what}: still there after the target acknowledged its delete"]
