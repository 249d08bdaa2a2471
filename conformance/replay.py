"""Failures replayed: last night's first, and tonight's new ones again at the end, "reproduced k of n".

A test an earlier run found failing (the kept example database remembers its id) runs before the others,
and every Hypothesis part of it replays its stored failing example before it explores. A failure that no
earlier run had is replayed at the end of the run, `--reproduce N` times, each time in a fresh pytest
process against the same target, with the same seed and only the stored examples (a test without
Hypothesis is simply run again): the report says "reproduced k of N" beside its evidence. An
intermittent violation still fails its rule; the count tells the team which kind it is, and gives the
vendor a reproduction that reproduces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis.internal.detection import is_hypothesis_test

from .examples import CURRENT_TEST, REPLAY_TALLY, RunExamples, Tally, failures_first, keyed, record_outcome
from .results import TestRecord
from .state import RunState

AT_MOST = 25  # new failures replayed in one run; a target that fails everything is not replayed test by test
REPLAY_SECONDS = 1800  # one replay of every new failure; past it the replay says so and counts nothing


class ExamplesPlugin:
    """Registered for suite runs: the database key of every test's Hypothesis parts, the failing tests
    first, and in a replay, a test that had nothing stored to replay skipped rather than passed."""

    def __init__(self, examples: RunExamples, selected: set[str] | None) -> None:
        self.examples = examples
        self.selected = selected  # a replay runs these tests only

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.selected is not None:
            chosen = [item for item in items if item.nodeid in self.selected]
            config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in self.selected])
            items[:] = chosen
        items[:] = failures_first(items, self.examples.known_failures)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        test_token = CURRENT_TEST.set(item.nodeid)
        tally = Tally() if self.examples.replay_only else None
        tally_token = REPLAY_TALLY.set(tally)
        try:
            function = getattr(item, "obj", None)
            if function is not None and is_hypothesis_test(function):  # a fuzzed operation, a module-level @given
                keyed(function)
            result = yield
        finally:
            CURRENT_TEST.reset(test_token)
            REPLAY_TALLY.reset(tally_token)
        if tally is not None and tally.parts and not tally.stored:
            pytest.skip("nothing stored to replay: its example was not kept")
        return result

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and not self.examples.replay_only and not self.examples.temporary:
            record_outcome(self.examples.database, report.nodeid, report.failed)


def new_failures(records: list[TestRecord], known: set[str]) -> list[TestRecord]:
    """The failures of contract rules that no earlier run had (a waived one is not a failure)."""
    return [rec for rec in records if rec.outcome == "failed" and rec.broken and rec.id not in known]


def reproduce(
    config: pytest.Config,
    state: RunState,
    examples: RunExamples,
    records: list[TestRecord],
    say: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Replay the run's new failures `examples.reproduce` times, saying when each replay starts; each record
    learns "reproduced k of n" (in summary.json, and first in its evidence). Returns the lines for the terminal."""
    fresh = new_failures(records, examples.known_failures)
    if not examples.reproduce or not fresh:
        return []
    chosen, rest = fresh[:AT_MOST], fresh[AT_MOST:]
    failed = {rec.id: 0 for rec in chosen}
    replayed = {rec.id: 0 for rec in chosen}
    for replay in range(1, examples.reproduce + 1):
        say(f"replay {replay} of {examples.reproduce} of {len(chosen)} new failure(s), with the same example")
        for test_id, outcome in replay_once(config, state, examples, [rec.id for rec in chosen]).items():
            if outcome in ("passed", "failed") and test_id in failed:
                replayed[test_id] += 1
                failed[test_id] += outcome == "failed"
    lines = []
    for rec in chosen:
        k, n = failed[rec.id], replayed[rec.id]
        rec.reproduced = {"failed": k, "of": n, "tries": examples.reproduce}
        kind = "not replayable" if not n else "every time" if k == n else "never again" if not k else "intermittent"
        said = f"reproduced {k} of {n}" + (
            f" ({examples.reproduce - n} replay(s) could not run it)" if n < examples.reproduce else ""
        )
        rec.message = f"{said}, {kind}\n{rec.message}"
        lines.append(f"{said}, {kind}: {rec.id}")
    for rec in rest:
        rec.reproduced = {"failed": 0, "of": 0, "tries": 0, "why": f"only the first {AT_MOST} new failures replay"}
    return [f"{len(chosen)} new failure(s) replayed {examples.reproduce} time(s) with the same example:", *lines]


def replay_once(config: pytest.Config, state: RunState, examples: RunExamples, test_ids: list[str]) -> dict[str, str]:
    """One replay of the given tests in a fresh pytest process: each test's outcome (passed, failed, or
    skipped when it had nothing stored to replay); empty when the replay could not run."""
    with tempfile.TemporaryDirectory(prefix="runai-replay-") as tmp:
        chosen = Path(tmp) / "tests.json"
        chosen.write_text(json.dumps(test_ids), encoding="utf-8")
        target = state.target
        command = [
            sys.executable, "-m", "pytest", *config.invocation_params.args,
            "--rootdir", str(config.rootpath), "-p", "no:cacheprovider", "-q", "--concurrency", "1",
            "--target-url", target.url, "--profile", state.api.target.profile.name,
            "--hypothesis-seed", str(state.seed), "--report-dir", str(Path(tmp) / "reports"),
            "--reproduce", "0", "--replay-only", "--replay-tests", str(chosen),
        ]  # fmt: skip
        if examples.path is not None:
            command += ["--example-db", str(examples.path)]
        if target.credentials_file is not None:
            command += ["--credentials", str(target.credentials_file)]
        environment = dict(os.environ)
        token = config.getoption("token", None)
        if token:  # as the original run had it, never on a command line
            environment["RUNAI_TOKEN"] = str(token)
        try:
            subprocess.run(
                without_run_options(command),
                cwd=config.invocation_params.dir,
                env=environment,
                capture_output=True,
                timeout=REPLAY_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return {}
        return outcomes(Path(tmp) / "reports" / "summary.json")


def outcomes(summary: Path) -> dict[str, str]:
    try:
        data: dict[str, Any] = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(test["id"]): str(test["outcome"]) for test in data.get("tests", [])}


# Options of the original command that a replay sets itself (each with how many values follow it).
RUN_OPTIONS = {
    "--target-url": 1, "--credentials": 1, "--token": 1, "--profile": 1, "--hypothesis-seed": 1,
    "--report-dir": 1, "--reproduce": 1, "--example-db": 1, "--example-db-from": 1, "--concurrency": 1,
    "-n": 1, "--numprocesses": 1, "--junitxml": 1, "--junit-xml": 1, "--alluredir": 1, "--waivers": 1,
    "--history": 1, "-x": 0, "--exitfirst": 0, "--maxfail": 1, "--lf": 0, "--last-failed": 0, "--ff": 0,
    "--failed-first": 0, "-k": 1, "-m": 1,
}  # fmt: skip


def without_run_options(command: list[str]) -> list[str]:
    """The replay's command: the original's arguments (its paths, -p and -o options) without the options it
    sets itself, the replay's own given last. The original's token (--token) is never on a command line: the
    replay reads it from the environment or the credentials file, as the original did."""
    head = command.index("--rootdir")
    original, own = command[3:head], command[head:]
    kept: list[str] = []
    skip = 0
    for arg in original:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in RUN_OPTIONS:
            skip = RUN_OPTIONS[name] if "=" not in arg else 0
            continue
        if arg[:2] in ("-n", "-k", "-m") and len(arg) > 2:  # -n4, -kname: the value attached
            continue
        kept.append(arg)
    return [*command[:3], *kept, *own]
