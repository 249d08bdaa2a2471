"""The run's one pace (conformance/pacing.py): what it reads of a target's limit, how it adapts without one
(AIMD), that every process of a run keeps to it together, and that the run's patience is kept. On a clock
of the test's own, so nothing here waits."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from runai_conformance.conformance.pacing import (
    DECREASE,
    MIN_RATE,
    POLICY_SHARE,
    Pacer,
    read_limit_headers,
    retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def pacer(tmp_path: Path, clock: Clock, **options: object) -> Pacer:
    return Pacer(tmp_path / "pace", clock=clock, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "policy", "remaining", "reset"),
    [
        ({"RateLimit-Policy": '"default";q=30;w=1', "RateLimit": '"default";r=4;t=2'}, 30.0, 4, 2),  # draft 08+
        ({"RateLimit-Policy": "600;w=60", "RateLimit": "limit=600, remaining=0, reset=7"}, 10.0, 0, 7),  # older
        ({"X-RateLimit-Limit": "30", "X-RateLimit-Window": "1", "X-RateLimit-Remaining": "3"}, 30.0, 3, None),
        ({"x-ratelimit-limit": "100, 100;w=10", "x-ratelimit-reset": "5"}, 10.0, None, 5),
        ({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0"}, 0.0, 0, None),  # no window: no rate said
        ({"Content-Type": "application/json"}, 0.0, None, None),
    ],
)
def test_every_common_form_of_a_stated_limit_is_read(
    headers: dict[str, str], policy: float, remaining: int | None, reset: int | None
) -> None:
    found = read_limit_headers(headers)
    assert (found.policy, found.remaining, found.reset) == (policy, remaining, reset)


def test_a_reset_given_as_a_unix_time_is_seconds_from_now() -> None:
    later = time.time() + 30
    reset = read_limit_headers({"X-RateLimit-Reset": str(int(later))}).reset
    assert reset is not None and 25 <= reset <= 31


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    assert 15 <= (retry_after({"retry-after": when}) or 0) <= 21
    assert retry_after({"retry-after": "soon"}) == 1.0 and retry_after({}) is None


def test_nothing_is_paced_until_the_target_throttles(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock)
    assert [p.slot() for _ in range(50)] == [0.0] * 50
    assert p.totals()["settled_rate"] is None


def test_a_429_cuts_the_pace_to_a_share_of_what_the_run_sent_at_once_per_round(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock)
    for _ in range(40):  # 40 requests in 0.4 s: the run sends at 100 a second
        p.slot()
        clock.now += 0.01
    sent_before = clock.now - 0.05
    assert p.throttled(429, {}, sent_before) == 1.0  # no Retry-After: hold a second
    cut = p.totals()["settled_rate"]
    assert cut == pytest.approx(DECREASE * 100, rel=0.05)
    assert p.throttled(429, {}, sent_before) is not None
    assert p.totals()["settled_rate"] == cut, "a 429 to a request sent before the cut cuts nothing more"
    assert p.throttled(429, {}, clock.now + 0.01) is not None
    assert p.totals()["settled_rate"] == pytest.approx(DECREASE * cut, rel=0.05), "a later 429 cuts again"
    assert p.totals()["answers_429"] == 3


def sending(p: Pacer, clock: Clock, rate: float, seconds: float) -> None:
    """The run sends at `rate` a second for `seconds`, every answer unthrottled."""
    for _ in range(int(rate * seconds)):
        p.slot()
        p.answered({})
        clock.now += 1 / rate


def test_unthrottled_answers_raise_the_pace_again(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock)
    p.slot()
    p.throttled(429, {"Retry-After": "1"}, clock.now)
    cut = p.totals()["settled_rate"]
    clock.now += 10
    p.answered({})
    assert p.totals()["settled_rate"] == pytest.approx(cut * 1.5, rel=0.01), "a twentieth of the cut pace a second"


def test_the_pace_spaces_the_slots(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock, cap=20.0)  # a rate_limit paces from the first request
    waits = [p.slot() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])


def test_a_stated_policy_paces_just_under_it_and_an_empty_bucket_holds_everyone(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock)
    p.answered({"RateLimit-Policy": "10;w=1", "RateLimit": "limit=10, remaining=5, reset=1"})
    p.slot()
    assert p.slot() == pytest.approx(1 / (POLICY_SHARE * 10))
    p.answered({"RateLimit-Policy": "10;w=1", "RateLimit": "limit=10, remaining=0, reset=3"})
    assert p.slot() == pytest.approx(3.0), "the bucket is empty for 3 s: nobody sends before it refills"
    assert p.totals()["waited_seconds"] == 0, "a stated empty bucket is pacing, not patience spent"


def test_a_retry_after_holds_every_sender_and_the_patience_runs_out(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock, patience=10.0)
    other_worker = Pacer(tmp_path / "pace", clock=clock, patience=10.0)
    assert p.throttled(503, {"Retry-After": "6"}, clock.now) == 6.0
    assert other_worker.slot() == 6.0, "the other worker is held too"
    assert other_worker.throttled(503, {"Retry-After": "6"}, clock.now) == 6.0, "the same hold, counted once"
    assert p.totals()["waited_seconds"] == 6.0
    clock.now += 6
    assert p.throttled(503, {"Retry-After": "5"}, clock.now) is None, "6 + 5 s is past the patience of 10 s"
    assert p.totals()["given_up"] == 1 and p.totals()["answers_503"] == 3
    assert p.totals()["settled_rate"] is None, "a 503 is a deploy, not the run's pace: nothing is cut"


def test_connection_resets_back_off_within_the_patience(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock, patience=0.5)
    assert [p.reset(1), p.reset(2)] == pytest.approx([0.1, 0.2])
    assert p.reset(3) is None and p.totals()["resets"] == 3, "0.1 + 0.2 + 0.4 s would pass the patience of 0.5 s"


def test_the_pace_is_never_cut_below_its_floor(tmp_path: Path, clock: Clock) -> None:
    p = pacer(tmp_path, clock)
    for _ in range(40):
        p.slot()
        p.throttled(429, {"Retry-After": "0"}, clock.now)
        clock.now += 0.001
    assert p.totals()["settled_rate"] == MIN_RATE


WORKER = """
import sys, time
from runai_conformance.conformance.pacing import Pacer
p = Pacer(sys.argv[1])
start = time.monotonic()
for _ in range(int(sys.argv[2])):
    wait = p.slot()
    time.sleep(wait)
    print(time.monotonic(), flush=True)
