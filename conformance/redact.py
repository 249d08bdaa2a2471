"""Keep tokens, client secrets and passwords out of everything the suite prints or writes."""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .secret import Secret

MASK = "[REDACTED]"
SECRET_KEYS = r"[a-z]*_?password|[a-z]*_?secret|accessToken|token"  # the JSON keys whose string value is a secret
SECRET_KEY = re.compile(rf"(?i)(?:{SECRET_KEYS})")
# Secrets the suite never learned by name still have recognisable shapes: (pattern, replacement).
PATTERNS = [
    (re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9\-_.~+/=]+"), rf"\1 {MASK}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), MASK),  # a JWT
    (
        # password, tempPassword, client_secret, AppSecret…; not reset_user_password (an operationId)
        re.compile(rf'(?i)("(?:{SECRET_KEYS})"\s*:\s*)"(?:[^"\\]|\\.)*"'),
        rf'\1"{MASK}"',
    ),
    (re.compile(r"(?i)\b((?:[a-z]*_?password|[a-z]*_?secret|accessToken)=)[^&\s'\"]+"), rf"\1{MASK}"),
]


PIECE = 12  # a run of this many characters of a known secret is masked wherever it stands
HEAD = 20  # known secrets this long are indexed by their first HEAD characters, to be found inside values
RUN = re.compile(rf"[^\s'\"`]{{{PIECE},}}")


class Redactor:
    """Replaces every known secret, every piece of one (pytest cuts long values in the middle, so the
    tail of a token can stand alone), and anything shaped like a secret, with a mask. Thread-safe."""

    def __init__(self, known: Iterable[str | Secret] = ()) -> None:
        self._known: set[str] = set()
        self._pieces: set[str] = set()
        # Known secrets that pieces cannot find whole (shorter than PIECE, or holding a character a RUN stops
        # at), the longest first: the only ones a text is searched for one by one
        self._loose: list[str] = []
        self._heads: dict[str, set[str]] = {}  # secret[:HEAD] -> the secrets of HEAD+ characters it starts
        self._lock = threading.Lock()
        for secret in known:
            self.add(secret)

    def add(self, secret: str | Secret | None) -> None:
        """Remember a secret learned during the run (a token, a temporary password)."""
        if isinstance(secret, Secret):
            secret = secret.reveal()
        if not isinstance(secret, str) or len(secret) < 4 or secret in self._known:
            return
        with self._lock:
            self._known.add(secret)
            if len(secret) >= HEAD:
                self._heads.setdefault(secret[:HEAD], set()).add(secret)
            self._pieces.update(secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1))
            if RUN.fullmatch(secret) is None:
                self._loose = sorted([*self._loose, secret], key=len, reverse=True)

    def found_in(self, values: list[str], whole_from: int = 8) -> bool:
        """Whether one of `values` is a known secret of at least `whole_from` characters, or holds one of at
        least HEAD characters (shorter ones can be ordinary values by chance: a mock's placeholder "string"
        as a temporary password and as every other field)."""
        with self._lock:
            return any(
                (len(value) >= whole_from and value in self._known) or next(self._long_secrets_in(value), None)
                for value in values
            )

    def _long_secrets_in(self, value: str) -> Iterator[str]:
        """The known secrets of HEAD characters or more that stand in `value` (the lock held). A secret stands
        at i when the value's HEAD characters at i start it: the cost grows with the value's length, not with
        the thousands of secrets a deep run learns."""
        for i in range(len(value) - HEAD + 1):
            yield from (secret for secret in self._heads.get(value[i : i + HEAD], ()) if value.startswith(secret, i))

    def __call__(self, text: str) -> str:
        """`text` with every known secret masked: those of PIECE characters or more that a RUN holds whole
        are covered by their pieces (which also find their cut tails); the rest are searched one by one."""
        with self._lock:
            loose = self._loose
            pieces = self._pieces
            if pieces:
                text = RUN.sub(lambda m: self._mask_pieces(m.group(0), pieces), text)
        return self._masked(text, loose)

    def document(self, value: Any, words: frozenset[str] = frozenset()) -> Any:
        """A parsed JSON document redacted item by item. Keys are the report's own words (summary.json's
        "complete" and "inconclusive", rule and test ids), and so are the string values among `words` (a
        status the gate reads, a rule id, an operationId): a short secret that happens to spell one must not
        mask it. A key loses only what can be nothing but a secret (a known secret of HEAD characters or
        more, a token's shape), and a key among `words` nothing; a string under a secret's key (password,
        client_secret, token…) is masked whole; every other string, and a number that holds a known secret,
        is redacted as text is."""
        if isinstance(value, dict):
            return {
                (key if key in words else self._key(str(key))): MASK
                if isinstance(item, str) and SECRET_KEY.fullmatch(str(key))
                else self.document(item, words)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.document(item, words) for item in value]
        if isinstance(value, str):
            return value if value in words else self(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return MASK if self(str(value)) != str(value) else value  # a number that spells or holds a secret
        return value

    def _key(self, key: str) -> str:
        """A key with every known secret of HEAD characters or more, and every token shape, masked."""
        with self._lock:
            held = set(self._long_secrets_in(key))
        return self._masked(key, sorted(held, key=len, reverse=True))

    @staticmethod
    def _masked(text: str, secrets: Iterable[str]) -> str:
        """`text` with each of `secrets` (given the longest first) and every secret's shape (PATTERNS) masked."""
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    @staticmethod
    def _mask_pieces(run: str, pieces: set[str]) -> str:
        """`run` with every stretch covered by pieces of known secrets masked."""
        covered = [False] * len(run)
        hit = False
        for i in range(len(run) - PIECE + 1):
            if run[i : i + PIECE] in pieces:
                covered[i : i + PIECE] = [True] * PIECE
                hit = True
        if not hit:
            return run
        out, masking = [], False
        for char, masked in zip(run, covered, strict=True):
            if masked and not masking:
                out.append(MASK)
            elif not masked:
                out.append(char)
            masking = masked
        return "".join(out)

    def headers(self, headers: Mapping[str, Any]) -> dict[str, str]:
        """Headers with credentials masked."""
        return {k: (f"Bearer {MASK}" if k.lower() == "authorization" else self(str(v))) for k, v in headers.items()}


def curl(method: str, url: str, headers: Mapping[str, Any], body: bytes | str | None, redact: Redactor) -> str:
    """A curl command that reproduces a request; the token comes from $RUNAI_TOKEN, never from the output."""
    parts = ["curl", "--path-as-is", "-X", method] if "/." in url.split("?")[0] else ["curl", "-X", method]
    for key, value in headers.items():
        if key.lower() in ("host", "content-length", "accept-encoding", "connection", "user-agent"):
            continue
        if key.lower() == "accept" and value == "*/*":  # httpx's default: curl sends the same
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
