"""At volume: the listing, search, sort, paging, count, duplicate and representation clauses hold for a
crowd larger than a page, a batch, a cache or a search engine's default window, not only for a handful.

Implementations change behaviour at such sizes (a search that answers its first 100 hits, a count capped
by a cache, a duplicate check that looks at the latest users only), so the run creates a crowd of its own
users (the profile's `volume`: tens to a few hundred), tagged so that every assertion is scoped to it
and other clients' users on a shared staging never count, and judges each clause on it in both
directions: every user returned belongs, every user that belongs is returned. Every list read is also
judged on each representation it holds (no secret, the fields that never change), as every read is.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from runai_conformance.conformance.api import Api, ContractViolation, instant, raise_found
from runai_conformance.conformance.rules import rule

GROUPS = 4  # the crowd is split into this many groups, each a substring of its members' usernames
PAGE_SIZES = (7, 50, 100)


class Crowd:
    """The run's crowd: its tag and its members as created (id, username)."""

    def __init__(self, tag: str, members: list[dict[str, Any]]) -> None:
        self.tag = tag
        self.members = members
        self.ids = {str(m["id"]) for m in members}

    def group(self, k: int) -> str:
        return f"{self.tag}-g{k}-"


@pytest.fixture(scope="module")
def crowd(api: Api) -> Crowd:
    if api.target.read_only:
        pytest.skip("read-only run: the crowd is this run's own users")
    key = f"crowd{uuid.uuid4().hex[:6]}"
    size = api.target.profile.volume
    made = api.concurrently(
        *(lambda i=i: api.create_user(f"{key}-g{i % GROUPS}-{i:04}") for i in range(size))
    )  # eight at a time; api.create_user tags each name and judges each answer (USR-1)
    return Crowd(api.ledger.tagged(key), made)


def listing(api: Api, **params: Any) -> list[dict[str, Any]]:
    answer = api.call("admin", "GET", "/api/v1/users", params={"limit": 500, **params})
    return api.expect(answer, "LIST-1", 200, f"listing users {params}").json()


def counting(api: Api, **params: Any) -> int:
    answer = api.call("admin", "GET", "/api/v1/users/count", params=params)
    return int(api.expect(answer, "LIST-7", 200, f"counting users {params}").json()["count"])


def ids(users: list[dict[str, Any]]) -> set[str]:
    return {str(u.get("id")) for u in users}


def exactly(rule_id: str, what: str, got: set[str], wanted: set[str], operation: str) -> list[ContractViolation]:
    """A violation when a selection is not exactly what it should be, in both directions."""
    missing, extra = wanted - got, got - wanted
    if not missing and not extra:
        return []
    return [
        ContractViolation(
            rule_id,
            f"{what}: {len(got)} users where {len(wanted)} belong; {len(missing)} missing "
            f"(e.g. {sorted(missing)[:3]}), {len(extra)} that do not belong (e.g. {sorted(extra)[:3]})",
            operation=operation,
        )
    ]


