"""The run's one client against a network that is not a LAN: throttling waited out or made inconclusive,
a target that stops answering told apart from one slow answer, a rate limit kept, progress shown.
Against a mock transport: what the client does, not what a server happens to answer."""

from __future__ import annotations

import json
import ssl
import time

import httpx
import pytest

from runai_conformance.conformance import transport as transport_module
from runai_conformance.conformance.network import Network
from runai_conformance.conformance.transport import TargetGone, Throttled, throttled_for
from tests.suite.runner import mock_client


def throttling(times: int, status: int = 429, retry_after: str | None = "0"):
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) <= times:
            headers = {"retry-after": retry_after} if retry_after is not None else {}
            return httpx.Response(status, headers=headers, json={"code": status, "message": "slow down"})
        return httpx.Response(200, json=[])

    return answer, sent


def test_a_throttled_read_is_waited_out_and_retried_and_the_wait_shows() -> None:
    answer, sent = throttling(2)
    c = mock_client(answer)
    notices: list[str] = []
    c.notice = notices.append
    assert c.get("/api/v1/users").status_code == 200
    assert len(sent) == 3 and len(notices) == 2 and "waiting 0.0 s" in notices[0]


def test_a_throttled_token_grant_is_retried_too() -> None:
    answer, sent = throttling(1, status=503, retry_after="0")
    assert mock_client(answer).post("/api/v1/token", json={}).status_code == 200 and len(sent) == 2


def test_a_write_answered_429_is_sent_again_for_a_429_was_not_processed() -> None:
    answer, sent = throttling(2)
    c = mock_client(answer)
    assert c.post("/api/v1/users", json={"email": "rcf-0badc0de-x@example.com"}).status_code == 200
    assert [r.method for r in sent] == ["POST"] * 3
    assert [a.status_code for a in c.exchanges] == [429, 429, 200], "the evidence keeps every try"


def test_a_request_throttled_past_the_patience_is_inconclusive() -> None:
    answer, sent = throttling(100, retry_after="4")
    c = mock_client(answer, Network(patience=10.0))
    c.pacer.clock = Clock()  # the hold is waited out on a clock of the test's own: nothing sleeps
    with pytest.raises(Throttled, match=r"^inconclusive: POST /api/v1/users was throttled .* patience"):
        c.post("/api/v1/users", json={"email": "rcf-0badc0de-x@example.com"})
    assert len(sent) == 3 and c.pacer.totals()["given_up"] == 1, "4 + 4 s held, and 4 more would pass 10 s"
    answer, sent = throttling(100)  # Retry-After 0 spends no patience: the tries per request are bounded
    with pytest.raises(Throttled):
        mock_client(answer, Network(throttle_retries=2)).get("/api/v1/users")
    assert len(sent) == 3


class Clock:
    """A clock that jumps over every wait the pacer hands out (time.sleep of 0 where the test patches it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 100.0  # every look at the clock is long after the last hold
        return self.now


class MockUsers:
    """A mock target of users: POST creates (or answers `fail` first), GET lists or reads, DELETE deletes;
    `lost` answers are processed before they fail (the gateway lost the answer, not the request)."""

    def __init__(self, *fail: str, lost: bool = False) -> None:
        self.fail = list(fail)  # per request in turn: "503" (with Retry-After), "reset", or "" (answer)
        self.lost = lost
        self.users: dict[str, str] = {}
        self.sent: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        how = self.fail.pop(0) if self.fail else ""
        if how and not self.lost:
            return self._fail(how, request)
        answer = self._answer(request)
        return self._fail(how, request) if how else answer

    def _fail(self, how: str, request: httpx.Request) -> httpx.Response:
        if how == "reset":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(503, headers={"retry-after": "0"}, json={"code": 503, "message": "deploying"})

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/api/v1/users":
            email = json.loads(request.content)["email"]
            if email in self.users.values():
                return httpx.Response(409, json={"code": 409, "message": "exists"})
            user_id = f"00000000-0000-4000-8000-{len(self.users):012d}"
            self.users[user_id] = email
            return httpx.Response(201, json={"id": user_id, "username": email, "tempPassword": "t3mp-pa55word"})
        if request.method == "GET" and path == "/api/v1/users":
            return httpx.Response(200, json=[{"id": i, "username": e} for i, e in self.users.items()])
        user_id = path.rsplit("/", 1)[-1]
        if user_id not in self.users:
            return httpx.Response(404, json={"code": 404, "message": "no such user"})
        if request.method == "DELETE":
            del self.users[user_id]
            return httpx.Response(204)
        return httpx.Response(200, json={"id": user_id, "username": self.users[user_id]})


EMAIL = "rcf-0badc0de-new@example.com"


@pytest.mark.parametrize("how", ["503", "reset"])
def test_a_read_is_sent_again_after_a_503_or_a_reset(how: str) -> None:
    target = MockUsers(how, how)
    c = mock_client(target)
    assert c.get("/api/v1/users").status_code == 200
    assert (
        target.sent == ["GET /api/v1/users"] * 3
        and c.pacer.totals()["resets" if how == "reset" else "answers_503"] == 2
    )


@pytest.mark.parametrize("how", ["503", "reset"])
def test_a_create_that_was_not_done_is_read_back_then_sent_again(how: str) -> None:
    target = MockUsers(how)
    c = mock_client(target)
    made = c.post("/api/v1/users", json={"email": EMAIL})
    assert made.status_code == 201 and list(target.users.values()) == [EMAIL]
    assert target.sent == ["POST /api/v1/users", "GET /api/v1/users", "POST /api/v1/users"]
    assert c.ledger.users == {made.json()["id"]: "admin"}


@pytest.mark.parametrize("how", ["503", "reset"])
def test_a_create_that_was_done_is_ledgered_and_its_test_inconclusive(how: str) -> None:
    target = MockUsers(how, lost=True)
    c = mock_client(target)
    with pytest.raises(Throttled, match=r"^inconclusive: POST /api/v1/users: .* and the user exists"):
        c.post("/api/v1/users", json={"email": EMAIL})
    assert target.sent == ["POST /api/v1/users", "GET /api/v1/users"], "never created twice"
    assert set(c.ledger.users) == set(target.users), "what it made is the run's, so the cleanup deletes it"


def test_a_duplicate_create_answered_503_finds_the_runs_own_user_and_is_sent_again() -> None:
    """The user a read back finds is the one an earlier create of the run made: this create may still be
    sent again, and the target's 409 to it is the answer its test judges."""
    target = MockUsers()
    c = mock_client(target)
    c.post("/api/v1/users", json={"email": EMAIL})
    target.fail = ["503"]
    assert c.post("/api/v1/users", json={"email": EMAIL}).status_code == 409
    assert target.sent[1:] == ["POST /api/v1/users", "GET /api/v1/users", "POST /api/v1/users"]


