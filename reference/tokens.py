"""HS256 JSON Web Tokens: just what the reference server issues and accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class InvalidToken(Exception):
    """The token is malformed, badly signed, of the wrong algorithm or expired."""


class MalformedToken(InvalidToken):
    """The token is not a JWT at all: not three base64url parts, or a header or payload that is not a JSON object."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(payload: dict[str, Any], key: bytes) -> str:
    """A signed HS256 token for `payload`."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"


def decode(
    token: str,
    key: bytes,
    *,
    now: float,
    allow_alg_none: bool = False,
    check_exp: bool = True,
    check_signature: bool = True,
    require_exp: bool = True,
) -> dict[str, Any]:
    """The payload of a valid token; InvalidToken for anything else (MalformedToken when it is no JWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("malformed token")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise MalformedToken("malformed token") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedToken("malformed token")
    alg = header.get("alg")
    if alg == "none" and allow_alg_none:
        pass
    elif alg != "HS256":
        raise InvalidToken("unsupported token algorithm")
    else:
        expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if check_signature and not hmac.compare_digest(expected, signature):
            raise InvalidToken("bad token signature")
    exp = payload.get("exp")
    if exp is None and not require_exp:
        return payload
    if not isinstance(exp, (int, float)):
        raise InvalidToken("token has no expiry")
    if check_exp and exp <= now:
        raise InvalidToken("token expired")
    return payload
