"""The run's one client against a network that is not a LAN: throttling waited out or made inconclusive,
a target that stops answering told apart from one slow answer, a rate limit kept, progress shown.
Against a mock transport: what the client does, not what a server happens to answer."""

from __future__ import annotations

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


def test_a_throttled_write_is_inconclusive_not_a_verdict() -> None:
    answer, sent = throttling(1)
    with pytest.raises(Throttled, match=r"^inconclusive: POST /api/v1/users was throttled"):
        mock_client(answer).post("/api/v1/users", json={"email": "rcf-0badc0de-x@example.com"})
    assert len(sent) == 1, "a write is never sent twice"


def test_a_read_throttled_past_the_retries_is_inconclusive() -> None:
    answer, sent = throttling(100)
    with pytest.raises(Throttled):
        mock_client(answer, Network(throttle_retries=2)).get("/api/v1/users")
    assert len(sent) == 3


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
