"""Reporting, registered as a plugin of its own for suite runs only: rule and operation properties
on every report, failures redacted before anyone reads them, Allure labels and evidence, waivers, and
at the end summary.json, the matrix and Allure's environment, with the report dir scrubbed of secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis.errors import Flaky

from conformance.api import ContractViolation
from conformance.options import NO_VERDICT, REPORTS, STATE, option
from conformance.redact import Redactor
from conformance.render import write_matrix
from conformance.results import (
    EVIDENCE_LIMIT,
    Completion,
    Recorder,
    allure_environment,
    operation_of,
    summary,
    write_summary,
)
from conformance.rules import family
from conformance.shrinking import watching_shrinks
from conformance.waivers import Waiver, applicable

if TYPE_CHECKING:
    from conformance.plugin import RunState


@dataclass
class RunReports:
    """What the run's reports are made from: the waivers in force, a record of every test, and why the
    run stopped early when it did."""

    report_dir: Path
    profile: str
    waivers: list[Waiver]
    certify: bool = False
    today: date = field(default_factory=date.today)
    recorder: Recorder = field(default_factory=Recorder)
    stopped: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorder.add(report)


def completion(session: pytest.Session, reports: RunReports) -> Completion:
    """How far this session got, read off pytest's own state."""
    interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop == "interrupted"
    stopped = reports.stopped
    for reason in (session.shouldfail, session.shouldstop):
        if reason and reason != "interrupted" and not stopped:
            stopped = str(reason)
    return Completion(
        exit_status=int(session.exitstatus),
        collected=len(getattr(session, "items", []) or []) or int(getattr(session, "testscollected", 0) or 0),
        interrupted=interrupted,
        stopped=stopped,
        certify=reports.certify,
    )


