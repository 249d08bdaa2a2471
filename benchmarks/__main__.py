"""The suite against plain Schemathesis, on one machine in one run, against the same reference target.

    python -m benchmarks [--profiles smoke,ci,nightly] [--detect smoke,ci] [--jobs 2] [--out FILE]

For each profile of the suite, and for `schemathesis run` with all its checks on specs/runai.json
(the Users operations with the admin token, the Tenants operations with the operator token: the
same credentials the suite has), against a fresh reference server each time:

- on the clean reference: wall time, requests sent, requests per second, and failures (on a
  correct target every failure is a false alarm);
- with each planted fault (`--detect` profiles; nightly is long, so it is opt-in): whether the run
  caught it. The suite catches a fault when it goes red naming the fault's rule. Plain Schemathesis
  knows no rules, so it is given the benefit of the doubt: a fault counts as caught when its run
  shows a failure (operation and check) that its clean run did not. With auth-accepts-expired
  planted, the reference's tokens live 10 s instead of an hour (for both tools), as in the self-tests;
- time to the first failure for a few faults (pytest -x, and schemathesis --max-failures 1);
- time to a red verdict: each fault's run against a clean control run of the same batch (ratios);
- the suite's own cost per request against raw httpx requests to the same endpoint (ratios).

It prints a Markdown table with the ratios (suite / Schemathesis) and writes it to --out.
Measured, not asserted: the machines are shared and noisy, so only compare figures of one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from runai_conformance.conformance.options import REMOTE_CONCURRENCY
from runai_conformance.conformance.target import PROFILES
from runai_conformance.reference.faults import FAULTS
from runai_conformance.reference.server import NetworkModes
from tests.suite.runner import ROOT, client_token, reference, run_suite, suite_api

SPEC = ROOT / "specs" / "runai.json"
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
FIRST_FAILURE_FAULTS = [
    "err-crash-on-non-ascii-search",
    "usr-get-leaks-temp-password",
    "usr-reset-repeats-password",
    "ten-soft-delete-purges",
    "list-filter-terms-or",
]
SCHEMATHESIS_PARTS = (("admin", "^/api/v1/(users|me)"), ("operator", "^/api/v1/tenants"))
CHECK_CODE = re.compile(r"^- (ST\d+) ", re.MULTILINE)


@dataclass
class Figures:
    tool: str
    wall: float = 0.0
    requests: int = 0
    clean_failures: int = 0
    caught: list[str] = field(default_factory=list)
    tried: int = 0
    first_failure: dict[str, str] = field(default_factory=dict)
    machines: float | None = None
    red_walls: dict[str, float] = field(default_factory=dict)  # fault -> wall time of its (red) run
    control_wall: float = 0.0  # a clean run among them, under the same load

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else 0.0


# ------------------------------------------------------------------------------ the suite


@dataclass
class SuiteRun:
    wall: float
    requests: int
    failed: int
    failed_rules: set[str]
    machines: float  # seconds in the state machines (conformance/test_stateful.py)
    peak_mb: float = 0.0  # the most memory the run's processes (pytest and its workers) held at once
    summary: dict[str, Any] = field(default_factory=dict)  # the run's summary.json


def descendants_rss_mb(root: int) -> float:
    """The resident memory of every process under `root` (not `root` itself), summed, in MB, off /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue  # gone meanwhile
        pid = int(status.parent.name)
        parents[pid] = int(fields.get("PPid", "0").strip())
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    under, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - under
        under |= frontier
    return sum(rss[pid] for pid in under) / 1024


