"""The one way out: every request of a run leaves through one `GuardedClient` (the suite's own calls,
the raw auth probes, and Schemathesis' generated cases and re-sends through `SchemathesisTransport`).

Its `send` is the only place that
1. reveals secrets (`Secret` values are unwrapped only while a request is built),
2. asks the guard (conformance/guard.py) and refuses what could change someone else's resource,
3. keeps the ledger from the answers themselves (201 from the create operations), and remembers
   every id seen in any other answer, so that the guard refuses it,
4. teaches the redactor every secret that goes out (every `Secret` it reveals) or comes back (tokens,
   temporary passwords), and
5. keeps the evidence: which operations the current test exercised, and the last exchanges.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

import httpx
from schemathesis.core.transport import Response as SchemathesisResponse
from schemathesis.transport.requests import RequestsTransport

from conformance.guard import Guard, Ledger, Refused, ids_in, path_segments
from conformance.redact import Redactor
from conformance.results import TOKEN_OPERATION, operation_of
from conformance.secret import reveal

SECRET_ANSWER_KEYS = ("accessToken", "idToken", "refreshToken", "externalToken", "tempPassword")
CREATES = {("api", "v1", "users"): "user", ("api", "v1", "tenants"): "tenant"}
EVIDENCE_KEPT = 20


class GuardedClient(httpx.Client):
    """An httpx client whose every request is guarded, ledgered, redacted and kept as evidence."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        guard: Guard,
        redact: Redactor,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ledger = ledger
        self.guard = guard
        self.redact = redact
        self.exercised: set[str] = set()  # operations the current test sent requests to (for the reports)
        self.exchanges: collections.deque[httpx.Response] = collections.deque(maxlen=EVIDENCE_KEPT)
        self.sent = 0
        self.pending_interrupt = False  # set by the run's signal handler; the next request raises it
        self._lock = threading.Lock()

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
        raw_path = request.url.raw_path.decode("ascii", "replace")
        self.guard.check(request.method, raw_path, request.headers.get("authorization"), body)
        response = super().send(request, **kwargs)
        response.read()
        self._observe(request, response)
        return response

    def _observe(self, request: httpx.Request, response: httpx.Response) -> None:
        op = operation_of(request.method, str(request.url))
        with self._lock:
            self.sent += 1
            if op is not None and op != TOKEN_OPERATION:
                self.exercised.add(op)
            self.exchanges.append(response)
        try:
            data = json.loads(response.content) if response.content else None
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(data, dict):
            for key in SECRET_ANSWER_KEYS:
                self.redact.add(data.get(key) if isinstance(data.get(key), str) else None)
        segments = tuple(
            s.casefold() for s in path_segments(request.url.raw_path.decode("ascii", "replace"), self.guard.base_path)
        )
        kind = CREATES.get(segments) if request.method == "POST" else None
        if kind is not None and response.status_code == 201 and isinstance(data, dict):
            self._ledger_created(kind, data, request)
            return
        if segments[:3] != ("api", "v1", "token"):
            self.ledger.saw(ids_in(data))

    def _ledger_created(self, kind: str, data: dict[str, Any], request: httpx.Request) -> None:
        """A create answered 201: what it made is this run's, whatever the test then asserts."""
        if kind == "user" and isinstance(data.get("id"), (str, int)):
            token = request.headers.get("authorization", "").partition(" ")[2].strip()
            self.ledger.add_user(str(data["id"]), self.guard.role_tokens.get(token, "admin"))
        elif kind == "tenant" and isinstance(data.get("tenant"), dict):
            tenant_id = data["tenant"].get("id")
            if isinstance(tenant_id, int) and not isinstance(tenant_id, bool):
                self.ledger.add_tenant(tenant_id)

    def start_test(self) -> None:
        """A new test begins: its exercised operations and evidence start empty."""
        with self._lock:
            self.exercised.clear()
            self.exchanges.clear()


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


__all__ = ["GuardedClient", "Refused", "SchemathesisTransport", "install"]
