"""The pytest plugin of the conformance suite: the run (target, guarded transport, ledger) built once
before the first test and torn down at the end, with cleanup; its fixtures. Options and markers live
in conformance/options.py, reporting in conformance/reporting.py (registered from here for suite runs).

Registered through the `pytest11` entry point. It only acts on runs that collect the suite
(`pytest conformance …`); the self-tests and other pytest runs in the same environment are untouched.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from _pytest.junitxml import xml_key
from hypothesis import settings

from . import reporting
from .about import describe
from .api import Api, Ledger, Tokens
from .examples import RunExamples, run_examples
from .history import start as start_history
from .launcher import start_embedded
from .network import describe_tls_failure
from .operations import operations
from .options import (
    EXAMPLES,
    NO_VERDICT,
    REPORTS,
    STATE,
    SUITE_DIR,
    concurrency,
    is_suite_run,
    name_the_suite,
    option,
    pytest_addoption,  # noqa: F401  (the options, registered through this entry-point module)
    register_hypothesis_profiles,
    register_markers,
    reproduce_count,
)
from .replay import ExamplesPlugin, reproduce
from .reporting import RunReports, redact_report_files, write_reports
from .results import RESULT_FILES
from .secret import bearer
from .shrinking import set_shrink_budget
from .state import RunState
from .sweep import SweepError, clean_up, sweep
from .target import PROFILES, ConfigError, Target, build_target, new_run_tag
from .transport import GuardedClient
from .waivers import load_waivers

# ------------------------------------------------------------------------------ configure


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    register_hypothesis_profiles()
    config.pluginmanager.register(OneLineExit(config), "runai-conformance-one-line-exit")
    if not is_suite_run(config):
        return
    for line in QUIET_WARNINGS:  # an installed copy has no pyproject.toml of ours to say so
        config.addinivalue_line("filterwarnings", line)
    profile = option(config, "profile") or "ci"
    if profile not in PROFILES:
        raise pytest.UsageError(f"--profile {profile!r} is not one of {', '.join(PROFILES)}")
    worker = getattr(config, "workerinput", None)
    if worker is not None and "runai" in worker:  # an xdist worker: the controller's target and seed
        config.option.target_url = worker["runai"]["url"]
        config.option.credentials = worker["runai"]["credentials"]
        config.option.hypothesis_seed = worker["runai"]["seed"]
    examples = open_examples(config, profile, worker)
    config.stash[EXAMPLES] = examples
    register_hypothesis_profiles(examples.database, replay_only=examples.replay_only)
    settings.load_profile(f"runai-{profile}")
    budget = config.getoption("shrink_seconds", None)
    set_shrink_budget(PROFILES[profile].shrink_seconds if budget is None else budget)
    # One seed per run, printed in the header, so a failure replays with --hypothesis-seed.
    seed = config.getoption("hypothesis_seed", None)
    if seed is None:
        config.option.hypothesis_seed = random.SystemRandom().randrange(2**31)
    else:
        try:
            config.option.hypothesis_seed = int(seed)
        except ValueError:
            raise pytest.UsageError(
                f"runai-conformance: --hypothesis-seed {seed!r} is not an integer; use the seed a run printed"
            ) from None
    report_dir = Path(option(config, "report_dir") or "reports")
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--report-dir {report_dir}: cannot create it ({exc.strerror})") from None
    if worker is None:
        clear_previous_results(report_dir)
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(report_dir / "junit.xml")
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        config.option.allure_report_dir = str(report_dir / "allure-results")
        config.option.clean_alluredir = True
    if worker is not None:  # the controller cleaned the Allure dir once; every worker adds its results
        config.option.clean_alluredir = False
    waivers_file, history = option(config, "waivers"), option(config, "history")
    keeps_history = history and worker is None and not config.getoption("replay_only", False)  # (not a replay's)
    try:
        waivers = load_waivers(Path(waivers_file), set(operations())) if waivers_file else []
        history = start_history(Path(history)) if keeps_history else None
    except ConfigError as exc:
        raise pytest.UsageError(f"runai-conformance: {exc}") from None
    config.stash[REPORTS] = reports = RunReports(
        report_dir,
        profile,
        waivers,
        certify=bool(config.getoption("certify")),
        accept_partial=bool(config.getoption("accept_partial")),
        read_only=bool(config.getoption("read_only")),
        history=history,
    )
    if worker is None:  # the one process that records every test's report (xdist sends them here) and writes
        config.pluginmanager.register(reports, "runai-conformance-reports")
    config.pluginmanager.register(reporting, "runai-conformance-reporting")
    config.pluginmanager.register(ExamplesPlugin(examples, replay_tests(config)), "runai-conformance-examples")
    if is_controller(config):
        config.pluginmanager.register(XdistController(), "runai-conformance-xdist")
        if config.option.dist == "load":  # the tests' lengths differ a lot: an idle worker takes pending ones
            config.option.dist = "worksteal"
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The run's concurrency (--concurrency, or its default by where the target is) becomes pytest-xdist's
    workers, before pytest-xdist reads them; an explicit -n wins. `--pyargs runai_conformance` names the suite."""
    name_the_suite(config)
    if hasattr(config, "workerinput") or not is_suite_run(config) or config.option.collectonly:
        return
    if getattr(config.option, "numprocesses", None) is not None or not config.pluginmanager.hasplugin("xdist"):
        return  # -n given, or pytest-xdist switched off (-p no:xdist): serial
    workers = concurrency(config)
    if workers > 1:  # as pytest-xdist's own pytest_cmdline_main would, whichever of the two pluggy calls first
        config.option.numprocesses = workers
        config.option.dist = "worksteal"  # the tests' lengths differ a lot: an idle worker takes pending ones
        config.option.tx = ["popen"] * workers


