"""The pytest plugin of the conformance suite: options, markers, the run's state, fixtures, reports.

Registered through the `pytest11` entry point. It only acts on runs that collect the suite
(`pytest conformance …`); the self-tests and other pytest runs in the same environment are untouched.
"""

from __future__ import annotations

import os
import random
import signal
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from conformance.api import Api, ContractViolation, Ledger, Tokens
from conformance.launcher import EmbeddedServer, start_embedded
from conformance.redact import Redactor
from conformance.render import write_matrix
from conformance.results import (
    Recorder,
    allure_environment,
    failed_operations,
    operation_of,
    operations,
    summary,
    write_summary,
)
from conformance.rules import family
from conformance.target import PROFILES, ConfigError, Target, build_target
from conformance.transport import GuardedClient
from conformance.waivers import Waiver, applicable, load_waivers

SUITE_DIR = Path(__file__).resolve().parent
STATE = pytest.StashKey["RunState"]()
ENV = {
    "target_url": "RUNAI_TARGET_URL",
    "credentials": "RUNAI_CREDENTIALS",
    "token": "RUNAI_TOKEN",
    "profile": "RUNAI_PROFILE",
    "report_dir": "RUNAI_REPORT_DIR",
    "waivers": "RUNAI_WAIVERS",
}
REPORTS = pytest.StashKey["RunReports"]()


@dataclass
class RunState:
    """Everything one conformance run holds: built once, torn down at the end of the session."""

    target: Target
    api: Api
    redact: Redactor
    embedded: EmbeddedServer | None = None
    seed: int = 0
    cleanup_problems: list[str] = field(default_factory=list)
    closed: bool = False


@dataclass
class RunReports:
    """What the run's reports are made from: the waivers in force and a record of every test."""

    report_dir: Path
    profile: str
    waivers: list[Waiver]
    today: date = field(default_factory=date.today)
    recorder: Recorder = field(default_factory=Recorder)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorder.add(report)


# ------------------------------------------------------------------------------ options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runai-conformance", "Run:ai conformance suite")
    group.addoption(
        "--target-url",
        default=None,
        help=f"base URL of the target (env {ENV['target_url']}); default: start the embedded reference server",
    )
    group.addoption("--credentials", default=None, help=f"credentials file, TOML (env {ENV['credentials']})")
    group.addoption("--token", default=None, help=f"a bearer token for the admin role alone (env {ENV['token']})")
    group.addoption(
        "--profile",
        default=None,
        choices=sorted(PROFILES),
        help=f"smoke | ci | nightly (env {ENV['profile']}; default ci)",
    )
    group.addoption(
        "--read-only", action="store_true", default=False, help="never send POST or DELETE (for production targets)"
    )
    group.addoption(
        "--report-dir",
        default=None,
        help=f"where JUnit XML and Allure results go (env {ENV['report_dir']}; default reports/)",
    )
    group.addoption(
        "--waivers",
        default=None,
        help=f"known failures to report as waived, TOML or YAML (env {ENV['waivers']}; see conformance/waivers.py)",
    )


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    return value if value is not None else os.environ.get(ENV[name])


def is_suite_run(config: pytest.Config) -> bool:
    """Whether this pytest run collects the conformance suite."""
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents:
            return True
    return False


# ------------------------------------------------------------------------------ configure