class PeakMemory:
    """The peak of `descendants_rss_mb(this process)` while the block runs, sampled every 0.2 s."""

    def __enter__(self) -> PeakMemory:
        self.peak, self._done = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self.peak = max(self.peak, descendants_rss_mb(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def suite_run(
    profile: str, faults: tuple[str, ...], *extra: str, latency: float = 0.0, gateway: NetworkModes | None = None
) -> SuiteRun:
    """One suite run against a fresh reference (with `latency` seconds added to every answer, or behind a
    `gateway`): time, requests, failures, what its summary says."""
    modes = {"network": gateway or NetworkModes(latency=latency)} if latency or gateway else {}
    with reference(*faults, **modes) as server, tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with PeakMemory() as memory:
            result = run_suite(server, Path(tmp), "conformance", "--profile", profile, *extra, timeout=5400)
        wall = time.perf_counter() - start
        if result.returncode not in (0, 1):
            raise SystemExit(f"benchmarks: the suite could not run ({result.returncode}):\n{result.output[-2000:]}")
        junit = ET.parse(result.report_dir / "junit.xml").getroot()
        machines = sum(
            float(case.get("time") or 0)
            for case in junit.iter("testcase")
            if "test_stateful" in (case.get("classname") or "")
        )
        summary = json.loads((result.report_dir / "summary.json").read_text())
        seconds: dict[str, float] = {}
        for case in junit.iter("testcase"):
            module = (case.get("classname") or "").split(".")[-1]
            seconds[module] = seconds.get(module, 0.0) + float(case.get("time") or 0)
        summary["_seconds"] = seconds
        return SuiteRun(
            wall, len(server.requests), len(result.failed), result.failed_rules, machines, memory.peak, summary
        )


def suite_detects(profile: str, fault: str | None, *extra: str) -> tuple[bool, float, set[str]]:
    """Whether the profile goes red naming the fault's rule, its wall time (the time to a red verdict) and
    the rules it failed; with no fault, the clean run under the same load, to compare with."""
    run = suite_run(profile, (fault,) if fault else (), *extra)
    named = {FAULTS[fault].rule, *FAULTS[fault].also} if fault else set()  # also: the contract says it twice
    return (bool(named & run.failed_rules) if fault else not run.failed), run.wall, run.failed_rules


def suite_catches(profile: str, fault: str | None, *extra: str) -> tuple[bool, float]:
    """suite_detects without the rules."""
    caught, wall, _ = suite_detects(profile, fault, *extra)
    return caught, wall


def render_detection(
    profile: str, faults: list[str], results: list[object], started: datetime, extra: tuple[str, ...]
) -> str:
    (clean, clean_wall, clean_rules), rows = results[0], results[1:]  # type: ignore[misc]
    caught = [f for f, (c, _, _) in zip(faults, rows, strict=True) if c]  # type: ignore[misc]
    lines = [
        f"Measured {started:%Y-%m-%d} on one machine: {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"`--profile {profile} {' '.join(extra)}` against the clean reference and each planted fault.",
        "",
        f"Clean control: {'green' if clean else 'RED ' + ', '.join(sorted(clean_rules))} in {clean_wall:.1f} s. "
        f"Planted faults caught naming their rule: {len(caught)} / {len(faults)}.",
        "",
        "| fault | its rule (and also-rules) | caught | rules failed | wall time |",
        "|---|---|---|---|---|",
    ]
    for fault, (hit, wall, rules) in zip(faults, rows, strict=True):  # type: ignore[misc]
        lines.append(
            f"| `{fault}` | {', '.join([FAULTS[fault].rule, *FAULTS[fault].also])} | {'yes' if hit else 'NO'} | {', '.join(sorted(rules)) or '—'} "
            f"| {wall:.1f} s |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ plain Schemathesis


def schemathesis_run(faults: tuple[str, ...], *extra: str) -> tuple[float, int, set[str]]:
    """(wall seconds, requests, failure signatures) of `schemathesis run --checks all` against a fresh reference."""
    signatures: set[str] = set()
    with reference(*faults) as server, tempfile.TemporaryDirectory() as tmp:
        tokens = {role: client_token(server.url, server.credentials[role]) for role, _ in SCHEMATHESIS_PARTS}
        start = time.perf_counter()
        for n, (role, paths) in enumerate(SCHEMATHESIS_PARTS):
            junit = Path(tmp) / f"junit-{n}.xml"
            command = [
                *SCHEMATHESIS, "run", str(SPEC), "--url", server.url, "--checks", "all", "--seed", "20261122",
                "-H", f"Authorization: Bearer {tokens[role]}", "--include-path-regex", paths, "--workers", "1",
                "--report", "junit", "--report-junit-path", str(junit), "--no-color", *extra,
            ]  # fmt: skip
            done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=5400)
            if done.returncode not in (0, 1) or not junit.exists():
                raise SystemExit(f"benchmarks: schemathesis could not run ({done.returncode}):\n{done.stdout[-2000:]}")
            for case in ET.parse(junit).getroot().iter("testcase"):
                for problem in [*case.iter("failure"), *case.iter("error")]:
                    codes = CHECK_CODE.findall(problem.text or "") or [problem.get("message") or "error"]
                    signatures |= {f"{case.get('name')}: {code}" for code in codes}
        wall = time.perf_counter() - start
        return wall, len(server.requests), signatures


# ------------------------------------------------------------------------------ per-request cost


def per_request_costs(n: int = 400) -> dict[str, float]:
    """Seconds per GET /api/v1/users/{id}: raw httpx, the suite's Api.call + expect, and Schemathesis'
    case.call + validate_response (both as the suite's fuzzing uses them)."""
    from runai_conformance.conformance.fuzz import load_schema, send_through
    from runai_conformance.conformance.secret import reveal

    with reference() as server, tempfile.TemporaryDirectory() as tmp, suite_api(server, Path(tmp)) as api:
        target = api.target
        user = api.create_user("bench")
        path = f"/api/v1/users/{user['id']}"
        headers = api.tokens.headers("admin")
        raw = httpx.Client(base_url=target.url, headers=reveal(headers))
        operation = load_schema()["/api/v1/users/{userId}"]["GET"]
        send_through(api.http)
        case = operation.Case(path_parameters={"userId": user["id"]})

        def suite_call() -> None:
            api.expect(api.call("admin", "GET", path), "USR-4", 200, "bench")

        def schemathesis_call() -> None:
            case.validate_response(case.call(base_url=target.url, headers=headers), headers=headers)

        timings = {}
        for name, call in (
            ("raw httpx", lambda: raw.get(path)),
            ("suite (Api.call + expect)", suite_call),
            ("suite fuzzing (Schemathesis case.call + all checks)", schemathesis_call),
        ):
            call()  # warm up
            start = time.perf_counter()
            for _ in range(n):
                call()
            timings[name] = (time.perf_counter() - start) / n
        raw.close()
        return timings


# ------------------------------------------------------------------------------ the table


def parallel(jobs: int, work: list[Callable[[], object]]) -> list[object]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda f: f(), work))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="smoke,ci,nightly", help="suite profiles to time (default all)")
    parser.add_argument("--detect", default="smoke,ci", help="profiles to run against every planted fault")
    parser.add_argument("--faults", default="", help="comma-separated faults (default: all planted faults)")
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)), help="runs at a time")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "latest.md")
    parser.add_argument(
        "--latency",
        type=milliseconds,
        default=[50.0, 150.0],
        help="comma-separated ms added per answer for the latency runs of the ci profile (default 50,150; "
        "0: no latency run)",
    )
    parser.add_argument(
        "--latency-workers",
        type=counts,
        default=list(LATENCY_WORKERS),
        help=f"comma-separated --concurrency values for the latency runs (default {','.join(map(str, LATENCY_WORKERS))})",
    )
    parser.add_argument(
        "--latency-nightly",
        action="store_true",
        help="also the nightly profile at the first latency, with the first --latency-workers (long)",
    )
    parser.add_argument("--only-latency", action="store_true", help="only the latency runs (writes --out)")
    parser.add_argument(
        "--only-throttle",
        type=float,
        default=None,
        metavar="RATE",
        help="only the ci profile behind a token bucket of RATE requests a second, without and with rate-limit "
        "headers, serially and with --concurrency 8, beside the unthrottled run (writes --out)",
    )
    parser.add_argument(
        "--only-costs",
        default=None,
        metavar="PROFILES",
        help="only each profile's clean run, and what each part of the suite cost in requests and time "
        "(from summary.json), for the parts of issues 34 and 35 (writes --out)",
    )
    parser.add_argument(
        "--only-detect",
        choices=sorted(PROFILES),
        default=None,
        help="only the suite's runs of this profile against every planted fault (--faults) and a clean control, "
        "without plain Schemathesis: caught or missed, and the rules each run failed (writes --out)",
    )
    parser.add_argument(
        "--shrink-seconds",
        default=None,
        help="the suite's --shrink-seconds for the runs with a planted fault (default: the profile's own)",
    )
    parser.add_argument(
        "--first-failure",
        action="store_true",
        help="stop each run with a planted fault at its first failure (-x): caught when that failure names the "
        "fault's rule; faster, and strict, since a first failure that names another rule counts as a miss",
    )
    args = parser.parse_args(argv)
    # Python's default, as on the machines the suite runs on: pytest then caches the assertion rewriting of
    # the plugins' modules (Hypothesis', Schemathesis'), which a process that may not write bytecode (tox,
    # this sandbox) redoes at every start, ~2 s of CPU for each pytest-xdist worker.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    latency = [ms for ms in args.latency if ms > 0]
    if args.only_throttle is not None:
        table = render_throttle(args.only_throttle, throttle_runs(args.only_throttle), datetime.now(UTC))
        args.out.write_text(table, encoding="utf-8")
        print(table)
        return 0
    if args.only_costs is not None:
        runs = [(p, suite_run(p, ())) for p in args.only_costs.split(",") if p]
        table = render_costs(runs, datetime.now(UTC))
        args.out.write_text(table, encoding="utf-8")
        print(table)
        return 0
    if args.only_latency:
        runs = latency_runs(latency, args.latency_workers, args.latency_nightly)
        table = render_latency(runs, datetime.now(UTC))
        args.out.write_text(table, encoding="utf-8")
        print(table)
        return 0
    profiles = [p for p in args.profiles.split(",") if p]
    detect = [p for p in args.detect.split(",") if p]
    faults = [f for f in args.faults.split(",") if f] or sorted(FAULTS)
    unknown = [f for f in faults if f not in FAULTS] + [
        p for p in {*profiles, *detect} if p not in ("smoke", "ci", "nightly")
    ]
    if unknown:
        print(f"benchmarks: error: unknown fault or profile {unknown}", file=sys.stderr)
        return 2
    try:
        if args.shrink_seconds is not None and not float(args.shrink_seconds) >= 0:
            raise ValueError
    except ValueError:
        print(f"benchmarks: error: --shrink-seconds {args.shrink_seconds!r} is not seconds >= 0", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    rows: list[Figures] = []
    detect_extra = ("--shrink-seconds", args.shrink_seconds) if args.shrink_seconds is not None else ()
    detect_extra += ("-x",) if args.first_failure else ()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - t0:7.0f}s] {text}", file=sys.stderr, flush=True)

    def tracked(label: str, work: list[tuple[str, Callable[[], object]]]) -> list[Callable[[], object]]:
        """The work, each item logging as it ends (n of the batch), so a run of an hour shows progress."""
        ended = itertools.count(1)

        def one(name: str, run: Callable[[], object]) -> object:
            result = run()
            caught = result[0] if isinstance(result, tuple) else result
            wall = f" in {result[1]:.0f}s" if isinstance(result, tuple) else ""
            verdict = ("green" if caught else "RED") if name == "clean control" else ("caught" if caught else "missed")
            log(f"{label} {next(ended)}/{len(work)} {name}: {verdict}{wall}")
            return result

        return [lambda name=name, run=run: one(name, run) for name, run in work]

    t0 = time.perf_counter()
    if args.only_detect:
        profile = args.only_detect
        work = [(f or "clean control", lambda f=f: suite_detects(profile, f, *detect_extra)) for f in [None, *faults]]
        results = parallel(args.jobs, tracked(f"suite {profile}", work))
        table = render_detection(profile, faults, results, started, detect_extra)
        args.out.write_text(table, encoding="utf-8")
        print(table)
        return 0
    # plain Schemathesis first: its clean signatures decide what counts as caught
    st = Figures("plain Schemathesis (`schemathesis run --checks all`)")
    st.wall, st.requests, clean_signatures = schemathesis_run(())
    st.clean_failures = len(clean_signatures)
    log(f"schemathesis clean: {st.wall:.1f}s, {st.requests} requests, {st.clean_failures} failures")

    def st_catches(fault: str) -> bool:
        try:
            return bool(schemathesis_run((fault,))[2] - clean_signatures)
        except (SystemExit, Exception) as exc:  # one run that cannot start does not end the benchmark
            log(f"schemathesis could not run with {fault} (counted as not caught): {str(exc)[:300]}")
            return False

    caught = parallel(args.jobs, tracked("schemathesis", [(f, lambda f=f: st_catches(f)) for f in faults]))
    st.caught, st.tried = [f for f, c in zip(faults, caught, strict=True) if c], len(faults)
    log(f"schemathesis caught {len(st.caught)}/{len(faults)}")
    for fault in FIRST_FAILURE_FAULTS:
        start = time.perf_counter()
        signatures = schemathesis_run((fault,), "--max-failures", "1")[2]
        took = time.perf_counter() - start
        st.first_failure[fault] = f"{took:.1f}s" + ("" if signatures - clean_signatures else " (a false alarm)")

    for profile in profiles:
        suite = Figures(f"runai-conformance `--profile {profile}`")
        clean = suite_run(profile, ())
        suite.wall, suite.requests, suite.clean_failures, suite.machines = (
            clean.wall,
            clean.requests,
            clean.failed,
            clean.machines,
        )
        log(f"suite {profile} clean: {suite.wall:.1f}s, {suite.requests} requests, {suite.clean_failures} failures")
        if profile in detect:  # every fault, and a clean control run among them (same load, same jobs)
            work = [
                (f or "clean control", lambda f=f, p=profile: suite_catches(p, f, *detect_extra))
                for f in [None, *faults]
            ]
            results = parallel(args.jobs, tracked(f"suite {profile}", work))
            (_, suite.control_wall), caught = results[0], [c for c, _ in results[1:]]
            suite.red_walls = {f: wall for f, (_, wall) in zip(faults, results[1:], strict=True)}
            suite.caught, suite.tried = [f for f, c in zip(faults, caught, strict=True) if c], len(faults)
            log(f"suite {profile} caught {len(suite.caught)}/{len(faults)}")
        if profile == "ci":
            for fault in FIRST_FAILURE_FAULTS:
                start = time.perf_counter()
                rules = suite_run(profile, (fault,), "-x").failed_rules
                took = time.perf_counter() - start
                suite.first_failure[fault] = f"{took:.1f}s" + ("" if FAULTS[fault].rule in rules else " (other rule)")
        rows.append(suite)
    costs = per_request_costs()
    table = render(rows, st, costs, faults, started, detect_extra)
    if latency:
        table += "\n" + render_latency(latency_runs(latency, args.latency_workers, args.latency_nightly), None)
    args.out.write_text(table, encoding="utf-8")
    print(table)
    return 0


