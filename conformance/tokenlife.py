"""How long the run's tokens live (AUTH-3, AUTH-1; CONTRACT, "Over time": a token works until its `exp`).

The transport tells the book of every token the token endpoint granted the run (its subject, when, its
`exp`) and of every event of the run that may legitimately end a user token: a logout of its user
(AUTH-4), a password reset or change, a delete. A 401 to a request carrying a granted token that no such
event touched and whose `exp` is still ahead is that token dying early: the token endpoint's defect,
named once for the whole run, with the token's age and `exp`. The tests it broke are inconclusive, not
failed under their own rules (a test that judges a token's life itself says so on its request).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .secret import jwt_claims

CLOCK_SKEW = 60.0  # seconds the target's clock may differ from ours: a token this close to its exp may die
JUDGED_BY_TEST = "runai.token_judged_by_test"  # a request extension: its test judges a 401 to it itself
NAMED_ONCE = "token-died-early"  # in the run's shared directory: the early death was named already
EARLY_DEATH_RULES = ("AUTH-3", "AUTH-1")


@dataclass(frozen=True)
class Grant:
    """A token the token endpoint handed the run."""

    subject: str  # "client <id>" or "user <username>"
    username: str | None  # the user a password grant was for
    issued: float  # time.time() when the grant's answer came
    exp: float | None  # its `exp` claim


@dataclass(frozen=True)
class Death:
    """A granted token answered 401 before its `exp`, untouched by anything the run did."""

    grant: Grant
    at: float

    def describe(self) -> str:
        age = self.at - self.grant.issued
        if self.grant.exp is None:
            return f"the token of {self.grant.subject}, {age:.0f} s old, got 401"
        until = datetime.fromtimestamp(self.grant.exp, UTC).isoformat(timespec="seconds")
        return (
            f"the token of {self.grant.subject}, {age:.0f} s old, got 401 with {self.grant.exp - self.at:.0f} s "
            f"still to live (exp {until})"
        )


class TokenDied(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A token died before its `exp`: the test that met it is inconclusive. The first such test of the run
    fails instead, naming the token endpoint's rules (`named`): the reports turn it into that failure."""

    def __init__(self, death: Death, *, named: bool, evidence: str = "") -> None:
        self.death, self.named, self.evidence = death, named, evidence
        super().__init__(
            f"inconclusive: {death.describe()}: the token endpoint's defect ({', '.join(EARLY_DEATH_RULES)}), "
            "not this test's"
        )


class TokenBook:
    """The run's granted tokens and the events that may end them; thread-safe."""

    def __init__(self, shared: Path | None = None) -> None:
        self.shared = shared  # the run's shared directory: where "named once" is kept across workers
        self._grants: dict[str, Grant] = {}
        self._ended: dict[str, float] = {}  # username -> the latest event of the run that may end its tokens
        self._last_logout = 0.0  # the run's latest logout of anyone: a target may wrongly end others' tokens
        self._worked: dict[str, float] = {}  # token -> when an answer last showed it authenticate
        self._usernames: dict[str, str] = {}  # user id -> username, from the answers that showed both
        self.dead: set[str] = set()  # tokens that died early (a role's is fetched anew)
        self.revoked: dict[str, float] = {}  # tokens a logout of the run revoked -> when
        self.deaths: list[Death] = []
        self._settled = False  # whether this process has asked to name a death yet
        self._lock = threading.Lock()

    def granted(self, token: str, subject: str, username: str | None = None, now: float | None = None) -> None:
        exp = jwt_claims(token).get("exp")
        grant = Grant(subject, username, time.time() if now is None else now, float(exp) if _number(exp) else None)
        with self._lock:
            self._grants[token] = grant

    def user_is(self, user_id: object, username: object) -> None:
        if isinstance(user_id, (str, int)) and isinstance(username, str):
            with self._lock:
                self._usernames[str(user_id)] = username

    def username_of(self, user_id: str) -> str | None:
        with self._lock:
            return self._usernames.get(user_id)

    def subject_of(self, token: str) -> str | None:
        """The username a token was granted for (None for a client's token or one the run was not granted)."""
        with self._lock:
            grant = self._grants.get(token)
        return grant.username if grant else None

    def ended(self, username: str | None, at: float | None = None, *, logout: bool = False) -> None:
        """A logout, a password reset or change, or a delete of this user, sent at `at`: its tokens granted
        before may end; none of their 401s is judged."""
        at = time.time() if at is None else at
        with self._lock:
            if username:
                self._ended[username] = max(self._ended.get(username, 0.0), at)
            if logout:
                self._last_logout = max(self._last_logout, at)
                for token, grant in self._grants.items():  # AUTH-4: the user's tokens before the logout die
                    if username and grant.username == username and grant.issued < at:
                        self.revoked.setdefault(token, at)

    def revoked_tokens(self) -> dict[str, float]:
        """Every token a logout of the run revoked (AUTH-4), with when: it must stay dead."""
        with self._lock:
            return dict(self.revoked)

    def worked(self, token: str, at: float | None = None) -> None:
        """An answer to a request carrying `token`, sent at `at`, showed it authenticate (transport.py's
        `authenticated`): it worked then, or later."""
        with self._lock:
            if token in self._grants:
                self._worked[token] = time.time() if at is None else at

    def death(self, token: str, now: float | None = None) -> Death | None:
        """The early death a 401 to a request carrying `token` shows, or None: a token the run was not
        granted (forged, tampered, fixed), one past or near its exp, one whose user the run logged out,
        reset, changed the password of or deleted after it was granted. A user's token not seen to work
        since the run's latest logout of anyone is not judged either: a target that ends every user's
        tokens on one logout breaks AUTH-4, which that logout's test judges."""
        now = time.time() if now is None else now
        with self._lock:
            grant = self._grants.get(token)
            if grant is None or (grant.exp is not None and grant.exp - CLOCK_SKEW <= now):
                return None
            if grant.username is not None:
                if self._ended.get(grant.username, -1.0) >= grant.issued:
                    return None
                if max(grant.issued, self._worked.get(token, 0.0)) <= self._last_logout:
                    return None
            found = Death(grant, now)
            self.dead.add(token)
            self.deaths.append(found)
            return found

    def name_once(self) -> bool:
        """Whether the caller is the first of the whole run (every worker) to meet an early death."""
        with self._lock:
            if self._settled:
                return False
            self._settled = True  # named here, or by another worker: either way never again here
            if self.shared is None:
                return True
            try:
                os.close(os.open(self.shared / NAMED_ONCE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                return False
            except OSError:
                return True
            return True


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
