"""Reporting, registered as a plugin of its own for suite runs only: rule and operation properties
on every report, failures redacted before anyone reads them, Allure labels and evidence, waivers, and
at the end summary.json, the matrix and Allure's environment, with the report dir scrubbed of secrets."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis.errors import Flaky

from .api import ContractViolation
from .guard import Refused
from .history import carry_allure_history, read, record
from .operations import TOKEN_OPERATION, operation_of, operations
from .options import NO_VERDICT, PARTIAL, REPORTS, STATE, option
from .redact import Redactor
from .render import write_matrix, write_trend
from .results import (
    EVIDENCE_LIMIT,
    STATUS_ORDER,
    Completion,
    Recorder,
    allure_environment,
    summary,
    write_summary,
)
from .rules import family, rules
from .shrinking import watching_shrinks
from .state import RunState
from .target import ConfigError
from .tokenlife import EARLY_DEATH_RULES, TokenDied
from .transport import ServerErrors
from .waivers import Waiver, applicable


@dataclass
class RunReports:
    """What the run's reports are made from: the waivers in force, a record of every test, and why the
    run stopped early when it did."""

    report_dir: Path
    profile: str
    waivers: list[Waiver]
    certify: bool = False
    accept_partial: bool = False
    read_only: bool = False
    today: date = field(default_factory=date.today)
    recorder: Recorder = field(default_factory=Recorder)
    stopped: str | None = None  # why the run never got to its tests (its one line said so)
    unfinished: str | None = None  # why tests that started have no verdict (a worker that crashed)
    history: Path | None = None  # --history: the run history this run adds its night to (conformance/history.py)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorder.add(report)


def completion(session: pytest.Session, reports: RunReports) -> Completion:
    """How far this session got, read off pytest's own state."""
    interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop == "interrupted"
    stopped = reports.stopped or reports.unfinished
    for reason in (session.shouldfail, session.shouldstop):
        if reason and reason != "interrupted" and not stopped:
            stopped = str(reason)
    return Completion(
        exit_status=int(session.exitstatus),
        collected=len(getattr(session, "items", []) or []) or int(getattr(session, "testscollected", 0) or 0),
        interrupted=interrupted,
        stopped=stopped,
        certify=reports.certify,
        accept_partial=reports.accept_partial,
        read_only=reports.read_only,
    )


def write_reports(
    session: pytest.Session,
    reports: RunReports,
    *,
    target: str,
    seed: int,
    run_tag: str,
    target_id: str | None = None,
    pacing: dict[str, Any] | None = None,
) -> None:
    """summary.json, the conformance matrix and Allure's environment; expired waivers fail the run, and so
    does a --certify run that does not certify. A run that did not complete exits 4; one that completed with
    selected rules left without a verdict exits 6 unless --accept-partial."""
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
        pacing=pacing,
    )
    expired = [w for w in data["waivers"] if w["status"] == "expired"]
    uncertified = data["run"]["certify"] and not data["run"]["certified"]
    if (expired or uncertified) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        data["exit_status"] = data["run"]["exit_status"] = int(session.exitstatus)
    if not data["run"]["complete"] and session.exitstatus == pytest.ExitCode.OK:  # never green on nothing
        session.exitstatus = NO_VERDICT
        data["exit_status"] = data["run"]["exit_status"] = NO_VERDICT
    partial = data["run"]["partial"]
    if partial and not partial["accepted"] and session.exitstatus == pytest.ExitCode.OK:  # nor on a part
        session.exitstatus = PARTIAL
        data["exit_status"] = data["run"]["exit_status"] = PARTIAL
    write_summary(data, reports.report_dir)
    allure_dir = getattr(session.config.option, "allure_report_dir", None)
    unkept = keep_history(reports, data, Path(allure_dir) if allure_dir else None)
    write_matrix(data, reports.report_dir, trend=reports.history is not None and unkept is None)
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
    elif run["partial"]:
        reporter.write_line(
            f"runai-conformance: {partial_line(run['partial'], len(data['rules']))}",
            red=not run["partial"]["accepted"],
            yellow=run["partial"]["accepted"],
        )
    for line in pacing_lines(data.get("pacing") or {}):
        reporter.write_line(f"runai-conformance: {line}")
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
    if reports.history is not None:
        reporter.write_line(
            f"runai-conformance: {unkept}"
            if unkept
            else f"runai-conformance: night added to the history {reports.history}, trend {reports.report_dir / 'trend.html'}",
            red=bool(unkept),
        )