def open_examples(config: pytest.Config, profile: str, worker: dict[str, Any] | None) -> RunExamples:
    """The run's example database (conformance/examples.py): a worker uses the controller's."""
    replay_only = bool(config.getoption("replay_only"))
    if worker is not None and "runai" in worker:  # (a temporary one is the controller's to remove)
        return run_examples(worker["runai"]["examples"], None, reproduce=0, replay_only=replay_only)
    try:
        return run_examples(
            option(config, "example_db"),
            option(config, "example_db_from"),
            reproduce=0 if replay_only else reproduce_count(config, profile),
            replay_only=replay_only,
        )
    except ConfigError as exc:
        raise pytest.UsageError(f"runai-conformance: {exc}") from None


def replay_tests(config: pytest.Config) -> set[str] | None:
    """A replay's tests (--replay-tests, a JSON list of test ids the replaying run wrote)."""
    chosen = config.getoption("replay_tests")
    if not chosen:
        return None
    try:
        return set(json.loads(Path(chosen).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise pytest.UsageError(
            f"runai-conformance: --replay-tests {chosen}: not a JSON list of test ids ({exc})"
        ) from None


# Deprecation warnings of the libraries under the suite, which the user can do nothing about.
QUIET_WARNINGS = (
    "ignore::DeprecationWarning:jsonschema_path.*",
    "ignore:filter parameter is deprecated:DeprecationWarning",
)


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Python 3.11 can leave a frame of an interrupted run without a line number (Ctrl-C landed between two
    lines). pytest's report of the interrupt then fails on it with a TypeError, and the run exits 1, as if a
    test had failed, instead of 2: the frames without a line are left out of what it prints."""
    excinfo.traceback = excinfo.traceback.filter(lambda entry: entry._rawentry.tb_lineno is not None)


class OneLineExit:
    """A run stopped by the suite's own pytest.exit ("runai-conformance: cannot reach …") shows that sentence
    alone: pytest would print it as `! _pytest.outcomes.Exit: runai-conformance: … !`."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if not isinstance(excinfo.value, pytest.exit.Exception) or not excinfo.value.msg.startswith(
            "runai-conformance: "
        ):
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "_keyboardinterrupt_memo"):
            reporter._keyboardinterrupt_memo = None  # what pytest prints at the end, with the exception's type
            reporter.ensure_newline()
            reporter.write_line(excinfo.value.msg, red=True, bold=True)


