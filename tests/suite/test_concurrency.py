"""The run's concurrency: one setting (--concurrency / RUNAI_CONCURRENCY, pytest-xdist's -n underneath) whose
default follows where the target is, and a rate_limit that holds for the run, not for each worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.options import REMOTE_CONCURRENCY, concurrency
from tests.suite.runner import reference, run_suite


class Options:
    """The options `concurrency` reads, as pytest's config gives them."""

    def __init__(self, **given: Any) -> None:
        self.given = given

    def getoption(self, name: str) -> Any:
        return self.given.get(name)


@pytest.mark.parametrize(
    ("url", "workers"),
    [
        ("https://staging.example.com", REMOTE_CONCURRENCY),
        ("https://10.20.30.40:8443", REMOTE_CONCURRENCY),
        ("http://127.0.0.1:8080", 1),
        ("http://127.3.4.5", 1),
        ("http://localhost:9000", 1),
        ("http://[::1]:9000", 1),
        (None, 1),  # the embedded reference server
    ],
)
def test_the_default_follows_where_the_target_is(
    url: str | None, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNAI_TARGET_URL", raising=False)
    monkeypatch.delenv("RUNAI_CREDENTIALS", raising=False)
    monkeypatch.delenv("RUNAI_CONCURRENCY", raising=False)
    assert concurrency(Options(target_url=url)) == workers  # type: ignore[arg-type]


def test_the_credentials_files_url_counts_and_the_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNAI_TARGET_URL", "RUNAI_CREDENTIALS", "RUNAI_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    creds = tmp_path / "creds.toml"
    creds.write_text('[target]\nurl = "https://staging.example.com"\n')
    assert concurrency(Options(credentials=str(creds))) == REMOTE_CONCURRENCY  # type: ignore[arg-type]
    assert concurrency(Options(credentials=str(creds), concurrency="2")) == 2  # type: ignore[arg-type]
    monkeypatch.setenv("RUNAI_CONCURRENCY", "3")
    assert concurrency(Options(credentials=str(creds))) == 3  # type: ignore[arg-type]
    creds.write_text("[target\n")  # broken: reported in one line when the run reads it, not here
    monkeypatch.delenv("RUNAI_CONCURRENCY")
    assert concurrency(Options(credentials=str(creds))) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["0", "-2", "many", "1.5"])
def test_a_bad_concurrency_is_one_line(bad: str) -> None:
    with pytest.raises(pytest.UsageError, match=r"--concurrency / RUNAI_CONCURRENCY .*whole number >= 1"):
        concurrency(Options(concurrency=bad))  # type: ignore[arg-type]


def test_the_rate_limit_holds_for_the_run_not_for_each_worker(tmp_path: Path) -> None:
    """rate_limit = 10 with two workers: the target never sees much more than 10 requests in a second."""
    limit = 10
    with reference() as server:
        result = run_suite(
            server, tmp_path, "conformance/test_inputs.py", "conformance/test_users_lifecycle.py", "--profile", "smoke",
            "--concurrency", "2", target_settings=f"rate_limit = {limit}",
        )  # fmt: skip
        times = sorted(entry["at"] for entry in server.requests)
    assert result.returncode == 0, result.output[-3000:]
    assert "2 workers (-n, --concurrency)" in result.output, result.output[-3000:]
    assert len(times) > 4 * limit, "enough requests to see a rate"
    busiest = max(sum(1 for t in times[i:] if t < start + 2.0) for i, start in enumerate(times))
    assert busiest <= 2 * limit + 3, f"{busiest} requests in 2 s with rate_limit = {limit}"  # +3: each limiter's first
