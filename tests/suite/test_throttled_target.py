"""A rate-limited staging still gets a whole verdict (issue 36). Against the reference behind a gateway: a
token bucket with no rate_limit configured, with and without rate-limit headers, serially and with workers
sharing one pace; bursts of 503 with Retry-After and connections reset on reads. Each run is green with
every rule proven, few requests refused and a wall time near what the bucket allows."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runai_conformance.reference.server import NetworkModes
from tests.suite.runner import reference, run_suite

RATE = 40.0  # requests a second the bucket lets through: well below what the run sends on a busy 2-core machine
# The smoke profile without its fuzzing (~2,100 requests): every rule is still proven, at a third of the wait
EVERY_RULE = ("conformance", "--profile", "smoke", "--deselect", "conformance/test_fuzz.py")


@pytest.mark.parametrize(
    ("how", "extra", "headers"),
    [("serial, no headers", (), False), ("2 workers, rate-limit headers", ("--concurrency", "2"), True)],
)
def test_a_throttled_target_gets_a_whole_verdict_at_the_pace_it_allows(
    how: str, extra: tuple[str, ...], headers: bool, tmp_path: Path
) -> None:
    gateway = NetworkModes(bucket_rate=RATE, bucket_headers=headers)
    with reference(network=gateway) as server:
        start = time.monotonic()
        result = run_suite(server, tmp_path, *EVERY_RULE, *extra, timeout=900)
        wall = time.monotonic() - start
    assert result.returncode == 0, result.output[-3000:]
    data = json.loads((result.report_dir / "summary.json").read_text())
    run, pacing = data["run"], data["pacing"]
    assert run["complete"] and run["partial"] is None and run["inconclusive"] == 0, run
    assert all(rule["status"] == "passed" for rule in data["rules"].values()), "every rule proven"
    assert gateway.throttled <= 0.05 * gateway.seen, f"{gateway.throttled} of {gateway.seen} requests refused"
    assert wall <= 1.5 * gateway.seen / RATE, f"{wall:.0f} s for {gateway.seen} requests at {RATE:g}/s"
    assert wall >= 0.9 * gateway.seen / RATE, "the bucket was the run's limit: the test proves nothing otherwise"
    assert pacing["answers_429"] == gateway.throttled and pacing["requests"] >= gateway.seen - gateway.throttled
    if headers:  # paced just under the limit the target states, from the first answer on, by both workers
        assert pacing["target_policy"] == RATE and gateway.throttled <= 2, (pacing, gateway.throttled)
    else:  # learnt from the 429s alone
        assert gateway.throttled and pacing["throttled_above"], pacing
    assert "pacing settled at" in result.output and f"{gateway.throttled} answers 429" in result.output


def test_503_bursts_and_resets_on_reads_are_waited_out_without_a_false_failure(tmp_path: Path) -> None:
    gateway = NetworkModes(outage_every=97, outage_length=3, outage_retry_after="0", reset_every=61, only_reads=True)
    with reference(network=gateway) as server:
        result = run_suite(server, tmp_path, "conformance", "--profile", "smoke", timeout=900)
    assert result.returncode == 0, result.output[-3000:]
    data = json.loads((result.report_dir / "summary.json").read_text())
    assert data["run"]["complete"] and data["run"]["partial"] is None and data["run"]["inconclusive"] == 0
    assert gateway.unavailable and gateway.resets, "the gateway did answer 503 and reset connections"
    assert data["pacing"]["answers_503"] == gateway.unavailable and data["pacing"]["resets"] >= gateway.resets
    assert not data["unattributed"] and all(r["status"] == "passed" for r in data["rules"].values())
