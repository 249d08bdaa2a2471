"""The one way out: every request of a run leaves through one `GuardedClient` (the suite's own calls,
the raw auth probes, and Schemathesis' generated cases and re-sends through `SchemathesisTransport`).

Its `send` is the only place that
1. reveals secrets (`Secret` values are unwrapped only while a request is built),
2. asks the guard (conformance/guard.py) and refuses what could change someone else's resource,
3. keeps the ledger from the answers themselves (2xx from the create operations), and remembers
   every id seen in any other answer, so that the guard refuses it,
4. teaches the redactor every secret that goes out (every `Secret` it reveals) or comes back (tokens,
   temporary passwords),
5. keeps the evidence: which operations the current test exercised, and the last exchanges, and
6. notes every 5xx answer a test receives (a throttled 503 with Retry-After aside, unless it outlasts the
   run's patience): ERR-3's, whatever the test asked (conformance/reporting.py turns them into verdicts).
   The preflight's and the cleanup's own requests are no test's.

Every try leaves in the run's pace (conformance/pacing.py). A throttled answer (429, or 503 with
Retry-After) is waited out and the request sent again, writes included (a 429 was not processed; after a
503 or a broken connection a create or a delete is read back first), until the run's patience is spent:
only then is the test inconclusive.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from schemathesis.core.transport import Response as SchemathesisResponse
from schemathesis.transport.requests import RequestsTransport

from .guard import Guard, Ledger, Refused, ids_in, normal_id, path_segments, tenant_readings
from .memory import Memory
from .network import Network
from .operations import TOKEN_OPERATION, operation_of
from .pacing import DEFAULT_WAIT, Pacer, retry_after
from .redact import Redactor
from .secret import reveal
from .tokenlife import JUDGED_BY_TEST, TokenBook, TokenDied

PROGRESS_EVERY = 30.0  # seconds between progress lines of one long test
WAITS_SHOWN = 3  # throttled answers shown one by one before they are shown once every PROGRESS_EVERY


class Throttled(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A throttled answer where retrying is not safe: the test's result is inconclusive, not a verdict
    (a skip whose reason starts with "inconclusive:")."""


