"""The run history (conformance/history.py): five nights recorded from real runs against the reference,
two planted faults switched on and off, and what is read from them: `runai-conformance history` (first
seen, flapping, run time and requests), the gate's notes, the trend page in headless Chromium, Allure's
history carried over, and no secret in the database."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runai_conformance.conformance.cli import chromium
from runai_conformance.conformance.cli import main as cli
from runai_conformance.conformance.history import (
    Night,
    allure_folder,
    carry_allure_history,
    failing_since,
    flapping,
    judged_rules,
    read,
    record,
)
from runai_conformance.conformance.render import TREND_CELL, TREND_COLOURS, TREND_GAP, trend_html
from tests.suite.runner import SuiteResult, assert_one_line, reference, run_pytest, run_suite
from tests.suite.test_safety_audit import leaks, secret_pieces

PART = "conformance/test_users_lifecycle.py"  # a few seconds a run; it catches both faults below
FAULTS = {"USR-8": "usr-reset-repeats-password", "USR-9": "usr-logout-204"}
PLANTED = ((), ("USR-8",), ("USR-9",), ("USR-8", "USR-9"), ("USR-8", "USR-9"))  # night by night
DATES = [f"2026-05-0{night}" for night in range(1, 6)]


@dataclass
class Nights:
    dated: Path  # the five summaries recorded one night apart (their start rewritten to DATES)
    live: Path  # the history nights 2-5 kept themselves (--history, RUNAI_HISTORY)
    runs: list[SuiteResult] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)  # as recorded in `dated`
    secrets: set[str] = field(default_factory=set)  # every 16-character piece of every run's secrets


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    tmp = tmp_path_factory.mktemp("nights")
    made = Nights(dated=tmp / "history.db", live=tmp / "kept" / "live.db")
    made.live.parent.mkdir()
    for night, planted in enumerate(PLANTED, start=1):
        keep = ["--history", str(made.live)] if night in (2, 4) else []
        env = {"RUNAI_HISTORY": str(made.live)} if night in (3, 5) else None  # night 1 keeps none
        with reference(*(FAULTS[rule] for rule in planted)) as server:
            result = run_suite(server, tmp / f"night{night}", PART, "--profile", "smoke", *keep, env=env)
            made.secrets |= secret_pieces(server)
        assert result.returncode == (1 if planted else 0), result.output[-3000:]
        assert result.failed_rules == set(planted), result.output[-3000:]
        if night == 2:  # as a team copies allure-report/history back after `allure generate`
            allure_folder(made.live).mkdir()
            (allure_folder(made.live) / "history-trend.json").write_text('[{"data": {"passed": 10}}]')
        data = json.loads((result.report_dir / "summary.json").read_text())
        data["started"] = f"{DATES[night - 1]}T02:00:00+00:00"
        assert record(made.dated, data)
        made.runs.append(result)
        made.summaries.append(data)
    return made


def test_history_prints_first_seen_flapping_and_each_nights_cost(
    nights: Nights, capsys: pytest.CaptureFixture[str]
) -> None:
    """USR-8 failed on nights 2, 4 and 5: it flaps, and fails since night 4. USR-9 failed from night 3
    on: it fails since then and does not flap. Every other rule passed whenever it ran."""
    assert cli(["history", str(nights.dated)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  USR-8\s+PFPFF  failing since 2026-05-04 · FLAPPING$", out, re.M), out
    assert re.search(r"^  USR-9\s+PPFFF  failing since 2026-05-03$", out, re.M), out
    assert "failing now: USR-8 since 2026-05-04, USR-9 since 2026-05-03\n" in out
    assert re.search(r"^flapping .*: USR-8$", out, re.M), out
    rows = {m[1]: (m[2], m[3]) for m in re.finditer(r"^  ([A-Z]+-\d+) +([PFW-]+) *(.*)$", out, re.M)}
    others = {rule: row for rule, row in rows.items() if rule not in FAULTS}
    assert len(others) > 3 and all("F" not in letters and not notes for letters, notes in others.values()), out
    for data in nights.summaries:  # the run time and the requests of every night, as its summary says
        took, sent = data["duration_seconds"], data["pacing"]["requests"]
        assert sent > 50 and f"{data['started']}  smoke  seed 20261122  exit" in out
        assert f"{took:g} s  {sent} requests" in out, out
    # a window of three nights: USR-8 is P F F there, a regression, not a flap; its streak began on night 4
    assert cli(["history", str(nights.dated), "--last", "3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  USR-8\s+PFF  failing since 2026-05-04$", out, re.M) and "FLAPPING" not in out, out
    # first seen is read over every night, not only those shown
    assert cli(["history", str(nights.dated), "--last", "2"]) == 0
    assert re.search(r"^  USR-9\s+FF  failing since 2026-05-03$", capsys.readouterr().out, re.M)


def night(letters: str) -> list[Night]:
    """Hand-made nights, one a letter, for one rule R: P passed, F failed, W waived, - no verdict."""
    words = {"P": "passed", "F": "failed", "W": "waived", "-": "no verdict"}
    return [
        Night(f"2026-06-{i:02d}T02:00:00+00:00", 1, "ci", "t", 0, True, 1.0, 1, {"R": words[c]})
        for i, c in enumerate(letters, start=1)
    ]


@pytest.mark.parametrize(
    ("letters", "flaps"),
    [
        ("PFPFF", True),
        ("FPF", True),
        ("PFFP", True),  # failed, then came back: a flap in the window too
        ("P-F-P", True),  # nights without a verdict left out
        ("PWP", True),  # a waived night is a failing one
        ("PPFFF", False),  # a regression
        ("FFP", False),  # a fix
        ("PPPP", False),
        ("F-F", False),
        ("----", False),
    ],
)
def test_flapping_on_hand_made_nights(letters: str, flaps: bool) -> None:
    assert ("R" in flapping(night(letters))) is flaps


@pytest.mark.parametrize(
    ("letters", "since"),
    [
        ("PPFFF", 3),
        ("PFPFF", 4),
        ("WWF", 1),  # the waiver expired on night 3: the rule has failed since night 1
        ("PF-F", 2),  # a night without a verdict neither breaks nor extends the streak
        ("F--", 1),
        ("FFP", None),  # fixed
        ("PFW", None),  # waived now: accepted, not failing
        ("PPP", None),
        ("---", None),
    ],
)
def test_failing_since_on_hand_made_nights(letters: str, since: int | None) -> None:
    found = failing_since(night(letters)).get("R")
    assert (found.started[8:10] if found else None) == (f"{since:02d}" if since else None)


def test_the_runs_kept_their_own_history_and_allure_s(nights: Nights) -> None:
    """Nights 2-5 ran with --history or RUNAI_HISTORY: each added itself and wrote trend.html, linked from
    its matrix; Allure's history folder the team kept after night 2 went into nights 3-5's Allure results.
    Night 1 ran without the setting: nothing of a history anywhere."""
    kept = read(nights.live)
    assert [n.verdicts["USR-8"] for n in kept] == ["failed", "passed", "failed", "failed"]
    assert [n.verdicts["USR-9"] for n in kept] == ["passed", "failed", "failed", "failed"]
    assert [n.seed for n in kept] == [20261122] * 4 and all(n.requests and n.duration_seconds for n in kept)
    for i, run in enumerate(nights.runs, start=1):
        trend = run.report_dir / "trend.html"
        carried = run.report_dir / "allure-results" / "history" / "history-trend.json"
        assert trend.is_file() is (i > 1), i
        assert ("href=trend.html" in (run.report_dir / "matrix.html").read_text()) is (i > 1), i
        assert carried.is_file() is (i > 2), i
        assert ("night added to the history" in run.output) is (i > 1), i
    assert sorted(p.name for p in nights.runs[0].report_dir.parent.iterdir()) == ["credentials.toml", "reports"]
    assert not list(nights.runs[0].report_dir.rglob("*.db")) and not list(nights.runs[0].report_dir.rglob("history"))


def test_the_history_holds_no_secret_and_no_evidence(nights: Nights) -> None:
    stored = nights.dated.read_bytes().decode("latin-1") + nights.live.read_bytes().decode("latin-1")
    assert nights.secrets and not leaks(stored, nights.secrets), leaks(stored, nights.secrets)[:3]
    token = next(iter(nights.secrets))
    assert leaks(stored + f" {token} ", nights.secrets), "the audit finds a secret when there is one"
    evidence = nights.summaries[-1]["rules"]["USR-8"]["evidence"][0]["message"]
    assert len(evidence) > 40 and evidence[:40] not in stored and "USR-8" in stored
    with sqlite3.connect(nights.dated) as db:
        columns = {table: [c[1] for c in db.execute(f"PRAGMA table_info({table})")] for table in ("nights", "verdicts")}
    assert columns == {
        "nights": [
            "id", "started", "seed", "profile", "target", "exit_status", "complete", "duration_seconds", "requests"
        ],
        "verdicts": ["night", "rule", "verdict"],
    }  # fmt: skip


def test_a_run_is_recorded_once_and_its_target_without_credentials(tmp_path: Path, nights: Nights) -> None:
    data = {**nights.summaries[0], "target": "https://bot:hunter2-password@staging.example.com/api?key=s3cret#x"}
    path = tmp_path / "h.db"
    assert record(path, data) and not record(path, data)
    assert [n.target for n in read(path)] == ["https://staging.example.com/api"]
    assert b"hunter2" not in path.read_bytes() and b"s3cret" not in path.read_bytes()


def test_the_gate_reads_first_seen_and_flapping_from_the_history(
    nights: Nights, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for i, data in enumerate(nights.summaries, start=1):
        files.append(tmp_path / f"night{i}.json")
        files[-1].write_text(json.dumps(data))
    # night 4 -> 5: both still failing; the history says since when, and that USR-8 flaps. The verdict holds.
    for history in ([], ["--history", str(nights.dated)]):
        out = tmp_path / ("with" if history else "without")
        assert cli(["regress", str(files[3]), str(files[4]), "--out", str(out), "--allow-mismatch", *history]) == 0
        said = capsys.readouterr().out
        markdown = (out / "regression.md").read_text()
        still = markdown.split("## Still failing (2)")[1].split("## Waived")[0]
        assert ("first seen 2026-05-03" in still.split("| USR-9 |")[1]) is bool(history), still
        assert ("first seen 2026-05-04; FLAPPING (PFPFF" in still.split("| USR-8 |")[1].split("\n")[0]) is bool(
            history
        ), still
        assert "FLAPPING" not in still.split("| USR-9 |")[1]
        assert ("FLAPPING USR-8: PFPFF" in said) is bool(history) and "gate passes" in said
    # night 2 against night 1: the history's night 2 is the current run, so the nights after it do not count
    assert cli(["regress", str(files[0]), str(files[1]), "--out", str(tmp_path / "n2"), "--allow-mismatch",
                "--history", str(nights.dated)]) == 1  # fmt: skip
    said = capsys.readouterr().out
    assert "NEW FAILURE USR-8: reset_user_password; first seen 2026-05-02\n" in said and "FLAPPING" not in said


def test_allure_history_is_carried_only_when_kept(tmp_path: Path) -> None:
    history, results = tmp_path / "h.db", tmp_path / "allure-results"
    results.mkdir()
    assert not carry_allure_history(history, results) and not (results / "history").exists()
    allure_folder(history).mkdir()
    (allure_folder(history) / "history.json").write_text("{}")
    assert carry_allure_history(history, results)
    assert (results / "history" / "history.json").read_text() == "{}"


# ------------------------------------------------------------------------------ the trend page


def test_the_trend_page_needs_no_network(nights: Nights, tmp_path: Path) -> None:
    """`history --html` writes the page trend_html makes: one self-contained page, nothing fetched."""
    assert cli(["history", str(nights.dated), "--html", str(tmp_path / "t.html")]) == 0
    page = (tmp_path / "t.html").read_text()
    assert page == trend_html(read(nights.dated))
    assert "<script" not in page and "<link" not in page and "src=" not in page and "url(" not in page
    rules = judged_rules(read(nights.dated))
    assert page.count(f'width="{TREND_CELL}" height="{TREND_CELL}"') == len(rules) * len(nights.summaries)
    assert "<polyline" in page and page.count("<polyline") == 2, "run time and requests, one plot each"


def png_pixels(path: Path) -> tuple[int, int, list[bytes], int]:
    """A PNG's width, height, rows (filters undone) and bytes a pixel: 8-bit RGB or RGBA, not interlaced,
    as Chromium writes them."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", (0, 0, 0, 0, 0, 0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp, raw = (3 if colour == 2 else 4), zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind in (1, 3, 4):
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
                if kind == 1:
                    line[i] = (line[i] + left) & 255
                elif kind == 3:
                    line[i] = (line[i] + (left + up) // 2) & 255
                else:
                    p = left + up - corner
                    guess = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                    line[i] = (line[i] + guess) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def solid_cells(path: Path) -> dict[tuple[int, int], str]:
    """Every solid TREND_CELL × TREND_CELL square of a verdict's colour in a picture, by its top-left corner."""
    width, height, rows, bpp = png_pixels(path)
    colours = {bytes.fromhex(hex_colour[1:]): verdict for verdict, hex_colour in TREND_COLOURS.items()}
    runs: list[set[tuple[int, str]]] = []  # per row: (x, verdict) of every run of exactly TREND_CELL pixels
    for row in rows:
        found, x = set(), 0
        for rgb, group in itertools.groupby(row[i : i + 3] for i in range(0, width * bpp, bpp)):
            n = len(list(group))
            if n == TREND_CELL and rgb in colours:
                found.add((x, colours[rgb]))
            x += n
        runs.append(found)
    cells = {}
    for y in range(height - TREND_CELL + 1):
        for x, verdict in runs[y] - (runs[y - 1] if y else set()):
            if all((x, verdict) in runs[y + dy] for dy in range(TREND_CELL)):
                cells[(x, y)] = verdict
    return cells


def grid_in(picture: Path, rules: list[str], nights: int) -> dict[tuple[str, int], str]:
    """The grid of solid cells in a picture, read as rules down and nights across: each cell's verdict."""
    cells = solid_cells(picture)
    xs, ys = sorted({x for x, _ in cells}), sorted({y for _, y in cells})
    pitch = TREND_CELL + TREND_GAP
    assert len(xs) == nights and len(ys) == len(rules), (xs, ys)
    assert [b - a for a, b in itertools.pairwise(xs)] == [pitch] * (len(xs) - 1)
    assert [b - a for a, b in itertools.pairwise(ys)] == [pitch] * (len(ys) - 1)
    return {(rule, night): cells[(x, y)] for rule, y in zip(rules, ys, strict=True) for night, x in enumerate(xs)}


@pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine (apt-get install chromium, or CHROMIUM=…)")
def test_the_trend_page_renders_its_grid_in_headless_chromium(nights: Nights, tmp_path: Path) -> None:
    """`history --html` writes the page; in Chromium's picture every rule × night is a solid cell of its
    verdict's colour, in a grid of rules down and nights across, as the five summaries say. The same page
    with one verdict changed shows that cell changed, and only it."""
    page, picture = tmp_path / "trend.html", tmp_path / "trend.png"
    assert cli(["history", str(nights.dated), "--html", str(page)]) == 0
    assert cli(["screenshot", str(page), str(picture), "--width", "900", "--height", "700"]) == 0
    kept = read(nights.dated)
    rules = judged_rules(kept)
    shown = grid_in(picture, rules, len(kept))
    expected = {
        (rule, night): data["rules"][rule]["status"] if data["rules"][rule]["status"] in TREND_COLOURS else "no verdict"
        for rule in rules
        for night, data in enumerate(nights.summaries)
    }
    assert shown == expected
    assert [shown[("USR-8", n)] for n in range(5)] == ["passed", "failed", "passed", "failed", "failed"]
    kept[0].verdicts["USR-1"] = "waived"
    page.write_text(trend_html(kept))
    assert cli(["screenshot", str(page), str(picture), "--width", "900", "--height", "700"]) == 0
    assert grid_in(picture, rules, len(kept)) == {**expected, ("USR-1", 0): "waived"} != expected


# ------------------------------------------------------------------------------ bad input


def test_bad_input_to_history_gets_one_line(nights: Nights, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n" * 10)
    (tmp_path / "run.json").write_text(json.dumps(nights.summaries[0]))
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE t (x)")
    for args, says in (
        (["history", str(tmp_path / "missing.db")], "does not exist"),
        (["history", str(tmp_path / "notes.txt")], "cannot be used"),
        (["history", str(tmp_path / "other.db")], "not a runai-conformance history"),
        (["history", str(tmp_path)], "is a directory"),
        (["history", str(tmp_path / "other.db"), "--last", "0"], "--last '0'"),
        (["history", str(tmp_path / "other.db"), "--last", "x"], "--last 'x'"),
        (["regress", *[str(tmp_path / "run.json")] * 2, "--history", str(tmp_path / "notes.txt")], "cannot be used"),
    ):
        assert cli(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("runai-conformance: error: ") and err.count("\n") == 1 and says in err, err
    assert (tmp_path / "notes.txt").read_text().startswith("not a database"), "a bad history is left as it was"


def test_a_run_with_a_bad_history_stops_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n" * 10)
    for bad, says in ((tmp_path / "no" / "h.db", "does not exist"), (tmp_path / "notes.txt", "cannot be used")):
        done = run_pytest("conformance", "--report-dir", str(tmp_path / "r"), "--history", str(bad))
        assert_one_line(done, "history", str(bad), says)
    assert (tmp_path / "notes.txt").read_text() == "not a database\n" * 10 and not (tmp_path / "no").exists()