def test_a_delete_answered_503_is_read_back_before_it_is_sent_again() -> None:
    target = MockUsers()
    c = mock_client(target)
    user = c.post("/api/v1/users", json={"email": EMAIL}).json()["id"]
    target.fail = ["503"]
    assert c.delete(f"/api/v1/users/{user}").status_code == 204, "not done: sent again"
    user = c.post("/api/v1/users", json={"email": EMAIL}).json()["id"]
    target.fail, target.lost = ["503"], True
    with pytest.raises(Throttled, match="it is deleted"):
        c.delete(f"/api/v1/users/{user}")
    assert target.sent[-2:] == [f"DELETE /api/v1/users/{user}", f"GET /api/v1/users/{user}"]
    made_up = c.ledger.nonexistent_user_id()
    target.fail, target.lost = ["503"], False
    assert c.delete(f"/api/v1/users/{made_up}").status_code == 404, "nothing of the run's: sent again at once"
    assert target.sent[-2:] == [f"DELETE /api/v1/users/{made_up}"] * 2


def test_a_password_change_answered_503_is_inconclusive_at_once() -> None:
    target = MockUsers("503")
    with pytest.raises(Throttled, match="its effect cannot be read back"):
        mock_client(target).post("/api/v1/me/password", json={"currentPassword": "a" * 8, "newPassword": "b" * 8})
    assert target.sent == ["POST /api/v1/me/password"]


def test_a_503_without_retry_after_is_an_answer_like_any_other() -> None:
    answer, sent = throttling(1, status=503, retry_after=None)
    assert mock_client(answer).get("/api/v1/users").status_code == 503 and len(sent) == 1
    assert throttled_for(httpx.Response(503)) is None and throttled_for(httpx.Response(429)) == 1.0
    assert throttled_for(httpx.Response(429, headers={"retry-after": "7"})) == 7.0


def test_a_target_that_stops_answering_is_told_apart_from_one_slow_answer() -> None:
    calls = []

    def silent(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) in (1, 3, 4, 5):
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(200, json=[])

    c = mock_client(silent)
    with pytest.raises(httpx.ReadTimeout):
        c.get("/api/v1/users")  # one slow answer: an error of that request, not the end of the run
    assert c.get("/api/v1/users").status_code == 200 and c.gone is None
    with pytest.raises(httpx.ReadTimeout):
        c.get("/api/v1/users")
    with pytest.raises(httpx.ReadTimeout):
        c.get("/api/v1/users")
    with pytest.raises(TargetGone, match="the target stopped answering after 1 requests"):
        c.get("/api/v1/users")  # the third in a row
    with pytest.raises(TargetGone):
        c.get("/api/v1/users")  # fails fast from now on
    assert len(calls) == 5


def test_the_rate_limit_spaces_requests() -> None:
    c = mock_client(lambda r: httpx.Response(200, json=[]), Network(rate_limit=20))
    start = time.monotonic()
    for _ in range(6):
        c.get("/api/v1/users")
    assert time.monotonic() - start >= 5 / 20 * 0.9


def test_a_long_test_shows_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "PROGRESS_EVERY", 0.05)
    c = mock_client(lambda r: httpx.Response(200, json=[]))
    notices: list[str] = []
    c.notice = notices.append
    c.start_test("conformance/test_stateful.py::test_users_lifecycle_machine")
    c.get("/api/v1/users")
    assert notices == []
    time.sleep(0.06)
    c.get("/api/v1/users")
    assert notices and notices[0].startswith("conformance/test_stateful.py::test_users_lifecycle_machine: 2 requests")


def test_the_default_trust_is_read_on_the_first_tls_connection_and_is_the_systems_and_certifis() -> None:
    """Without a ca_bundle or client certificate the run's TLS context reads no CA until it first wraps a
    connection (a plain-HTTP target never pays for it), and then trusts what create_default_context() and
    certifi trust, verifying the host as they do."""
    import certifi

    context = Network().ssl_context()
    assert context.cert_store_stats()["x509_ca"] == 0
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="staging.example.com")
    expected = ssl.create_default_context()
    expected.load_verify_locations(certifi.where())
    assert context.cert_store_stats() == expected.cert_store_stats() and context.cert_store_stats()["x509_ca"] > 0
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