"""


def test_worker_processes_keep_to_one_pace_together(tmp_path: Path) -> None:
    """Three processes on one state file, as a run's workers are: at a pace of 50 a second their 30
    requests together take about 0.6 s, not a third of it."""
    shared = tmp_path / "pace"
    Pacer(shared, cap=50.0).close()
    command = [sys.executable, "-c", WORKER.replace("Pacer(sys.argv[1])", "Pacer(sys.argv[1], cap=50.0)"), str(shared)]
    workers = [subprocess.Popen([*command, "10"], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    times = sorted(float(line) for w in workers for line in w.communicate(timeout=60)[0].split())
    assert len(times) == 30
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[-1] - times[0] >= 29 / 50 * 0.9, gaps
    assert Pacer(shared).totals()["requests"] == 30


def test_a_429_asking_for_no_wait_cuts_only_when_many_recent_answers_were_refused(tmp_path: Path, clock: Clock) -> None:
    """`Retry-After: 0` one answer in 25 is no rate signal (a quota, another tenant): slowing down would
    not help. Refused one in two, the run is draining a bucket much too fast: it slows down."""
    p = pacer(tmp_path, clock)
    for n in range(100):
        p.slot()
        if n % 25 == 24:
            assert p.throttled(429, {"Retry-After": "0"}, clock.now) == 0.0
        else:
            p.answered({})
        clock.now += 0.01
    assert p.totals()["settled_rate"] is None and p.totals()["answers_429"] == 4
    for n in range(20):
        p.slot()
        if n % 2:
            p.throttled(429, {"Retry-After": "0"}, clock.now)
        else:
            p.answered({})
        clock.now += 0.01
    assert p.totals()["settled_rate"] is not None


def test_the_pace_returns_quickly_to_where_the_target_throttled_then_probes_slowly(
    tmp_path: Path, clock: Clock
) -> None:
    p = pacer(tmp_path, clock)
    sending(p, clock, 100, 1.0)
    p.throttled(429, {"Retry-After": "0.5"}, clock.now)  # the first cut, from unpaced: to 70 a second, no ceiling
    assert p.totals()["settled_rate"] == pytest.approx(70, rel=0.05) and p.totals()["throttled_above"] is None
    sending(p, clock, 70, 1.0)
    p.throttled(429, {"Retry-After": "0.5"}, clock.now)  # throttled while paced: the target's ceiling is known
    ceiling = p.totals()["throttled_above"]
    assert ceiling == pytest.approx(70, rel=0.05)
    assert p.totals()["settled_rate"] == pytest.approx(DECREASE * ceiling, rel=0.05)
    floor, known = p.totals()["settled_rate"], POLICY_SHARE * ceiling
    sending(p, clock, floor, 4.0)  # four seconds unthrottled: nearly back (AIMD alone: floor * 1.2)
    assert 0.9 * known <= p.totals()["settled_rate"] <= known
    sending(p, clock, known, 10.0)  # then past it slowly: a twentieth of the cut pace a second
    assert known < p.totals()["settled_rate"] <= known + 0.05 * floor * 10 * 1.05