@rule("LIST-1", "LIST-2")
def test_a_crowd_is_listed_and_filtered_whole(api: Api, crowd: Crowd) -> None:
    """The crowd's tag term lists all of it and nothing else; each group's term exactly its group; a date
    term at a member's creation instant exactly the members created at or after it."""
    everyone = listing(api, filterBy=f"username=@{crowd.tag}")
    found = exactly("LIST-1", f"filterBy username=@{crowd.tag}", ids(everyone), crowd.ids, "get_users")
    for k in range(GROUPS):
        wanted = {str(u["id"]) for u in everyone if crowd.group(k) in u["username"]}
        got = listing(api, filterBy=f"username=@{crowd.group(k)}")
        found += exactly("LIST-2", f"filterBy username=@{crowd.group(k)}", ids(got), wanted, "get_users")
    if everyone:
        middle = sorted(everyone, key=lambda u: instant(u["createdAt"], "createdAt", "LIST-2"))[len(everyone) // 2]
        at = instant(middle["createdAt"], "createdAt", "LIST-2")
        wanted = {str(u["id"]) for u in everyone if instant(u["createdAt"], "createdAt", "LIST-2") >= at}
        got = listing(api, filterBy=f"username=@{crowd.tag},creationTime>={middle['createdAt']}")
        found += exactly("LIST-2", f"creationTime>={middle['createdAt']}", ids(got), wanted, "get_users")
    raise_found(found, "selections at volume are not exact")


@rule("LIST-4")
def test_search_finds_the_whole_crowd(api: Api, crowd: Crowd) -> None:
    """Searching the crowd's tag (in another case, too) returns every member and only users containing it."""
    found = []
    for text in (crowd.tag, crowd.tag.upper()):
        got = listing(api, search=text)
        strays = [u["username"] for u in got if crowd.tag.casefold() not in str(u.get("username", "")).casefold()]
        if strays:
            found.append(
                ContractViolation(
                    "LIST-4", f"search {text!r} returned users without it: {strays[:3]}", operation="get_users"
                )
            )
        found += exactly("LIST-4", f"search {text!r}", ids(got), crowd.ids, "get_users")  # the tag is the crowd's alone
    raise_found(found, "searches at volume are not exact")


@rule("LIST-5", "LIST-6")
def test_a_crowd_sorts_and_pages_whole(api: Api, crowd: Crowd) -> None:
    """Sorted by username both ways the crowd comes in order; paged by 7, 50 and 100 (pages larger than a
    few and as large as common batch sizes) the pages are disjoint and make up the sorted list."""
    scope = f"username=@{crowd.tag}"
    found = []
    for order in ("asc", "desc"):
        names = [u["username"] for u in listing(api, filterBy=scope, sortBy="username", sortOrder=order)]
        if names != sorted(names, reverse=order == "desc"):
            found.append(
                ContractViolation(
                    "LIST-5",
                    f"sortBy=username sortOrder={order}: {len(names)} users out of order",
                    operation="get_users",
                )
            )
    whole = [str(u["id"]) for u in listing(api, filterBy=scope, sortBy="username")]
    for k in PAGE_SIZES:
        pages: list[str] = []
        for offset in range(0, len(whole) + k, k):
            pages += [str(u["id"]) for u in listing(api, filterBy=scope, sortBy="username", limit=k, offset=offset)]
        if pages != whole:
            found.append(
                ContractViolation(
                    "LIST-6",
                    f"pages of {k} over {len(whole)} users: {len(pages)} ids, {len(set(pages))} distinct, "
                    f"{len(set(whole) - set(pages))} of the list missing",
                    operation="get_users",
                )
            )
    raise_found(found, "sorting and paging at volume break")


@rule("LIST-7")
def test_a_crowd_counts_whole(api: Api, crowd: Crowd) -> None:
    """The count equals the list's length at volume: with the crowd's term, a group's term, and a search."""
    found = []
    for params in (
        {"filterBy": f"username=@{crowd.tag}"},
        {"filterBy": f"username=@{crowd.group(1)}"},
        {"search": crowd.tag},
    ):
        listed, counted = len(listing(api, **params)), counting(api, **params)
        if counted != listed:
            found.append(
                ContractViolation(
                    "LIST-7", f"count {params} is {counted}, the list has {listed}", operation="count_users"
                )
            )
    if counting(api, filterBy=f"username=@{crowd.tag}") != len(crowd.ids):
        found.append(
            ContractViolation(
                "LIST-7", f"the count of the crowd's {len(crowd.ids)} users is wrong", operation="count_users"
            )
        )
    raise_found(found, "counts at volume are wrong")


@rule("USR-3")
def test_an_old_members_email_is_still_a_duplicate(api: Api, crowd: Crowd) -> None:
    """Re-creating the email of the crowd's first member (a crowd's worth of users later) gets 409 and
    creates nothing: the uniqueness check looks at every user of the tenant, not the latest ones."""
    first = crowd.members[0]["username"]
    again = api.call("admin", "POST", "/api/v1/users", json={"email": first})
    api.expect(again, "USR-3", 409, f"creating {first} again, {len(crowd.members) - 1} users later")
    same = [u for u in listing(api, filterBy=f"username=@{first}") if u["username"] == first]
    if len(same) != 1:
        raise ContractViolation(
            "USR-3", f"after the 409 the list holds {len(same)} users named {first}", operation="get_users"
        )