# How long a test runs against a remote target, roughly (one unit: ~3 s at 150 ms a request, in ci), by
# module: a part of a state machine (one of eight) and a fuzzed operation are the long ones; the rest are
# short. The fuzzed operations with the most coverage cases run longer than a part of a machine, so they
# start first (at 150 ms, fuzzing POST /api/v1/tenants is ~70 s: started after a part, it ended the run).
WEIGHT = {"test_stateful": 8.0, "test_fuzz": 5.0}
LAST_MODULE = "test_later"  # what the run learned, judged again at its end
HEAVY = {
    "[POST /api/v1/tenants]": 24.0,
    "[GET /api/v1/users]": 16.0,
    "[POST /api/v1/users]": 10.0,
    "test_pages_are_disjoint_under_ties": 5.0,
}


def balanced(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The items in the order that gives each of `workers` a fair share of the long tests, each share
    starting with its longest: pytest-xdist hands out the collection in contiguous chunks (sizes as its
    schedulers cut them), then idle workers take pending tests from busy ones. Heaviest first, each to
    the chunk with the least weight that still has room."""
    if workers < 2:
        return items
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    chunks: list[list[pytest.Item]] = [[] for _ in sizes]
    loads = [0.0] * workers

    def weight(item: pytest.Item) -> float:
        heavy = next((w for name, w in HEAVY.items() if item.name.endswith(name)), None)
        return heavy or WEIGHT.get(item.module.__name__.rsplit(".", 1)[-1], 1.0)  # type: ignore[attr-defined]

    for item in sorted(items, key=weight, reverse=True):  # a stable sort: same order in every worker
        room = [i for i in range(workers) if len(chunks[i]) < sizes[i]]
        target = min(room, key=lambda i: loads[i])
        chunks[target].append(item)
        loads[target] += weight(item)
    return [item for chunk in chunks for item in chunk]


def is_controller(config: pytest.Config) -> bool:
    """Whether this process hands the tests to pytest-xdist workers (-n N) instead of running them."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


class XdistController:
    """With -n N the tests run in N worker processes, concurrently: where the target is far away that is
    most of a run's time. The controller checks the target once (one line on a bad one), starts the
    embedded server once, and gives every worker the same target and seed; each worker builds its own
    run (its own run tag, ledger and cleanup, so no worker's sweep can touch another's resources) and
    sends its reports back here, where the one summary.json, matrix and JUnit file are written."""

    def __init__(self) -> None:
        self.workers: list[dict[str, Any]] = []
        self.tags: list[str] = []  # every worker's run tag, given out here, also to a worker that xdist restarts
        self.crashed: list[str] = []

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        state = node.config.stash[STATE]
        credentials = state.target.credentials_file
        self.tags.append(tag := new_run_tag())
        node.workerinput["runai"] = {
            "url": state.target.url,
            "credentials": str(credentials) if credentials else None,
            "seed": state.seed,
            "run_tag": tag,
            "shared": str(state.target.shared),
            "examples": str(examples.path) if (examples := node.config.stash[EXAMPLES]).path else None,
        }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if "runai" in output:
            self.workers.append(output["runai"])

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """A worker that dies (killed, out of memory) leaves its test without a verdict: the run is
        incomplete, so no gate passes on it; what the worker created is swept at the end."""
        self.crashed.append(crashitem)

    def sweep_unreported(self, state: RunState) -> list[dict[str, Any]]:
        """The workers that ended without their own cleanup (killed, or cut off by a SIGTERM to this
        process alone): their run tags are swept from here, as `runai-conformance sweep --tag` would."""
        reported = {run["run_tag"] for run in self.workers}
        runs = []
        for tag in (t for t in self.tags if t not in reported):
            api = Api.connect(state.target, tag)
            try:
                problems = sweep(api, tag).problems
            except SweepError as exc:
                problems = [str(exc)]
            except pytest.skip.Exception as exc:  # the target is gone or throttles past its budget
                problems = [f"the sweep stopped: {exc.msg}"]
            except KeyboardInterrupt:
                problems = ["the sweep was interrupted"]
            finally:
                api.http.close()
            runs.append({"run_tag": tag, "cleanup_problems": [state.redact(str(p)) for p in problems], "gone": None})
        return runs


def clear_previous_results(report_dir: Path) -> None:
    """The previous run's verdict goes before anything of this run can fail: a run that stops early must
    never leave last night's green summary.json for the gate to read."""
    for name in RESULT_FILES:
        try:
            (report_dir / name).unlink(missing_ok=True)
        except OSError as exc:
            raise pytest.UsageError(
                f"--report-dir {report_dir}: cannot remove the previous run's {name} ({exc.strerror})"
            ) from None


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM ends the run like Ctrl-C, so cleanup still runs."""
    raise KeyboardInterrupt


def new_shared_dir() -> Path:
    """The directory the run's processes share (its pace, what it has named once); removed when the run ends."""
    return Path(tempfile.mkdtemp(prefix="runai-conformance-run-"))


def build_state(config: pytest.Config) -> RunState:
    """Start the target if needed, read credentials, check the target answers like this API."""
    embedded = None
    made: Path | None = None  # the shared directory this process made (the controller's, or a serial run's)
    url, credentials = option(config, "target_url"), option(config, "credentials")
    profile = option(config, "profile") or "ci"
    report_dir = Path(option(config, "report_dir") or "reports")
    if url is None and credentials is None and option(config, "token") is None:
        embedded = start_embedded()
        credentials = str(embedded.credentials)
    try:
        target = build_target(
            url=url,
            credentials=Path(credentials) if credentials else None,
            token=option(config, "token"),
            profile=profile,
            read_only=bool(config.getoption("read_only")),
            report_dir=report_dir,
            embedded_url=embedded.url if embedded else None,
        )
        worker = getattr(config, "workerinput", None)
        if worker is not None and "runai" in worker:  # the tag the controller gave it, so it can sweep after it,
            # and the one pace of the run: the target sees the run's requests, not a worker's
            target = replace(target, run_tag=worker["runai"]["run_tag"], shared=Path(worker["runai"]["shared"]))
        else:
            target = replace(target, shared=(made := new_shared_dir()))
        api = Api.connect(target)
        preflight(api.http, api.tokens, target)
    except BaseException:
        if embedded:
            embedded.stop()
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    return RunState(
        target=target, api=api, redact=api.redact, embedded=embedded, seed=int(config.option.hypothesis_seed)
    )


def preflight(http: GuardedClient, tokens: Tokens, target: Target) -> None:
    """Fail fast, in one line, on a target that is down or is not this API."""
    if not target.network.verify:
        warnings.warn(
            "runai-conformance: [target] verify = false: the target's TLS certificate is not checked", stacklevel=1
        )
    try:
        answer = http.get("/api/v1/users")
    except (httpx.HTTPError, pytest.skip.Exception) as exc:
        tls = describe_tls_failure(exc, target.network) if isinstance(exc, httpx.HTTPError) else None
        if tls:
            raise ConfigError(f"cannot reach {target.url}: {tls}") from None
        raise ConfigError(
            f"cannot reach {target.url}: {type(exc).__name__}: {exc} (check --target-url / RUNAI_TARGET_URL, "
            "and [target] proxy / timeout)"
        ) from None
    # A 401 or 403 is an API that wants a token, whatever its body (the body's shape is ERR-1's to judge);
    # a 404, 405 or another non-JSON answer is a wrong URL.
    wants_token = answer.status_code in (401, 403)
    if answer.status_code in (404, 405) or ("json" not in answer.headers.get("content-type", "") and not wants_token):
        raise ConfigError(
            f"{target.url} does not look like the Run:ai API: GET /api/v1/users without a token answered "
            f"{answer.status_code} {answer.headers.get('content-type', 'no content type')} (expected a JSON 401)"
        )
    for role in sorted(tokens.roles):  # a dead or foreign token stops the run here, not in 100 failures
        path = "/api/v1/tenants" if role == "operator" else "/api/v1/users"
        try:
            answer = http.get(path, params={"limit": 1}, headers={"Authorization": bearer(tokens.token(role))})
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach {target.url}: {type(exc).__name__}: {exc}") from None
        if answer.status_code == 401:
            how = "token" if tokens.roles[role].token is not None else "client credentials' token"
            raise ConfigError(
                f"the {role} role's {how} was refused: GET {path} answered 401 "
                f"(expired, revoked or for another target? check --token / RUNAI_TOKEN or --credentials)"
            )


# ------------------------------------------------------------------------------ session


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With -n N, the controller checks the target before any worker starts (one line on a bad one). JUnit's
    header says what the run checks, as `runai-conformance --version` does."""
    if not is_suite_run(session.config):
        return
    root_ids_at_the_suite(session.config)
    junit = session.config.stash.get(xml_key, None)
    if junit is not None:
        for name, line in zip(("suite", "spec", "contract", "overlays"), describe(), strict=True):
            junit.add_global_property(f"runai-conformance.{name}", line)
    if is_controller(session.config) and not session.config.option.collectonly:
        start_run(session)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if not is_suite_run(config) or not session.items or config.option.collectonly or is_controller(config):
        return
    start_run(session)


def root_ids_at_the_suite(config: pytest.Config) -> None:
    """`pytest --pyargs conformance` from a directory outside the suite's gives its tests ids relative to the
    package (`test_auth.py::…`, or `::test_x` for one module) and an empty JUnit class: root them where the
    suite's package lies, so every way of starting a run reports `conformance/test_auth.py::…`, as a
    checkout does. Only the ids move: the cache and the reports stay where the run was started."""
    home = SUITE_DIR.parent
    if getattr(config.option, "pyargs", False) and home != config.rootpath and home not in config.rootpath.parents:
        config._rootpath = home  # type: ignore[attr-defined]  # read by every node made from here on


def start_run(session: pytest.Session) -> None:
    """Build the run (target, client, ledger; the embedded server if needed) and check the target."""
    config = session.config
    try:
        config.stash[STATE] = state = build_state(config)
    except ConfigError as exc:
        reports = config.stash.get(REPORTS, None)
        if reports is not None:
            reports.stopped = f"stopped before the first test: {exc}"
        pytest.exit(f"runai-conformance: {exc}", returncode=NO_VERDICT)
    install_interrupt_handler(session, state)
    examples = config.stash.get(EXAMPLES, None)
    if examples is not None and examples.database is not None:  # it stores no value that holds a secret
        examples.database.redactor = state.redact
    http = state.api.http
    every = config.getoption("progress_every", None)
    if every is not None:
        http.progress_every = every
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # pytest-xdist shows nothing a worker writes while a test runs: the terminal's
        # stderr, which workers share with the controller, marked with the worker's id
        http.notice = past_capture(
            config, lambda text: print(f"runai-conformance [{worker['workerid']}]: {text}", file=sys.stderr, flush=True)
        )
    elif reporter:
        workers = f"; {config.option.numprocesses} workers (-n, --concurrency)" if is_controller(config) else ""
        reporter.write_line(f"runai-conformance: target {state.target.describe()}{workers}")

        def line(text: str) -> None:
            reporter.ensure_newline()
            reporter.write_line(f"runai-conformance: {text}")

        state.api.http.notice = past_capture(config, line)


def past_capture(config: pytest.Config, write: Callable[[str], None]) -> Callable[[str], None]:
    """The run's own lines while a test runs (its progress, a throttling gateway's waits), written past the
    test's output capture so that they show as they happen, whichever thread sends them."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    lock = threading.Lock()

    def notice(text: str) -> None:
        with lock, capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            write(text)

    return notice


