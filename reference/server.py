"""Build and run the reference server: the ASGI app, its credentials file, an in-process runner."""

from __future__ import annotations

import asyncio
import math
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from .app import ReferenceApp
from .faults import Faults
from .store import Store

# Resources "other people" own on a shared staging: untagged, or near misses of a run tag
# (`rcf-` + exactly 8 hex digits + `-`). A safety audit proves the suite never touches them.
FOREIGN_USERS = (
    (1, "alice@example.com"),
    (1, "bob@corp.example.com"),
    (1, "rcf-bob@example.com"),
    (1, "rcf-1234567-carol@example.com"),
    (2, "frank@example.com"),
)
FOREIGN_TENANTS = (("production", 0), ("rcf-production", 3), ("team-a", 4), ("staging", 7))


def make_app(
    store: Store,
    faults: Faults,
    *,
    token_ttl: int = 3600,
    access_log: Callable[[str], Any] | None = None,
    token_bytes: int | None = None,
    token_answer: str = "reference",
    issued: list[str] | None = None,
    lapse: float = 3.0,
    window: int = 100,
    clock: Callable[[], float] = time.time,
) -> Any:
    """The ASGI application of one reference server; `lapse` (seconds) and `window` (results) are when the
    time-* and vol-* faults begin, `lapse` measured with `clock` (seconds since the epoch)."""
    writer = None if access_log is None else (lambda line: access_log(line + "\n"))
    return ReferenceApp(
        store,
        faults,
        token_ttl=token_ttl,
        access_log=writer,
        token_bytes=token_bytes,
        token_answer=token_answer,
        issued=issued,
        lapse=lapse,
        window=window,
        clock=clock,
    ).asgi()


@dataclass
class NetworkModes:
    """How the reference behaves like a remote control plane behind a gateway, for the self-tests:
    added latency per answer, a gateway that throttles (every Nth request, or a token bucket with or
    without rate-limit headers), bursts of 503 with Retry-After (a deploy), connections reset before
    the answer, a target that stops answering. Throttled and 503 answers never reach the handler."""

    latency: float = 0.0  # seconds added before every answer
    throttle_every: int = 0  # every Nth request (token grants aside) gets `throttle_status` with Retry-After
    throttle_status: int = 429  # or 503: a gateway's "come back later", which is no answer (no ERR-3)
    retry_after: str = "0"
    bucket_rate: float = 0.0  # a token bucket in front of every request: this many a second (0: none) …
    bucket_burst: float = 0.0  # … holding this many (default: one second's worth); empty: 429, Retry-After
    bucket_headers: bool = False  # every answer states the bucket: RateLimit-Policy, RateLimit, X-RateLimit-*
    outage_every: int = 0  # every Nth request starts an outage: it and the next `outage_length - 1` get …
    outage_length: int = 0  # … 503 with Retry-After `outage_retry_after`, as a gateway does during a deploy
    outage_retry_after: str = "1"
    reset_every: int = 0  # every Nth request's connection is closed before an answer
    only_reads: bool = False  # outages and resets meet GET and HEAD requests only
    stop_after: int | None = None  # after this many requests, no request gets an answer any more
    seen: int = 0
    throttled: int = 0
    unavailable: int = 0
    resets: int = 0
    server: Any = None  # the uvicorn server (set by `running`): its connections, to reset one
    _tokens: float = -1.0
    _filled_at: float = 0.0
    _outage_left: int = 0

    def wrap(self, app: Any) -> Any:
        async def gateway(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            self.seen += 1
            if self.stop_after is not None and self.seen > self.stop_after:
                await asyncio.sleep(3600)  # no answer, ever (cancelled when the server stops)
                return None
            if self.latency:
                await asyncio.sleep(self.latency)
            exposed = not self.only_reads or scope["method"] in ("GET", "HEAD")
            if exposed and self.reset_every and self.seen % self.reset_every == 0 and self._reset(scope):
                self.resets += 1
                return None
            if self.outage_every and self.seen % self.outage_every == 0:
                self._outage_left = max(1, self.outage_length)
            if self._outage_left and exposed:
                self._outage_left -= 1
                self.unavailable += 1
                return await _refuse(send, 503, [(b"retry-after", self.outage_retry_after.encode())])
            limit_headers: list[tuple[bytes, bytes]] = []
            if self.bucket_rate:
                allowed, wait = self._take()
                limit_headers = self._limit_headers() if self.bucket_headers else []
                if not allowed:
                    self.throttled += 1
                    retry = [(b"retry-after", str(max(1, math.ceil(wait))).encode())]
                    return await _refuse(send, 429, retry + limit_headers)
            if (
                self.throttle_every
                and self.seen % self.throttle_every == 0
                and not scope["path"].rstrip("/").endswith("/api/v1/token")
            ):
                self.throttled += 1
                return await _refuse(send, self.throttle_status, [(b"retry-after", self.retry_after.encode())])
            if not limit_headers:
                return await app(scope, receive, send)

            async def stating_the_limit(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), *limit_headers]}
                await send(message)

            return await app(scope, receive, stating_the_limit)

        return gateway

    def _take(self) -> tuple[bool, float]:
        """One token of the bucket, if there is one; else the seconds until there is."""
        burst = self.bucket_burst or self.bucket_rate
        now = time.monotonic()
        if self._tokens < 0:
            self._tokens, self._filled_at = burst, now
        self._tokens = min(burst, self._tokens + (now - self._filled_at) * self.bucket_rate)
        self._filled_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True, 0.0
        return False, (1 - self._tokens) / self.bucket_rate

    def _limit_headers(self) -> list[tuple[bytes, bytes]]:
        burst = self.bucket_burst or self.bucket_rate
        remaining = int(max(0.0, self._tokens))
        full_in = math.ceil((burst - self._tokens) / self.bucket_rate) if self._tokens < burst else 0
        policy = f"{self.bucket_rate:g}"
        return [
            (b"ratelimit-policy", f'"bucket";q={policy};w=1'.encode()),
            (b"ratelimit", f'"bucket";r={remaining};t={full_in}'.encode()),
            (b"x-ratelimit-limit", policy.encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(full_in).encode()),
        ]

    def _reset(self, scope: dict[str, Any]) -> bool:
        """Close the connection this request came on, before any answer: the client sees it reset."""
        client = tuple(scope.get("client") or ())
        state = getattr(self.server, "server_state", None)
        for connection in list(getattr(state, "connections", ())):
            if tuple(getattr(connection, "client", None) or ()) == client:
                connection.transport.abort()
                return True
        return False


