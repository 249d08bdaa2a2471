"""The merged spec's operations: each by its operationId, and which one a request reaches."""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlparse

from ..specs import load_spec

TOKEN_OPERATION = "token_grant"  # POST /api/v1/token: the platform's, not in the merged spec


@cache
def _templates() -> list[tuple[str, re.Pattern[str], str]]:
    spec = load_spec()
    found = []
    for path, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "/?$")
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                found.append((method.upper(), pattern, op["operationId"]))
    # literal segments first: /api/v1/users/count before /api/v1/users/{userId}
    return sorted(found, key=lambda t: t[1].pattern.count("[^/]+"))


def operations() -> list[str]:
    """Every operationId of the merged spec, in spec order, then the token endpoint."""
    spec = load_spec()
    ops = [op["operationId"] for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)]
    return [*ops, TOKEN_OPERATION]


def operation_of(method: str, url: str) -> str | None:
    """The operationId a request is for, or None when the spec has no such operation."""
    path = urlparse(url).path if "://" in url else url.split("?")[0]
    if method.upper() == "POST" and path.rstrip("/").endswith("/api/v1/token"):
        return TOKEN_OPERATION
    for verb, pattern, op in _templates():
        if verb == method.upper() and pattern.match(path):
            return op
    return None