def write_reports(
    session: pytest.Session, reports: RunReports, *, target: str, seed: int, run_tag: str, target_id: str | None = None
) -> None:
    """summary.json, the conformance matrix and Allure's environment; expired waivers fail the run, and so
    does a --certify run that does not certify."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    data = summary(
        reports.recorder,
        target=target,
        profile=reports.profile,
        seed=seed,
        run_tag=run_tag,
        waivers=reports.waivers,
        completion=completion(session, reports),
        target_id=target_id,
        today=reports.today,
    )
    expired = [w for w in data["waivers"] if w["status"] == "expired"]
    uncertified = data["run"]["certify"] and not data["run"]["certified"]
    if (expired or uncertified) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        data["exit_status"] = data["run"]["exit_status"] = int(session.exitstatus)
    if not data["run"]["complete"] and session.exitstatus == pytest.ExitCode.OK:  # never green on nothing
        session.exitstatus = NO_VERDICT
        data["exit_status"] = data["run"]["exit_status"] = NO_VERDICT
    write_summary(data, reports.report_dir)
    write_matrix(data, reports.report_dir)
    allure_dir = getattr(session.config.option, "allure_report_dir", None)
    if allure_dir:
        allure_environment(data, Path(allure_dir))
    if reporter is None or reports.stopped:  # a run that never started: its one line says why, nothing more
        return
    reporter.ensure_newline()
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
    run = data["run"]
    if run["inconclusive"]:
        reporter.write_line(
            f"runai-conformance: {run['inconclusive']} test(s) INCONCLUSIVE (throttled, or no answer): "
            "skipped with the reason, no verdict on their rules",
            yellow=True,
        )
    if not run["complete"]:
        reporter.write_line(
            f"runai-conformance: INCOMPLETE run ({'; '.join(run['incomplete_because'])}): no gate passes on it",
            red=True,
        )
    if run["certify"]:
        if run["certified"]:
            reporter.write_line("runai-conformance: CERTIFIED: every rule ran and passed", green=True)
        else:
            named = ", ".join(f"{r} {status}" for r, status in run["not_certified_because"].items())
            reporter.write_line(
                f"runai-conformance: NOT CERTIFIED: {named or '; '.join(run['incomplete_because'])}", red=True
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


def item_rules(item: pytest.Item) -> list[str]:
    return [r for mark in item.iter_markers("rule") for r in mark.args]


NOT_SHRUNK = (
    "\n(reproduction NOT fully shrunk: the {profile} profile bounds shrinking against a live target; "
    "re-run this test with --profile nightly and the same --hypothesis-seed for the minimal one)"
)


def leaves(exc: BaseException | None) -> list[BaseException]:
    """The failures one exception stands for: itself, or every leaf of an ExceptionGroup (Hypothesis
    raises one when it finds several distinct failures; the fuzz test when one call breaks several rules)."""
    if exc is None:
        return []
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    if isinstance(exc, Flaky) and isinstance(exc.__context__, (AssertionError, BaseExceptionGroup)):
        # Hypothesis replayed a failure against a live target whose state had moved on, and the replay
        # went another way: the failure it first saw, with its evidence, is still the verdict.
        return leaves(exc.__context__)
    return [exc]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Label Allure results with rule, family and operation; redact failures before anyone reads them."""
    state = item.config.stash.get(STATE, None)
    _allure_labels(item)
    try:
        with watching_shrinks() as cut_short:
            return (yield)
    except (AssertionError, BaseExceptionGroup, Flaky) as exc:
        found = leaves(exc)
        for leaf in found:
            if isinstance(leaf, AssertionError) and leaf.args:
                text = str(leaf.args[0])
                if cut_short():
                    text += NOT_SHRUNK.format(profile=option(item.config, "profile") or "ci")
                leaf.args = (state.redact(text) if state is not None else text, *leaf.args[1:])
        broken = [r for v in found if isinstance(v, ContractViolation) for r in v.rules]
        if broken:
            _allure_labels(item, list(dict.fromkeys(broken)))
        for leaf in found:
            if isinstance(leaf, AssertionError):
                _allure_evidence(str(leaf))
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
        item.user_properties.append(("requests", state.api.http.test_sent))  # what the test cost the target
    if report.longrepr is not None:
        if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
            path, line, reason = report.longrepr
            report.longrepr = (path, line, state.redact(reason))
        else:
            report.longrepr = state.redact(str(report.longrepr))
    report.sections = [(title, state.redact(text)) for title, text in report.sections]
    if report.failed and report.when in ("setup", "call"):
        violations, unattributed = classify(state, item, call.excinfo.value if call.excinfo else None)
        broken = list(dict.fromkeys(r for v in violations for r in v["rules"]))
        failed_ops = list(dict.fromkeys(v["operation"] for v in violations if v["operation"]))
        report.runai_violations = violations
        report.runai_unattributed = unattributed
        item.user_properties.extend(("broken", r) for r in broken)
        item.user_properties.extend(("failed_operation", op) for op in failed_ops)
        reports = item.config.stash.get(REPORTS, None)
        if reports is not None and reports.waivers and broken and not unattributed:
            live, expired, covered = [], [], True  # waived only when a waiver covers every violation
            for v in violations:
                alive, gone = applicable(
                    reports.waivers, v["rules"], [v["operation"]] if v["operation"] else [], reports.today
                )
                live += [w for w in alive if w not in live]
                expired += [w for w in gone if w not in expired]
                covered = covered and bool(alive)
            if covered and live:
                report.outcome = "skipped"
                report.wasxfail = "; ".join(w.describe() for w in live)
                item.user_properties.extend(("waiver", w.key) for w in live)
            elif expired:
                report.longrepr = f"{report.longrepr}\n" + "\n".join(
                    f"(the waiver for {w.key} expired on {w.expires.isoformat()}: it waives nothing)" for w in expired
                )
    report.user_properties = list(item.user_properties)
    return report


def classify(
    state: RunState, item: pytest.Item, exc: BaseException | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A failed test's violations, each with its own rules, operation and evidence, read off the typed
    ContractViolations it raised; and its failures that no CONTRACT rule names (a violation without a
    rule, a crash, a refused request), each under its own heading. Nothing is parsed out of a message."""
    marked = [str(m.args[0]) for m in item.iter_markers("operation")]
    violations: list[dict[str, Any]] = []
    unattributed: list[dict[str, Any]] = []
    found = leaves(exc)
    for leaf in found:  # the message, then Hypothesis' notes: the failing steps that reproduce it
        notes = "\n".join(str(n) for n in getattr(leaf, "__notes__", []) or [])
        exchange = ""
        if isinstance(leaf, ContractViolation) and leaf.request and "request:" not in str(leaf):
            exchange = f"\nrequest:  {leaf.request[0]} {leaf.request[1]}\nresponse: {leaf.status}"
        message = state.redact(f"{leaf}{exchange}\n{notes}".rstrip())[:EVIDENCE_LIMIT]
        if isinstance(leaf, ContractViolation) and leaf.rules:
            operation = leaf.operation or (operation_of(*leaf.request) if leaf.request else None)
            if operation is None and len(marked) == 1:
                operation = marked[0]
            violations.append({"rules": list(leaf.rules), "operation": operation, "message": message})
        else:
            kind = "a failure no contract rule names" if isinstance(leaf, ContractViolation) else type(leaf).__name__
            unattributed.append({"kind": kind, "message": message})
    if not found:
        unattributed.append({"kind": "failed", "message": "the test failed without an exception"})
    return violations, unattributed
