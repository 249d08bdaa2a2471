"""Reporting, registered as a plugin of its own for suite runs only: rule and operation properties
on every report, failures redacted before anyone reads them, Allure labels and evidence, waivers, and
at the end summary.json, the matrix and Allure's environment, with the report dir scrubbed of secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance.api import ContractViolation
from conformance.options import REPORTS, STATE
from conformance.redact import Redactor
from conformance.render import write_matrix
from conformance.results import (
    Recorder,
    allure_environment,
    failed_operations,
    operation_of,
    summary,
    write_summary,
)
from conformance.rules import family
from conformance.waivers import Waiver, applicable

if TYPE_CHECKING:
    from conformance.plugin import RunState


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
