"""runai-conformance: the conformance suite as one command, and the commands beside it.

    runai-conformance run [pytest options]
    runai-conformance --version
    runai-conformance sweep --credentials FILE [--target-url URL] (--tag rcf-1a2b3c4d | --all) [--older-than MIN] [--dry-run]
    runai-conformance regress BASELINE CURRENT [--out DIR] [--history PATH]
    runai-conformance history PATH [--last N] [--html OUT]
    runai-conformance matrix RUN [--out DIR]
    runai-conformance screenshot PAGE.html PICTURE.png [--width PX]

`run` runs the installed suite, from any working directory, with the options of `pytest conformance`
in a checkout (`--target-url`, `--credentials`, `--profile`, `-n`, …); reports go to --report-dir
(default ./reports). A node id the run prints (`conformance/test_auth.py::…`) re-runs that test.
`--version` says what this copy checks: the spec's published versions, the contract's revision and
the overlays; every report header says the same.

`sweep` deletes users and tenants that runs of this suite left behind (a crashed run cannot clean up
after itself). It only ever touches names that start with a complete run tag (`rcf-`, 8 hex digits,
`-`): one run's tag with --tag, or every run's with --all, and with --older-than only those at least
that many minutes old (--all defaults to 60, so that runs still going on the same target keep their
resources). It prints every resource it deletes; --dry-run lists them and deletes nothing.

`regress` compares a run with a baseline run (each a `summary.json` or the report dir holding it),
writes regression.md and regression.html, and exits 1 when a rule fails that did not fail in the
baseline, or a waiver has expired: the nightly gate. It exits 3 when the runs give no verdict: the
current run did not complete, a rule that ran in the baseline did not run now, or the two runs are of
another target, profile or spec (--allow-mismatch allows the last on purpose). With --history (the run
history a run with `--history PATH` keeps) the report adds to each failing rule the date it was first
seen and marks the rules that flap; the verdict is the same. `history` prints per rule the last N
nights of that history (P passed, F failed, W waived, - no verdict), since when each failing rule
fails, which rules flap, and each night's run time and requests; --html writes the trend page
(conformance/history.py says what each means). `matrix` writes a run's conformance matrix
again (every run writes it). `screenshot` renders a page in headless Chromium, to look at it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from .about import describe
from .api import Api
from .history import DEFAULT_NIGHTS, allure_folder, read, report
from .options import SUITE_DIR
from .render import annotate, compare, write_matrix, write_regression, write_trend
from .results import read_summary
from .sweep import RUN_TAG, sweep
from .target import TAG_PREFIX, ConfigError, build_target

GATE_CANNOT_JUDGE = 3  # distinct from 1 (a new failure) and 2 (bad input)


def minutes(text: str) -> float:
    """A non-negative number of minutes, for --older-than."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of minutes >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # everything after `run` is pytest's, options and node ids alike
        return run(argv[1:])
    parser = argparse.ArgumentParser(
        prog="runai-conformance",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version: its lines as they are
    )
    parser.add_argument("--version", action="version", version="\n".join(describe()))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the conformance suite: runai-conformance run [pytest options]")
    cmd = commands.add_parser("sweep", help="delete what crashed runs left behind, by run tag")
    cmd.add_argument("--target-url", help="base URL (default: [target] url of the credentials file)")
    cmd.add_argument("--credentials", type=Path, help="credentials file (TOML)")
    cmd.add_argument("--token", help="a bearer token for the admin role alone")
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--tag", help=f"one run's tag, as printed in its report header ({TAG_PREFIX}xxxxxxxx)")
    which.add_argument("--all", action="store_true", help=f"every run's tag ({TAG_PREFIX}…)")
    cmd.add_argument(
        "--older-than",
        type=minutes,
        default=None,
        help="only what is at least this many minutes old (default: 60 with --all, any age with --tag)",
    )
    cmd.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    cmd = commands.add_parser("regress", help="what got worse since a baseline run; exit 1 on a new failure")
    cmd.add_argument("baseline", type=Path, help="the baseline run: summary.json or its report dir")
    cmd.add_argument("current", type=Path, help="the current run: summary.json or its report dir")
    cmd.add_argument("--out", type=Path, help="where regression.md/.html go (default: the current run's dir)")
    cmd.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare runs of another target, profile or spec on purpose (e.g. a new spec version)",
    )
    cmd.add_argument(
        "--history",
        type=Path,
        default=Path(os.environ["RUNAI_HISTORY"]) if os.environ.get("RUNAI_HISTORY") else None,
        help="the run history: first-seen dates and flapping rules from it (env RUNAI_HISTORY)",
    )
    cmd = commands.add_parser("history", help="per rule the last nights of a run history; since when, flapping")
    cmd.add_argument("path", type=Path, help="the run history (a run's --history PATH)")
    cmd.add_argument(
        "--last", default=str(DEFAULT_NIGHTS), metavar="N", help=f"nights shown (default {DEFAULT_NIGHTS})"
    )
    cmd.add_argument("--html", type=Path, metavar="OUT", help="also write the trend page to OUT (an .html file)")
    cmd = commands.add_parser("matrix", help="write a run's conformance matrix (matrix.html, matrix.md)")
    cmd.add_argument("run", type=Path, help="summary.json or its report dir")
    cmd.add_argument("--out", type=Path, help="where the pages go (default: the run's dir)")
    cmd = commands.add_parser("screenshot", help="render an HTML page in headless Chromium to a PNG")
    cmd.add_argument("page", type=Path)
    cmd.add_argument("picture", type=Path)
    cmd.add_argument("--width", type=int, default=1500)
    cmd.add_argument("--height", type=int, default=1500)
    args = parser.parse_args(argv)
    try:
        if args.command == "regress":
            return regress(
                args.baseline, args.current, args.out, allow_mismatch=args.allow_mismatch, history=args.history
            )
        if args.command == "history":
            return history_command(args.path, args.last, args.html)
        if args.command == "matrix":
            data = read_summary(args.run)
            out = args.out or _run_dir(args.run)
            paths = write_matrix(data, out, trend=(out / "trend.html").is_file())
            print(f"runai-conformance: wrote {', '.join(map(str, paths))}")
            return 0
        if args.command == "screenshot":
            return screenshot(args.page, args.picture, args.width, args.height)
    except (ValueError, OSError, ConfigError) as exc:
        print(f"runai-conformance: error: {exc}", file=sys.stderr)
        return 2
    return sweep_command(args)


