"""A pytest plugin for a self-test (`-p tests.suite.sibling_segment`): every drawn userId of
GET /api/v1/users/{userId} spells `count`, the literal segment of its sibling GET /api/v1/users/count,
as Hypothesis draws it now and then from the string constants it finds. Each draw is noted, one line, in
the file RUNAI_SIBLING_DRAWS names, so the self-test knows the suite met it."""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    if context.operation is not None and context.operation.path == "/api/v1/users/{userId}":
        path_parameters["userId"] = "count"
        with open(os.environ["RUNAI_SIBLING_DRAWS"], "a") as drawn:
            drawn.write(f"{context.operation.method.upper()} count\n")
    return path_parameters