class TargetGone(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """The target stopped answering: this test is inconclusive and the run stops."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"inconclusive: {reason}")


SECRET_ANSWER_KEYS = ("accessToken", "idToken", "refreshToken", "externalToken", "tempPassword")
CREATES = {("api", "v1", "users"): "user", ("api", "v1", "tenants"): "tenant"}
EVIDENCE_KEPT = 20
# A broken connection: the request may or may not have reached the handler (a timeout or a refused
# connection is no answer at all: the target may be gone).
RESETS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
# Methods a repeat leaves as one try would (RFC 9110): the fuzzing's undeclared methods among them.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT"})
# Operations a repeat leaves as one try would: a token grant, a password reset (another temporary
# password, the lost one never seen), a logout.
REPEATABLE = frozenset({TOKEN_OPERATION, "reset_user_password", "logout_user"})


@dataclass
class ServerErrors:
    """The 5xx answers of one operation in the current test: how many, and the last one (in a property
    test or a state machine, the one the shrunk example sent: Hypothesis replays it last)."""

    last: httpx.Response
    count: int = 1


def is_server_error(response: httpx.Response) -> bool:
    """A 5xx answer, which ERR-3 forbids for any input; a throttled 503 (with Retry-After) is no answer
    but a request to come back later (waited out, or the test is inconclusive)."""
    return response.status_code >= 500 and throttled_for(response) is None


class GuardedClient(httpx.Client):
    """An httpx client whose every request is guarded, ledgered, redacted and kept as evidence."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        guard: Guard,
        redact: Redactor,
        network: Network | None = None,
        pacer: Pacer | None = None,
        shared: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ledger = ledger
        self.guard = guard
        self.redact = redact
        self.network = network or Network()
        # the run's pace, shared with its workers (a private one for a client of its own: sweep, self-tests)
        self.pacer = pacer or Pacer(cap=self.network.rate_limit, patience=self.network.patience)
        self.token_book = TokenBook(shared)  # how long the run's tokens live (conformance/tokenlife.py)
        self.memory = Memory()  # what must still hold later (conformance/memory.py)
        self.notice: Callable[[str], None] = _silent  # the run's terminal line, set by the plugin
        self.progress_every = PROGRESS_EVERY  # seconds between progress lines of one long test (--progress-every)
        self.gone: str | None = None  # set when the target stopped answering: every later request fails fast
        self.cleaning_up = False  # during the cleanup a DELETE of our own is repeated without a read back
        self._unanswered = 0  # requests in a row without an answer
        self._waits = 0  # throttled answers and resets waited out by this process
        self._waits_shown = 0
        self._last_wait_shown = 0.0
        self._test = ""
        self._test_started = time.monotonic()
        self._test_sent = 0
        self._last_progress = time.monotonic()
        self.exercised: set[str] = set()  # operations the current test sent requests to (for the reports)
        self.exchanges: collections.deque[httpx.Response] = collections.deque(maxlen=EVIDENCE_KEPT)
        self.server_errors: dict[str | None, ServerErrors] = {}  # operation -> the current test's 5xx answers
        self.sent = 0
        self.pending_interrupt = False  # set by the run's signal handler; the next request raises it
        self._lock = threading.Lock()

    def close(self) -> None:
        super().close()
        self.pacer.close()  # its state file stays for the run's other processes, unless it was a private one

    # ------------------------------------------------------------------ building: secrets revealed here only

    def build_request(self, method: str, url: Any, **kwargs: Any) -> httpx.Request:
        revealed: list[str] = []
        for key in ("headers", "json", "params", "data", "content", "cookies"):
            if kwargs.get(key) is not None:
                kwargs[key] = reveal(kwargs[key], revealed)
        for text in revealed:
            self.redact.add(text.removeprefix("Bearer ").strip())
        return super().build_request(method, reveal(url), **kwargs)

    # ------------------------------------------------------------------ sending: guard, then ledger

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if self.pending_interrupt:
            self.pending_interrupt = False
            raise KeyboardInterrupt
        body = request.content
        raw_path = sent_path(request)
        self.guard.check(request.method, raw_path, request.headers.get("authorization"), body)
        if self.gone:
            raise TargetGone(self.gone)
        granting = _grant_username(request)  # a login under way: a read meanwhile says nothing of lastLogin
        if granting:
            self.memory.granting(granting, +1)
        try:
            return self._send_paced(request, raw_path, **kwargs)
        finally:
            if granting:
                self.memory.granting(granting, -1)

    def _send_paced(self, request: httpx.Request, raw_path: str, **kwargs: Any) -> httpx.Response:
        """Send in the run's pace, again after a throttled answer or a reset, within the run's patience."""
        for attempt in range(1, self.network.throttle_retries + 2):
            wait = self.pacer.slot()  # the run's pace: every worker's requests together keep to it
            sent_at = self.pacer.clock() + wait
            if wait > 0:
                time.sleep(wait)
            sent_wall = time.time()  # when the target may first have read its token (the token book's clock)
            try:
                response = self._send_once(request, **kwargs)
            except RESETS as exc:  # the connection broke mid-request: no answer to judge
                wait = self.pacer.reset(attempt) if attempt <= self.network.throttle_retries else None
                if wait is None:
                    raise Throttled(
                        f"inconclusive: {request.method} {request.url.path}: the connection was reset "
                        f"({type(exc).__name__}) and the run's patience for retries is spent"
                    ) from None
                self._settle_unknown(request, f"the connection was reset ({type(exc).__name__})")
                self._tell_wait(
                    f"connection reset: waiting {wait:.1f} s, then retrying {request.method} {request.url.path}"
                )
                time.sleep(wait)
                continue
            if throttled_for(response) is None:
                break
            self._observe(request, response)  # the evidence keeps every try
            wait = self.pacer.throttled(response.status_code, response.headers, sent_at)
            if wait is None or attempt > self.network.throttle_retries:
                if response.status_code == 503:  # a 5xx that persists past the run's patience is ERR-3's
                    self._observe(request, response, persisted=True)
                    return response
                raise Throttled(
                    f"inconclusive: {request.method} {request.url.path} was throttled ({response.status_code}, "
                    f"Retry-After {response.headers.get('retry-after')!r}) and the run's patience "
                    f"({self.pacer.patience:.0f} s of waiting) is spent; no verdict on a throttled answer"
                )
            if response.status_code == 503:  # the gateway may have passed it on: a write is read back first
                self._settle_unknown(request, "it was answered 503")
            self._tell_wait(
                f"throttled ({response.status_code}): waiting {wait:.1f} s, then retrying {request.method} {request.url.path}"
            )
        self.pacer.answered(response.headers)
        self._observe(request, response)
        self._judge_token(request, response, sent_wall)
        return response

    def _judge_token(self, request: httpx.Request, response: httpx.Response, sent: float) -> None:
        """A token the run was granted authenticated, or died before its exp (conformance/tokenlife.py): the
        test that met the death is inconclusive, and the first of the run fails naming AUTH-3/AUTH-1."""
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if not token:
            return
        if response.status_code != 401:
            if authenticated(request, response):
                self.token_book.worked(token, at=sent)  # (no later than sent can it be said to have worked)
            return
        if request.extensions.get(JUDGED_BY_TEST):
            return
        death = self.token_book.death(token)  # marked dead, so that a role's token is fetched anew
        if death is not None and self._test and not self.cleaning_up:  # (the preflight, the cleanup: no test's)
            died = TokenDied(death, named=self.token_book.name_once())
            died.answer = response  # type: ignore[attr-defined]  # the evidence of a named death
            raise died

    def _tell_wait(self, text: str) -> None:
        """The run's first waits are shown one by one, then one line every --progress-every seconds: a
        throttling gateway must not drown the terminal (summary.json counts them all)."""
        with self._lock:
            self._waits += 1
            now = time.monotonic()
            show = self.notice is not _silent and (
                self._waits_shown < WAITS_SHOWN or now - self._last_wait_shown >= self.progress_every
            )
            if show:
                self._last_wait_shown, self._waits_shown = now, self._waits_shown + 1
        if show:
            self.notice(text if self._waits_shown <= WAITS_SHOWN else f"{text} ({self._waits} waits so far)")

    def _settle_unknown(self, request: httpx.Request, what: str) -> None:
        """A request whose fate is unknown (answered 503, or its connection reset) is about to be repeated.
        A read, a token grant, a reset or a logout may be; a create or a delete is read back first: done,
        what it made is ledgered and its test is inconclusive (its answer is lost); not done, it is
        repeated. Anything else (a password change) is inconclusive at once."""
        op = operation_of(request.method, str(request.url))
        if request.method in IDEMPOTENT or op is None or op in REPEATABLE or self.cleaning_up:
            return  # (no operation of the spec: an undeclared method, which a repeat leaves as it was)
        headers = {"authorization": request.headers.get("authorization", "")}
        done: str | None = None
        if op in ("create_user", "create_tenant"):
            try:
                sent = json.loads(request.content or b"{}")
            except ValueError:
                sent = {}
            kind, key = ("user", "email") if op == "create_user" else ("tenant", "name")
            made = self._find_created(kind, str(sent.get(key, "")), headers) if isinstance(sent, dict) else None
            if made is not None and not self._made_before(kind, made):  # (an earlier create of the run's: a
                self._ledger_created(kind, made, request)  # duplicate is sent again, its 409 is the answer)
                done = f"the {kind} exists"
        elif op in ("delete_user_by_id", "delete_tenant_by_id"):
            if not self._ours(request):
                return  # a made-up id: nothing the run knows of can have been deleted, a 404 stays a 404
            after = self.get(request.url.copy_with(query=None), headers=headers)
            gone = after.status_code == 404 or (
                op == "delete_tenant_by_id" and b"isHardDelete=true" not in request.url.query
                and _json_field(after, "status") in ("Deleting", "Deleted")
            )  # fmt: skip
            done = "it is deleted" if gone else None
        else:
            done = "its effect cannot be read back"
        if done is not None:
            raise Throttled(
                f"inconclusive: {request.method} {request.url.path}: {what}, and {done}; no verdict on an answer "
                "that was lost"
            )

    def _find_created(self, kind: str, name: str, headers: dict[str, str]) -> dict[str, Any] | None:
        """The create answer's shape for the user or tenant of this name, when the target has one."""
        if not name:
            return None
        if kind == "user":
            listed = self.get("/api/v1/users", params={"search": name, "limit": 500}, headers=headers)
            found = [u for u in _json_list(listed) if u.get("username") == name]
            return {"id": found[0].get("id")} if found else None
        listed = self.get("/api/v1/tenants", headers=headers)
        found = [t for t in _json_list(listed) if t.get("name") == name]
        return {"tenant": found[0]} if found else None

    def _ours(self, request: httpx.Request) -> bool:
        """Whether a request's path names a user or tenant this run created."""
        segments = path_segments(sent_path(request), self.guard.base_path)
        kind, named = segments[2:3], segments[3:4]
        if kind == ["users"]:
            return any(self.ledger.owns_user(i) for i in named)
        return kind == ["tenants"] and any(self.ledger.owns_tenant(n) for i in named for n in tenant_readings(i))

    def _made_before(self, kind: str, made: dict[str, Any]) -> bool:
        """Whether what a read back found is what an earlier create of this run made."""
        if kind == "user":
            return self.ledger.owns_user(str(made.get("id")))
        tenant_id = (made.get("tenant") or {}).get("id")
        return isinstance(tenant_id, int) and self.ledger.owns_tenant(tenant_id)

    def _send_once(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """One try; a target that stops answering is told apart from one slow answer."""
        try:
            response = super().send(request, **kwargs)
            response.read()
        except RESETS:
            raise
        except (httpx.TimeoutException, httpx.ConnectError) as exc:
            with self._lock:
                self._unanswered += 1
                if self._unanswered >= self.network.give_up_after:
                    self.gone = (
                        f"the target stopped answering after {self.sent} requests "
                        f"({self._unanswered} in a row got no answer: {type(exc).__name__})"
                    )
            if self.gone:
                raise TargetGone(self.gone) from None
            raise
        with self._lock:
            self._unanswered = 0
        return response

    def _observe(self, request: httpx.Request, response: httpx.Response, *, persisted: bool = False) -> None:
        """Count, show progress, keep as evidence, note a 5xx (`persisted`: a throttled 503 that outlasted
        the run's patience is one too), learn secrets and what the answer created or showed."""
        op = operation_of(request.method, str(request.url))
        with self._lock:
            self.sent += 1
            self._test_sent += 1
            now = time.monotonic()
            every = self.progress_every
            progress = now - self._last_progress >= every and now - self._test_started >= every
            if progress:
                self._last_progress = now
        if progress:  # long work shows it is moving: the state machines, nightly fuzzing
            self.notice(f"{self._test}: {self._test_sent} requests in {now - self._test_started:.0f} s so far")
        with self._lock:
            if op is not None and op != TOKEN_OPERATION:
                self.exercised.add(op)
            self.exchanges.append(response)
            if self._test and not self.cleaning_up and (persisted or is_server_error(response)):
                seen = self.server_errors.get(op)
                if seen is None:
                    self.server_errors[op] = ServerErrors(response)
                else:
                    seen.last, seen.count = response, seen.count + 1
        try:
            data = json.loads(response.content) if response.content else None
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(data, dict):
            for key in SECRET_ANSWER_KEYS:
                self.redact.add(data.get(key) if isinstance(data.get(key), str) else None)
        if response.is_success:
            self._note_for_tokens(op, request, data)
        segments = tuple(s.casefold() for s in path_segments(sent_path(request), self.guard.base_path))
        kind = CREATES.get(segments) if request.method == "POST" else None
        if kind is not None and response.is_success and isinstance(data, dict):  # 201, or a wrong 200: still made
            self._ledger_created(kind, data, request, response.status_code)
            return
        if segments[:3] != ("api", "v1", "token"):
            self.ledger.saw(ids_in(data))

    def _note_for_tokens(self, op: str | None, request: httpx.Request, data: Any) -> None:
        """Tell the token book what a successful answer shows: a grant (its token and for whom), which
        username a user id has, and the events that may end a user's tokens."""
        book = self.token_book
        self._note_for_memory(op, request, data)
        if op == TOKEN_OPERATION and isinstance(data, dict) and isinstance(data.get("accessToken"), str):
            asked, username = _grant_asked(request), _grant_username(request)
            client = next((asked[k] for k in ("clientid", "appid") if isinstance(asked.get(k), str)), "?")
            book.granted(data["accessToken"], f"user {username}" if username else f"client {client}", username)
            return
        for user in data if isinstance(data, list) else [data]:
            if isinstance(user, dict) and "username" in user:  # a create answer, a user read, a list
                book.user_is(user.get("id"), user.get("username"))
        user_id = path_segments(sent_path(request), self.guard.base_path)[3:4]
        if op in ("logout_user", "reset_user_password", "delete_user_by_id") and user_id:
            book.ended(book.username_of(user_id[0]), logout=op == "logout_user")
        elif op == "change_user_password":
            book.ended(book.subject_of(request.headers.get("authorization", "").partition(" ")[2].strip()))

    def _note_for_memory(self, op: str | None, request: httpx.Request, data: Any) -> None:
        """Tell the run's memory what a successful answer shows of the run's own users and tenants."""
        named = path_segments(sent_path(request), self.guard.base_path)[3:4]
        if op in ("get_users", "get_user_by_id", "create_user"):
            for user in data if isinstance(data, list) else [data]:
                if isinstance(user, dict):
                    self.memory.user_read(user, ours=self.ledger.owns_user(str(user.get("id"))))
        elif op == TOKEN_OPERATION:
            username = _grant_username(request)
            if username:
                self.memory.logged_in(username)
        elif op == "delete_user_by_id" and named and self.ledger.owns_user(named[0]):
            self.memory.user_deleted(named[0])
        elif op == "delete_tenant_by_id" and named:
            tenant = next((n for n in tenant_readings(named[0]) if self.ledger.owns_tenant(n)), None)
            if tenant is not None:
                hard = request.url.params.get("isHardDelete", "").casefold() == "true"
                self.memory.tenant_deleted(tenant, hard=hard)

    def _ledger_created(self, kind: str, data: dict[str, Any], request: httpx.Request, status: int = 201) -> None:
        """A create succeeded: what it made is this run's, whatever the test then asserts (a target that
        answers 200 instead of 201 breaks a rule, and still leaves a user or tenant to clean up)."""
        tenant = data.get("tenant") if isinstance(data.get("tenant"), dict) else {}
        made = data.get("id") if kind == "user" else tenant.get("id")
        if status != 201 and normal_id(made) in self.ledger.foreign:
            return  # a 200 naming what an answer showed before: maybe an existing one, not this run's to delete
        if kind == "user" and isinstance(data.get("id"), (str, int)):
            token = request.headers.get("authorization", "").partition(" ")[2].strip()
            self.ledger.add_user(str(data["id"]), self.guard.role_tokens.get(token, "admin"))
        elif kind == "tenant" and isinstance(data.get("tenant"), dict):
            tenant_id = data["tenant"].get("id")
            if isinstance(tenant_id, int) and not isinstance(tenant_id, bool):
                self.ledger.add_tenant(tenant_id)

    @property
    def test_sent(self) -> int:
        """Requests the current test has sent so far (its setup's included)."""
        return self._test_sent

    def received_5xx(self) -> list[tuple[str | None, ServerErrors]]:
        """The current test's 5xx answers so far, by operation (None: a request no operation of the spec names)."""
        with self._lock:
            return list(self.server_errors.items())

    def start_test(self, name: str = "") -> None:
        """A new test begins: its exercised operations, evidence and progress count start empty."""
        with self._lock:
            self.exercised.clear()
            self.exchanges.clear()
            self.server_errors.clear()
            self._test, self._test_sent = name, 0
            self._test_started = self._last_progress = time.monotonic()


def sent_path(request: httpx.Request) -> str:
    """The request target as it goes on the wire: the raw one a test asked for (the `target` extension,
    which keeps dot segments and other spellings httpx would normalise away), else the URL's path."""
    raw = request.extensions.get("target")
    return (raw if isinstance(raw, bytes) else request.url.raw_path).decode("ascii", "replace")


def sent_url(request: httpx.Request) -> str:
    """The URL a request went to, its path exactly as sent."""
    url = request.url
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{sent_path(request)}"


def _grant_asked(request: httpx.Request) -> dict[str, Any]:
    """What a grant (POST /api/v1/token) asked for, its keys case-folded; {} for any other request."""
    if request.method != "POST" or not request.url.path.rstrip("/").endswith("/api/v1/token"):
        return {}
    try:
        body = json.loads(request.content or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return {str(k).casefold(): v for k, v in body.items()} if isinstance(body, dict) else {}


def _grant_username(request: httpx.Request) -> str | None:
    """The username of a password grant, else None."""
    username = _grant_asked(request).get("username")
    return username if isinstance(username, str) else None


def _silent(text: str) -> None:
    """Where notices go before the run has a terminal to show them on."""


def throttled_for(response: httpx.Response) -> float | None:
    """Seconds a throttled answer asks to wait (429, or 503 with Retry-After), else None. A 503 without
    Retry-After is an answer like any other (ERR-3 judges it)."""
    if response.status_code not in (429, 503):
        return None
    wait = retry_after(response.headers)
    if wait is None:
        return DEFAULT_WAIT if response.status_code == 429 else None
    return wait


def _json_list(response: httpx.Response) -> list[dict[str, Any]]:
    """The objects of a JSON list answer (a 200 of a listing), else none."""
    try:
        data = response.json() if response.status_code == 200 else []
    except ValueError:
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def authenticated(request: httpx.Request, response: httpx.Response) -> bool:
    """Whether an answer shows that the request's token authenticated: a success, or an operation of the spec
    judged on its merits (400 for its body, as the suite's token probe relies on; 403 for the role, AUTH-2;
    409 for a duplicate). A 404 or 405 a router answers for a path or method it has no route for, or a
    proxy's 4xx, says nothing of the token: a token revoked by another user's logout looked alive after it."""
    if response.is_success:
        return True
    return response.status_code in (400, 403, 409) and operation_of(request.method, str(request.url)) is not None


def _json_field(response: httpx.Response, key: str) -> Any:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(key) if isinstance(data, dict) else None


class SchemathesisTransport(RequestsTransport):
    """Schemathesis' transport, sending through the run's GuardedClient: generated cases and the
    requests its checks re-send leave by the same door as everything else."""

    def __init__(self) -> None:
        super().__init__()
        self._copy_serializers_from(_requests_transport())
        self.client: GuardedClient | None = None  # the run's client, set when the run is built

    def send(self, case: Any, *, session: Any = None, **kwargs: Any) -> SchemathesisResponse:
        if self.client is None:
            raise Refused("no run client: Schemathesis' requests leave only through the run's guarded client")
        data = self._build_request_data(case, kwargs)
        verify = data.get("verify", True)
        request_kwargs: dict[str, Any] = {
            "headers": data.get("headers"),
            "params": data.get("params") or None,
            "cookies": data.get("cookies") or None,
        }
        if data.get("json") is not None:
            request_kwargs["json"] = data["json"]
        elif isinstance(data.get("data"), (bytes, str)):
            request_kwargs["content"] = data["data"]
        elif data.get("data") is not None:
            request_kwargs["data"] = data["data"]
        if data.get("files"):
            request_kwargs["files"] = data["files"]
        timeout = data.get("timeout")
        response = self.client.request(
            str(data["method"]),
            str(data["url"]),
            follow_redirects=bool(data.get("allow_redirects", False)),
            **({"timeout": timeout} if timeout else {}),
            **request_kwargs,
        )
        return SchemathesisResponse.from_httpx(response, verify=verify)


def _requests_transport() -> RequestsTransport:
    from schemathesis.transport.requests import REQUESTS_TRANSPORT

    return REQUESTS_TRANSPORT


def install(schema: Any) -> SchemathesisTransport:
    """Make `schema` (every case of it, and every request its checks re-send) send through a
    SchemathesisTransport; the run gives the transport its client."""
    transport = SchemathesisTransport()
    schema.__class__ = type(
        f"Guarded{type(schema).__name__}", (type(schema),), {"transport": property(lambda self: transport)}
    )
    return transport


__all__ = [
    "GuardedClient",
    "Refused",
    "SchemathesisTransport",
    "ServerErrors",
    "TargetGone",
    "Throttled",
    "install",
    "is_server_error",
]
