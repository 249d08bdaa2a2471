"""Pacing a run to what the target allows: one pacer shared by every worker process and every part of a run.

A gateway's limit is seldom published and changes. The pacer learns it:

- **From the target's headers**, where it sends them: the IETF draft's `RateLimit-Policy` (`q`/`w`, or
  the older `30;w=1`) and `RateLimit` (`r`/`t`, or `limit=, remaining=, reset=`), and the common
  `X-RateLimit-Limit/-Remaining/-Reset`. A known policy paces the run just under it; a bucket the
  target says is empty holds every sender until it refills.
- **Without headers, by AIMD**, as TCP does: nothing is paced until the first throttled answer; then
  the pace is 0.7x the rate the run was achieving, cut again by 0.7 on every later throttled answer
  (once per round: only for a request sent after the last cut) and raised again by a twentieth of
  the pace it was cut to, each second, while answers come back unthrottled; below the pace at which
  the target throttled before, it closes half the gap a second (as CUBIC does), then probes slowly.
- Never above a configured `rate_limit`, which paces from the first request.
- A `Retry-After` (seconds or an HTTP-date) holds every sender of the run until it has passed; the run's
  total time held is its **patience** spent, and a request throttled once the patience is spent is given up.

Every worker of a run reads and writes one small state file under an exclusive lock (`fcntl.flock`),
so the workers together keep to one pace; the controller makes it and reads the totals at the end.
pyrate-limiter (in the dependency tree through Schemathesis) was considered: its buckets keep fixed
rates per process, its multiprocess bucket needs a `multiprocessing.Manager` from a common parent,
which pytest-xdist's workers do not have, and it has no way to learn a rate from the answers.
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import os
import re
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

PACING_FILE = "pacing"  # its name in the run's shared directory
DECREASE = 0.7  # the pace after a throttled answer, as a share of the pace (or achieved rate) before
INCREASE = 0.05  # raised each second by this share of the pace it was last cut to
RECOVER = 0.5  # below the pace the target last throttled at, each second close this share of the gap
MIN_RATE = 0.2  # requests a second: never slower than one request every five seconds
POLICY_SHARE = 0.95  # just under a limit the target states
DEFAULT_WAIT = 1.0  # seconds to hold after a 429 without Retry-After
WINDOW = 1.0  # seconds over which the achieved rate is measured
RECENT = 0.05  # weight of the latest answer in the running share of refused answers (about the last 20)
REFUSED_SHARE = 0.1  # a 429 with Retry-After: 0 cuts the pace only above this share of refused answers


@dataclass
class PaceState:
    """What every process of a run shares (one fixed-size record in the state file)."""

    next_slot: float = 0.0  # time.monotonic() before which no further request may leave
    hold_until: float = 0.0  # every sender waits until then (a Retry-After, an empty bucket)
    rate: float = 0.0  # the pace, requests a second; 0: not paced yet
    floor: float = 0.0  # the pace it was last cut to (the additive increase is a share of it)
    policy: float = 0.0  # the limit the target's headers state, requests a second; 0: unknown
    ceiling: float = 0.0  # the pace at which the target throttled (a running average over the cuts)
    refused: float = 0.0  # the share of recent answers that were throttled (a running average)
    last_cut: float = 0.0  # when the pace was last cut
    last_raise: float = 0.0  # when the pace was last raised
    window_start: float = 0.0
    window_count: float = 0.0
    previous_window: float = 0.0  # requests sent in the window before the current one
    sent: float = 0.0
    throttled_429: float = 0.0
    throttled_503: float = 0.0
    resets: float = 0.0
    held: float = 0.0  # seconds the run spent held by throttled answers and resets: the patience spent
    given_up: float = 0.0  # throttled requests given up once the patience was spent


_FORMAT = struct.Struct(f"<{len(fields(PaceState))}d")


class Pacer:
    """The pace of one run. `path` is the state file the run's processes share (made when missing);
    without one, a private file (a run without workers, `sweep`). `cap`: the configured rate_limit."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        cap: float | None = None,
        patience: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = cap
        self.patience = patience
        self.clock = clock  # system-wide on Linux: every worker of the run reads the same one
        self._private = path is None
        if path is None:
            fd, name = tempfile.mkstemp(prefix="runai-pacing-")
            os.close(fd)
            path = name
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._threads = threading.Lock()

    # ------------------------------------------------------------------ the shared record

    @contextlib.contextmanager
    def _locked(self) -> Iterator[PaceState]:
        """The shared record, read under the run-wide lock and written back when the block ends. Released
        whatever ends the block (a Ctrl-C in the middle of it included): a held lock would hang the run."""
        with self._threads:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                state = self._read()
                yield state
                self._write(state)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _read(self) -> PaceState:
        data = os.pread(self._fd, _FORMAT.size, 0)
        if len(data) < _FORMAT.size:
            return PaceState()
        return PaceState(*_FORMAT.unpack(data))

    def _write(self, state: PaceState) -> None:
        os.pwrite(self._fd, _FORMAT.pack(*astuple(state)), 0)

    # ------------------------------------------------------------------ before and after each request

    def slot(self) -> float:
        """Take the next slot to send in; returns the seconds to wait for it (the caller sleeps)."""
        with self._locked() as state:
            now = self.clock()
            pace = self._pace(state)
            start = max(now, state.hold_until, state.next_slot if pace else 0.0)
            if pace:
                state.next_slot = start + 1.0 / pace
            if start - state.window_start >= WINDOW:
                state.previous_window = state.window_count if start - state.window_start < 2 * WINDOW else 0.0
                state.window_start, state.window_count = start, 0.0
            state.window_count += 1
            state.sent += 1
        return start - now

    def answered(self, headers: Mapping[str, str]) -> None:
        """An answer that was not throttled: learn the target's stated limit, raise the pace (AIMD)."""
        limit = read_limit_headers(headers)
        with self._locked() as state:
            now = self.clock()
            state.refused *= 1 - RECENT
            if limit.policy:
                state.policy = limit.policy
            if limit.remaining is not None and limit.remaining <= 0 and limit.reset:
                self._hold(state, now, min(limit.reset, 60.0), count=False)
            if state.rate:  # additive increase; a stated policy or the rate_limit still caps the pace
                since = now - (state.last_raise or now)
                probe = INCREASE * max(state.floor, MIN_RATE) * since
                known = POLICY_SHARE * state.ceiling  # just under where the target throttled before
                if state.rate < known:  # back there quickly (as CUBIC does), then probe slowly past it
                    state.rate = min(known, state.rate + max(probe, RECOVER * (known - state.rate) * since))
                else:
                    state.rate += probe
                state.last_raise = now

    def throttled(self, status: int, headers: Mapping[str, str], sent_at: float) -> float | None:
        """A 429 (or a 503 with Retry-After) came back for a request sent at `sent_at` (time.monotonic()):
        cut the pace once per round and hold every sender for its Retry-After. Returns the seconds to wait
        before the retry, or None when the run's patience is spent (give the request up)."""
        limit = read_limit_headers(headers)
        wait = retry_after(headers)
        with self._locked() as state:
            now = self.clock()
            if status == 429:
                state.throttled_429 += 1
            else:
                state.throttled_503 += 1
            state.refused = (1 - RECENT) * state.refused + RECENT
            if limit.policy:
                state.policy = limit.policy
            # A 429 that asks for no wait at all (Retry-After: 0) says little of the rate: it cuts the pace
            # only where many recent answers were refused, as a bucket the run drains much too fast refuses.
            rate_signal = wait is None or wait > 0 or state.refused >= REFUSED_SHARE
            if status == 429 and sent_at >= state.last_cut and rate_signal:
                sending_at = self._sending_at(state, now)
                if state.rate:  # throttled while paced (a first cut from unpaced bursts says little)
                    state.ceiling = sending_at if not state.ceiling else 0.7 * state.ceiling + 0.3 * sending_at
                state.rate = state.floor = max(MIN_RATE, DECREASE * sending_at)
                state.last_cut = state.last_raise = now
            if wait is None:
                wait = limit.reset if limit.reset else DEFAULT_WAIT
            if state.held + max(0.0, now + wait - max(now, state.hold_until)) > self.patience:
                state.given_up += 1
                return None
            self._hold(state, now, wait)
            return max(0.0, state.hold_until - now)

    def reset(self, attempt: int) -> float | None:
        """A connection reset on a request that may be repeated: the seconds to wait before its `attempt`-th
        retry (0.1, 0.2, 0.4, … s, at most 8), or None when the run's patience is spent."""
        wait = min(8.0, 0.1 * 2 ** max(0, attempt - 1))
        with self._locked() as state:
            state.resets += 1
            if state.held + wait > self.patience:
                state.given_up += 1
                return None
            state.held += wait
        return wait

    def _hold(self, state: PaceState, now: float, wait: float, *, count: bool = True) -> None:
        until = now + max(0.0, wait)
        if until > state.hold_until:
            if count:
                state.held += until - max(now, state.hold_until)
            state.hold_until = until

    def _pace(self, state: PaceState) -> float:
        """Requests a second to pace at now (0: not paced)."""
        paces = [p for p in (state.rate, POLICY_SHARE * state.policy, self.cap or 0.0) if p]
        return min(paces) if paces else 0.0

    def _sending_at(self, state: PaceState, now: float) -> float:
        """The rate to cut from: the pace, or what the run really sent at when that is less (its senders
        were waiting on answers); the achieved rate alone before the run was paced."""
        known = [rate for rate in (self._pace(state), self._achieved(state, now)) if rate]
        return min(known) if known else MIN_RATE

    @staticmethod
    def _achieved(state: PaceState, now: float) -> float:
        """The rate the run sent at over the last window or so."""
        elapsed = now - state.window_start
        if elapsed <= 0:
            return state.previous_window / WINDOW
        return max(state.window_count / max(elapsed, WINDOW / 10), state.previous_window / WINDOW)

    # ------------------------------------------------------------------ what the run reports

    def totals(self) -> dict[str, Any]:
        """What the run settled at, for the report header and summary.json."""
        with self._locked() as state:
            pace = self._pace(state)
            found = asdict(state)
        return {
            "settled_rate": round(pace, 2) if pace else None,
            "throttled_above": round(found["ceiling"], 2) if found["ceiling"] else None,
            "rate_limit": self.cap,
            "target_policy": round(found["policy"], 2) if found["policy"] else None,
            "requests": int(found["sent"]),
            "answers_429": int(found["throttled_429"]),
            "answers_503": int(found["throttled_503"]),
            "resets": int(found["resets"]),
            "waited_seconds": round(found["held"], 1),
            "patience_seconds": self.patience,
            "given_up": int(found["given_up"]),
        }

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        if self._private:
            self.path.unlink(missing_ok=True)


