"""Secrets that cannot print: tokens, client secrets and passwords held as `Secret`, whose `repr` and
`str` are masked wherever they end up (test locals under `pytest -l`, dataclass reprs, Hypothesis'
step printouts, f-strings). Only the transport reveals them, when it builds a request."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

MASKED = "Secret('********')"


class Secret:
    """A secret value. Compares and hashes by value; prints masked; `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value = value.reveal() if isinstance(value, Secret) else str(value)

    def reveal(self) -> str:
        """The value itself: for the transport that builds a request, and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return MASKED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASKED

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return isinstance(other, str) and self._value == other

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:  # never pickled (xdist, caches) as plain text by accident
        raise TypeError("a Secret is not picklable")


def secret(value: Any) -> Secret | None:
    """`value` as a Secret (None and empty values stay None)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, Secret) else Secret(str(value))


def reveal(value: Any, found: list[str] | None = None) -> Any:
    """`value` with every Secret inside it (dicts, lists, tuples) replaced by its text; each revealed
    text is appended to `found`, so the caller can teach its redactor what went out."""
    if isinstance(value, Secret):
        if found is not None:
            found.append(value.reveal())
        return value.reveal()
    if isinstance(value, Mapping):
        return {reveal(k, found): reveal(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, found) for v in value]
    if isinstance(value, tuple):
        return tuple(reveal(v, found) for v in value)
    return value


def bearer(token: Secret | str) -> Secret:
    """The Authorization header value for a token, itself a Secret."""
    return Secret(f"Bearer {token.reveal() if isinstance(token, Secret) else token}")


def jwt_claims(token: Secret | str) -> dict[str, Any]:
    """The unverified payload of a JWT, or {} when the token is not one."""
    if isinstance(token, Secret):
        token = token.reveal()
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError, UnicodeDecodeError):
        return {}