def run(args: list[str]) -> int:
    """The installed suite, as `pytest conformance ARGS` runs it in a checkout, from any directory: node ids
    keep their `conformance/…` form (the rootdir is the directory holding the package), no cache is
    written beside the installed code, and the suite itself is the default selection. pytest takes this
    process over (exec): signals reach the run itself, and its exit is the command's. It starts afresh so
    that it imports the suite itself (and rewrites its assertions); -P keeps a `conformance/` directory
    of the working directory from standing in for the installed one."""
    home = SUITE_DIR.parent
    named = [_suite_path(arg, home) for arg in args]
    args = [path or arg for path, arg in zip(named, args, strict=True)]
    command = [sys.executable, "-P", "-m", "pytest", "-p", "no:cacheprovider", f"--rootdir={home}", *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command if any(named) else [*command, str(SUITE_DIR)])
    return 127  # not reached: exec does not return


def _suite_path(arg: str, home: Path) -> str | None:
    """A command-line word that names a path or node id inside the suite, as pytest is to get it: the
    `conformance/test_auth.py::…` form reports use, made absolute; a path to the installed copy as pytest
    prints it from another directory, as it is. None for any other word (an option, its value)."""
    path = arg.split("::", 1)[0]
    if path == "conformance" or path.startswith("conformance/"):
        return str(home / arg) if (home / path).exists() else None
    if arg.startswith("-") or not path or not Path(path).exists():
        return None
    where = Path(path).resolve()
    return arg if where == SUITE_DIR or SUITE_DIR in where.parents else None


