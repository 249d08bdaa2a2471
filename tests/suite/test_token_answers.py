"""AUTH-3 as amended: Run:ai's documented token answer ({accessToken, idToken, refreshToken,
externalToken}, no expiresIn; the expiry is the JWT's exp) is a correct answer, not a failure."""

from __future__ import annotations

from pathlib import Path

from tests.suite.runner import reference, run_suite


def test_run_ais_documented_token_answer_is_green(tmp_path: Path) -> None:
    with reference(token_answer="runai") as server:
        result = run_suite(
            server, tmp_path, "conformance/test_auth.py", "conformance/test_users_lifecycle.py", "--profile", "smoke"
        )
        assert result.returncode == 0, result.output[-3000:]
        assert any("test_token_grant_answers_a_jwt" in name for name in result.passed), result.passed
        grants = [r for r in server.requests if r["path"] == "/api/v1/token" and r["status"] == 200]
        assert grants, "the suite took its tokens from the Run:ai-shaped answer"