def register_hypothesis_profiles() -> None:
    for profile in PROFILES.values():
        settings.register_profile(
            f"runai-{profile.name}",
            max_examples=profile.fuzz_examples,
            deadline=None,
            database=None,  # no example database written into the checkout
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
            derandomize=False,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(*ids): the CONTRACT rules a test proves (conformance/rules.toml)")
    config.addinivalue_line("markers", "operation(id): the API operation a test exercises")
    register_hypothesis_profiles()
    if not is_suite_run(config):
        return
    profile = _option(config, "profile") or "ci"
    if profile not in PROFILES:
        raise pytest.UsageError(f"--profile {profile!r} is not one of {', '.join(PROFILES)}")
    settings.load_profile(f"runai-{profile}")
    # One seed per run, printed in the header, so a failure replays with --hypothesis-seed.
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = random.SystemRandom().randrange(2**31)
    report_dir = Path(_option(config, "report_dir") or "reports")
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--report-dir {report_dir}: cannot create it ({exc.strerror})") from None
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(report_dir / "junit.xml")
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        config.option.allure_report_dir = str(report_dir / "allure-results")
        config.option.clean_alluredir = True
    waivers_file = _option(config, "waivers")
    try:
        waivers = load_waivers(Path(waivers_file), set(operations())) if waivers_file else []
    except ConfigError as exc:
        raise pytest.UsageError(f"runai-conformance: {exc}") from None
    config.stash[REPORTS] = reports = RunReports(report_dir, profile, waivers)
    config.pluginmanager.register(reports, "runai-conformance-reports")
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM ends the run like Ctrl-C, so cleanup still runs."""
    raise KeyboardInterrupt


def build_state(config: pytest.Config) -> RunState:
    """Start the target if needed, read credentials, check the target answers like this API."""
    embedded = None
    url, credentials = _option(config, "target_url"), _option(config, "credentials")
    profile = _option(config, "profile") or "ci"
    report_dir = Path(_option(config, "report_dir") or "reports")
    if url is None and credentials is None and _option(config, "token") is None:
        embedded = start_embedded()
        credentials = str(embedded.credentials)
    try:
        target = build_target(
            url=url,
            credentials=Path(credentials) if credentials else None,
            token=_option(config, "token"),
            profile=profile,
            read_only=bool(config.getoption("read_only")),
            report_dir=report_dir,
            embedded_url=embedded.url if embedded else None,
        )
        api = Api.connect(target)
        preflight(api.http, api.tokens, target)
    except BaseException:
        if embedded:
            embedded.stop()
        raise
    return RunState(
        target=target, api=api, redact=api.redact, embedded=embedded, seed=int(config.option.hypothesis_seed)
    )


def preflight(http: GuardedClient, tokens: Tokens, target: Target) -> None:
    """Fail fast, in one line, on a target that is down or is not this API."""
    try:
        answer = http.get("/api/v1/users")
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"cannot reach {target.url}: {type(exc).__name__}: {exc} (check --target-url / RUNAI_TARGET_URL)"
        ) from None
    if answer.status_code in (404, 405) or "json" not in answer.headers.get("content-type", ""):
        raise ConfigError(
            f"{target.url} does not look like the Run:ai API: GET /api/v1/users without a token answered "
            f"{answer.status_code} {answer.headers.get('content-type', 'no content type')} (expected a JSON 401)"
        )
    tokens.token("admin")


# ------------------------------------------------------------------------------ session


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if not is_suite_run(config) or not session.items or config.option.collectonly:
        return
    try:
        config.stash[STATE] = state = build_state(config)
    except ConfigError as exc:
        pytest.exit(f"runai-conformance: {exc}", returncode=4)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.write_line(f"runai-conformance: target {state.target.describe()}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not is_suite_run(config):
        return []
    profile = _option(config, "profile") or "ci"
    return [
        f"runai-conformance: profile {profile}, hypothesis seed {config.option.hypothesis_seed} "
        f"(replay with --hypothesis-seed={config.option.hypothesis_seed})",
    ]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fuzz tests are one per operation: mark each with its operation and the rules it proves."""
    from conformance.fuzz import COMMON_RULES, FUZZ_RULES, operation_ids

    by_label = operation_ids()
    for item in items:
        if getattr(item, "originalname", "") != "test_operation_conforms":
            continue
        label = item.name.split("[", 1)[-1].rstrip("]")
        _give_distinct_nodeid(item, label)
        op = by_label.get(label)
        if op is not None:
            item.add_marker(pytest.mark.operation(op))
            item.add_marker(pytest.mark.rule(*COMMON_RULES, *FUZZ_RULES[op]))


def _give_distinct_nodeid(item: pytest.Item, label: str) -> None:
    """Schemathesis 4.32 items on pytest 9 all get the bare function's nodeid (pytest 9 builds a leaf id
    from originalname plus callspec params, and Schemathesis passes no callspec). Give each operation
    its own id, `…::test_operation_conforms[GET /api/v1/users]`, so -k, JUnit and reports tell them apart."""
    if item.nodeid.endswith("]"):
        return
    try:
        from _pytest.nodeid import NodeId

        parent = item.parent.id  # type: ignore[union-attr]
        item._id = NodeId(path=parent.path, names=(*parent.names, item.originalname), params=label)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, TypeError):  # another pytest: leave the id as it is
        pass


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.closed:
        return
    state.closed = True
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        if not state.target.read_only:
            state.cleanup_problems = state.api.cleanup()
    finally:
        state.api.http.close()
        if state.embedded:
            state.embedded.stop()
        reports = session.config.stash.get(REPORTS, None)
        if reports is not None:
            write_reports(session, state, reports)
        redact_report_files(state.target.report_dir, state.redact)
    if reporter:
        if state.cleanup_problems:
            reporter.write_line(
                f"runai-conformance: cleanup left {len(state.cleanup_problems)} problem(s): {state.cleanup_problems[:5]}",
                red=True,
            )
        else:
            reporter.write_line(
                f"runai-conformance: cleanup done; nothing tagged {state.target.run_tag} is left on {state.target.url}"
            )


