"""Pages made from run summaries (conformance/results.py): the conformance matrix of one run, the
regression report of a run against a baseline, and the trend over the nights a history keeps
(conformance/history.py). Each is one self-contained HTML page (no scripts, no external files), to
forward as it is; the matrix and the regression report also as Markdown."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .about import describe
from .history import (
    DEFAULT_NIGHTS,
    Night,
    failing_now,
    failing_since,
    flapping,
    flapping_now,
    judged_rules,
    night_of,
)

COLOURS = {
    "passed": ("#1e7b34", "#e3f4e7"),
    "failed": ("#b42318", "#fde7e5"),
    "waived": ("#8a5a00", "#fff3d6"),
    "skipped": ("#55606e", "#eceff3"),
    "not-run": ("#8a939e", "#ffffff"),
}
SYMBOLS = {"passed": "✓", "failed": "✗", "waived": "W", "skipped": "–", "not-run": ""}
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .meta{color:#55606e;margin:0 0 16px}
table{border-collapse:collapse} th,td{border:1px solid #d5dbe3;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600} th.op{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-size:12px}
td.cell{text-align:center;min-width:22px;font-weight:600} td.cell a{color:inherit;text-decoration:none;display:block}
td.rule{white-space:nowrap;font-weight:600} td.title{max-width:420px;color:#37404d}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.counts span{margin-right:14px} pre{background:#f6f8fa;border:1px solid #d5dbe3;padding:10px;white-space:pre-wrap;
word-break:break-all;font-size:12px;max-height:420px;overflow:auto} .fam td{background:#f9fafb;font-weight:600;color:#55606e}
"""


def _badge(status: str) -> str:
    fg, bg = COLOURS[status]
    return f'<span class="badge" style="color:{fg};background:{bg};border:1px solid {fg}">{html.escape(status)}</span>'


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>\n"
    )


def _meta(data: dict[str, Any]) -> str:
    run = f"target {data['target']} · profile {data['profile']} · seed {data['seed']} · {data['started']} → {data['finished']}"
    if data.get("suite"):  # what the run was measured against, as `runai-conformance --version` says it
        return " · ".join([run, *describe(data["suite"])])
    overlays = ", ".join(f"{o['file']} ({o['rule']})" for o in data["spec"]["overlays"]) or "none"
    return f"{run} · spec {data['spec']['version']} · overlays: {overlays}"  # a summary written before `suite`


def _standing(data: dict[str, Any]) -> str:
    """Whether the run completed and, for a --certify run, whether it certifies: the header's first words."""
    run = data.get("run") or {}
    if not run:
        words = "run: completion not recorded"
    elif run.get("complete"):
        words = f"run: complete ({run['tests_run']} tests)"
    else:
        words = f"run: INCOMPLETE ({'; '.join(run['incomplete_because'])}), no verdict to gate on"
    if run.get("inconclusive"):
        words += f" · {run['inconclusive']} test(s) inconclusive (throttled or no answer)"
    partial = run.get("partial")
    if partial:
        accepted = "ACCEPTED (--accept-partial)" if partial.get("accepted") else "not accepted"
        words += f" · PARTIAL, {accepted}: no verdict on {', '.join(partial['rules'])}"
    pacing = data.get("pacing") or {}
    if pacing.get("settled_rate") or pacing.get("answers_429") or pacing.get("answers_503"):
        settled = f"{pacing['settled_rate']:g} requests/s" if pacing.get("settled_rate") else "unpaced"
        words += (
            f" · paced at {settled}: {pacing['answers_429']}× 429, {pacing['answers_503']}× 503, "
            f"waited {pacing['waited_seconds']:g} s"
        )
    if run.get("certify"):
        if run.get("certified"):
            words += " · CERTIFIED: every rule ran and passed"
        else:
            named = ", ".join(f"{r} {s}" for r, s in run.get("not_certified_because", {}).items())
            words += f" · NOT CERTIFIED: {named or 'the run did not complete'}"
    else:
        words += " · not a certification run (--certify)"
    return words