async def _refuse(send: Any, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    """A gateway's own answer: the request never reaches the handler."""
    message = b"rate limit exceeded" if status == 429 else b"service unavailable, retry later"
    body = b'{"code":%d,"message":"%s"}' % (status, message)
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), *headers]}
    )
    await send({"type": "http.response.body", "body": body})


def seed_foreign(store: Store) -> dict[str, list[Any]]:
    """Create FOREIGN_USERS and FOREIGN_TENANTS directly in the store (each tenant at its id, or at the next
    free one); ones already there are kept. Returns {"users": [user ids], "tenants": [tenant ids]}."""
    users = []
    for tenant_id, email in FOREIGN_USERS:
        rows = store.read("SELECT id FROM users WHERE tenant_id = ? AND username = ?", (tenant_id, email))
        users.append(rows[0]["id"] if rows else store.create_user(tenant_id, email, "someone-else")[0]["id"])
    tenants = []
    taken = {row["id"] for row in store.tenants(include_deleted=True)}
    for name, wanted in FOREIGN_TENANTS:
        rows = store.read("SELECT id FROM tenants WHERE name = ?", (name,))
        if not rows:
            tenant_id = next(i for i in count(wanted) if i not in taken)
            fields = {"name": name, "email": f"owner@{name}.example", "contract_type": "normal"}
            rows = [store.create_tenant(fields, tenant_id=tenant_id)]
        taken.add(rows[0]["id"])
        tenants.append(rows[0]["id"])
    return {"users": users, "tenants": tenants}


_seed_foreign = seed_foreign  # running()'s keyword argument of that name hides the function


def credentials_toml(store: Store, url: str) -> str:
    """The suite's credentials file for this server: its URL and one client per role."""
    lines = [
        "# Written by python -m runai_conformance.reference --credentials-out: the seeded clients of this server.",
        "[target]",
        f'url = "{url}"',
        "",
    ]
    for role, creds in store.credentials().items():
        lines += [
            f"[roles.{role}]",
            f'client_id = "{creds["client_id"]}"',
            f'client_secret = "{creds["client_secret"]}"',
            "",
        ]
    return "\n".join(lines)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket. Created as IPPROTO_TCP so that asyncio sets TCP_NODELAY on its connections
    (it checks the protocol number); without it every answer waits ~40 ms for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class Clock:
    """Seconds since the epoch, as time.time() gives them, plus however far a self-test has moved this clock on.
    The lapses of the time-* faults are measured with it, so that a self-test ages a server without waiting."""

    def __init__(self) -> None:
        self.ahead = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self.ahead

    def advance(self, seconds: float) -> None:
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"a clock moves forward by a number of seconds >= 0, not {seconds!r}")
        with self._lock:
            self.ahead += seconds


