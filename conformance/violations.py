"""What a check finds: a contract violation with its evidence, and the secret fields a body must not carry.

The floor of `conformance/`: it imports nothing of the suite, so the client (`api`), the Schemathesis
checks (`checks`), the reports and the tests all stand on it.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

SECRET_FIELD = re.compile(r"password|secret|metricstore", re.IGNORECASE)


class ContractViolation(AssertionError):
    """A contract rule does not hold. Carries, as fields, the rules it breaks (none: a failure of the API
    that no CONTRACT rule names), the operation, and the request and response that show it; the
    message says what was expected and what came back. Reports, waivers and the gate read the fields.
    A test that finds several raises them together (an ExceptionGroup): each is reported on its own."""

    def __init__(
        self,
        rules: list[str] | tuple[str, ...] | str,
        message: str,
        *,
        answer: httpx.Response | None = None,
        operation: str | None = None,
        request: tuple[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.rules = [rules] if isinstance(rules, str) else list(rules)
        self.operation = operation
        if answer is not None:
            request = (answer.request.method, str(answer.request.url))
            status = answer.status_code
        self.request = request  # (method, URL): the request that shows the violation
        self.status = status  # the status of its response
        self.met_by: list[str] = []  # the rules a check named before a 5xx answer showed the violation is ERR-3's
        super().__init__(f"[{', '.join(self.rules) or 'no contract rule'}] {message}")

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


def strings_in(value: Any) -> list[str]:
    """Every string value of a JSON document, at any depth."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


def raise_found(found: list[ContractViolation], what: str) -> None:
    """Raise what a check found: nothing, the one violation, or all of them together (an ExceptionGroup
    whose every violation is reported on its own with its rules and evidence)."""
    if len(found) == 1:
        raise found[0]
    if found:
        raise ExceptionGroup(f"{len(found)} {what}", found)


def secret_fields(value: Any, path: str = "$") -> list[str]:
    """JSON paths of every key named like a password, secret or metricStore, at any depth."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if SECRET_FIELD.search(str(key)):
                found.append(f"{path}.{key}")
            found += secret_fields(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += secret_fields(item, f"{path}[{index}]")
    return found
