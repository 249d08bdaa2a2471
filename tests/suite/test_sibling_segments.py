"""A fuzzed path id that spells a sibling's literal segment (GET /api/v1/users/{userId} with userId
`count`) reaches the sibling's operation: a concrete path is matched first (OpenAPI 3). Judged as the
templated operation's answer, GET /api/v1/users/count's `{"count": N}` would be a false USR-4 (seen on
the clean reference with --hypothesis-seed=1); the fuzz test drops such a case, and only such a case."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.fuzz import load_schema, reached_path
from tests.suite.runner import reference, run_suite

USER_BY_ID = "conformance/test_fuzz.py::test_operation_conforms::test_operation_conforms[GET /api/v1/users/{userId}]"


@pytest.mark.parametrize(
    ("path", "method", "user_id", "reached"),
    [
        ("/api/v1/users/{userId}", "GET", "count", "/api/v1/users/count"),
        ("/api/v1/users/{userId}", "GET", "co%75nt", "/api/v1/users/count"),  # as the server decodes it
        ("/api/v1/users/{userId}", "DELETE", "count", "/api/v1/users/count"),
        ("/api/v1/users/{userId}", "GET", "counts", "/api/v1/users/{userId}"),
        ("/api/v1/users/{userId}", "GET", "count/x", "/api/v1/users/{userId}"),
        ("/api/v1/users/{userId}/logout", "POST", "count", "/api/v1/users/{userId}/logout"),  # no sibling
    ],
)
def test_a_path_id_reaches_the_operation_a_server_routes_it_to(
    path: str, method: str, user_id: str, reached: str
) -> None:
    case = load_schema()[path][method].Case(path_parameters={"userId": user_id})
    assert reached_path(case) == reached


def test_drawing_a_siblings_segment_is_no_false_alarm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every drawn userId spells `count` (the plugin), and the clean reference's fuzz test stays green."""
    drawn = tmp_path / "drawn"
    monkeypatch.setenv("RUNAI_SIBLING_DRAWS", str(drawn))
    with reference() as server:
        result = run_suite(server, tmp_path, "-p", "tests.suite.sibling_segment", USER_BY_ID, "--profile", "ci")
    assert drawn.exists() and "GET count" in drawn.read_text(), "the plugin never drew the sibling's segment"
    assert result.returncode == 0 and not result.failed, result.output[-3000:]
    assert [test for test in result.passed if test.endswith("[GET /api/v1/users/{userId}]")], result.output[-3000:]