def write_reports(session: pytest.Session, state: RunState, reports: RunReports) -> None:
    """summary.json, the conformance matrix and Allure's environment; expired waivers fail the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    data = summary(
        reports.recorder,
        target=state.target.url,
        profile=reports.profile,
        seed=state.seed,
        run_tag=state.target.run_tag,
        waivers=reports.waivers,
        exit_status=int(session.exitstatus),
        today=reports.today,
    )
    expired = [w for w in data["waivers"] if w["status"] == "expired"]
    if expired and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        data["exit_status"] = int(session.exitstatus)
    write_summary(data, reports.report_dir)
    write_matrix(data, reports.report_dir)
    allure_dir = getattr(session.config.option, "allure_report_dir", None)
    if allure_dir:
        allure_environment(data, Path(allure_dir))
    if reporter is None:
        return
    for w in data["waivers"]:
        if w["status"] != "matched":
            where = f" on {w['operation']}" if w["operation"] else ""
            what = (
                "expired on " + w["expires"] + ": it waives nothing and fails the run"
                if w["status"] == "expired"
                else "stale: it matches no failure of this run"
            )
            reporter.write_line(
                f"runai-conformance: waiver {w['rule']}{where} is {what}",
                red=w["status"] == "expired",
                yellow=w["status"] == "stale",
            )
    reporter.write_line(
        f"runai-conformance: results in {reports.report_dir / 'summary.json'}, matrix {reports.report_dir / 'matrix.html'}"
    )


def redact_report_files(report_dir: Path, redact: Redactor) -> None:
    """The last line of defence: no known secret stays in any report file."""
    if not report_dir.is_dir():
        return
    for path in report_dir.rglob("*"):
        if path.is_file() and path.suffix in (".xml", ".json", ".txt", ".md", ".html", ".log", ".csv"):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            cleaned = redact(text)
            if cleaned != text:
                path.write_text(cleaned, encoding="utf-8")


# ------------------------------------------------------------------------------ per test


def item_rules(item: pytest.Item) -> list[str]:
    return [r for mark in item.iter_markers("rule") for r in mark.args]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Label Allure results with rule, family and operation; redact failures before anyone reads them."""
    state = item.config.stash.get(STATE, None)
    _allure_labels(item)
    try:
        return (yield)
    except ContractViolation as exc:
        if state is not None:
            exc.args = (state.redact(str(exc.args[0])),)
        item.user_properties.extend(("rule", r) for r in exc.rules)
        _allure_labels(item, exc.rules)
        _allure_evidence(str(exc.args[0]))
        raise
    except AssertionError as exc:
        if state is not None and exc.args:
            exc.args = (state.redact(str(exc.args[0])),)
            _allure_evidence(str(exc.args[0]))
        raise


