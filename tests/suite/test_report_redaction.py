"""The report dir's last scrub (reporting.redact_report_files): a JSON report is redacted item by item, so a
short secret that happens to spell one of the report's own words (a key such as "complete" or
"inconclusive", a status such as "failed", a rule id) masks nothing the gate reads, while every value that
holds a secret, stands under a secret's key or spells a secret as a number, and every key that holds a
token or a long secret, is still masked. Any other file, and a .json file that is not JSON, is redacted as
text."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from runai_conformance.conformance.redact import MASK, Redactor
from runai_conformance.conformance.render import compare
from runai_conformance.conformance.reporting import redact_report_files
from runai_conformance.conformance.results import read_summary

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
CLIENT_SECRET = "s3cr3t-0f-the-admin-client-9f8e7d6c5b4a"


def rule(status: str, operation: str) -> dict:
    failing = [operation] if status == "failed" else []
    return {"status": status, "failing_operations": failing, "cells": {operation: status}, "skip_reasons": []}


def summary(status: str) -> dict:
    """A summary.json as a run writes it (the parts the gate and this test read), USR-10 `status`."""
    return {
        "format": 1,
        "target": "https://staging.example.com",
        "profile": "ci",
        "seed": 1,
        "run": {"complete": True, "inconclusive": 0, "incomplete_because": [], "exit_status": 0},
        "rules": {"USR-10": rule(status, "change_user_password"), "LIST-1": rule("passed", "get_users")},
        "failures": [{"test": "t", "evidence": "POST /api/v1/me/password with currentPassword {secret}"}],
        "request": {"newPassword": "never-learned-by-name", "client_secret": "nor-this", "op": "reset_user_password"},
        "waivers": [{"rule": "LIST-1", "operation": "get_users", "status": "stale", "reason": "r", "expires": ""}],
    }


def scrubbed(tmp_path: Path, name: str, text: str, *secrets: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    redact_report_files(tmp_path, Redactor(secrets))
    return (tmp_path / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "secret",
    ["inconclusive", "complete", "failed", "fail", "stale", "USR-10", "LIST-1", "change_user_password", "get_users"],
)
def test_a_secret_that_spells_a_report_word_masks_nothing_the_gate_reads(secret: str, tmp_path: Path) -> None:
    """A role's password on some staging that spells a key, a status or a rule id: the run's summary keeps
    them, the gate reads it as complete, and the regression report still sees USR-10's new failure."""
    written = summary("failed")
    written["failures"][0]["evidence"] = written["failures"][0]["evidence"].format(secret=secret)
    data = json.loads(scrubbed(tmp_path, "summary.json", json.dumps(written, indent=2), secret))
    assert (data["run"], data["rules"], data["waivers"]) == (written["run"], written["rules"], written["waivers"]), data
    assert read_summary(tmp_path)["run"]["complete"] is True
    gate = compare(summary("passed"), data)
    assert gate.verdict == "FAIL" and gate.rows["new failures"] == [("USR-10", "change_user_password")], gate
    evidence = data["failures"][0]["evidence"]
    assert f" {secret}" not in evidence and MASK in evidence, evidence
    assert data["request"] == {"newPassword": MASK, "client_secret": MASK, "op": "reset_user_password"}, data


def test_every_value_that_holds_a_known_secret_is_masked_wherever_it_nests(tmp_path: Path) -> None:
    nested = [{"a": [{"b": f"Bearer {TOKEN}"}, f"…{TOKEN[-14:]}"], "c": {"d": ["x", {"e": TOKEN}]}}, TOKEN]
    text = scrubbed(tmp_path, "result.json", json.dumps(nested), TOKEN)
    assert TOKEN not in text and TOKEN[-14:] not in text and text.count(MASK) == 4, text


def test_a_key_loses_a_token_and_a_long_secret_and_a_number_that_spells_a_secret(tmp_path: Path) -> None:
    document = {CLIENT_SECRET: 1, f"Bearer {TOKEN}": 2, "pin": 48392017, "count": 3}
    text = scrubbed(tmp_path, "other.json", json.dumps(document), CLIENT_SECRET, "48392017")
    assert CLIENT_SECRET not in text and TOKEN not in text and "48392017" not in text, text
    assert json.loads(text)["count"] == 3, text


def test_a_key_given_twice_is_written_anew_without_the_secret(tmp_path: Path) -> None:
    text = scrubbed(tmp_path, "twice.json", '{"note": "hunter2pass", "note": "ok"}', "hunter2pass")
    assert "hunter2pass" not in text and json.loads(text) == {"note": "ok"}, text


def test_a_file_that_is_not_json_is_redacted_as_text(tmp_path: Path) -> None:
    for name in ("broken.json", "matrix.md"):
        text = scrubbed(tmp_path, name, '{"complete": true, "note": "hunter2pass"', "hunter2pass")
        assert "hunter2pass" not in text and MASK in text, text


def test_a_json_file_without_a_secret_is_left_byte_for_byte(tmp_path: Path) -> None:
    original = json.dumps(copy.deepcopy(summary("passed"))["run"], separators=(",", ":"))
    assert scrubbed(tmp_path, "summary.json", original, "not-in-it") == original


@pytest.mark.parametrize(
    ("known", "value"),
    [
        ('hunter2"x', 'said hunter2"x twice'),  # written as hunter2\"x: no 12 characters of it stand in the file
        ("ab\\cd9!", "said ab\\cd9! twice"),  # written as ab\\cd9!
        ("", json.dumps({"tempPassword": "Xy7!abcd"})),  # a secret's key inside JSON text, its quotes as \"
    ],
)
def test_a_secret_the_file_writes_escaped_is_masked_as_decoded(known: str, value: str, tmp_path: Path) -> None:
    text = scrubbed(tmp_path, "result.json", json.dumps({"evidence": value}), known)
    evidence = json.loads(text)["evidence"]
    assert MASK in evidence and not (known and known in evidence) and "Xy7!abcd" not in evidence, text


@pytest.mark.parametrize(
    "secret",
    [
        TOKEN,  # long, one run of characters: found by its pieces
        "Sh0rt-pw1",  # shorter than a piece: searched for whole
        "a pass phrase with spaces",  # long, but a run stops at a space: searched for whole
        'quote"in-the-middle-of-it',  # (a quote stops a run too)
    ],
)
def test_every_known_secret_is_masked_in_text_however_its_characters_run(secret: str) -> None:
    redact = Redactor([TOKEN, "Sh0rt-pw1", "a pass phrase with spaces", 'quote"in-the-middle-of-it'])
    for text in (secret, f"before {secret} after", f"x{secret}y", f'{{"note": "{secret}"}}'):
        masked = redact(text)
        assert secret not in masked and MASK in masked, (secret, masked)
    assert redact("nothing secret here, 12345678901234") == "nothing secret here, 12345678901234"
