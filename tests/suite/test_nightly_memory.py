"""The nightly gate remembers (issue 37): a failure one night's seed found is replayed first the next
night, whatever that night's seed, when the example database is kept, and flaps to "fixed" when it is not;
a new failure is replayed at the end of its run and reported "reproduced k of n"; the database holds no
secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis.database import InMemoryExampleDatabase

from runai_conformance.conformance.examples import SecretFreeDatabase
from runai_conformance.conformance.redact import Redactor
from runai_conformance.conformance.render import compare
from runai_conformance.conformance.results import read_summary
from runai_conformance.reference.server import RunningServer
from tests.suite.runner import SuiteResult, reference, run_suite, tagged_leftovers
from tests.suite.test_safety_audit import leaks, pieces
from tests.suite.test_suite_catches_faults import fuzzing

SHARDED = "usr-email-shard-rejects"  # met only by the seeds that draw an email of the stale shard's domains
VALID_EMAILS = "conformance/test_inputs.py::test_valid_emails_are_accepted"
BOUNDS = "conformance/test_inputs.py::test_email_length_bounds"  # runs before it, by the file's order
RESETS = "conformance/test_users_lifecycle.py::test_password_reset_never_repeats_a_password"
SEEDS = range(1, 25)


def night(server: RunningServer, tmp: Path, seed: int, *extra: str) -> SuiteResult:
    return run_suite(server, tmp, BOUNDS, VALID_EMAILS, "--profile", "ci", "--hypothesis-seed", str(seed), *extra)


def order(result: SuiteResult) -> list[str]:
    return [test["id"] for test in read_summary(result.report_dir)["tests"]]


def catching_and_missing(server: RunningServer, tmp: Path) -> tuple[int, SuiteResult, int, SuiteResult]:
    """A seed whose run meets the sharded fault and one whose run does not, each night without a database."""
    found: dict[bool, tuple[int, SuiteResult]] = {}
    for seed in SEEDS:
        result = night(server, tmp / f"seed-{seed}", seed)
        assert result.returncode in (0, 1), result.output[-3000:]
        found.setdefault(result.returncode == 1, (seed, result))
        if len(found) == 2:
            (catching, caught), (missing, missed) = found[True], found[False]
            return catching, caught, missing, missed
    raise AssertionError(f"seeds {SEEDS.start}..{SEEDS.stop - 1} all {'caught' if True in found else 'missed'} it")


def test_a_failure_one_seed_found_is_replayed_first_next_night_and_flaps_without_the_database(tmp_path: Path) -> None:
    with reference(SHARDED) as server:
        catching, caught, missing, missed = catching_and_missing(server, tmp_path)
        assert caught.failed_rules == {"USR-2"}, caught.output[-3000:]
        assert missed.returncode == 0 and missed.failed_rules == set(), missed.output[-3000:]
        # Without the database, the second night's seed misses it: the gate calls it fixed, though nothing was.
        flap = compare(read_summary(caught.report_dir), read_summary(missed.report_dir))
        assert [rule for rule, _ in flap.rows["fixed"]] == ["USR-2"], flap.rows

        db = tmp_path / "examples"
        first = night(server, tmp_path / "kept-1", catching, "--example-db", str(db))
        assert first.failed_rules == {"USR-2"}, first.output[-3000:]
        assert order(first) == [BOUNDS, VALID_EMAILS]
        second = night(server, tmp_path / "kept-2", missing, "--example-db", str(db))
        assert second.returncode == 1 and second.failed_rules == {"USR-2"}, second.output[-3000:]
        assert order(second) == [VALID_EMAILS, BOUNDS], "last night's failure runs first"
        gate = compare(read_summary(first.report_dir), read_summary(second.report_dir))
        assert gate.rows["fixed"] == [] and [rule for rule, _ in gate.rows["still failing"]] == ["USR-2"], gate.rows
        assert tagged_leftovers(server) == []
        issued = [t.split(".")[2] for t in server.issued] + [c["client_secret"] for c in server.credentials.values()]
        assert_no_secret_in(db, issued)


def assert_no_secret_in(folder: Path, secrets: list[str]) -> None:
    grams = set().union(*(pieces(s) for s in secrets))
    stored = [p for p in folder.rglob("*") if p.is_file()]
    assert stored, f"nothing was stored in {folder}"
    for path in stored:
        text = path.read_bytes().decode("utf-8", "replace")
        assert not leaks(text, grams) and not any(s in text for s in secrets), f"a secret in {path}"


def reproduced(result: SuiteResult, test_id: str) -> dict[str, Any]:
    tests = {test["id"]: test for test in read_summary(result.report_dir)["tests"]}
    return tests[test_id]["reproduced"]


def test_a_new_failure_is_replayed_and_reported_reproduced_k_of_n(tmp_path: Path) -> None:
    """The intermittent fault repeats one reset in four: the test fails on its first reset, and of three
    replays some meet a repeating reset and some do not. The steady one fails every replay."""
    for fault, steady in (("usr-reset-sometimes-repeats", False), ("usr-reset-repeats-password", True)):
        with reference(fault) as server:
            result = run_suite(server, tmp_path / fault, RESETS, "--profile", "ci", "--reproduce", "3")
            assert result.returncode == 1 and result.failed_rules == {"USR-8"}, result.output[-3000:]
            counted = reproduced(result, RESETS)
            assert counted["of"] == 3 and counted["tries"] == 3, counted
            if steady:
                assert counted["failed"] == 3, counted
            else:
                assert 0 < counted["failed"] < 3, counted
            line = f"reproduced {counted['failed']} of 3"
            assert line in result.output, result.output[-2000:]
            assert line in json.dumps(read_summary(result.report_dir)["tests"]), "beside its evidence"
            assert tagged_leftovers(server) == [], "the replays clean up after themselves"


def test_a_failure_seen_last_night_is_not_replayed_again(tmp_path: Path) -> None:
    """With the database kept, the second night's failure is an old one: replayed first, not re-run."""
    with reference("usr-reset-repeats-password") as server:
        db = str(tmp_path / "examples")
        first = run_suite(server, tmp_path / "1", RESETS, "--reproduce", "2", "--example-db", db)
        assert reproduced(first, RESETS)["failed"] == 2
        second = run_suite(server, tmp_path / "2", RESETS, "--reproduce", "2", "--example-db", db)
        assert second.failed_rules == {"USR-8"} and reproduced(second, RESETS) is None, second.output[-2000:]


