"""The run's example database: what Hypothesis found failing, kept at a path the team persists, so the
next night replays last night's failures first instead of hoping its own seed meets them again.

Every Hypothesis-driven part of the suite (its property tests, the state machines' parts, the fuzzing of
each operation) stores under a key of its own, made from the test's id, not from the run's seed: the
suite always fixes a seed (`--hypothesis-seed`, printed in the header), and Hypothesis keys nothing for a
test run under a fixed seed. A value that holds a secret the run knows (a token, a client secret, a
password it set or learned) is never stored: the database holds examples, not secrets.

Without `--example-db` the run keeps its examples in a temporary directory, only for replaying a new
failure at once (`--reproduce`), and removes it at the end: nothing is written where no one asked."""

from __future__ import annotations

import contextvars
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    GitHubArtifactDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from .redact import Redactor
from .target import ConfigError

T = TypeVar("T")
KEY_PREFIX = b"runai-conformance/"
FAILED_KEY = KEY_PREFIX + b"failed-tests"  # the test ids that failed in an earlier run, run first
CURRENT_TEST: contextvars.ContextVar[str] = contextvars.ContextVar("runai_current_test", default="")
ARTIFACT = "runai-examples"


class SecretFreeDatabase(ExampleDatabase):
    """A database that never stores a value holding a secret the run knows. Hypothesis stores an example
    as its choices (a drawn string as its UTF-8 bytes), so a value is read as text and asked of the run's
    redactor, which knows every token, client secret and password the run met."""

    def __init__(self, inner: ExampleDatabase) -> None:
        super().__init__()
        self.inner = inner
        self.redactor: Redactor | None = None
        self.refused = 0

    def save(self, key: bytes, value: bytes) -> None:
        if self.redactor is not None and self.redactor.found_in([value.decode("utf-8", "replace")], whole_from=4):
            self.refused += 1
            return
        self.inner.save(key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        if self.redactor is not None and self.redactor.found_in([value.decode("utf-8", "replace")], whole_from=4):
            self.inner.delete(src, value)
            return
        self.inner.move(src, dest, value)


def open_database(path: str, source: ExampleDatabase | None = None) -> SecretFreeDatabase:
    """The example database at a directory (made if missing), read together with a read-only source
    (Hypothesis' GitHub artifact database: the examples a nightly uploaded). Bad input is a one-line ConfigError."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--example-db {path}: not a directory; give a directory the runs keep")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--example-db {path}: cannot create it ({exc.strerror})") from None
    local: ExampleDatabase = DirectoryBasedExampleDatabase(str(folder))
    if source is not None:
        local = MultiplexedDatabase(local, ReadOnlyDatabase(source))
    return SecretFreeDatabase(local)


def github_artifact(source: str) -> GitHubArtifactDatabase:
    """`github:OWNER/REPO[/ARTIFACT]` (default artifact name runai-examples); GITHUB_TOKEN from the environment."""
    kind, _, rest = source.partition(":")
    parts = rest.split("/")
    if kind != "github" or len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(
            f"--example-db-from {source!r}: give github:OWNER/REPO or github:OWNER/REPO/ARTIFACT "
            "(the artifact a nightly uploaded its example database as)"
        )
    return GitHubArtifactDatabase(parts[0], parts[1], artifact_name=parts[2] if len(parts) == 3 else ARTIFACT)


@dataclass
class RunExamples:
    """The run's example database and what it does with it: replay a new failure `reproduce` times at the
    end (the run's own temporary database when the team keeps none), or, in such a replay, try stored
    examples only."""

    database: SecretFreeDatabase | None = None
    path: Path | None = None
    temporary: bool = False  # made for this run's replays; removed at its end
    reproduce: int = 0
    replay_only: bool = False
    known_failures: set[str] = field(default_factory=set)  # the tests an earlier run found failing

    def close(self) -> None:
        if self.temporary and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def run_examples(path: str | None, source: str | None, *, reproduce: int, replay_only: bool) -> RunExamples:
    """The run's examples: at the team's directory, else a temporary one when failures are to be replayed,
    else none."""
    artifact = github_artifact(source) if source else None
    if artifact is not None and path is None:
        raise ConfigError("--example-db-from needs --example-db DIR too: the directory this run's examples go to")
    temporary = path is None and reproduce > 0
    if temporary:
        path = tempfile.mkdtemp(prefix="runai-examples-")
    if path is None:
        return RunExamples(reproduce=reproduce, replay_only=replay_only)
    database = open_database(path, artifact)
    known = set() if temporary else failed_before(database)
    return RunExamples(database, Path(path), temporary, reproduce, replay_only, known)


def database_key(test_id: str, part: str = "") -> bytes:
    """The key a test's examples are stored under: its id (and the part's name, for a test that runs
    several Hypothesis parts), stable across nights and seeds."""
    return KEY_PREFIX + hashlib.sha256(f"{test_id}::{part}".encode()).hexdigest().encode()


@dataclass
class Tally:
    """In a replay: how many Hypothesis parts a test ran, and how many had a stored example to replay."""

    parts: int = 0
    stored: int = 0


REPLAY_TALLY: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("runai_replay_tally", default=None)


def keyed(test: T, part: str = "") -> T:
    """Give a Hypothesis test (a `@given` function, a state machine's test) the key of the pytest test
    running it. Hypothesis has no public way to set it; this is the attribute Schemathesis sets too."""
    key = database_key(CURRENT_TEST.get(), part)
    getattr(test, "__func__", test)._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    tally = REPLAY_TALLY.get()
    if tally is not None:
        database = settings.default.database
        tally.parts += 1
        tally.stored += database is not None and next(iter(database.fetch(key)), None) is not None
    return test


def property_settings(examples: int, *, suppress: Iterable[HealthCheck] = tuple(HealthCheck)) -> Callable[[T], T]:
    """A property test's settings (its share of the profile's examples), and its key in the database.
    Use it above `@given` inside a test: `@property_settings(profile.property_examples)`."""
    chosen = settings(max_examples=examples, deadline=None, suppress_health_check=list(suppress))

    def decorate(test: T) -> T:
        return keyed(chosen(test), getattr(test, "__qualname__", ""))

    return decorate


def failed_before(database: ExampleDatabase | None) -> set[str]:
    """The test ids an earlier run found failing (empty without a kept database)."""
    return set() if database is None else {value.decode() for value in database.fetch(FAILED_KEY)}


def record_outcome(database: ExampleDatabase | None, test_id: str, failed: bool) -> None:
    """Keep a failing test's id for the next run to run first; forget it once it passes."""
    if database is None:
        return
    if failed:
        database.save(FAILED_KEY, test_id.encode())
    else:
        database.delete(FAILED_KEY, test_id.encode())


def failures_first(items: list[Any], known: set[str]) -> list[Any]:
    """The tests an earlier run found failing, first (in their order), then the others."""
    return sorted(items, key=lambda item: item.nodeid not in known) if known else items
