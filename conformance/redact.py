"""Keep tokens, client secrets and passwords out of everything the suite prints or writes."""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"
# Secrets the suite never learned by name still have recognisable shapes: (pattern, replacement).
PATTERNS = [
    (re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9\-_.~+/=]+"), rf"\1 {MASK}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), MASK),  # a JWT
    (
        # password, tempPassword, client_secret, AppSecret…; not reset_user_password (an operationId)
        re.compile(r'(?i)("(?:[a-z]*_?password|[a-z]*_?secret|accessToken|token)"\s*:\s*)"(?:[^"\\]|\\.)*"'),
        rf'\1"{MASK}"',
    ),
    (re.compile(r"(?i)\b((?:[a-z]*_?password|[a-z]*_?secret|accessToken)=)[^&\s'\"]+"), rf"\1{MASK}"),
]


class Redactor:
    """Replaces every known secret, and anything shaped like one, with a mask. Thread-safe."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()
        for secret in known:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Remember a secret learned during the run (a token, a temporary password)."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._known.add(secret)

    def __call__(self, text: str) -> str:
        with self._lock:
            known = sorted(self._known, key=len, reverse=True)
        for secret in known:
            text = text.replace(secret, MASK)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def headers(self, headers: Mapping[str, Any]) -> dict[str, str]:
        """Headers with credentials masked."""
        return {k: (f"Bearer {MASK}" if k.lower() == "authorization" else self(str(v))) for k, v in headers.items()}


def curl(method: str, url: str, headers: Mapping[str, Any], body: bytes | str | None, redact: Redactor) -> str:
    """A curl command that reproduces a request; the token comes from $RUNAI_TOKEN, never from the output."""
    parts = ["curl", "-X", method]
    for key, value in headers.items():
        if key.lower() in ("host", "content-length", "accept-encoding", "connection", "user-agent", "accept"):
            continue
        if key.lower() == "authorization":
            parts += ["-H", '"Authorization: Bearer $RUNAI_TOKEN"']
            continue
        parts += ["-H", shlex.quote(f"{key}: {redact(str(value))}")]
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        parts += ["--data-raw", shlex.quote(redact(text))]
    parts.append(shlex.quote(redact(url)))
    return " ".join(parts)