def install_interrupt_handler(session: pytest.Session, state: RunState) -> None:
    """Ctrl-C and SIGTERM stop the run, and the cleanup still runs. Python drops an exception raised
    while a garbage-collector callback runs ("Exception ignored in …"), so a KeyboardInterrupt can
    be lost: the interrupt is also left pending in the transport, whose next request raises it, and
    pytest is told to stop after the current test."""

    def interrupt(signum: int, frame: Any) -> None:
        state.api.http.pending_interrupt = True
        session.shouldstop = "interrupted"
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not is_suite_run(config):
        return []
    profile = option(config, "profile") or "ci"
    return [
        *(f"runai-conformance: {line}" if i else line for i, line in enumerate(describe())),
        f"runai-conformance: profile {profile}, hypothesis seed {config.option.hypothesis_seed} "
        f"(replay with --hypothesis-seed={config.option.hypothesis_seed})",
    ]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fuzz tests are one per operation: mark each with its operation and the rules it proves. Every
    test proving a rule answers to it by name, before -k and -m select: `-k USR-8`, `-m USR-8`."""
    if not is_suite_run(config):
        return
    from .fuzz import COMMON_RULES, FUZZ_RULES, operation_ids

    by_label = operation_ids()
    for item in items:
        if getattr(item, "originalname", "") == "test_operation_conforms":
            label = item.name.split("[", 1)[-1].rstrip("]")
            _give_distinct_nodeid(item, label)
            op = by_label.get(label)
            if op is not None:
                item.add_marker(pytest.mark.operation(op))
                item.add_marker(pytest.mark.rule(*COMMON_RULES, *FUZZ_RULES[op]))
        for rule_id in reporting.item_rules(item):
            item.add_marker(getattr(pytest.mark, rule_id))
            item.extra_keyword_matches.add(rule_id)
        reporting.show_evidence_not_traceback(item)
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # with -n N, the long tests spread over the workers (every worker sorts alike)
        items[:] = balanced(items, int(worker.get("workercount", 1)))
    # What the run learned is judged again at its end: those tests go last (with -n N, last of a share)
    items[:] = sorted(items, key=lambda item: item.module.__name__.endswith(LAST_MODULE))  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A failure's status word names the rules it broke, so its short summary line starts with them:
    `FAILED [USR-8] conformance/…`; a failure no rule names says so."""
    if not report.failed or report.when not in ("setup", "call") or not is_suite_run(config):
        return None
    broken = [value for name, value in report.user_properties if name == "broken"]
    label = f"[{', '.join(broken)}]" if broken else "[no contract rule]"
    if report.when == "setup":
        return "error", "E", f"ERROR {label}"
    return "failed", "F", f"FAILED {label}"


