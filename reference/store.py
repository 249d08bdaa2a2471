"""SQLite storage of the reference server: tenants, client credentials, users, with real transactions.

One connection guarded by a lock; every write runs in `BEGIN IMMEDIATE … COMMIT`, so concurrent
requests never interleave inside a write and an acknowledged write is on disk.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .tokens import b64url

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL,
    contract_type TEXT, role TEXT, status TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    metric_store TEXT, admin_password_hash TEXT
);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, role TEXT NOT NULL, tenant_id INTEGER
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, tenant_id INTEGER NOT NULL, username TEXT NOT NULL, created_by TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, last_login TEXT,
    password_hash TEXT NOT NULL, password_generation INTEGER NOT NULL DEFAULT 0,
    tokens_valid_after REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS users_by_tenant ON users (tenant_id, username);
"""

ROLES = ("operator", "admin", "viewer", "peer")


class StoreError(Exception):
    """The database cannot be opened or written; the message is one line that says what to fix."""


class Conflict(Exception):
    pass


def now_iso() -> str:
    """Now, as an ISO 8601 UTC date-time with milliseconds."""
    return iso(datetime.now(UTC))


def iso(instant: datetime) -> str:
    """An instant as the store writes it: ISO 8601 with milliseconds and a Z (the instant read as UTC)."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Client:
    client_id: str
    role: str
    tenant_id: int | None


class Store:
    """All state of the reference server."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self.transaction() as db:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                if db.execute("SELECT value FROM meta WHERE key = 'signing_key'").fetchone() is None:
                    db.execute("INSERT INTO meta VALUES ('signing_key', ?)", (secrets.token_hex(32),))
                    self._seed(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot use database {path}: {exc} (give a writable --db path, or remove the corrupt file)"
            ) from None
        self.signing_key = bytes.fromhex(
            self._db.execute("SELECT value FROM meta WHERE key = 'signing_key'").fetchone()[0]
        )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ secrets derived from the key

    def _derive(self, purpose: str) -> str:
        key = getattr(self, "signing_key", None) or bytes.fromhex(
            self._db.execute("SELECT value FROM meta WHERE key = 'signing_key'").fetchone()[0]
        )
        return b64url(hmac.new(key, purpose.encode(), hashlib.sha256).digest())

    def client_secret(self, client_id: str) -> str:
        """The client's secret, derived from the server key so that it is never stored."""
        return self._derive(f"client:{client_id}")

    def temp_password(self, user_id: str, generation: int) -> str:
        """The user's temporary password of one generation; each reset makes a new generation."""
        return self._derive(f"temp:{user_id}:{generation}")[:22] + "-Tp1"

    @staticmethod
    def hash_password(user_id: str, password: str) -> str:
        return hashlib.sha256(f"{user_id}:{password}".encode()).hexdigest()

    # ------------------------------------------------------------------ seed

    def _seed(self, db: sqlite3.Connection) -> None:
        stamp = now_iso()
        for name in ("tenant-one", "tenant-two"):
            db.execute(
                "INSERT INTO tenants (uuid, name, email, contract_type, role, status, created_at, updated_at) "
                "VALUES (?, ?, ?, 'normal', 'System administrator', 'Ready', ?, ?)",
                (str(uuid.uuid4()), name, f"admin@{name}.example", stamp, stamp),
            )
        db.executemany(
            "INSERT INTO clients VALUES (?, ?, ?)",
            [
                ("operator", "operator", None),
                ("t1-admin", "admin", 1),
                ("t1-viewer", "viewer", 1),
                ("t2-admin", "admin", 2),
            ],
        )
        for tenant_id, names in ((1, ("alice", "bob", "carol")), (2, ("dave", "erin"))):
            for name in names:
                user_id = str(uuid.uuid4())
                db.execute(
                    "INSERT INTO users (id, tenant_id, username, created_by, created_at, updated_at, password_hash) "
                    "VALUES (?, ?, ?, 'seed', ?, ?, ?)",
                    (user_id, tenant_id, f"{name}@tenant-{tenant_id}.example", stamp, stamp, secrets.token_hex(16)),
                )

    def credentials(self) -> dict[str, dict[str, str]]:
        """Client credentials for the suite's roles (peer is the admin of the other tenant)."""
        by_role = {"operator": "operator", "admin": "t1-admin", "viewer": "t1-viewer", "peer": "t2-admin"}
        return {role: {"client_id": cid, "client_secret": self.client_secret(cid)} for role, cid in by_role.items()}

    # ------------------------------------------------------------------ clients and users

    def client(self, client_id: str) -> Client | None:
        rows = self.read("SELECT * FROM clients WHERE client_id = ?", (client_id,))
        return Client(rows[0]["client_id"], rows[0]["role"], rows[0]["tenant_id"]) if rows else None

    def check_client(self, client_id: str, secret: str) -> Client | None:
        client = self.client(client_id)
        if client is None or not hmac.compare_digest(self.client_secret(client_id), secret):
            return None
        return client

    def user(self, user_id: str, tenant_id: int | None) -> sqlite3.Row | None:
        """A user by id, within a tenant (or in any tenant when tenant_id is None)."""
        if tenant_id is None:
            rows = self.read("SELECT * FROM users WHERE id = ?", (user_id,))
        else:
            rows = self.read("SELECT * FROM users WHERE id = ? AND tenant_id = ?", (user_id, tenant_id))
        return rows[0] if rows else None

    def users(self, tenant_id: int | None) -> list[sqlite3.Row]:
        """The users of a tenant (of every tenant when tenant_id is None), oldest first."""
        if tenant_id is None:
            return self.read("SELECT * FROM users ORDER BY created_at, id")
        return self.read("SELECT * FROM users WHERE tenant_id = ? ORDER BY created_at, id", (tenant_id,))

    def create_user(
        self,
        tenant_id: int,
        email: str,
        created_by: str,
        *,
        allow_duplicate: bool = False,
        user_id: str | None = None,
        update_stamp_lead_ms: int = 0,
        replace: bool = False,
        columns: dict[str, Any] | None = None,
    ) -> tuple[sqlite3.Row, str]:
        """A new user and its temporary password; `user_id`, `update_stamp_lead_ms` (an updatedAt read
        from a clock that many milliseconds earlier than createdAt), `replace` (a row of the same id is
        overwritten, not refused) and `columns` (created_by, created_at, last_login written as given) are for
        planted faults."""
        user_id = user_id or str(uuid.uuid4())
        password = self.temp_password(user_id, 0)
        created = datetime.now(UTC)
        stamp, updated = iso(created), iso(created - timedelta(milliseconds=update_stamp_lead_ms))
        given = dict(columns or {})
        if set(given) - {"created_by", "created_at", "last_login"}:
            raise ValueError(f"columns a create may be given: created_by, created_at, last_login, not {sorted(given)}")
        created_by, stamp = given.get("created_by", created_by), given.get("created_at", stamp)
        with self.transaction() as db:
            if (
                not allow_duplicate
                and db.execute(
                    "SELECT 1 FROM users WHERE tenant_id = ? AND username = ?", (tenant_id, email)
                ).fetchone()
            ):
                raise Conflict(f"a user with email {email} already exists")
            db.execute(
                f"INSERT {'OR REPLACE ' if replace else ''}INTO users "
                "(id, tenant_id, username, created_by, created_at, updated_at, last_login, password_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    tenant_id,
                    email,
                    created_by,
                    stamp,
                    updated,
                    given.get("last_login"),
                    self.hash_password(user_id, password),
                ),
            )
            row = db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return row, password

    def delete_user(self, user_id: str, tenant_id: int) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM users WHERE id = ? AND tenant_id = ?", (user_id, tenant_id)).rowcount == 1

    def logout_user(self, user_id: str, tenant_id: int, *, whole_tenant: bool = False) -> bool:
        """Revoke the user's tokens issued so far; `whole_tenant` (a planted fault) revokes every user's of its
        tenant. False for an unknown user."""
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE users SET tokens_valid_after = ? WHERE id = ? AND tenant_id = ?", (now, user_id, tenant_id)
            )
            if cursor.rowcount == 1 and whole_tenant:
                db.execute("UPDATE users SET tokens_valid_after = ? WHERE tenant_id = ?", (now, tenant_id))
            return cursor.rowcount == 1

    def reset_password(self, user_id: str, tenant_id: int, *, generation: int | None = None) -> str | None:
        """A new temporary password (a new generation, unless one is forced), or None for an unknown user."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM users WHERE id = ? AND tenant_id = ?", (user_id, tenant_id)).fetchone()
            if row is None:
                return None
            next_generation = row["password_generation"] + 1
            password = self.temp_password(user_id, next_generation if generation is None else generation)
            db.execute(
                "UPDATE users SET password_hash = ?, password_generation = ?, updated_at = ? WHERE id = ?",
                (self.hash_password(user_id, password), next_generation, now_iso(), user_id),
            )
        return password

    def set_password(self, user_id: str, password: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
                (self.hash_password(user_id, password), now_iso(), user_id),
            )

    def login(self, username: str, password: str) -> sqlite3.Row | None:
        """The user whose username and password these are, or None."""
        for row in self.read("SELECT * FROM users WHERE username = ? ORDER BY created_at", (username,)):
            if hmac.compare_digest(row["password_hash"], self.hash_password(row["id"], password)):
                return row
        return None

    def record_login(self, user_id: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE users SET last_login = ? WHERE id = ?", (now_iso(), user_id))

    def stamp_user(self, user_id: str, column: str, value: str) -> None:
        """Write a timestamp column of a user as given (planted faults that touch what must not move)."""
        if column not in ("updated_at", "last_login"):
            raise ValueError(column)
        with self.transaction() as db:
            db.execute(f"UPDATE users SET {column} = ? WHERE id = ?", (value, user_id))

    # ------------------------------------------------------------------ tenants

    def tenant(self, tenant_id: int) -> sqlite3.Row | None:
        rows = self.read("SELECT * FROM tenants WHERE id = ?", (tenant_id,))
        return rows[0] if rows else None

    def highest_tenant_id(self) -> int:
        """The highest tenant id ever issued (hard-deleted ones included)."""
        rows = self.read("SELECT seq FROM sqlite_sequence WHERE name = 'tenants'")
        return int(rows[0]["seq"]) if rows else 0

    def tenants(self, *, include_deleted: bool) -> list[sqlite3.Row]:
        where = "" if include_deleted else "WHERE deleted = 0"
        return self.read(f"SELECT * FROM tenants {where} ORDER BY id")

    def create_tenant(
        self, fields: dict[str, Any], *, allow_duplicate: bool = False, tenant_id: int | None = None
    ) -> sqlite3.Row:
        """A new tenant, with the next id or with `tenant_id` (0 included) when that one is free."""
        stamp = now_iso()
        with self.transaction() as db:
            if not allow_duplicate and db.execute("SELECT 1 FROM tenants WHERE name = ?", (fields["name"],)).fetchone():
                raise Conflict(f"a tenant named {fields['name']} already exists")
            if tenant_id is not None and db.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)).fetchone():
                raise Conflict(f"a tenant with id {tenant_id} already exists")
            cursor = db.execute(
                "INSERT INTO tenants (id, uuid, name, email, contract_type, role, status, created_at, updated_at, "
                "metric_store, admin_password_hash) VALUES (?, ?, ?, ?, ?, ?, 'Ready', ?, ?, ?, ?)",
                (
                    tenant_id,
                    fields.get("uuid") or str(uuid.uuid4()),
                    fields["name"],
                    fields["email"],
                    fields["contract_type"],
                    fields.get("role"),
                    stamp,
                    stamp,
                    fields.get("metric_store"),
                    fields.get("admin_password_hash"),
                ),
            )
            return db.execute("SELECT * FROM tenants WHERE id = ?", (cursor.lastrowid,)).fetchone()

    def snapshot_rows(self, user_ids: list[str], tenant_ids: list[int]) -> list[tuple[Any, ...]]:
        """Every column of these users, of these tenants and of their clients, as ("table", *row) in a fixed
        order: two equal snapshots mean nobody touched those rows (password hashes, logouts, logins included)."""
        users, tenants = list(user_ids), list(tenant_ids)
        out: list[tuple[Any, ...]] = []
        with self._lock:
            for table, key, ids, order in (
                ("users", "id", users, "id"),
                ("tenants", "id", tenants, "id"),
                ("clients", "tenant_id", tenants, "client_id"),
            ):
                marks = ",".join("?" * len(ids))
                rows = self.read(f"SELECT * FROM {table} WHERE {key} IN ({marks}) ORDER BY {order}", tuple(ids))
                out += [(table, *row) for row in rows]
        return out

    def soft_delete_tenant(self, tenant_id: int) -> sqlite3.Row | None:
        with self.transaction() as db:
            db.execute(
                "UPDATE tenants SET deleted = 1, status = 'Deleted', updated_at = ? WHERE id = ?",
                (now_iso(), tenant_id),
            )
            return db.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone()

    def hard_delete_tenant(self, tenant_id: int) -> sqlite3.Row | None:
        with self.transaction() as db:
            row = db.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
            db.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
            db.execute("DELETE FROM users WHERE tenant_id = ?", (tenant_id,))
            return row
