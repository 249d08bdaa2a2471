"""The run history a team keeps (`--history PATH`, RUNAI_HISTORY): every run's summary added as one
night to an embedded SQLite database, and what the nights say together.

A night holds the run's start (UTC, ISO 8601; its date is the night's), seed, profile, the target's
URL (without a user, password, query or fragment), exit status, whether it completed, how long it
took and how many requests it sent (conformance/results.py's `duration_seconds` and `pacing.requests`),
and per rule one verdict: passed, failed, waived or no verdict (skipped, not run). Nothing else of
the summary: no evidence, no message, no request, nothing a token or a password could hide in.

What the nights say:

- **failing since**: a rule fails now when the last night with a verdict on it says failed; it has
  failed since the first night of that unbroken streak of failed and waived nights (a waived night is a
  failure the team accepted; a night without a verdict on the rule neither breaks nor extends it). Read
  over the whole history, whatever window is shown.
- **flapping**: over the nights of a window, leaving out those without a verdict on the rule, its verdict
  switches between passing (passed) and failing (failed or waived) twice or more: `P F P`, `F P F`,
  `P F F P`. One switch is a regression (`P P F F`) or a fix (`F F P`), not a flap.

Allure's own history (its trend charts) lives beside the database, in the folder `PATH.allure/`: a run
with the history copies it into its Allure results as `history/`, so `allure generate` draws the
trend; after `allure generate … -o reports/allure-report`, copy `reports/allure-report/history/` back
into `PATH.allure/` for the next night.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .target import ConfigError

APPLICATION_ID = 0x52434648  # "RCFH" in the SQLite header: this file is a runai-conformance history
FORMAT = 1  # the header's user_version
DEFAULT_NIGHTS = 14  # the window of `history`, the trend page and the gate's flapping
VERDICTS = {"passed": "P", "failed": "F", "waived": "W", "no verdict": "-"}  # each night's one letter
FAILING = ("failed", "waived")
SCHEMA = """
CREATE TABLE IF NOT EXISTS nights (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    seed INTEGER NOT NULL,
    profile TEXT NOT NULL,
    target TEXT NOT NULL,
    exit_status INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    duration_seconds REAL,
    requests INTEGER,
    UNIQUE (started, seed)
);
CREATE TABLE IF NOT EXISTS verdicts (
    night INTEGER NOT NULL REFERENCES nights (id),
    rule TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('passed', 'failed', 'waived', 'no verdict')),
    PRIMARY KEY (night, rule)
);
"""


@dataclass(frozen=True)
class Night:
    """One run, as the history keeps it."""

    started: str
    seed: int
    profile: str
    target: str
    exit_status: int
    complete: bool
    duration_seconds: float | None
    requests: int | None
    verdicts: dict[str, str]  # rule -> passed | failed | waived | no verdict

    @property
    def date(self) -> str:
        return self.started[:10]

    def same_run(self, data: dict[str, Any]) -> bool:
        """Whether this night is the run of that summary."""
        return (self.started, self.seed) == (str(data["started"]), int(data["seed"]))


def night_of(data: dict[str, Any]) -> Night:
    """What the history keeps of a run's summary (conformance/results.py)."""
    return Night(
        started=str(data["started"]),
        seed=int(data["seed"]),
        profile=str(data["profile"]),
        target=plain_url(str(data["target"])),
        exit_status=int(data["exit_status"]),
        complete=bool((data.get("run") or {}).get("complete")),
        duration_seconds=data.get("duration_seconds"),
        requests=(data.get("pacing") or {}).get("requests"),
        verdicts={
            rule: entry["status"] if entry["status"] in VERDICTS else "no verdict"
            for rule, entry in data["rules"].items()
        },
    )


def plain_url(url: str) -> str:
    """A URL without its user, password, query and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


@contextlib.contextmanager
def opened(path: Path, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """The history at `path`, checked to be one (`create`: made when absent or empty); every problem is
    a one-line ConfigError."""
    if path.is_dir():
        raise ConfigError(f"history {path} is a directory: name a file in it (e.g. {path / 'history.db'})")
    if not path.parent.is_dir():
        raise ConfigError(f"history {path}: its folder {path.parent} does not exist")
    if not create and not path.is_file():
        raise ConfigError(f"history {path} does not exist (a run with --history {path} starts it)")
    try:
        uri = path.resolve().as_uri() + ("?mode=rwc" if create else "?mode=ro")
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            found = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if create and found == 0 and not db.execute("SELECT 1 FROM sqlite_master").fetchone():
                db.executescript(f"{SCHEMA}PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {FORMAT};")
                found, version = APPLICATION_ID, FORMAT
            if found != APPLICATION_ID:
                raise ConfigError(f"history {path} is not a runai-conformance history")
            if version > FORMAT:
                raise ConfigError(f"history {path} was written by a newer runai-conformance (format {version})")
            with db:  # one transaction: committed on success, rolled back on an error
                yield db
    except sqlite3.Error as exc:
        raise ConfigError(f"history {path} cannot be used: {exc}") from None


def start(path: Path) -> Path:
    """The history a run will add its night to, made now when absent, so a bad path stops the run at its
    start rather than after it."""
    with opened(path, create=True):
        return path


def record(path: Path, data: dict[str, Any]) -> bool:
    """Add a run's summary to the history as one night; False when that run is there already."""
    night = night_of(data)
    with opened(path, create=True) as db:
        cursor = db.execute(
            "INSERT OR IGNORE INTO nights (started, seed, profile, target, exit_status, complete, duration_seconds,"
            " requests) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                night.started,
                night.seed,
                night.profile,
                night.target,
                night.exit_status,
                night.complete,
                night.duration_seconds,
                night.requests,
            ),
        )
        if not cursor.rowcount:
            return False
        db.executemany(
            "INSERT INTO verdicts (night, rule, verdict) VALUES (?, ?, ?)",
            [(cursor.lastrowid, rule, verdict) for rule, verdict in night.verdicts.items()],
        )
    return True