def _unattributed(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Failures no CONTRACT rule names (an undeclared method answered wrongly, a crash of a test)."""
    return list(data.get("unattributed") or [])


def _counts(data: dict[str, Any]) -> dict[str, int]:
    counts = dict.fromkeys(COLOURS, 0)
    for entry in data["rules"].values():
        counts[entry["status"]] += 1
    return counts


# ------------------------------------------------------------------------------ matrix


def matrix_html(data: dict[str, Any], *, trend: bool = False) -> str:
    """The matrix page; `trend`: it links the trend page written beside it (trend.html)."""
    ops = [op for op in data["operations"]]
    if any("—" in entry["cells"] for entry in data["rules"].values()):
        ops.append("—")
    head = "".join(f'<th class="op" title="{html.escape(op)}">{html.escape(op)}</th>' for op in ops)
    rows, evidence, family = [], [], None
    for rule_id, entry in data["rules"].items():
        if entry["family"] != family:
            family = entry["family"]
            rows.append(f'<tr class="fam"><td colspan="{len(ops) + 3}">{html.escape(family)}</td></tr>')
        anchor = f"ev-{rule_id}"
        cells = []
        for op in ops:
            status = entry["cells"].get(op, "not-run")
            fg, bg = COLOURS[status]
            mark = SYMBOLS[status]
            if status in ("failed", "waived"):
                mark = f'<a href="#{anchor}">{mark}</a>'
            cells.append(
                f'<td class="cell" style="color:{fg};background:{bg}" title="{html.escape(f"{rule_id} × {op}: {status}")}">{mark}</td>'
            )
        rows.append(
            f'<tr id="rule-{rule_id}"><td class="rule">{html.escape(rule_id)}</td><td>{_badge(entry["status"])}</td>'
            f'<td class="title">{html.escape(entry["title"])}</td>{"".join(cells)}</tr>'
        )
        if entry["evidence"] or entry["waivers"] or entry["skip_reasons"]:
            parts = [
                f'<h3 id="{anchor}">{html.escape(rule_id)} {_badge(entry["status"])} {html.escape(entry["title"])}</h3>'
            ]
            for ev in entry["evidence"]:
                on = f" on {', '.join(ev['operations'])}" if ev["operations"] else ""
                parts.append(
                    f"<p><b>{html.escape(ev['test'])}</b>{html.escape(on)}</p><pre>{html.escape(ev['message'])}</pre>"
                )
            parts += [f"<p>{_badge('waived')} {html.escape(w)}</p>" for w in entry["waivers"]]
            parts += [f"<p>{_badge('skipped')} {html.escape(r)}</p>" for r in entry["skip_reasons"]]
            evidence.append("".join(parts))
    counts = " ".join(f"<span>{_badge(s)} {n}</span>" for s, n in _counts(data).items())
    waivers = _waivers_html(data)
    body = (
        f"<h1>Run:ai conformance matrix</h1><p class=meta>{html.escape(_meta(data))}</p>"
        f"<p><b>{html.escape(_standing(data))}</b></p>"
        f'<p class="counts">rules: {counts}</p>'
        f"{'<p><a href=trend.html>The trend over the nights of the history</a></p>' if trend else ''}"
        f"<table><thead><tr><th>rule</th><th>status</th><th>what it says</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"{waivers}<h2>Evidence</h2>{''.join(evidence) or '<p>No failures, waivers or skips.</p>'}"
        f"{_unattributed_html(data)}"
    )
    return _page("Run:ai conformance matrix", body)


def _unattributed_html(data: dict[str, Any]) -> str:
    found = _unattributed(data)
    if not found:
        return ""
    parts = [f"<h2>Failures no contract rule names ({len(found)})</h2>"]
    for item in found:
        parts.append(f"<p><b>{html.escape(item['test'])}</b> {html.escape(item.get('kind', ''))}</p>")
        parts.append(f"<pre>{html.escape(item['message'])}</pre>")
    return "".join(parts)


def _waivers_html(data: dict[str, Any]) -> str:
    if not data.get("waivers"):
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(w['rule'])}</td><td>{html.escape(w['operation'] or 'any')}</td><td>{_badge(_waiver_colour(w['status']))} {html.escape(w['status'])}</td>"
        f"<td>{html.escape(w['expires'])}</td><td>{html.escape(w['reason'])}</td><td>{html.escape(w['link'] or '')}</td></tr>"
        for w in data["waivers"]
    )
    return (
        "<h2>Waivers</h2><table><thead><tr><th>rule</th><th>operation</th><th>status</th><th>expires</th>"
        f"<th>reason</th><th>link</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _waiver_colour(status: str) -> str:
    return {"matched": "waived", "stale": "skipped", "expired": "failed"}[status]


def matrix_markdown(data: dict[str, Any]) -> str:
    ops = data["operations"]
    lines = [
        "# Run:ai conformance matrix",
        "",
        _meta(data),
        "",
        f"**{_standing(data)}**",
        "",
        "rules: " + ", ".join(f"{n} {s}" for s, n in _counts(data).items()),
        "",
        "| rule | status | " + " | ".join(ops) + " |",
        "|---|---|" + "---|" * len(ops),
    ]
    for rule_id, entry in data["rules"].items():
        cells = [SYMBOLS[entry["cells"].get(op, "not-run")] or " " for op in ops]
        lines.append(f"| {rule_id} | {entry['status']} | " + " | ".join(cells) + " |")
    lines += ["", "✓ passed · ✗ failed · W waived · – skipped · blank: not exercised", ""]
    for rule_id, entry in data["rules"].items():
        for ev in entry["evidence"]:
            lines += [f"## {rule_id} failed: {ev['test']}", "", "```", ev["message"].rstrip(), "```", ""]
    for item in _unattributed(data):
        lines += [f"## Failure no contract rule names: {item['test']}", "", "```", item["message"].rstrip(), "```", ""]
    for w in data.get("waivers", []):
        lines.append(
            f"- waiver {w['rule']} on {w['operation'] or 'any operation'}: {w['status']} (expires {w['expires']}): {w['reason']}"
        )
    return "\n".join(lines).rstrip() + "\n"


def write_matrix(data: dict[str, Any], out: Path, *, trend: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "matrix.html", out / "matrix.md"]
    paths[0].write_text(matrix_html(data, trend=trend), encoding="utf-8")
    paths[1].write_text(matrix_markdown(data), encoding="utf-8")
    return paths


# ------------------------------------------------------------------------------ regression


CATEGORIES = ("new failures", "fixed", "still failing", "waived", "newly skipped", "expired waivers", "stale waivers")


@dataclass
class Regression:
    baseline: dict[str, Any]
    current: dict[str, Any]
    rows: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    cannot_judge: list[str] = field(default_factory=list)  # why these two runs give no verdict at all
    nights: int = 0  # the nights of the history read for `first_seen` and `flapping` (`annotate`)
    first_seen: dict[str, str] = field(default_factory=dict)  # failing rule -> the date its streak began
    flapping: dict[str, str] = field(default_factory=dict)  # rule -> its letters over the window

    @property
    def gate_fails(self) -> bool:
        return bool(self.rows["new failures"] or self.rows["expired waivers"] or self.cannot_judge)

    @property
    def verdict(self) -> str:
        if self.cannot_judge:
            return "CANNOT JUDGE"
        return "FAIL" if self.gate_fails else "pass"


def unjudgeable(baseline: dict[str, Any], current: dict[str, Any], *, allow_mismatch: bool = False) -> list[str]:
    """Why the gate may not judge the current run against the baseline: a run that did not complete, a
    rule that ran in the baseline and not now, or (unless allowed) another target, profile or spec."""
    reasons = []
    run = current.get("run")
    if not isinstance(run, dict):
        reasons.append("the current run records no completion (a summary from before runs recorded it)")
    elif not run.get("complete"):
        reasons.append(f"the current run did not complete ({'; '.join(run.get('incomplete_because') or ['?'])})")
    ran_before = {r for r, e in baseline["rules"].items() if e["status"] in ("passed", "failed", "waived")}
    gone = sorted(
        r
        for r in ran_before
        if current["rules"].get(r, {}).get("status") not in ("passed", "failed", "waived")
        and not current["rules"].get(r, {}).get("blocked_by")  # its tests ran and failed on other rules first
    )
    if gone:
        reasons.append(f"{len(gone)} rule(s) that ran in the baseline did not run now: {', '.join(gone)}")
    if not allow_mismatch:
        for what, key in (("target", "target_id"), ("profile", "profile")):
            before, now = baseline.get(key, baseline.get("target")), current.get(key, current.get("target"))
            if before != now:
                reasons.append(f"the {what} differs: baseline {before!r}, current {now!r}")
        if _spec_identity(baseline) != _spec_identity(current):
            reasons.append("the spec differs (version, published versions or overlays)")
    return reasons


def _spec_identity(data: dict[str, Any]) -> Any:
    spec = data.get("spec") or {}
    return (spec.get("version"), spec.get("published_versions"), [o.get("file") for o in spec.get("overlays", [])])


def _failing(entry: dict[str, Any] | None) -> set[str]:
    if not entry or entry["status"] != "failed":
        return set()
    return set(entry["failing_operations"]) or {"—"}


def compare(baseline: dict[str, Any], current: dict[str, Any], *, allow_mismatch: bool = False) -> Regression:
    """Per rule, what changed from the baseline run to the current one, and whether the two can be
    compared at all."""
    result = Regression(baseline, current, cannot_judge=unjudgeable(baseline, current, allow_mismatch=allow_mismatch))
    for rule_id, now in current["rules"].items():
        before = baseline["rules"].get(rule_id)
        was, now_status = (before or {}).get("status", "not-run"), now["status"]
        failing_now, failing_before = _failing(now), _failing(before)
        if now_status == "failed":
            new_ops = failing_now - failing_before
            if was != "failed":
                result.rows["new failures"].append((rule_id, ", ".join(sorted(failing_now))))
            elif new_ops and not (failing_before <= {"—"}):
                result.rows["new failures"].append((rule_id, "now also on " + ", ".join(sorted(new_ops))))
                result.rows["still failing"].append((rule_id, ", ".join(sorted(failing_before & failing_now)) or "—"))
            else:
                result.rows["still failing"].append((rule_id, ", ".join(sorted(failing_now))))
        elif now_status == "waived":
            result.rows["waived"].append((rule_id, "; ".join(now["waivers"])))
        elif was == "failed" and now_status == "passed":
            result.rows["fixed"].append((rule_id, "was failing on " + ", ".join(sorted(failing_before))))
        elif now_status in ("skipped", "not-run") and was in ("passed", "failed", "waived"):
            blocked = now.get("blocked_by")
            reason = "; ".join(now["skip_reasons"]) or (
                f"its tests failed on {', '.join(blocked)} first" if blocked else "not run"
            )
            result.rows["newly skipped"].append((rule_id, f"was {was}: {reason}"))
    for w in current.get("waivers", []):
        if w["status"] in ("expired", "stale"):
            what = f"expired {w['expires']}" if w["status"] == "expired" else "matches no failure of this run"
            result.rows[f"{w['status']} waivers"].append(
                (w["rule"], f"{what} ({w['operation'] or 'any operation'}): {w['reason']}")
            )
    return result


def annotate(reg: Regression, nights: list[Night], *, last: int = DEFAULT_NIGHTS) -> None:
    """What a history says of the rules the gate lists: since when each failing one fails, and which of
    them flap over the last `last` nights (conformance/history.py). The current run is the last night:
    the history's own record of it, or added when the history does not hold it. The verdict stays."""
    mine = next((i for i, night in enumerate(nights) if night.same_run(reg.current)), None)
    nights = nights[: mine + 1] if mine is not None else [*nights, night_of(reg.current)]
    since = failing_since(nights)
    reg.nights, reg.flapping = len(nights), flapping(nights[-last:])
    reg.first_seen = {rule: night.date for rule, night in since.items()}
    for category in ("new failures", "still failing", "fixed"):
        annotated = []
        for rule_id, detail in reg.rows[category]:
            if rule_id in reg.first_seen and category != "fixed":
                detail += f"; first seen {reg.first_seen[rule_id]}"
            if rule_id in reg.flapping:
                detail += f"; FLAPPING ({reg.flapping[rule_id]} over the last {min(last, len(nights))} nights)"
            annotated.append((rule_id, detail))
        reg.rows[category] = annotated


def _run_line(data: dict[str, Any]) -> str:
    suite = describe(data["suite"]) if data.get("suite") else []  # a summary written before `suite` has none
    return " · ".join([f"{data['target']} · {data['profile']} · seed {data['seed']} · {data['finished']}", *suite])


def regression_markdown(reg: Regression) -> str:
    lines = [
        "# Run:ai conformance regression report",
        "",
        f"- baseline: {_run_line(reg.baseline)}",
        f"- current: {_run_line(reg.current)}",
        f"- gate: {reg.verdict}",
        *(f"- cannot judge: {reason}" for reason in reg.cannot_judge),
        *([f"- history: {reg.nights} nights; first seen and flapping read from it"] if reg.nights else []),
        "",
    ]
    for category in CATEGORIES:
        rows = reg.rows[category]
        lines += [f"## {category.capitalize()} ({len(rows)})", ""]
        if rows:
            lines += ["| rule | what it says | detail |", "|---|---|---|"]
            for rule_id, detail in rows:
                title = reg.current["rules"].get(rule_id, {}).get("title", "")
                lines.append(f"| {rule_id} | {title} | {detail.replace('|', '/')} |")
        else:
            lines.append("none")
        lines.append("")
    return "\n".join(lines)


def regression_html(reg: Regression) -> str:
    tone = {
        "new failures": "failed",
        "fixed": "passed",
        "still failing": "failed",
        "waived": "waived",
        "newly skipped": "skipped",
        "expired waivers": "failed",
        "stale waivers": "skipped",
    }
    parts = [
        "<h1>Run:ai conformance regression report</h1>",
        f"<p class=meta>baseline: {html.escape(_run_line(reg.baseline))}<br>current: {html.escape(_run_line(reg.current))}</p>",
        f"<p>gate: {_badge('failed') if reg.gate_fails else _badge('passed')} {html.escape(reg.verdict)}</p>",
        *(f"<p>cannot judge: {html.escape(reason)}</p>" for reason in reg.cannot_judge),
        *([f"<p>history: {reg.nights} nights; first seen and flapping read from it</p>"] if reg.nights else []),
    ]
    for category in CATEGORIES:
        rows = reg.rows[category]
        parts.append(f"<h2>{_badge(tone[category])} {html.escape(category.capitalize())} ({len(rows)})</h2>")
        if not rows:
            parts.append("<p>none</p>")
            continue
        body = "".join(
            f"<tr><td class=rule>{html.escape(r)}</td><td class=title>{html.escape(reg.current['rules'].get(r, {}).get('title', ''))}</td>"
            f"<td>{html.escape(d)}</td></tr>"
            for r, d in rows
        )
        parts.append(
            f"<table><thead><tr><th>rule</th><th>what it says</th><th>detail</th></tr></thead><tbody>{body}</tbody></table>"
        )
    return _page("Run:ai conformance regression report", "".join(parts))


def write_regression(reg: Regression, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "regression.md", out / "regression.html"]
    paths[0].write_text(regression_markdown(reg), encoding="utf-8")
    paths[1].write_text(regression_html(reg), encoding="utf-8")
    return paths


# ------------------------------------------------------------------------------ trend

TREND_CELL, TREND_GAP = 30, 4  # a night's cell in the grid, in px: large, so the picture reads at a glance
TREND_COLOURS = {  # solid cells: the matrix's strong colour of each verdict, a pale grey for none
    "passed": COLOURS["passed"][0],
    "failed": COLOURS["failed"][0],
    "waived": COLOURS["waived"][0],
    "no verdict": COLOURS["skipped"][1],
}


def trend_html(nights: list[Night], *, last: int = DEFAULT_NIGHTS) -> str:
    """The trend over a history's last `last` nights: rules × nights as a grid of coloured cells, since
    when each failing rule fails and which flap, and the run time and request count as two small plots."""
    shown = nights[-last:]
    since, flaps = failing_since(nights), flapping(shown)
    legend = " ".join(
        f'<span><svg width="14" height="14"><rect x="0.5" y="0.5" width="13" height="13" fill="{colour}" stroke="#8a939e"/></svg> {verdict}</span>'
        for verdict, colour in TREND_COLOURS.items()
    )
    span = f"{shown[0].date} → {shown[-1].date} · last on {shown[-1].target} ({shown[-1].profile})" if shown else ""
    body = (
        f"<h1>Run:ai conformance trend</h1><p class=meta>the last {len(shown)} of {len(nights)} nights"
        f" · {html.escape(span)}</p><p class=counts>{legend}</p>{_grid_svg(shown, since, flaps)}"
        f"<p>{html.escape(failing_now(since))}<br>{html.escape(flapping_now(flaps))}</p>"
        f"<h2>Run time and requests</h2><p>{_plot_svg(shown, 'duration_seconds', 'run time, s')} "
        f"{_plot_svg(shown, 'requests', 'requests')}</p><h2>Nights</h2>{_nights_table(shown)}"
    )
    return _page("Run:ai conformance trend", body)


def _grid_svg(nights: list[Night], since: dict[str, Night], flaps: dict[str, str]) -> str:
    rules = judged_rules(nights)
    pitch, label, head = TREND_CELL + TREND_GAP, 90, 24
    width, height = label + len(nights) * pitch + 320, head + len(rules) * pitch
    parts = [
        f'<text x="{label + i * pitch + TREND_CELL // 2}" y="16" text-anchor="middle" font-size="10">'
        f"{html.escape(night.date[5:])}</text>"
        for i, night in enumerate(nights)
    ]
    for j, rule in enumerate(rules):
        y = head + j * pitch
        parts.append(f'<text x="0" y="{y + 20}" font-size="13" font-weight="600">{html.escape(rule)}</text>')
        for i, night in enumerate(nights):
            verdict = night.verdicts.get(rule, "no verdict")
            parts.append(
                f'<rect x="{label + i * pitch}" y="{y}" width="{TREND_CELL}" height="{TREND_CELL}" '
                f'fill="{TREND_COLOURS[verdict]}"><title>{html.escape(f"{rule} · {night.started}: {verdict}")}</title></rect>'
            )
        notes = [f"failing since {since[rule].date}"] if rule in since else []
        notes += [f"flapping ({flaps[rule]})"] if rule in flaps else []
        x = label + len(nights) * pitch + 8
        parts.append(f'<text x="{x}" y="{y + 20}" font-size="12">{html.escape(" · ".join(notes))}</text>')
    return (
        f'<svg width="{width}" height="{height}" shape-rendering="crispEdges" role="img" '
        f'aria-label="rules by nights">{"".join(parts)}</svg>'
    )


def _plot_svg(nights: list[Night], what: str, title: str) -> str:
    """One measure of the nights as a small line plot, from 0 to its largest value; a night without it is left out."""
    width, height, left, top, bottom = 360, 130, 44, 22, 22
    values = [(i, getattr(night, what)) for i, night in enumerate(nights) if getattr(night, what) is not None]
    most = max((v for _, v in values), default=0) or 1
    step = (width - left - 10) / max(len(nights) - 1, 1)
    points = [(left + i * step, top + (height - top - bottom) * (1 - v / most)) for i, v in values]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2458b3"/>' for x, y in points)
    first, last = (nights[0].date, nights[-1].date) if nights else ("", "")
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)} per night">'
        f'<text x="0" y="14" font-size="12" font-weight="600">{html.escape(title)}</text>'
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">{most:g}</text>'
        f'<text x="{left - 4}" y="{height - bottom}" font-size="10" text-anchor="end">0</text>'
        f'<path d="M{left},{top} V{height - bottom} H{width - 6}" fill="none" stroke="#8a939e"/>'
        f'<polyline points="{line}" fill="none" stroke="#2458b3" stroke-width="2"/>{dots}'
        f'<text x="{left}" y="{height - 6}" font-size="10">{first}</text>'
        f'<text x="{width - 6}" y="{height - 6}" font-size="10" text-anchor="end">{last}</text></svg>'
    )


def _nights_table(nights: list[Night]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(n.started)}</td><td>{html.escape(n.profile)}</td><td>{n.seed}</td>"
        f"<td>{n.exit_status}{'' if n.complete else ' INCOMPLETE'}</td>"
        f"<td>{'?' if n.duration_seconds is None else f'{n.duration_seconds:g} s'}</td>"
        f"<td>{'?' if n.requests is None else n.requests}</td><td>{html.escape(n.target)}</td></tr>"
        for n in nights
    )
    return (
        "<table><thead><tr><th>started</th><th>profile</th><th>seed</th><th>exit</th><th>run time</th>"
        f"<th>requests</th><th>target</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def write_trend(nights: list[Night], page: Path, *, last: int = DEFAULT_NIGHTS) -> Path:
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(trend_html(nights, last=last), encoding="utf-8")
    return page