def test_bad_example_db_settings_get_one_line(tmp_path: Path) -> None:
    with reference() as server:
        afile = tmp_path / "a-file"
        afile.write_text("x")
        for args, expected in (
            (("--example-db", str(afile)), "not a directory"),
            (("--example-db-from", "github:only-owner"), "give github:OWNER/REPO"),
            (("--example-db-from", "github:o/r"), "needs --example-db DIR too"),
            (("--reproduce", "many"), "give a whole number 0..20"),
        ):
            result = run_suite(server, tmp_path / expected.replace(" ", "-"), RESETS, *args)
            assert result.returncode != 0 and expected in result.output, result.output[-1500:]
            assert "Traceback" not in result.output, result.output[-1500:]


def test_the_database_keeps_examples_of_machines_and_fuzzing_and_no_secret(tmp_path: Path) -> None:
    """Every Hypothesis-driven part stores its failing examples (a state machine's, a fuzzed operation's),
    under its own key, and nothing the run knew as a secret: tokens, client secrets, temporary passwords."""
    parts = ["conformance/test_stateful.py::test_users_lifecycle_machine[shard0]", fuzzing("POST /api/v1/users")]
    with reference("usr-username-lowercased") as server:
        db = tmp_path / "examples"
        result = run_suite(server, tmp_path / "run", *parts, "--example-db", str(db), "--shrink-seconds", "0")
        assert len(result.failed) == 2 and result.failed_rules == {"USR-1"}, result.output[-3000:]
        keys = [p for p in db.iterdir() if p.is_dir()]
        assert len(keys) >= 3, f"a key for each failing part and the failed tests' ids: {keys}"
        created = [r["created"] for r in server.requests if "created" in r and r["path"].endswith("/users")]
        passwords = [server.store.temp_password(uid, g) for uid in created for g in range(6)]
        issued = [t.split(".")[2] for t in server.issued] + [c["client_secret"] for c in server.credentials.values()]
        assert_no_secret_in(db, issued + passwords)


def test_a_value_that_holds_a_secret_is_never_stored() -> None:
    known = "temp-Password-of-a-user-7f3e"
    database = SecretFreeDatabase(InMemoryExampleDatabase())
    database.redactor = Redactor([known])
    database.save(b"k", b"\x00" + f"email then {known} inside".encode())
    database.save(b"k", b"an example without one")
    assert list(database.fetch(b"k")) == [b"an example without one"] and database.refused == 1
    database.inner.save(b"src", known.encode())
    database.move(b"src", b"dest", known.encode())
    assert list(database.fetch(b"dest")) == [] and list(database.fetch(b"src")) == []