def _give_distinct_nodeid(item: pytest.Item, label: str) -> None:
    """Schemathesis 4.32 items on pytest 9 all get the bare function's nodeid (pytest 9 builds a leaf id
    from originalname plus callspec params, and Schemathesis passes no callspec). Give each operation
    the id pytest itself resolves when it is given back on the command line,
    `…::test_operation_conforms::test_operation_conforms[GET /api/v1/users]` (the collector, then the
    item), so -k, JUnit and reports tell them apart and a printed id re-runs its test."""
    if item.nodeid.endswith("]"):
        return
    try:
        from _pytest.nodeid import NodeId

        parent = item.parent.id  # type: ignore[union-attr]
        names = tuple(parent.names)
        if not names or names[-1] != item.originalname:  # type: ignore[attr-defined]
            names = (*names, item.originalname)  # type: ignore[attr-defined]
        item._id = NodeId(path=parent.path, names=(*names, item.originalname), params=label)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, TypeError):  # another pytest: leave the id as it is
        pass


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    reports = config.stash.get(REPORTS, None)
    worker = hasattr(config, "workerinput")
    if state is None:
        started = session.items or is_controller(config)
        if reports is not None and not worker and started and not config.option.collectonly:
            # the run stopped before its first test: its summary says so, so no gate reads it as a verdict
            seed = config.option.hypothesis_seed
            write_reports(session, reports, target=option(config, "target_url") or "", seed=seed, run_tag="")
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reports is not None and reporter and not worker and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            reporter.write_line("runai-conformance: no test was selected (check the paths, -k and -m): nothing proven")
        return
    if state.closed:
        return
    state.closed = True
    state.api.http.pending_interrupt = False  # the interrupt has stopped the tests; the cleanup runs
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    controller = config.pluginmanager.get_plugin("runai-conformance-xdist")
    if controller is not None and not controller.tags:  # no worker was started: this process ran the tests
        controller = None
    gone = state.api.http.gone
    if gone:  # one try at the cleanup, with a short deadline: the first request without an answer ends it
        http = state.api.http
        short = min(5.0, http.network.read_timeout)
        http.gone, http.timeout = None, httpx.Timeout(short, connect=min(3.0, http.network.connect_timeout))
        http._unanswered = http.network.give_up_after - 1
    swept: list[dict[str, Any]] = []
    examples = config.stash.get(EXAMPLES, None)
    if examples is not None and reports is not None and not worker and not gone and not session.shouldstop:

        def say(line: str) -> None:
            if reporter:
                reporter.write_line(f"runai-conformance: {line}")

        for line in reproduce(config, state, examples, list(reports.recorder.records.values()), say):
            say(line)
    try:
        if not state.target.read_only and controller is None:  # (a controller created nothing itself)
            state.cleanup_problems = clean_up(state.api)
        elif not state.target.read_only:  # but its workers did, and one may have ended without its cleanup
            swept = controller.sweep_unreported(state)
    except KeyboardInterrupt:  # Ctrl-C during the cleanup: what is left is reported with its sweep command
        state.cleanup_problems = ["the cleanup was interrupted"]
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    except pytest.skip.Exception as exc:  # a role missing, a target gone: what is left is reported
        state.cleanup_problems = [f"the cleanup stopped: {exc.msg}"]
    except Exception as exc:  # a cleanup that breaks is reported with the sweep that finishes it, never raised
        state.cleanup_problems = [f"the cleanup stopped: {type(exc).__name__}: {state.redact(str(exc))[:200]}"]
    finally:
        if examples is not None and not worker:
            examples.close()
        pacing = state.api.http.pacer.totals()  # the whole run's, its workers' included (one shared pace)
        state.api.http.close()
        if state.embedded:
            state.embedded.stop()
    runs = [{"run_tag": state.target.run_tag, "cleanup_problems": state.cleanup_problems, "gone": gone}]
    if worker:  # the controller reports for every worker
        config.workeroutput["runai"] = runs[0]  # type: ignore[attr-defined]
        return
    if state.target.shared:
        shutil.rmtree(state.target.shared, ignore_errors=True)
    if controller is not None:
        runs = [*controller.workers, *swept]
        if controller.crashed and reports is not None:
            reports.unfinished = (
                f"a worker crashed while running {', '.join(controller.crashed[:3])} (no verdict on it)"
            )
    gone = next((run["gone"] for run in runs if run["gone"]), None)
    if gone:
        session.exitstatus = NO_VERDICT
        if reporter:
            reporter.write_line(f"runai-conformance: {gone}: the run stops; no verdict", red=True)
    tags = " ".join(run["run_tag"] for run in runs) or state.target.run_tag
    try:
        if reports is not None:
            write_reports(
                session,
                reports,
                target=state.target.url,
                seed=state.seed,
                run_tag=tags,
                target_id="embedded reference server" if state.target.embedded else None,
                pacing=pacing,
            )
    finally:
        redact_report_files(state.target.report_dir, state.redact)
    if reporter:
        for run in runs:
            tag, problems = run["run_tag"], run["cleanup_problems"]
            if problems:
                reporter.write_line(
                    f"runai-conformance: cleanup left {len(problems)} problem(s): {problems[:5]}; "
                    f"remove what is left with: runai-conformance sweep --tag {tag} "
                    f"--target-url {state.target.url} --credentials FILE",
                    red=True,
                )
            else:
                reporter.write_line(
                    f"runai-conformance: cleanup done; nothing tagged {tag} is left on {state.target.url}"
                )


# ------------------------------------------------------------------------------ per test


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash.get(STATE, None)
    if state is not None:
        state.api.http.start_test(item.nodeid)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """A target that stopped answering stops the run after the test that found out."""
    state = item.config.stash.get(STATE, None)
    if state is not None and state.api.http.gone:
        item.session.shouldstop = state.api.http.gone


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def run_state(request: pytest.FixtureRequest) -> RunState:
    state = request.config.stash.get(STATE, None)
    if state is None:  # a run that skipped every test would be a green gate that tested nothing
        pytest.exit(
            "runai-conformance: the suite's tests were collected but its run was not set up; start it as "
            "`runai-conformance run`, `pytest --pyargs conformance` or `pytest conformance` in a checkout",
            returncode=NO_VERDICT,
        )
    return state


@pytest.fixture(scope="session")
def target(run_state: RunState) -> Target:
    """The target of this run."""
    return run_state.target


@pytest.fixture(scope="session")
def api(run_state: RunState) -> Api:
    """Calls to the target as a role, with evidence and the ledger of what the run created."""
    return run_state.api


@pytest.fixture(scope="session")
def ledger(api: Api) -> Ledger:
    return api.ledger
