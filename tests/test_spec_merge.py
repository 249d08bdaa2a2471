"""The merged spec: up to date with its sources, complete, patched, and loud about bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from runai_conformance.specs import OVERLAYS_DIR, SOURCES_DIR, SPEC_PATH, load_spec
from runai_conformance.specs.merge import build, operations, render

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_OPERATIONS = {
    "get_users": "2.24",
    "create_user": "2.24",
    "count_users": "2.24",
    "logout_user": "2.24",
    "reset_user_password": "2.24",
    "get_user_by_id": "2.24",
    "delete_user_by_id": "2.24",
    "change_user_password": "2.24",
    "get_tenants": "2.23",
    "create_tenant": "2.23",
    "get_tenant_by_id": "2.23",
    "delete_tenant_by_id": "2.23",
}


def run_merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runai_conformance.specs.merge", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A private copy of the published pages to doctor."""
    target = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, target)
    return target


def test_committed_spec_is_what_the_merge_makes() -> None:
    assert SPEC_PATH.read_text(encoding="utf-8") == render(build()), "run: python -m runai_conformance.specs.merge"


def test_check_mode_reports_up_to_date_and_stale(tmp_path: Path) -> None:
    assert run_merge("--check").returncode == 0
    stale = tmp_path / "runai.json"
    stale.write_text(SPEC_PATH.read_text().replace('"get_users"', '"get_users_old"'))
    result = run_merge("--check", "--out", stale)
    assert result.returncode == 1
    assert "not what the merge makes" in result.stderr


def test_spec_validates_and_holds_the_twelve_operations_with_their_versions() -> None:
    doc = load_spec()
    validate(doc)
    assert sorted(operations(doc)) == sorted(EXPECTED_OPERATIONS)
    for item in doc["paths"].values():
        for op in item.values():
            assert op["x-runai-published-version"] == EXPECTED_OPERATIONS[op["operationId"]]
            assert op["x-runai-source"] in {"users-2.24.md", "tenant-2.23.md"}


def test_the_three_known_gaps_are_patched_and_listed() -> None:
    doc = load_spec()
    assert {o["rule"] for o in doc["x-runai-overlays"]} == {"TEN-4", "LIST-6", "TEN-1a"}
    assert "404" in doc["paths"]["/api/v1/tenants/{tenantId}"]["get"]["responses"]
    assert doc["components"]["parameters"]["Offset"]["schema"]["minimum"] == 0
    assert None in doc["components"]["schemas"]["Roles"]["enum"]


def test_the_published_pages_themselves_have_the_gaps() -> None:
    """The overlays patch real gaps: without them the merged text lacks each fix."""
    bare = build(overlays=Path("/nonexistent-overlays"))
    assert "404" not in bare["paths"]["/api/v1/tenants/{tenantId}"]["get"]["responses"]
    assert "minimum" not in bare["components"]["parameters"]["Offset"]["schema"]
    assert None not in bare["components"]["schemas"]["Roles"]["enum"]


def test_conflicting_definition_stops_the_merge_naming_both_places(sources: Path, tmp_path: Path) -> None:
    page = sources / "users-2.24.md"
    text = page.read_text()
    # Doctor the User schema in the get_user_by_id fragment only (the 6th fence).
    fences = text.split("```json")
    fences[6] = fences[6].replace('"User":{"type":"object","required"', '"User":{"type":"array","required"', 1)
    page.write_text("```json".join(fences))
    out = tmp_path / "runai.json"
    out.write_text("previous")
    result = run_merge("--sources", sources, "--out", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "users-2.24.md fence 1" in lines[0] and "users-2.24.md fence 6" in lines[0]
    assert "$.components.schemas.User.type" in lines[0]
    assert out.read_text() == "previous"


@pytest.mark.parametrize(
    ("doctor", "expected"),
    [
        (lambda t: t.replace('"count_users"', '"count_users",,', 1), "users-2.24.md fence 3 (line"),
        (lambda t: t.replace("}}}}}}\n```\n", "}}}}}}\n", 1), "never closed"),
        (lambda t: t.replace("```json\n{", "```json\n\n```\n```json\n{", 1), "users-2.24.md fence 1"),
    ],
    ids=["invalid-json", "unclosed-fence", "empty-fence"],
)
def test_broken_fence_gets_one_line_naming_page_and_fence(sources: Path, tmp_path: Path, doctor, expected: str) -> None:
    page = sources / "users-2.24.md"
    page.write_text(doctor(page.read_text()))
    out = tmp_path / "runai.json"
    result = run_merge("--sources", sources, "--out", out)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_overlay_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    overlays = tmp_path / "overlays"
    shutil.copytree(OVERLAYS_DIR, overlays)
    (overlays / "zz-bad.yaml").write_text(
        "overlay: 1.0.0\ninfo: {title: t, version: '1'}\n"
        "actions:\n  - target: $.components.schemas.Nope\n    update: {x: 1}\n"
    )
    result = run_merge("--overlays", overlays, "--out", tmp_path / "out.json")
    assert result.returncode == 2
    assert "zz-bad.yaml action 1" in result.stderr and "matches nothing" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_merged_operations_keep_the_published_text() -> None:
    """The merge adds provenance and overlay patches, and otherwise changes no operation."""
    doc = load_spec()
    for page in SOURCES_DIR.glob("*.md"):
        for fence in page.read_text().split("```json")[1:]:
            fragment = json.loads(fence.split("```")[0])
            for path, item in fragment["paths"].items():
                for method, op in item.items():
                    merged = {k: v for k, v in doc["paths"][path][method].items() if not k.startswith("x-runai-")}
                    if op["operationId"] == "get_tenant_by_id":
                        merged["responses"] = {k: v for k, v in merged["responses"].items() if k != "404"}
                    assert merged == op