LATENCY_WORKERS = (REMOTE_CONCURRENCY, 2 * REMOTE_CONCURRENCY)  # the default for a remote target, and twice it


def comma_list(kind: Callable[[str], float], least: float, what: str, example: str) -> Callable[[str], list]:
    """An argparse type: comma-separated `kind`s, each >= `least`."""

    def parse(text: str) -> list:
        try:
            values = [kind(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give {what}, comma-separated ({example})") from None
        if not values or any(v < least for v in values):
            raise argparse.ArgumentTypeError(f"{text!r}: give {what} >= {least:g}, comma-separated ({example})")
        return values

    return parse


milliseconds = comma_list(float, 0, "milliseconds", "50,150")
counts = comma_list(int, 1, "worker counts", "8,16")


def latency_runs(latencies: list[float], workers: list[int], nightly: bool) -> list[tuple[str, SuiteRun]]:
    """The ci profile against a clean reference answering at once (serial, the default for a local
    target), then with each of `latencies` ms added to every answer (a remote staging is 20-150 ms away)
    with each of `workers` workers, one run after the other; with `nightly`, the nightly profile at the
    first latency with the first worker count."""
    runs = [("ci, 0 ms, serial", suite_run("ci", ()))]
    for ms in latencies:
        for n in workers:
            runs.append(
                (f"ci, {ms:.0f} ms, --concurrency {n}", suite_run("ci", (), "--concurrency", str(n), latency=ms / 1000))
            )
    if nightly and latencies:
        ms, n = latencies[0], workers[0]
        runs.append(
            (
                f"nightly, {ms:.0f} ms, --concurrency {n}",
                suite_run("nightly", (), "--concurrency", str(n), latency=ms / 1000),
            )
        )
    return runs


def throttle_runs(rate: float) -> list[tuple[str, SuiteRun, NetworkModes | None]]:
    """The ci profile unthrottled, then behind a `rate` token bucket (no rate_limit configured): without and
    with rate-limit headers, serially and with 8 workers sharing one pace."""
    runs: list[tuple[str, SuiteRun, NetworkModes | None]] = [("ci, no gateway, serial", suite_run("ci", ()), None)]
    for headers in (False, True):
        for workers in (1, 8):
            gateway = NetworkModes(bucket_rate=rate, bucket_headers=headers)
            extra = ("--concurrency", str(workers)) if workers > 1 else ()
            label = f"ci, {rate:g}/s bucket, {'headers' if headers else 'no headers'}, " + (
                f"--concurrency {workers}" if workers > 1 else "serial"
            )
            runs.append((label, suite_run("ci", (), *extra, gateway=gateway), gateway))
    return runs


def render_throttle(rate: float, runs: list[tuple[str, SuiteRun, NetworkModes | None]], started: datetime) -> str:
    lines = [
        f"Measured {started:%Y-%m-%d} on one machine: {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        f"Throttled: the ci profile against the clean reference behind a token bucket of {rate:g} requests a second "
        "(bursts of as many, 429 with Retry-After when empty; with or without RateLimit-Policy/RateLimit and "
        "X-RateLimit-* headers), no rate_limit in the credentials file; one run after the other. The bound is "
        f"1.5 × (requests sent / {rate:g}).",
        "",
        "| run | wall time | requests | refused (429) | refused share | bound | within | pace settled at | rules without a verdict | exit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, run, gateway in runs:
        pacing, partial = run.summary.get("pacing") or {}, (run.summary.get("run") or {}).get("partial")
        if gateway is None:
            lines.append(
                f"| {label} | {run.wall:.1f} s | {run.requests} | — | — | — | — | — | {len(partial['rules']) if partial else 0} | {run.summary.get('exit_status')} |"
            )
            continue
        bound = 1.5 * gateway.seen / rate
        lines.append(
            f"| {label} | {run.wall:.1f} s | {gateway.seen} | {gateway.throttled} | {gateway.throttled / gateway.seen:.1%} "
            f"| {bound:.0f} s | {'yes' if run.wall <= bound else 'NO'} | {pacing.get('settled_rate') or '—'}/s "
            f"| {len(partial['rules']) if partial else 0} | {run.summary.get('exit_status')} |"
        )
    return "\n".join(lines) + "\n"


COST_PARTS = {
    "test_simultaneous": "at the same time (issue 34)",
    "test_volume": "at volume (issue 34)",
    "test_later": "over time (issue 34)",
    "test_wire": "every way in (issue 35)",
    "test_lookalikes": "tenants side by side (issue 35)",
}


def render_costs(runs: list[tuple[str, SuiteRun]], started: datetime) -> str:
    """What each new part of the suite costs per profile: requests and seconds, from the clean runs."""
    lines = [
        f"Measured {started:%Y-%m-%d} on one machine: {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "Cost of each part against the clean reference, serially: the requests its tests sent and the seconds "
        "they took (junit.xml), out of the whole run.",
        "",
        "| profile | part | tests | requests | seconds | share of the run's requests |",
        "|---|---|---|---|---|---|",
    ]
    for profile, run in runs:
        tests = run.summary.get("tests", [])
        total = sum(t.get("requests", 0) for t in tests) or 1
        for module, what in COST_PARTS.items():
            mine = [t for t in tests if f"/{module}.py::" in t["id"]]
            sent = sum(t.get("requests", 0) for t in mine)
            lines.append(
                f"| {profile} | {what} (`{module}`) | {len(mine)} | {sent} | {part_seconds(run, module):.1f} | {sent / total:.1%} |"
            )
        lines.append(f"| {profile} | the whole run | {len(tests)} | {total} | {run.wall:.1f} | 100% |")
    return "\n".join(lines) + "\n"


def part_seconds(run: SuiteRun, module: str) -> float:
    return float(run.summary.get("_seconds", {}).get(module, 0.0))


def render_latency(runs: list[tuple[str, SuiteRun]], started: datetime | None) -> str:
    base = runs[0][1]
    lines = []
    if started is not None:
        lines += [
            f"Measured {started:%Y-%m-%d} on one machine: {os.cpu_count()} cores "
            f"({platform.processor() or platform.machine()}), Python {platform.python_version()}.",
            "",
        ]
    lines += [
        "Latency: the clean reference answering at once and with the latency added to every answer, with "
        "pytest-xdist workers (`--concurrency`), one run after the other; the ratio is to the ci profile at 0 ms, "
        "serial. Peak memory: the resident memory of pytest and all its workers at once, sampled every 0.2 s.",
        "",
        "| run | wall time | requests | failures | peak memory | / ci at 0 ms serial |",
        "|---|---|---|---|---|---|",
    ]
    for label, run in runs:
        lines.append(
            f"| {label} | {run.wall:.1f} s | {run.requests} | {run.failed} | {run.peak_mb:.0f} MB "
            f"| {run.wall / base.wall:.2f}× |"
        )
    return "\n".join(lines) + "\n"


def render(
    rows: list[Figures],
    st: Figures,
    costs: dict[str, float],
    faults: list[str],
    started: datetime,
    detect_extra: tuple[str, ...] = (),
) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Measured {started:%Y-%m-%d} on one machine: {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        "one run, the same reference target for every line.",
        "",
        "| tool | wall time | requests | requests/s | failures on the clean target | planted faults caught |",
        "|---|---|---|---|---|---|",
    ]
    for fig in [*rows, st]:
        caught = f"{len(fig.caught)} / {fig.tried}" if fig.tried else "not measured"
        lines.append(
            f"| {fig.tool} | {fig.wall:.1f} s | {fig.requests} | {fig.rps:.0f} | {fig.clean_failures} | {caught} |"
        )
    lines += ["", "Ratios, suite / plain Schemathesis:", ""]
    for fig in rows:
        caught = f", faults caught {len(fig.caught)} / {len(st.caught)}" if fig.tried else ""
        lines.append(
            f"- `{fig.tool.split('`')[1]}`: wall time {fig.wall / st.wall:.2f}×, requests {fig.requests / st.requests:.2f}×{caught}"
        )
    lines += [
        "",
        "| suite profile | state machine runs × steps (each of 2 machines) | time in the state machines |",
        "|---|---|---|",
    ]
    for fig in rows:
        profile = PROFILES[fig.tool.split("--profile ")[1].rstrip("`")]
        lines.append(
            f"| {profile.name} | {profile.stateful_examples} × {profile.stateful_steps} | {fig.machines or 0:.1f} s |"
        )
    ci = next((r for r in rows if r.first_failure), None)
    if ci:
        lines += [
            "",
            "| time to the first failure | suite (`ci`, `-x`) | plain Schemathesis (`--max-failures 1`) |",
            "|---|---|---|",
        ]
        for fault in FIRST_FAILURE_FAULTS:
            lines.append(f"| `{fault}` | {ci.first_failure.get(fault, '—')} | {st.first_failure.get(fault, '—')} |")
    for fig in rows:
        if not fig.red_walls or not fig.control_wall:
            continue
        ratios = {f: wall / fig.control_wall for f, wall in fig.red_walls.items()}
        worst = sorted(ratios, key=ratios.__getitem__, reverse=True)
        lines += [
            "",
            f"Time to a red verdict, {fig.tool}: each planted fault's run against a clean control run "
            f"of the same batch ({fig.control_wall:.1f} s{', ' + ' '.join(detect_extra) if detect_extra else ''}); median {sorted(ratios.values())[len(ratios) // 2]:.2f}×, "
            f"worst {ratios[worst[0]]:.2f}× (`{worst[0]}`).",
            "",
            "| planted fault | wall time | / clean | caught |",
            "|---|---|---|---|",
        ]
        for fault in worst:
            caught = "yes" if fault in fig.caught else "no"
            lines.append(f"| `{fault}` | {fig.red_walls[fault]:.1f} s | {ratios[fault]:.2f}× | {caught} |")
    raw = costs["raw httpx"]
    lines += ["", "| per request (GET /api/v1/users/{id}) | time | / raw httpx |", "|---|---|---|"]
    for name, seconds in costs.items():
        lines.append(f"| {name} | {seconds * 1000:.2f} ms | {seconds / raw:.2f}× |")
    for fig in [*rows, st]:
        if fig.tried:
            missed = [f for f in faults if f not in fig.caught]
            lines += ["", f"{fig.tool} missed: {', '.join(f'`{f}`' for f in missed) or 'none'}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