def keep_history(reports: RunReports, data: dict[str, Any], allure_dir: Path | None) -> str | None:
    """With --history: the run added to the history as a night, the trend page written beside the matrix, and
    Allure's kept history put into the Allure results. None when done (or not asked); else the one line why not."""
    if reports.history is None:
        return None
    try:
        record(reports.history, data)
        write_trend(read(reports.history), reports.report_dir / "trend.html")
        if allure_dir is not None:
            carry_allure_history(reports.history, allure_dir)
    except (ConfigError, OSError) as exc:
        return f"the history was not kept: {exc}"
    return None


def partial_line(partial: dict[str, Any], rules: int) -> str:
    """One line for a run some of whose selected rules got no verdict."""
    why = f" (most often: {partial['because']})" if partial.get("because") else ""
    count = f"{len(partial['rules'])} of {rules} rules"
    if partial["accepted"]:
        return f"PARTIAL run ACCEPTED (--accept-partial): {count} have no verdict{why}: {', '.join(partial['rules'])}"
    return (
        f"PARTIAL run: {count} have no verdict{why}: {', '.join(partial['rules'])}; exit {PARTIAL} "
        "(--accept-partial passes such a run on purpose)"
    )


def pacing_lines(pacing: dict[str, Any]) -> list[str]:
    """What the run's pace settled at and what the target's throttling cost, when there was any."""
    if not pacing or not (
        pacing.get("settled_rate") or pacing.get("answers_429") or pacing.get("answers_503") or pacing.get("resets")
    ):
        return []
    settled = f"{pacing['settled_rate']:g} requests/s" if pacing.get("settled_rate") else "unpaced"
    said = f"; the target states {pacing['target_policy']:g}/s" if pacing.get("target_policy") else ""
    cap = f"; rate_limit {pacing['rate_limit']:g}" if pacing.get("rate_limit") else ""
    lines = [
        f"pacing settled at {settled}{said}{cap}: {pacing['answers_429']} answers 429, {pacing['answers_503']} "
        f"answers 503 with Retry-After, {pacing['resets']} connection resets in {pacing['requests']} requests; "
        f"waited {pacing['waited_seconds']:g} s of a patience of {pacing['patience_seconds']:g} s"
    ]
    above = pacing.get("throttled_above") or pacing.get("target_policy")
    if above and not pacing.get("rate_limit"):
        lines.append(
            f"the target throttled at about {above:g} requests/s: set rate_limit = {max(1, int(0.9 * above))} in "
            "the credentials file's [target] to be refused less"
        )
    if pacing.get("given_up"):
        lines.append(f"{pacing['given_up']} throttled request(s) given up once the patience was spent (inconclusive)")
    return lines


def redact_report_files(report_dir: Path, redact: Redactor) -> None:
    """The last line of defence: no known secret stays in any report file. A JSON file is redacted item by
    item (`redacted_json`), so the report's own words stay whole; a file that is not JSON, as text."""
    if not report_dir.is_dir():
        return
    for path in report_dir.rglob("*"):
        if path.is_file() and path.suffix in (".xml", ".json", ".txt", ".md", ".html", ".log", ".csv"):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            cleaned = redacted_json(text, redact) if path.suffix == ".json" else None
            cleaned = redact(text) if cleaned is None else cleaned
            if cleaned != text:
                path.write_text(cleaned, encoding="utf-8")