def astuple(state: PaceState) -> tuple[float, ...]:
    return tuple(float(getattr(state, f.name)) for f in fields(state))


# ---------------------------------------------------------------------- what a target says of its limit


@dataclass(frozen=True)
class LimitHeaders:
    policy: float = 0.0  # requests a second the target allows (0: not stated)
    remaining: float | None = None  # requests left in the current window
    reset: float | None = None  # seconds until the window resets


_PARAM = re.compile(r"(?:^|[;,\s])([a-z]+)\s*=\s*\"?([0-9.]+)\"?", re.I)


def _params(value: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, number in _PARAM.findall(value):
        found.setdefault(key.lower(), float(number))
    return found


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip().split(",")[0])
    except ValueError:
        return None


def _seconds_until(value: float | None) -> float | None:
    """A reset value: seconds from now, or (some gateways) a Unix time."""
    if value is None:
        return None
    return max(0.0, value - time.time()) if value > 1e9 else max(0.0, value)


def read_limit_headers(headers: Mapping[str, str]) -> LimitHeaders:
    """The limit a target states in its answer's headers, in any of the common forms."""
    low = {k.lower(): v for k, v in headers.items()}
    policy = 0.0
    remaining = reset = None
    if "ratelimit-policy" in low:  # `"default";q=30;w=1` (draft 08+) or `30;w=1` (earlier drafts)
        value = low["ratelimit-policy"]
        params = _params(value)
        quota = params.get("q") or _number(re.split(r"[;,]", value)[0].strip().strip('"'))
        window = params.get("w", 1.0) or 1.0
        if quota:
            policy = quota / window
    if "ratelimit" in low:  # `"default";r=10;t=1` (draft 08+) or `limit=30, remaining=10, reset=1`
        params = _params(low["ratelimit"])
        remaining = params.get("r", params.get("remaining"))
        reset = params.get("t", params.get("reset"))
    if remaining is None and "ratelimit-remaining" in low:
        remaining = _number(low["ratelimit-remaining"])
    if reset is None and "ratelimit-reset" in low:
        reset = _number(low["ratelimit-reset"])
    if remaining is None and "x-ratelimit-remaining" in low:
        remaining = _number(low["x-ratelimit-remaining"])
    if reset is None and "x-ratelimit-reset" in low:
        reset = _seconds_until(_number(low["x-ratelimit-reset"]))
    if not policy and "x-ratelimit-limit" in low:  # a rate only where its window is said too
        limit = _number(low["x-ratelimit-limit"])
        window = _params(low["x-ratelimit-limit"]).get("w") or _number(low.get("x-ratelimit-window"))
        if limit and window:  # `30, 30;w=1` as some gateways send it, or an X-RateLimit-Window
            policy = limit / window
    return LimitHeaders(policy=policy, remaining=remaining, reset=reset)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a `Retry-After` asks to wait (seconds or an HTTP-date), or None when there is none."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_WAIT
        return max(0.0, when.timestamp() - time.time())