def _allure_evidence(message: str) -> None:
    """Attach a failure's evidence to its Allure result: the whole (redacted) message, and the
    request, the response and the reproducing curl line each on its own."""
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    allure.attach(message, name="evidence", attachment_type=allure.attachment_type.TEXT)
    for name, prefix in (("request", "request:"), ("response", "response:"), ("reproduce (curl)", "reproduce:")):
        lines = [line.split(prefix, 1)[1].strip() for line in message.splitlines() if line.lstrip().startswith(prefix)]
        if lines:
            allure.attach("\n".join(lines), name=name, attachment_type=allure.attachment_type.TEXT)


def _allure_labels(item: pytest.Item, broken: list[str] | None = None) -> None:
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    for rule_id in broken or item_rules(item):
        allure.dynamic.label("rule", rule_id)
        allure.dynamic.tag(rule_id)
        allure.dynamic.label("rule_family", family(rule_id))
    for mark in item.iter_markers("operation"):
        allure.dynamic.label("operation", str(mark.args[0]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash.get(STATE, None)
    if state is not None:
        state.api.http.start_test()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    state = item.config.stash.get(STATE, None)
    if state is None:
        return report
    marked_ops = [str(m.args[0]) for m in item.iter_markers("operation")]
    for rule_id in item_rules(item):  # in every phase: a skip or error in setup counts for the rules too
        if ("rule", rule_id) not in item.user_properties:
            item.user_properties.append(("rule", rule_id))
    if report.when == "call":
        for op in [*marked_ops, *sorted(state.api.exercised)]:
            if ("operation", op) not in item.user_properties:
                item.user_properties.append(("operation", op))
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:  # the exception's own text, for the reports: what broke, the exchange, the steps
        report.runai_evidence = state.redact(f"{crash.message}\n(at {crash.path}:{crash.lineno})")
    if report.longrepr is not None:
        if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
            path, line, reason = report.longrepr
            report.longrepr = (path, line, state.redact(reason))
        else:
            report.longrepr = state.redact(str(report.longrepr))
    report.sections = [(title, state.redact(text)) for title, text in report.sections]
    if report.failed and report.when in ("setup", "call"):
        excinfo = call.excinfo
        broken = excinfo.value.rules if excinfo and isinstance(excinfo.value, ContractViolation) else item_rules(item)
        last = [operation_of(r.request.method, str(r.request.url)) for r in list(state.api.http.exchanges)[-1:]]
        failed_ops = failed_operations(str(report.longrepr)) or marked_ops or [op for op in last if op]
        item.user_properties.extend(("broken", r) for r in broken)
        item.user_properties.extend(("failed_operation", op) for op in failed_ops)
        reports = item.config.stash.get(REPORTS, None)
        if reports is not None and reports.waivers:
            live, expired = applicable(reports.waivers, broken, failed_ops, reports.today)
            if live:
                report.outcome = "skipped"
                report.wasxfail = "; ".join(w.describe() for w in live)
                item.user_properties.extend(("waiver", w.key) for w in live)
            elif expired:
                report.longrepr = f"{report.longrepr}\n" + "\n".join(
                    f"(the waiver for {w.key} expired on {w.expires.isoformat()}: it waives nothing)" for w in expired
                )
    report.user_properties = list(item.user_properties)
    return report


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def run_state(request: pytest.FixtureRequest) -> RunState:
    state = request.config.stash.get(STATE, None)
    if state is None:
        pytest.skip("the conformance suite's run state was not built (run it as: pytest conformance)")
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