class InProcess(httpx.BaseTransport):
    """An httpx transport that hands each request to the ASGI application on the server's event loop, as
    uvicorn would (a HEAD answer loses its body), and waits for the answer; threads may send at once, and
    the requests then interleave on the loop as they do over sockets."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, url: str) -> None:
        self.app, self.loop = app, loop
        parts = urlsplit(url)
        self.server = (parts.hostname or "127.0.0.1", parts.port or 80)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        raw_path = request.extensions.get("target") or request.url.raw_path
        path, _, query = raw_path.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.url.scheme,
            "path": unquote(path.decode("latin-1")),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 50000),
            "server": self.server,
        }
        future = asyncio.run_coroutine_threadsafe(self._call(scope, body), self.loop)
        status, headers, content = future.result(timeout=request.extensions.get("timeout", {}).get("read") or 60)
        if request.method == "HEAD":
            content = b""
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _call(self, scope: dict[str, Any], body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        sent: dict[str, Any] = {"status": 500, "headers": [], "body": []}
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:
                await asyncio.sleep(3600)  # the client never disconnects while the answer is pending
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"], sent["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                sent["body"].append(message.get("body", b""))

        await self.app(scope, receive, send)
        return sent["status"], sent["headers"], b"".join(sent["body"])


@dataclass
class RunningServer:
    url: str
    store: Store
    credentials: dict[str, dict[str, str]]
    requests: list[dict[str, Any]]
    foreign: dict[str, list[Any]] = field(default_factory=dict)  # what seed_foreign created, if asked
    issued: list[str] = field(default_factory=list)  # every token the server signed
    clock: Clock = field(default_factory=Clock)  # what the server measures the lapses of the time-* faults with
    # the same application called in-process, on the server's own event loop, without a socket or HTTP parsing:
    # for the reference's own probes (tests/reference), which send ~1,000 requests per planted fault
    in_process: httpx.BaseTransport | None = None

    def later(self, seconds: float) -> None:
        """Age the server by `seconds` at once: its time-* faults see that much more time gone by since
        everything so far (tokens' iat and exp, and every stored timestamp, keep real time)."""
        self.clock.advance(seconds)


@contextmanager
def _event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@contextmanager
def running(
    faults: tuple[str, ...] | list[str] = (),
    *,
    db: Path | None = None,
    token_ttl: int = 3600,
    token_bytes: int | None = None,
    token_answer: str = "reference",
    seed_foreign: bool = False,
    tls: tuple[Path, Path] | None = None,
    network: NetworkModes | None = None,
    lapse: float = 3.0,
    window: int = 100,
    listen: bool = True,
) -> Iterator[RunningServer]:
    """A reference server on a free loopback port in a background thread, stopped on exit (`listen=False`:
    no port, only its `in_process` transport, which starts and stops at once).
    `requests` collects the access log; `seed_foreign` plants other people's resources (see seed_foreign);
    `tls` = (certificate, key) PEM files serves HTTPS; `network` adds latency, throttling or silence;
    `lapse` (seconds) and `window` (results) are when the time-* and vol-* faults begin; the server's
    `later(seconds)` moves the clock those lapses are measured with forward, instead of waiting."""
    import json

    import uvicorn

    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="runai-reference-")
        db = Path(tmp.name) / "reference.sqlite"
    store = Store(db)
    foreign = _seed_foreign(store) if seed_foreign else {}
    requests: list[dict[str, Any]] = []
    issued: list[str] = []
    clock = Clock()
    app = make_app(
        store,
        Faults(list(faults)),
        token_ttl=token_ttl,
        access_log=lambda line: requests.append(json.loads(line)),
        token_bytes=token_bytes,
        token_answer=token_answer,
        issued=issued,
        lapse=lapse,
        window=window,
        clock=clock,
    )
    if network is not None:
        app = network.wrap(app)
    if not listen:
        with _event_loop() as loop_alone:
            url = "http://reference.in-process"
            try:
                yield RunningServer(
                    url, store, store.credentials(), requests, foreign, issued, clock, InProcess(app, loop_alone, url)
                )
            finally:
                store.close()
                if tmp is not None:
                    tmp.cleanup()
        return
    sock = listening_socket("127.0.0.1", 0)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        app,
        log_level="critical" if network and (network.stop_after is not None or network.reset_every) else "warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        **({"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}),
    )
    server = uvicorn.Server(config)
    if network is not None:
        network.server = server
    loop: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loop.append(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the reference server did not start within 20 s")
        time.sleep(0.01)
    try:
        yield RunningServer(
            url, store, store.credentials(), requests, foreign, issued, clock, InProcess(app, loop[0], url)
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
        sock.close()
        if tmp is not None:
            tmp.cleanup()