def _run_dir(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def regress(
    baseline: Path, current: Path, out: Path | None, *, allow_mismatch: bool = False, history: Path | None = None
) -> int:
    """The gate: 0 pass, 1 a new failure or an expired waiver, 3 the runs give no verdict (incomplete,
    a rule not run, another target/profile/spec). A history annotates the report, never the verdict."""
    result = compare(read_summary(baseline), read_summary(current), allow_mismatch=allow_mismatch)
    if history is not None:
        annotate(result, read(history))
    paths = write_regression(result, out or _run_dir(current))
    counts = ", ".join(f"{len(rows)} {name}" for name, rows in result.rows.items())
    print(f"runai-conformance: {counts}; wrote {', '.join(map(str, paths))}")
    if result.cannot_judge:
        print(f"runai-conformance: gate CANNOT JUDGE this run: {'; '.join(result.cannot_judge)}")
        return GATE_CANNOT_JUDGE
    for rule_id, detail in result.rows["new failures"]:
        print(f"runai-conformance: NEW FAILURE {rule_id}: {detail}")
    for rule_id, detail in result.rows["expired waivers"]:
        print(f"runai-conformance: EXPIRED WAIVER {rule_id}: {detail}")
    for rule_id, letters in result.flapping.items():
        print(f"runai-conformance: FLAPPING {rule_id}: {letters} (oldest first, over the history's last nights)")
    print(f"runai-conformance: gate {'FAILS' if result.gate_fails else 'passes'}")
    return 1 if result.gate_fails else 0


def history_command(path: Path, last: str, html: Path | None) -> int:
    """`history`: the last nights of a run history, per rule; with --html the trend page too."""
    try:
        nights = int(last)
    except ValueError:
        nights = 0
    if nights < 1:
        raise ValueError(f"--last {last!r}: give a whole number of nights >= 1")
    kept = read(path)
    print(report(kept, nights), end="")
    if html is not None:
        page = write_trend(kept, html, last=nights)
        print(f"runai-conformance: wrote {page}")
    where = allure_folder(path)
    print(
        f"runai-conformance: Allure's trend is kept in {where}{'' if where.is_dir() else ' (none yet)'}: after "
        f"`allure generate … -o reports/allure-report`, copy reports/allure-report/history/ into it"
    )
    return 0


def chromium() -> str | None:
    """Chromium or Chrome: $CHROMIUM, or the first on PATH."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def screenshot(page: Path, picture: Path, width: int, height: int) -> int:
    browser = chromium()
    if browser is None:
        raise ValueError("no Chromium found: install it (Debian: apt-get install chromium) or set CHROMIUM=/path/to/it")
    if not page.is_file():
        raise ValueError(f"{page}: no such page")
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={picture.resolve()}",
            page.resolve().as_uri(),
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
        )
    if done.returncode != 0 or not picture.is_file():
        raise ValueError(f"Chromium could not render {page} (exit {done.returncode})")
    print(f"runai-conformance: wrote {picture}")
    return 0


def sweep_command(args: argparse.Namespace) -> int:
    if args.tag is not None and not RUN_TAG.match(args.tag):
        print(
            f"runai-conformance: error: --tag {args.tag!r} is not a run tag ({TAG_PREFIX} and 8 hex digits)",
            file=sys.stderr,
        )
        return 2
    older_than = args.older_than if args.older_than is not None else (None if args.tag else 60.0)
    which = args.tag or f"any run tag ({TAG_PREFIX}xxxxxxxx)"
    try:
        target = build_target(
            url=args.target_url,
            credentials=args.credentials,
            token=args.token,
            profile="smoke",
            read_only=False,
            report_dir=Path("."),
        )
        api = Api.connect(target, args.tag or TAG_PREFIX)
        with api.http:
            api.tokens.token("admin")
            result = sweep(
                api,
                args.tag,
                older_than=None if older_than is None else older_than * 60,
                dry_run=args.dry_run,
                on_deleted=lambda item: print(f"runai-conformance: deleted {item.describe()}", flush=True),
            )
    except ConfigError as exc:
        print(f"runai-conformance: error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(
            f"runai-conformance: error: cannot reach {args.target_url or 'the target'}: {type(exc).__name__}",
            file=sys.stderr,
        )
        return 2
    if args.dry_run:
        for item in result.found:
            print(f"runai-conformance: would delete {item.describe()}")
    for problem in result.problems:
        print(f"runai-conformance: could not delete {problem}", file=sys.stderr)
    age = "" if older_than is None else f", at least {older_than:g} min old"
    done = len(result.found) if args.dry_run else len(result.deleted)
    print(
        f"runai-conformance: {'found' if args.dry_run else 'swept'} {done} resource(s) tagged {which}{age} on {target.url}"
        + (" (dry run: nothing deleted)" if args.dry_run else "")
        + (f"; {len(result.problems)} problem(s)" if result.problems else "")
    )
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
