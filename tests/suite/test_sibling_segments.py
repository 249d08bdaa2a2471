"""A fuzzed path id that a server routes to another operation (GET /api/v1/users/{userId} with userId
`count` is GET /api/v1/users/count: a concrete path is matched first, OpenAPI 3) is sent but not judged as
the case's own operation: GET /api/v1/users/count's `{"count": N}` judged as a user was a false USR-4 on
the clean reference with --hypothesis-seed=1. A 5xx to it is still ERR-3's. Only such cases are told."""

from __future__ import annotations

from pathlib import Path

import pytest

from runai_conformance.conformance.fuzz import load_schema, rerouted
from tests.suite.runner import reference, run_suite

USER_BY_ID = "conformance/test_fuzz.py::test_operation_conforms::test_operation_conforms[GET /api/v1/users/{userId}]"


@pytest.mark.parametrize(
    ("path", "method", "user_id", "other"),
    [
        ("/api/v1/users/{userId}", "GET", "count", True),  # GET /api/v1/users/count
        ("/api/v1/users/{userId}", "GET", "co%75nt", True),  # as the server decodes it
        ("/api/v1/users/{userId}", "GET", "count/", True),  # …/count/: the count route, or a redirect to it
        ("/api/v1/users/{userId}", "GET", "x/logout", True),  # …/x/logout: another route
        ("/api/v1/users/{userId}", "GET", "..", True),  # …/users/.. is /api/v1/ to a server that normalizes
        ("/api/v1/users/{userId}", "GET", ".", True),  # …/users/. is the list
        ("/api/v1/users/{userId}", "GET", "x%2F", True),  # …/users/x/: a redirect, or no route
        ("/api/v1/users/{userId}", "GET", "%3Fx", False),  # a decoded `?` is still the id's, not a query
        ("/api/v1/users/{userId}", "GET", "count%3Fx", False),
        ("/api/v1/users/{userId}", "GET", "counts", False),
        ("/api/v1/users/{userId}", "GET", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", False),
        ("/api/v1/users/{userId}", "GET", "...", False),
        ("/api/v1/users/{userId}", "DELETE", "b", False),
        ("/api/v1/users/{userId}/logout", "POST", "count", False),  # no …/count/logout: still logout's
    ],
)
def test_a_path_id_that_a_server_routes_elsewhere_is_told(path: str, method: str, user_id: str, other: bool) -> None:
    assert rerouted(load_schema()[path][method].Case(path_parameters={"userId": user_id})) is other


def test_drawing_a_siblings_segment_is_no_false_alarm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every drawn userId spells `count` (the plugin): the clean reference's fuzz test stays green, and the
    cases are sent."""
    drawn = tmp_path / "drawn"
    monkeypatch.setenv("RUNAI_SIBLING_DRAWS", str(drawn))
    with reference() as server:
        result = run_suite(server, tmp_path, "-p", "tests.suite.sibling_segment", USER_BY_ID, "--profile", "ci")
    assert drawn.exists() and "GET count" in drawn.read_text(), "the plugin never drew the sibling's segment"
    assert result.returncode == 0 and not result.failed, result.output[-3000:]
    assert [test for test in result.passed if test.endswith("[GET /api/v1/users/{userId}]")], result.output[-3000:]
    # sent, not dropped (a 5xx to it would be ERR-3's): only these cases send GET /api/v1/users/count in this run
    assert [r for r in server.requests if r["method"] == "GET" and r["path"] == "/api/v1/users/count"]
