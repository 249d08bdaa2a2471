"""What the run learned that must still hold later (CONTRACT, "Over time": a rule holds for the whole life of
what it speaks of; a value read later still satisfies it).

The transport notes, from the answers themselves, what a later read must show again: each of the run's
users deleted (USR-6: 404 from then on), each of its tenants soft- or hard-deleted (TEN-5, TEN-6), and the
`lastLogin` each of its users last read with (USR-11: it changes only with a login, which forgets it).
`conformance/test_later.py` judges all of it again at the end of the run; the token book
(conformance/tokenlife.py) keeps which tokens a logout revoked (AUTH-4).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Memory:
    """Facts about the run's own users and tenants; thread-safe."""

    deleted_users: dict[str, str] = field(default_factory=dict)  # user id -> its username (if known)
    soft_deleted_tenants: dict[int, float] = field(default_factory=dict)
    hard_deleted_tenants: dict[int, float] = field(default_factory=dict)
    last_logins: dict[str, Any] = field(default_factory=dict)  # user id -> lastLogin as last read
    _ids: dict[str, set[str]] = field(default_factory=dict)  # username -> its users' ids (look-alikes: several)
    _granting: dict[str, int] = field(default_factory=dict)  # username -> its password grants under way
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def user_deleted(self, user_id: str) -> None:
        with self._lock:
            self.deleted_users[user_id] = next((u for u, ids in self._ids.items() if user_id in ids), "")
            self.last_logins.pop(user_id, None)

    def tenant_deleted(self, tenant_id: int, *, hard: bool) -> None:
        with self._lock:
            (self.hard_deleted_tenants if hard else self.soft_deleted_tenants)[tenant_id] = time.time()
            if hard:
                self.soft_deleted_tenants.pop(tenant_id, None)

    def user_read(self, user: dict[str, Any], *, ours: bool) -> None:
        """A representation of a user in an answer (a read, a list item): its lastLogin, if it is the run's."""
        user_id, username = user.get("id"), user.get("username")
        if not isinstance(user_id, (str, int)) or not isinstance(username, str):
            return
        with self._lock:
            self._ids.setdefault(username, set()).add(str(user_id))
            if self._granting.get(username):  # a login under way may or may not show yet: no fact
                self.last_logins.pop(str(user_id), None)
            elif ours and "lastLogin" in user and str(user_id) not in self.deleted_users:
                self.last_logins[str(user_id)] = user["lastLogin"]

    def granting(self, username: str, under_way: int) -> None:
        """A password grant for this user leaves (+1) or has its answer (-1)."""
        with self._lock:
            self._granting[username] = self._granting.get(username, 0) + under_way
            for user_id in self._ids.get(username, ()):  # (which of look-alikes it logs in, it does not say)
                self.last_logins.pop(user_id, None)

    def logged_in(self, username: str) -> None:
        """A password grant for this user succeeded: its lastLogin moved, and the next read says to what."""
        with self._lock:
            for user_id in self._ids.get(username, ()):
                self.last_logins.pop(user_id, None)

    def snapshot(self) -> Memory:
        """A copy to judge from while the run goes on."""
        with self._lock:
            return Memory(
                dict(self.deleted_users),
                dict(self.soft_deleted_tenants),
                dict(self.hard_deleted_tenants),
                dict(self.last_logins),
                {name: set(ids) for name, ids in self._ids.items()},
            )
