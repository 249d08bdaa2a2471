"""The report dir's last scrub (reporting.redact_report_files): a JSON report is redacted value by value,
so a short secret that happens to spell one of the report's own words ("complete", "inconclusive", a role
name) masks no key the gate reads, while every value that holds a secret, or stands under a secret's key,
is still masked. Any other file, and a .json file that is not JSON, is redacted as text."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.redact import MASK, Redactor
from conformance.reporting import redact_report_files
from conformance.results import read_summary

SECRET = "inconclusive"  # a role's password on some staging, say: a secret that spells a report key
SUMMARY = {
    "format": 1,
    "run": {"complete": True, "inconclusive": 0, "finished": 3, "exit_status": 0},
    "rules": {"USR-10": {"status": "passed", "inconclusive": 0}},
    "failures": [{"test": "t", "evidence": f"POST /api/v1/me/password with currentPassword {SECRET}"}],
    "request": {"newPassword": "never-learned-by-name", "client_secret": "nor-this", "reset_user_password": 2},
}


def scrubbed(tmp_path: Path, name: str, text: str, *secrets: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    redact_report_files(tmp_path, Redactor(secrets))
    return (tmp_path / name).read_text(encoding="utf-8")


def test_a_secret_that_spells_a_key_masks_no_key_of_summary_json(tmp_path: Path) -> None:
    text = scrubbed(tmp_path, "summary.json", json.dumps(SUMMARY, indent=2), SECRET)
    data = json.loads(text)
    assert data["run"] == SUMMARY["run"] and data["rules"] == SUMMARY["rules"], text
    assert read_summary(tmp_path)["run"]["complete"] is True
    assert SECRET not in data["failures"][0]["evidence"] and MASK in data["failures"][0]["evidence"], text
    assert data["request"] == {"newPassword": MASK, "client_secret": MASK, "reset_user_password": 2}, text


def test_every_value_that_holds_a_known_secret_is_masked_wherever_it_nests(tmp_path: Path) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    nested = {"a": [{"b": f"Bearer {token}"}, f"…{token[-14:]}"], "c": {"d": ["x", {"e": token}]}}
    text = scrubbed(tmp_path, "result.json", json.dumps(nested), token)
    assert token not in text and token[-14:] not in text and text.count(MASK) == 3, text


def test_a_file_that_is_not_json_is_redacted_as_text(tmp_path: Path) -> None:
    for name in ("broken.json", "matrix.md"):
        text = scrubbed(tmp_path, name, f'{{"complete": true, "note": "{SECRET}"', SECRET)
        assert SECRET not in text and MASK in text, text


def test_a_json_file_without_a_secret_is_left_byte_for_byte(tmp_path: Path) -> None:
    original = json.dumps(SUMMARY["run"], separators=(",", ":"))
    assert scrubbed(tmp_path, "summary.json", original, "not-in-it") == original
