"""Find and delete what runs of this suite left on a target, by run tag, and nothing else.

A resource is a run's when its name starts with a complete run tag and a dash (`rcf-` and exactly 8 hex
digits, then `-`): the exact shape the suite writes. A bare `rcf-` prefix is somebody's name, never a
tag. Tagged resources are adopted into the ledger before their delete, so the guard lets it through.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ..strategies.pagination import MAX_LIMIT
from .target import TAG_PREFIX, ConfigError

if TYPE_CHECKING:
    from .api import Api

RUN_TAG = re.compile(rf"^{re.escape(TAG_PREFIX)}[0-9a-f]{{8}}$")
TAGGED_NAME = re.compile(rf"^{re.escape(TAG_PREFIX)}[0-9a-f]{{8}}-")
MAX_PAGES = 1000


class SweepError(ConfigError):
    """The target did not let the sweep see what is there (a listing that did not answer 200)."""


@dataclass(frozen=True)
class Leftover:
    """A tagged user or tenant on the target."""

    kind: str  # user | tenant
    name: str
    id: str | int
    role: str  # the role that can delete it

    def describe(self) -> str:
        return f"{self.kind} {self.name} (id {self.id})"


@dataclass
class SweepResult:
    found: list[Leftover] = field(default_factory=list)
    deleted: list[Leftover] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def carries_tag(name: Any, tag: str | None = None) -> bool:
    """Whether `name` starts with `tag` and a dash (with no tag: with any complete run tag and a dash)."""
    if not isinstance(name, str):
        return False
    return name.startswith(f"{tag}-") if tag else bool(TAGGED_NAME.match(name))


def _created_before(resource: dict[str, Any], cutoff: float | None) -> bool:
    if cutoff is None:
        return True
    try:
        created = datetime.fromisoformat(str(resource.get("createdAt")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False  # unknown age: leave it, it may belong to a run in progress
    return created < cutoff


def _listing(api: Api, role: str, path: str, params: dict[str, Any]) -> list[Any]:
    try:
        answer = api.as_role(role, "GET", path, params=params)
    except httpx.HTTPError as exc:
        raise SweepError(f"cannot list {path} as {role}: {type(exc).__name__}: {exc}") from None
    if answer.status_code != 200:
        raise SweepError(f"GET {path} as {role} answered {answer.status_code}, so nothing can be swept safely")
    try:
        page = answer.json()
    except ValueError:
        raise SweepError(f"GET {path} as {role} did not answer JSON") from None
    if not isinstance(page, list):
        raise SweepError(f"GET {path} as {role} did not answer a list")
    return page


def _users(api: Api, role: str, search: str) -> Iterator[dict[str, Any]]:
    for page_number in range(MAX_PAGES):  # every page: a crashed nightly run leaves thousands
        params = {"search": search, "sortBy": "username", "limit": MAX_LIMIT, "offset": page_number * MAX_LIMIT}
        page = _listing(api, role, "/api/v1/users", params)
        yield from (u for u in page if isinstance(u, dict))
        if len(page) < MAX_LIMIT:
            return


def leftovers(api: Api, tag: str | None = None, *, older_than: float | None = None) -> list[Leftover]:
    """Every user (of the admin's and the peer's tenant) and tenant whose name carries `tag` (or any
    run tag), created at least `older_than` seconds ago when given."""
    cutoff = None if older_than is None else time.time() - older_than
    found: list[Leftover] = []
    for role in ("admin", "peer"):
        if not api.target.has_role(role):
            continue
        for user in _users(api, role, tag or TAG_PREFIX):
            name = user.get("username")
            if carries_tag(name, tag) and _created_before(user, cutoff) and isinstance(user.get("id"), (str, int)):
                found.append(Leftover("user", str(name), str(user["id"]), role))
    if api.target.has_role("operator"):
        for tenant in _listing(api, "operator", "/api/v1/tenants", {"deleted": "true"}):
            if not isinstance(tenant, dict) or isinstance(tenant.get("id"), bool):
                continue
            name = tenant.get("name")
            if carries_tag(name, tag) and _created_before(tenant, cutoff) and isinstance(tenant.get("id"), int):
                found.append(Leftover("tenant", str(name), tenant["id"], "operator"))
    return found


def sweep(
    api: Api,
    tag: str | None = None,
    *,
    older_than: float | None = None,
    dry_run: bool = False,
    on_deleted: Callable[[Leftover], None] | None = None,
) -> SweepResult:
    """Delete every leftover `leftovers` finds (none with `dry_run`). A listing that fails is a
    SweepError for the caller; a delete that fails is a problem in the result."""
    result = SweepResult(found=leftovers(api, tag, older_than=older_than))
    if dry_run:
        return result
    api.http.cleaning_up = True  # a throttled DELETE of a tagged resource is waited out and retried
    for item in result.found:
        if item.kind == "user":
            api.ledger.add_user(str(item.id), item.role)
            problems = api.delete_user(str(item.id), item.role)
        else:
            api.ledger.add_tenant(int(item.id))
            problems = api.delete_tenant(int(item.id))
        result.problems += problems
        if not problems:
            result.deleted.append(item)
            if on_deleted is not None:
                on_deleted(item)
    return result


def clean_up(api: Api) -> list[str]:
    """The end of a run: delete everything in its ledger, then anything else carrying its tag. Returns
    problems; a target that stopped answering gets no listing (what is left is reported)."""
    problems = api.cleanup()
    if api.http.gone:
        return problems
    try:
        problems += sweep(api, api.ledger.run_tag).problems
    except SweepError as exc:
        problems.append(str(exc))
    except pytest.skip.Exception as exc:
        problems.append(f"the sweep of this run's tag stopped: {exc.msg}")
    return problems