def redacted_json(text: str, redact: Redactor) -> str | None:
    """A JSON file's text redacted item by item (`Redactor.document`, the report's own words kept), None
    when it is not JSON. Left as it is only when neither the document scrub nor the text scrub would change
    it; else written anew (so a key given twice, which json.loads reads once, is not left as it was)."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    cleaned = redact.document(document, report_words())
    if cleaned == document and redact(text) == text:  # decoded (a value's \" or \\) and as written
        return text
    return json.dumps(cleaned, indent=2, ensure_ascii=False) + "\n"


@cache
def report_words() -> frozenset[str]:
    """The string values of the reports that are the suite's own closed vocabulary, read by the gate and
    the regression report: statuses (ours, waivers' and Allure's), rule ids and operationIds."""
    statuses = {*STATUS_ORDER, "matched", "stale", "expired", "broken", "unknown", "finished"}
    return frozenset({*statuses, *rules(), *operations()})


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


# ------------------------------------------------------------------------------ every 5xx is ERR-3's

SERVER_ERROR_RULE = "ERR-3"


def as_server_error(leaf: ContractViolation) -> None:
    """A violation shown by a 5xx answer is that 5xx: ERR-3's, whatever the test expected instead (a
    LIST-2 "expected 200, got 500" is no finding about filtering). An ERR-1 finding stands beside it: the
    body of a 5xx is judged on its own. In place, so that the terminal, JUnit and the reports agree."""
    if leaf.status is None or leaf.status < 500 or "ERR-1" in leaf.rules or leaf.rules == [SERVER_ERROR_RULE]:
        return
    met = f" (met by the check of {', '.join(leaf.rules)})" if leaf.rules else ""
    text = leaf.message.split("] ", 1)[1] if leaf.message.startswith("[") and "] " in leaf.message else leaf.message
    leaf.met_by, leaf.rules = leaf.rules or ["no contract rule"], [SERVER_ERROR_RULE]
    leaf.args = (f"[{SERVER_ERROR_RULE}] a {leaf.status} answer: no input ever gets a 5xx{met}: {text}", *leaf.args[1:])


def answered_operation(leaf: ContractViolation) -> str | None:
    """The operation of the request a violation shows (the key the client notes 5xx answers under)."""
    return operation_of(*leaf.request) if leaf.request else leaf.operation


def server_error_violation(state: RunState, operation: str | None, seen: ServerErrors) -> ContractViolation:
    """ERR-3 for the 5xx answers of one operation in a test, with the last of them as evidence."""
    answer = seen.last
    what = operation or f"{answer.request.method} {state.redact(answer.request.url.path)}"
    times = f" ({seen.count} of its answers in this test were 5xx; the last one)" if seen.count > 1 else ""
    return ContractViolation(
        SERVER_ERROR_RULE,
        state.redact(f"{what} answered {answer.status_code}: no input ever gets a 5xx{times}\n")
        + state.api.evidence(answer),
        answer=answer,
        operation=operation,
    )


def with_server_errors(state: RunState | None, found: list[BaseException]) -> list[BaseException]:
    """A test's failures with every 5xx answer it received named as ERR-3, each with its own request,
    beside whatever else the test found. A violation a 5xx showed becomes ERR-3's (`as_server_error`);
    a 5xx no failure names (the test passed, or failed on something else) is added; a crash of the test
    after a 5xx (reading an answer that never came) is that 5xx's consequence, told in its evidence,
    not a failure of its own. A refusal of the guard stays what it is."""
    for leaf in found:
        if isinstance(leaf, ContractViolation):
            as_server_error(leaf)
    found = one_per_request(found)
    if state is None:
        return found
    named = {
        answered_operation(leaf)
        for leaf in found
        if isinstance(leaf, ContractViolation) and SERVER_ERROR_RULE in leaf.rules
    }
    received = state.api.http.received_5xx()
    found = [*found, *(server_error_violation(state, op, seen) for op, seen in received if op not in named)]
    shown = [
        leaf
        for leaf in found
        if isinstance(leaf, ContractViolation) and SERVER_ERROR_RULE in leaf.rules and (leaf.status or 0) >= 500
    ]
    if not received and not shown:
        return found
    crashes = [leaf for leaf in found if not isinstance(leaf, (ContractViolation, Refused))]
    if crashes and shown:
        last = shown[-1]
        told = "\n".join(f"the test then stopped: {type(c).__name__}: {str(c)[:500]}" for c in crashes)
        last.args = (f"{last.message}\n{state.redact(told)}", *last.args[1:])
        found = [leaf for leaf in found if leaf not in crashes]
    return found


def one_per_request(found: list[BaseException]) -> list[BaseException]:
    """One ERR-3 per 5xx answer: a violation that became ERR-3's is dropped where another ERR-3 violation
    shows the same request (Schemathesis' server_error beside its status check of one call)."""
    shown = {
        leaf.request
        for leaf in found
        if isinstance(leaf, ContractViolation) and leaf.rules == [SERVER_ERROR_RULE] and not leaf.met_by
    }
    kept: list[BaseException] = []
    for leaf in found:
        if isinstance(leaf, ContractViolation) and leaf.met_by and leaf.request is not None:
            if leaf.request in shown:
                continue
            shown.add(leaf.request)
        kept.append(leaf)
    return kept


def server_error_verdict(state: RunState) -> BaseException:
    """The failure of a test that passed, or was skipped, after receiving 5xx answers: ERR-3 for each."""
    found = with_server_errors(state, [])
    verdict = found[0] if len(found) == 1 else ExceptionGroup(f"{len(found)} operations answered 5xx", found)
    verdict.runai_5xx_verdict = True  # type: ignore[attr-defined]  # its report shows the evidence, not this module
    return verdict


def early_death(state: RunState | None, exc: BaseException) -> ContractViolation | None:
    """The failure a token's early death is, for the one test of the run that names it (AUTH-3, AUTH-1: the
    token endpoint's tokens do not live until their exp); None for any other skip."""
    if not isinstance(exc, TokenDied) or not exc.named:
        return None
    answer = getattr(exc, "answer", None)
    evidence = f"\n{state.api.evidence(answer)}" if state is not None and answer is not None else ""
    return ContractViolation(
        list(EARLY_DEATH_RULES),
        f"a token stopped working before its exp: {exc.death.describe()}; the tests that met such a token "
        f"after this one are inconclusive{evidence}",
        operation=TOKEN_OPERATION,
        status=401,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    """A fixture's violation shown by a 5xx is ERR-3's in the terminal too, not only in the reports; a
    token that died early in a fixture is named as in a test."""
    try:
        return (yield)
    except pytest.skip.Exception as exc:
        named = early_death(item.config.stash.get(STATE, None), exc)
        if named is not None:
            raise named from exc
        raise
    except (AssertionError, BaseExceptionGroup, Flaky) as exc:
        with_server_errors(None, leaves(exc))
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Label Allure results with rule, family and operation; redact failures before anyone reads them. A
    test that received a 5xx fails naming ERR-3, even when its own checks passed or it was skipped."""
    state = item.config.stash.get(STATE, None)
    _allure_labels(item)
    try:
        with watching_shrinks() as cut_short:
            outcome = yield
    except pytest.skip.Exception as exc:  # inconclusive (throttled) or skipped: a 5xx before it still stands
        named = early_death(state, exc)
        if named is not None:
            _allure_labels(item, list(named.rules))
            _allure_evidence(str(named))
            raise named from exc
        if state is not None and state.api.http.received_5xx():
            raise server_error_verdict(state) from exc
        raise
    except (AssertionError, BaseExceptionGroup, Flaky) as exc:
        found = with_server_errors(None, leaves(exc))  # the 5xx no failure names are added when it is classified
        for leaf in found:
            if isinstance(leaf, AssertionError) and leaf.args:
                text = str(leaf.args[0])
                if cut_short():
                    text += NOT_SHRUNK.format(profile=option(item.config, "profile") or "ci")
                leaf.args = (state.redact(text) if state is not None else text, *leaf.args[1:])
        broken = [r for v in found if isinstance(v, ContractViolation) for r in v.rules]
        if state is not None and state.api.http.received_5xx():
            broken.append(SERVER_ERROR_RULE)
        if broken:
            _allure_labels(item, list(dict.fromkeys(broken)))
        for leaf in found:
            if isinstance(leaf, AssertionError):
                _allure_evidence(str(leaf))
        raise
    if state is not None and state.api.http.received_5xx():
        verdict = server_error_verdict(state)
        _allure_labels(item, [SERVER_ERROR_RULE])
        for leaf in leaves(verdict):
            _allure_evidence(str(leaf))
        raise verdict
    return outcome


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


def notes_of(leaf: BaseException) -> str:
    """What was added to a failure after it was raised: Hypothesis' falsifying steps, one a line."""
    return "\n".join(str(n) for n in getattr(leaf, "__notes__", []) or [])


def show_evidence_not_traceback(item: pytest.Item) -> None:
    """A failure made only of typed ContractViolations that name rules is shown as what it found (each
    violation's message with its request, response and reproduction, then Hypothesis' notes) and where the
    test met it, not as a Python traceback through the suite: the evidence is what a reader acts on, and
    pytest parses the source of every file a traceback passes through to print it. `--tb` given on the
    command line, or `-l`, shows pytest's traceback as ever; any other failure too."""
    original = item.repr_failure

    def repr_failure(excinfo: pytest.ExceptionInfo[BaseException], *args: Any, **kwargs: Any) -> Any:
        found = leaves(excinfo.value)
        option = item.config.option
        if (
            getattr(option, "tbstyle", "auto") != "auto"
            or getattr(option, "showlocals", False)
            or not found
            or not all(isinstance(leaf, ContractViolation) and leaf.rules for leaf in found)
        ):
            return original(excinfo, *args, **kwargs)
        shown = [f"{leaf}\n{notes_of(leaf)}".rstrip() for leaf in found]
        return "\n\n".join(shown) + "\n\n" + where_met(item, excinfo)

    item.repr_failure = repr_failure  # type: ignore[method-assign]


def where_met(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """`test_x at conformance/test_y.py:109, raised in conformance/api.py:461 (judge_new_id)`: the test's
    last line on the way to the failure and the line that raised it, read off the frames (no source)."""
    entries = list(excinfo.traceback)
    if not entries:
        return item.name

    def place(entry: Any) -> str:
        path = Path(entry.path)
        with suppress(ValueError):
            path = path.relative_to(item.config.rootpath)
        try:
            return f"{path}:{entry.lineno + 1}"
        except TypeError:  # a frame without a line number (Python 3.11, seldom)
            return str(path)

    in_file = [e for e in entries if str(e.path) == str(item.path)]
    own = [e for e in in_file if e.name == getattr(item, "originalname", item.name)] or in_file
    raised = entries[-1]
    said = f"{item.name} at {place(own[-1])}" if own else item.name
    if not own or raised is not own[-1]:
        said += f", raised in {place(raised)} ({raised.name})"
    return said


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
    if call.excinfo is not None and getattr(call.excinfo.value, "runai_5xx_verdict", False):
        report.longrepr = "\n\n".join(str(leaf) for leaf in leaves(call.excinfo.value))
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
    found = with_server_errors(state, leaves(exc))
    for leaf in found:  # the message, then Hypothesis' notes: the failing steps that reproduce it
        notes = notes_of(leaf)
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
