"""Listing properties (LIST-1..LIST-8) proven on real data: this run creates a tagged population of
users, then draws filters, searches, sorts and pages over it and checks the answers both ways.

Every membership and count assertion is scoped to the population: each query carries a term that
only the population satisfies (its run tag), so other clients creating and deleting users on a
shared target meanwhile cannot cause a false failure."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.api import Api, ContractViolation, instant
from conformance.rules import rule
from strategies import filter_by, pagination
from strategies.pagination import MAX_LIMIT

NAMES = ["alpha", "bravo.two", "charlie+3", "delta_four", "echo-5", "foxtrot%6", "golf", "hotel.india"]
DATE_KEYS = {"creationTime": "createdAt", "lastUpdated": "updatedAt", "lastLogin": "lastLogin"}


@dataclass(frozen=True)
class Population:
    tag: str
    users: tuple[dict[str, Any], ...]  # as the target shows them after setup

    @property
    def scope(self) -> str:
        """The term only the population satisfies."""
        return f"username=@{self.tag}"

    def ids(self, users: Any = None) -> set[str]:
        return {u["id"] for u in (self.users if users is None else users)}

    def describe(self, ids: set[str]) -> str:
        return ", ".join(sorted(u["username"].removeprefix(self.tag) for u in self.users if u["id"] in ids)) or "none"


POPULATIONS = itertools.count()


@pytest.fixture(scope="module")
def population(api: Api) -> Population:
    """Eight tagged users; two have logged in (lastLogin), one had its password reset (updatedAt)."""
    if api.target.read_only:
        pytest.skip("read-only run: the listing properties create their own users to list")
    # other tests share the run tag, not this prefix; a new one each time the fixture is made (with -n N a
    # worker can run this module's tests in two stretches, and the first population is still there)
    prefix = f"pop{next(POPULATIONS)}-"
    made = [api.create_user(f"{prefix}{name}") for name in NAMES]
    for user in made[1:3]:
        api.expect(
            api.tokens.user_token(user["username"], user["tempPassword"]), "AUTH-3", 200, "logging a population user in"
        )
    api.expect(
        api.call("admin", "POST", f"/api/v1/users/{made[3]['id']}/password"),
        "USR-8",
        200,
        "resetting a population user's password",
    )
    shown = api.expect(
        api.call(
            "admin",
            "GET",
            "/api/v1/users",
            params={"filterBy": f"username=@{api.ledger.tagged(prefix)}", "limit": MAX_LIMIT},
        ),
        "LIST-2",
        200,
        "listing the population",
    ).json()
    users = tuple(u for u in shown if u["id"] in {m["id"] for m in made})
    if len(users) != len(made):
        raise ContractViolation(
            "LIST-2",
            f"filterBy username=@<run tag> shows {len(users)} of the {len(made)} users just created",
            operation="get_users",
        )
    return Population(api.ledger.tagged(prefix), users)


def property_settings(api: Api) -> settings:
    return settings(
        max_examples=api.target.profile.property_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def listed(api: Api, rule_id: str, **params: Any) -> list[dict[str, Any]]:
    answer = api.call("admin", "GET", "/api/v1/users", params=params)
    return api.expect(answer, rule_id, 200, f"GET /api/v1/users {params}").json()


# ------------------------------------------------------------------------------ what a term means (LIST-2)


def term_holds(user: dict[str, Any], term: str, *, strict: bool) -> bool:
    """Whether a user satisfies a term. `=@` may ignore case: strict means exact containment (must be
    returned), not strict means containment ignoring case (may be returned)."""
    field = next(f for f in filter_by.FILTER_FIELDS if term.startswith(f))
    rest = term[len(field) :]
    op = next(o for o in filter_by.OPERATORS if rest.startswith(o))
    value = rest[len(op) :]
    actual = user.get(DATE_KEYS.get(field, field))
    if actual is None:
        return False
    if field in filter_by.DATE_FIELDS:
        left, right = instant(str(actual)), instant(value)
    elif field in filter_by.BOOLEAN_FIELDS:
        left, right = bool(actual), value == "true"
    else:
        left, right = str(actual), value
    if op == "==":
        return left == right
    if op == "<=":
        return left <= right
    if op == ">=":
        return left >= right
    return right in left if strict else right.casefold() in left.casefold()


def population_terms(population: Population) -> st.SearchStrategy[str]:
    """Terms whose values come from the population, so that they select some of it and not all:
    usernames and their pieces (in any case for =@), dates of members spelled in several ISO 8601
    ways and nudged a little, the creator, the isLocal flag."""
    users = population.users
    names = [u["username"] for u in users]
    member = st.sampled_from(users)

    def username_terms() -> st.SearchStrategy[str]:
        piece = st.sampled_from(names).flatmap(
            lambda n: st.integers(0, len(n) - 1).flatmap(lambda i: st.integers(i + 1, len(n)).map(lambda j: n[i:j]))
        )
        cased = piece.flatmap(lambda p: st.sampled_from([p, p.upper(), p.swapcase()]))
        return st.one_of(
            st.sampled_from(names).map(lambda n: f"username=={n}"),
            cased.map(lambda p: f"username=@{p}"),
            st.tuples(st.sampled_from(["<=", ">="]), st.sampled_from(names)).map(lambda t: f"username{t[0]}{t[1]}"),
        )

    def date_terms() -> st.SearchStrategy[str]:
        def term(field: str, user: dict[str, Any], op: str, nudge: int) -> st.SearchStrategy[str]:
            raw = user.get(DATE_KEYS[field]) or user["createdAt"]  # a null lastLogin: any member's date will do
            base = instant(raw)
            return filter_by.iso_spellings(base + timedelta(milliseconds=nudge)).map(lambda v: f"{field}{op}{v}")

        return st.tuples(
            st.sampled_from(filter_by.DATE_FIELDS),
            member,
            st.sampled_from(["==", "<=", ">="]),
            st.sampled_from([0, 0, -1, 1, -1000, 1000]),
        ).flatmap(lambda t: term(*t))

    creators = sorted({str(u.get("createdBy")) for u in users if u.get("createdBy")}) or ["nobody"]
    other = st.one_of(
        st.sampled_from(creators).map(lambda c: f"createdBy=={c}"),
        st.sampled_from(creators).map(lambda c: f"createdBy=@{c[: max(1, len(c) // 2)]}"),
        st.sampled_from(["isLocal==true", "isLocal==false"]),
    )
    return st.one_of(username_terms(), date_terms(), other)


# ------------------------------------------------------------------------------ properties


@rule("LIST-2")
def test_filter_returns_exactly_the_matching_users(api: Api, population: Population) -> None:
    @property_settings(api)
    @given(terms=st.lists(population_terms(population), min_size=1, max_size=3))
    def holds_both_ways(terms: list[str]) -> None:
        got = population.ids(listed(api, "LIST-2", filterBy=",".join([population.scope, *terms]), limit=MAX_LIMIT))
        must = {u["id"] for u in population.users if all(term_holds(u, t, strict=True) for t in terms)}
        may = {u["id"] for u in population.users if all(term_holds(u, t, strict=False) for t in terms)}
        if not must <= got <= may:
            raise ContractViolation(
                "LIST-2",
                f"filterBy {terms} (and the run's tag term)\n"
                f"  should have returned: {population.describe(must - got)}\n"
                f"  should not have returned: {population.describe(got - may)}",
                operation="get_users",
            )

    holds_both_ways()


@rule("LIST-3")
def test_empty_filter_filters_nothing(api: Api, population: Population) -> None:
    got = population.ids(listed(api, "LIST-3", filterBy="", search=population.tag, limit=MAX_LIMIT))
    if got != population.ids():
        raise ContractViolation(
            "LIST-3",
            f"an empty filterBy left out: {population.describe(population.ids() - got)}",
            operation="get_users",
        )


@rule("LIST-3")
def test_bad_terms_get_400(api: Api, population: Population) -> None:
    @property_settings(api)
    @given(bad=filter_by.invalid_filter_by())
    def rejected(bad: str) -> None:
        answer = api.call("admin", "GET", "/api/v1/users", params={"filterBy": f"{population.scope},{bad}"})
        api.expect(answer, "LIST-3", 400, f"filterBy with a bad term {bad!r}")

    rejected()


@rule("LIST-4")
def test_search_returns_exactly_the_containing_users(api: Api, population: Population) -> None:
    names = [u["username"].removeprefix(population.tag) for u in population.users]
    pieces = st.sampled_from(names).flatmap(
        lambda n: st.integers(0, len(n) - 1).flatmap(lambda i: st.integers(i + 1, len(n)).map(lambda j: n[i:j]))
    )

    @property_settings(api)
    @given(text=pieces.flatmap(lambda p: st.sampled_from([p, p.upper(), p.title()])))
    def contains_ignoring_case(text: str) -> None:
        got = population.ids(listed(api, "LIST-4", filterBy=population.scope, search=text, limit=MAX_LIMIT))
        want = {u["id"] for u in population.users if text.casefold() in u["username"].casefold()}
        if got != want:
            raise ContractViolation(
                "LIST-4",
                f"search {text!r}\n  should have returned: {population.describe(want - got)}\n"
                f"  should not have returned: {population.describe(got - want)}",
                operation="get_users",
            )

    contains_ignoring_case()


SORT_KEYS = {
    "username": "username",
    "createdBy": "createdBy",
    "lastLogin": "lastLogin",
    "creationTime": "createdAt",
    "lastUpdated": "updatedAt",
}


def sort_value(user: dict[str, Any], key: str) -> Any:
    value = user.get(key)
    return None if value is None else (instant(value) if key in ("lastLogin", "createdAt", "updatedAt") else str(value))


@rule("LIST-5")
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("field", [*SORT_KEYS, "type"])
def test_sort_orders_the_list(api: Api, population: Population, field: str, order: str) -> None:
    users = listed(api, "LIST-5", filterBy=population.scope, sortBy=field, sortOrder=order, limit=MAX_LIMIT)
    if population.ids(users) != population.ids():
        raise ContractViolation("LIST-5", f"sortBy={field} changed which users are listed", operation="get_users")
    if field == "type":
        return  # the contract names no order of user types; the answer only has to be the same users
    values = [sort_value(u, SORT_KEYS[field]) for u in users]
    nulls = [i for i, v in enumerate(values) if v is None]
    present = [v for v in values if v is not None]
    if (nulls and nulls != list(range(nulls[0], nulls[0] + len(nulls)))) or (
        nulls and nulls[0] > 0 and nulls[-1] < len(values) - 1
    ):
        raise ContractViolation(
            "LIST-5",
            f"sortBy={field}: null values are not grouped at one end (positions {nulls})",
            operation="get_users",
        )
    if present != sorted(present, reverse=order == "desc"):
        shown = [u["username"].removeprefix(population.tag) for u in users]
        raise ContractViolation(
            "LIST-5", f"sortBy={field} sortOrder={order} answered the order {shown}", operation="get_users"
        )


@rule("LIST-5")
@pytest.mark.parametrize(
    "params", [{"sortBy": "email"}, {"sortBy": "Username"}, {"sortOrder": "descending"}, {"sortOrder": "DESC"}]
)
def test_sort_values_outside_the_enums_get_400(api: Api, params: dict[str, str]) -> None:
    api.expect(api.call("admin", "GET", "/api/v1/users", params=params), "LIST-5", 400, f"GET /api/v1/users {params}")


@rule("LIST-6")
def test_pages_are_disjoint_and_make_up_the_list(api: Api, population: Population) -> None:
    whole = [u["id"] for u in listed(api, "LIST-6", filterBy=population.scope, sortBy="username", limit=MAX_LIMIT)]

    @property_settings(api)
    @given(size=st.integers(1, len(whole) + 1))
    def paged(size: int) -> None:
        pages: list[str] = []
        for offset in range(0, len(whole) + size, size):
            pages += [
                u["id"]
                for u in listed(api, "LIST-6", filterBy=population.scope, sortBy="username", limit=size, offset=offset)
            ]
        if pages != whole:
            raise ContractViolation(
                "LIST-6",
                f"pages of {size} gave {len(pages)} users ({len(set(pages))} distinct), the list has {len(whole)}",
                operation="get_users",
            )
        past = listed(api, "LIST-6", filterBy=population.scope, offset=len(whole) + size)
        if past:
            raise ContractViolation(
                "LIST-6", f"an offset past the end answered {len(past)} users, not []", operation="get_users"
            )

    paged()


@rule("LIST-6")
def test_out_of_bounds_paging_gets_400(api: Api) -> None:
    @property_settings(api)
    @given(
        params=st.one_of(
            pagination.invalid_limits().map(lambda n: {"limit": n}),
            pagination.invalid_offsets().map(lambda n: {"offset": n}),
        )
    )
    def rejected(params: dict[str, int]) -> None:
        api.expect(
            api.call("admin", "GET", "/api/v1/users", params=params), "LIST-6", 400, f"GET /api/v1/users {params}"
        )

    rejected()


@rule("LIST-7")
def test_count_is_the_length_of_the_list(api: Api, population: Population) -> None:
    @property_settings(api)
    @given(
        terms=st.lists(population_terms(population), max_size=2),
        search=st.one_of(st.none(), st.sampled_from(["a", "O", "TAG", "%", "."])),
    )
    def counted(terms: list[str], search: str | None) -> None:
        params: dict[str, Any] = {"filterBy": ",".join([population.scope, *terms])}
        if search is not None:
            params["search"] = population.tag.upper() if search == "TAG" else search
        length = len(listed(api, "LIST-7", **params, limit=MAX_LIMIT))
        answer = api.expect(
            api.call("admin", "GET", "/api/v1/users/count", params=params), "LIST-7", 200, f"count {params}"
        )
        if answer.json().get("count") != length:
            raise ContractViolation(
                "LIST-7", f"count with {params} is {answer.json().get('count')}, the list has {length}", answer=answer
            )

    counted()


@rule("LIST-1")
def test_list_holds_every_user_of_the_tenant_and_no_other(api: Api, population: Population) -> None:
    theirs = api.create_user("other-tenant", role="peer") if api.target.has_role("peer") else None
    seen: set[str] = set()
    # Newest first: the population is recent, so other clients' older users do not push it off the first page.
    for offset in range(0, 10 * MAX_LIMIT, MAX_LIMIT):
        page = listed(api, "LIST-1", sortBy="creationTime", sortOrder="desc", limit=MAX_LIMIT, offset=offset)
        seen |= {u["id"] for u in page}
        if population.ids() <= seen or len(page) < MAX_LIMIT:
            break
    if not population.ids() <= seen:
        raise ContractViolation(
            "LIST-1",
            f"the unfiltered list leaves out this tenant's users: {population.describe(population.ids() - seen)}",
            operation="get_users",
        )
    if theirs is not None and theirs["id"] in seen:
        raise ContractViolation("LIST-1", "the list holds a user of another tenant", operation="get_users")


@rule("LIST-8")
@pytest.mark.parametrize("value", ["anything", "username==x", ""])
def test_deprecated_filter_is_accepted(api: Api, value: str) -> None:
    answer = api.call("admin", "GET", "/api/v1/users", params={"filter": value, "limit": 1})
    api.expect(answer, "LIST-8", 200, f"the deprecated filter={value!r}")