def read(path: Path) -> list[Night]:
    """Every night of the history, oldest first."""
    with opened(path) as db:
        verdicts: dict[int, dict[str, str]] = {}
        for night, rule, verdict in db.execute("SELECT night, rule, verdict FROM verdicts ORDER BY rowid"):
            verdicts.setdefault(night, {})[rule] = verdict
        rows = db.execute(
            "SELECT id, started, seed, profile, target, exit_status, complete, duration_seconds, requests"
            " FROM nights ORDER BY started, id"
        ).fetchall()
    return [Night(*row[1:6], bool(row[6]), row[7], row[8], verdicts.get(row[0], {})) for row in rows]


# ------------------------------------------------------------------------------ what the nights say


def row(nights: list[Night], rule: str) -> str:
    """A rule's verdicts, one letter a night, oldest first: P passed, F failed, W waived, - no verdict."""
    return "".join(VERDICTS[night.verdicts.get(rule, "no verdict")] for night in nights)


def failing_since(nights: list[Night]) -> dict[str, Night]:
    """Every rule that fails now, with the first night of its current streak of failing nights."""
    since: dict[str, Night] = {}
    for rule in dict.fromkeys(rule for night in nights for rule in night.verdicts):
        judged = [night for night in nights if night.verdicts.get(rule, "no verdict") != "no verdict"]
        if not judged or judged[-1].verdicts[rule] != "failed":
            continue
        first = judged[-1]
        for night in reversed(judged):
            if night.verdicts[rule] not in FAILING:
                break
            first = night
        since[rule] = first
    return since


def flapping(nights: list[Night]) -> dict[str, str]:
    """The rules whose verdict switches between passing and failing twice or more over these nights,
    each with its row."""
    found = {}
    for rule in dict.fromkeys(rule for night in nights for rule in night.verdicts):
        letters = row(nights, rule).replace("-", "").replace("W", "F")
        if sum(a != b for a, b in itertools.pairwise(letters)) >= 2:
            found[rule] = row(nights, rule)
    return found


def judged_rules(nights: list[Night]) -> list[str]:
    """The rules with a verdict on some of these nights, in the order the nights list them (the rule table's)."""
    return [
        rule
        for rule in dict.fromkeys(rule for night in nights for rule in night.verdicts)
        if any(night.verdicts.get(rule, "no verdict") != "no verdict" for night in nights)
    ]


def failing_now(since: dict[str, Night]) -> str:
    return "failing now: " + (", ".join(f"{rule} since {night.date}" for rule, night in since.items()) or "none")


def flapping_now(flaps: dict[str, str]) -> str:
    return "flapping (passed and failed in turn, twice or more in these nights): " + (", ".join(flaps) or "none")


def report(nights: list[Night], last: int) -> str:
    """`runai-conformance history`: per rule the last `last` nights as letters, since when each failing rule
    fails (read over every night) and which flap (over the nights shown); then each night's run: its
    time and requests."""
    if not nights:
        return "runai-conformance: the history holds no night yet\n"
    shown = nights[-last:]
    since, flaps = failing_since(nights), flapping(shown)
    rules = judged_rules(shown)
    width = max((len(rule) for rule in rules), default=4)
    lines = [
        f"runai-conformance: the last {len(shown)} of {len(nights)} night(s), {shown[0].date} → {shown[-1].date} "
        "(P passed · F failed · W waived · - no verdict; oldest first)",
    ]
    for rule in rules:
        notes = [f"failing since {since[rule].date}"] if rule in since else []
        notes += ["FLAPPING"] if rule in flaps else []
        lines.append(f"  {rule:<{width}}  {row(shown, rule)}  {' · '.join(notes)}".rstrip())
    unjudged = len({rule for night in shown for rule in night.verdicts} - set(rules))
    if unjudged:
        lines.append(f"  ({unjudged} rule(s) got no verdict in any of these nights)")
    lines += [failing_now(since), flapping_now(flaps)]
    lines.append("nights:")
    for night in shown:
        took = "?" if night.duration_seconds is None else f"{night.duration_seconds:g} s"
        sent = "?" if night.requests is None else str(night.requests)
        state = "complete" if night.complete else "INCOMPLETE"
        lines.append(
            f"  {night.started}  {night.profile}  seed {night.seed}  exit {night.exit_status} {state}  "
            f"{took}  {sent} requests  {night.target}"
        )
    return "\n".join(lines) + "\n"


def allure_folder(path: Path) -> Path:
    """Where the history keeps Allure's own history folder: beside it, `PATH.allure/`."""
    return path.with_name(path.name + ".allure")


def carry_allure_history(path: Path, allure_results: Path) -> bool:
    """Allure's kept history into a run's Allure results, as `history/`, so `allure generate` draws the
    trend; False when the history keeps none yet."""
    kept = allure_folder(path)
    if not kept.is_dir() or not allure_results.is_dir():
        return False
    try:
        shutil.copytree(kept, allure_results / "history", dirs_exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"history {path}: cannot copy {kept} into {allure_results}: {exc.strerror}") from None
    return True
