"""At the same time (CONTRACT, "At the same time": simultaneous requests are answered as if they ran one
after another in some order, and every rule holds for that order).

Each test sends a batch of simultaneous requests at one of the run's own resources (released together
from as many threads), then reads the state they left, and asks the linearizability checker
(conformance/linearizable.py) for an order of the batch, one that respects real time, in which a
sequential model of the contract explains every answer and the reads after it. When there is none, the
failure names the rule whose clause no order satisfies and shows the smallest history that has none,
with every request's timing and its evidence. Batch sizes and rounds are the profile's. Only the run's
own users and tenants are touched, and the counts are scoped to each batch's own tag.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from runai_conformance.conformance.api import Api, ContractViolation, Secret, access_token, simultaneously
from runai_conformance.conformance.linearizable import Call, linearization, smallest_counterexample, timeline
from runai_conformance.conformance.rules import rule
from runai_conformance.conformance.secret import secret

SHOWN_EVIDENCE = 6  # requests of a counter-example whose exchanges the failure shows in full


@pytest.fixture(scope="module")
def writable(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: the simultaneous requests are writes")


@dataclass(frozen=True)
class Ask:
    """One request of a batch: the model's name for it, what it asked, how to send it, what its answer
    means to the model, and how the report shows it."""

    op: str
    arg: Hashable
    send: Callable[[], httpx.Response]
    meaning: Callable[[httpx.Response], Hashable]
    label: str


def status(answer: httpx.Response) -> int:
    return answer.status_code


def at_once(asks: list[Ask], first: int = 0) -> list[Call]:
    """Send every request at the same moment, one thread each, and record when each left and answered."""

    def one(index: int, ask: Ask) -> Call:
        start = time.monotonic()
        answer = ask.send()
        end = time.monotonic()
        return Call(first + index, ask.op, ask.arg, ask.meaning(answer), start, end, label(ask, answer), answer)

    return simultaneously(*(lambda i=i, ask=ask: one(i, ask) for i, ask in enumerate(asks)))


def then(asks: list[Ask], first: int) -> list[Call]:
    """The reads after a batch, one after another."""
    calls = []
    for index, ask in enumerate(asks):
        start = time.monotonic()
        answer = ask.send()
        calls.append(
            Call(
                first + index, ask.op, ask.arg, ask.meaning(answer), start, time.monotonic(), label(ask, answer), answer
            )
        )
    return calls


def label(ask: Ask, answer: httpx.Response) -> str:
    return f"{ask.label} -> {answer.status_code}"


def judge(
    api: Api, calls: list[Call], model: Any, rule_of: Callable[[list[Call]], str], what: str, operation: str
) -> None:
    """Fail naming the rule no order satisfies, with the smallest history that no order explains."""
    if linearization(calls, model) is not None:
        return
    smallest = smallest_counterexample(calls, model) or calls
    shown = "\n".join(api.evidence(c.evidence) for c in smallest[:SHOWN_EVIDENCE] if c.evidence is not None)
    raise ContractViolation(
        rule_of(smallest),
        f"{what}: no order of the {len(calls)} requests explains every answer. The smallest history no order "
        f"explains ({len(smallest)} requests; ms from the first):\n{timeline(smallest)}\n{shown}",
        operation=operation,
    )


def rounds(api: Api) -> range:
    return range(api.target.profile.simultaneous_rounds)


def size(api: Api) -> int:
    return api.target.profile.simultaneous


# ------------------------------------------------------------------------------ deletes (USR-6)


class OneUser:
    """A user that exists until one delete succeeds: 204 then, 404 after; a read finds it until then."""

    initial = True

    def step(self, exists: Hashable, call: Call) -> Iterable[Hashable]:
        if call.op == "delete":
            return [False] if call.result == (204 if exists else 404) else []
        if call.op == "get":
            return [exists] if call.result == (200 if exists else 404) else []
        if call.op in ("listed", "count"):
            return [exists] if call.result == (1 if exists else 0) else []
        return []

    def needed(self, call: Call) -> bool:
        return call.op == "delete" and call.result == 204


@rule("USR-6")
def test_simultaneous_deletes_of_one_user_have_one_winner(api: Api, writable: None) -> None:
    """N simultaneous DELETEs of one user, with reads among them: exactly one 204, the rest 404; reads see
    the user until the 204 and never after; afterwards it is gone from GET, the list and the count."""
    for _ in rounds(api):
        one_deletes_batch(api)


def one_deletes_batch(api: Api) -> None:
    user = api.create_user()
    path, name = f"/api/v1/users/{user['id']}", user["username"]
    deletes = [
        Ask("delete", None, lambda: api.call("admin", "DELETE", path), status, f"DELETE {path}")
        for _ in range(size(api))
    ]
    reads = [Ask("get", None, lambda: api.call("admin", "GET", path), status, f"GET {path}") for _ in range(2)]
    calls = at_once([*deletes, *reads])
    calls += then(
        [
            Ask("get", None, lambda: api.call("admin", "GET", path), status, f"GET {path}"),
            Ask(
                "listed",
                None,
                lambda: listed(api, name),
                lambda a: matching(a, name),
                f"GET /api/v1/users ({name})",
            ),
            Ask("count", None, lambda: counted(api, name), count_of, f"GET /api/v1/users/count ({name})"),
        ],
        len(calls),
    )
    judge(api, calls, OneUser(), lambda _: "USR-6", f"{size(api)} simultaneous DELETEs of {name}", "delete_user_by_id")


# ------------------------------------------------------------------------------ resets (USR-8)


class Passwords:
    """A user's password: each reset hands out a temporary password no earlier one had, which becomes the
    password; a password grant works with the password alone."""

    def __init__(self, first: Secret) -> None:
        self.initial = (first, frozenset({first}))

    def step(self, state: Hashable, call: Call) -> Iterable[Hashable]:
        current, issued = state  # type: ignore[misc]
        if call.op == "reset":
            answer, password = call.result  # type: ignore[misc]
            return [(password, issued | {password})] if answer == 200 and password and password not in issued else []
        if call.op == "login":
            return [state] if call.result == (200 if call.arg == current else 401) else []
        return []

    def needed(self, call: Call) -> bool:
        return call.op == "reset" and call.result[0] == 200  # type: ignore[index]


def temp_password(answer: httpx.Response) -> Hashable:
    try:
        return answer.status_code, secret(answer.json().get("tempPassword"))
    except (ValueError, AttributeError):
        return answer.status_code, None


@rule("USR-8")
def test_simultaneous_password_resets_hand_out_different_passwords(api: Api, writable: None) -> None:
    """N simultaneous resets of one user: N different temporary passwords, and afterwards exactly the one
    the last reset of some order handed out logs in."""
    for _ in rounds(api):
        one_resets_batch(api)


def one_resets_batch(api: Api) -> None:
    user = api.create_user()
    path = f"/api/v1/users/{user['id']}/password"
    resets = [
        Ask("reset", None, lambda: api.call("admin", "POST", path), temp_password, f"POST {path}")
        for _ in range(size(api))
    ]
    calls = at_once(resets)
    handed = [c.result[1] for c in calls if c.result[0] == 200 and c.result[1]]  # type: ignore[index]
    logins = [
        Ask("login", p, lambda p=p: api.tokens.user_token(user["username"], p), status, f"password grant #{i + 1}")
        for i, p in enumerate(dict.fromkeys(handed))
    ]
    calls += then(logins, len(calls))
    judge(
        api,
        calls,
        Passwords(user["tempPassword"]),
        lambda _: "USR-8",
        f"{size(api)} simultaneous password resets of {user['username']}",
        "reset_user_password",
    )


# ------------------------------------------------------------------------------ password changes (USR-10)


class Changes:
    """/me/password with the current password changes it (200); with a password that is no longer current
    it is refused (400 or 403, or 401 once an earlier change ended the token) and changes nothing."""

    def __init__(self, first: Secret) -> None:
        self.first = first
        self.initial = first

    def step(self, current: Hashable, call: Call) -> Iterable[Hashable]:
        if call.op == "change":
            asked_current, new = call.arg  # type: ignore[misc]
            if call.result == 200:
                return [new] if asked_current == current else []
            refused = call.result in (400, 403) or (call.result == 401 and current != self.first)
            return [current] if refused and asked_current != current else []
        if call.op == "login":
            return [current] if call.result == (200 if call.arg == current else 401) else []
        return []

    def needed(self, call: Call) -> bool:
        return call.op == "change" and call.result == 200


@rule("USR-10")
def test_simultaneous_password_changes_have_one_winner(api: Api, writable: None) -> None:
    """N simultaneous /me/password changes with the right current password and different new ones: one
    succeeds, the others find the current password changed; afterwards exactly its new password logs in."""
    for _ in rounds(api):
        one_changes_batch(api)


def one_changes_batch(api: Api) -> None:
    user = api.create_user()
    granted = api.expect(
        api.tokens.user_token(user["username"], user["tempPassword"]), "AUTH-3", 200, "a password grant"
    )
    token = access_token(granted)
    if token is None:
        raise ContractViolation("AUTH-3", f"the password grant answered no accessToken\n{api.evidence(granted)}")
    first = user["tempPassword"]
    news = [Secret(f"Aa1-{uuid.uuid4().hex}") for _ in range(size(api))]
    changes = [
        Ask(
            "change",
            (first, new),
            lambda new=new: api.call(
                None,
                "POST",
                "/api/v1/me/password",
                token=token,
                judges_token=True,
                json={"currentPassword": first, "newPassword": new},
            ),
            status,
            f"POST /api/v1/me/password (new password #{i + 1})",
        )
        for i, new in enumerate(news)
    ]
    calls = at_once(changes)
    logins = [
        Ask(
            "login",
            p,
            lambda p=p: api.tokens.user_token(user["username"], p),
            status,
            f"password grant with {what}",
        )
        for p, what in [(first, "the first password"), *((n, f"new password #{i + 1}") for i, n in enumerate(news))]
    ]
    calls += then(logins, len(calls))
    judge(
        api,
        calls,
        Changes(first),
        lambda _: "USR-10",
        f"{size(api)} simultaneous password changes of {user['username']}",
        "change_user_password",
    )


# ------------------------------------------------------------------------------ creates and counts (USR-1, LIST-7)


class Population:
    """The users of one batch's tag: a create adds a user with an id no other user had; a count of the tag
    is how many there are, a list of it is exactly them."""

    initial: frozenset[str] = frozenset()

    def step(self, ids: Hashable, call: Call) -> Iterable[Hashable]:
        if call.op == "create":
            answer, made = call.result  # type: ignore[misc]
            return [ids | {made}] if answer == 201 and made and made not in ids else []  # type: ignore[operator]
        if call.op == "count":
            return [ids] if call.result == len(ids) else []  # type: ignore[arg-type]
        if call.op == "list":
            return [ids] if call.result == ids else []
        return []

    def needed(self, call: Call) -> bool:
        return call.op == "create" and call.result[0] == 201  # type: ignore[index]


def created_id(answer: httpx.Response) -> Hashable:
    try:
        return answer.status_code, str(answer.json().get("id"))
    except (ValueError, AttributeError):
        return answer.status_code, None


def population_rule(smallest: list[Call]) -> str:
    """The clause the smallest history breaks: its count's (LIST-7), its list's (LIST-1), or the creates'
    own (USR-1: ids are new)."""
    unexplained = {c.op for c in smallest if c.op in ("count", "list")}
    return "LIST-7" if "count" in unexplained else "LIST-1" if "list" in unexplained else "USR-1"


@rule("USR-1", "LIST-1", "LIST-7")
def test_simultaneous_creates_racing_counts_add_up(api: Api, writable: None) -> None:
    """N simultaneous creates of different emails under one batch tag, with counts and a list of that tag
    among them: every id is new, every count and list is the population of some moment, and afterwards the
    count equals the creates that succeeded."""
    for _ in rounds(api):
        one_creates_batch(api)


def one_creates_batch(api: Api) -> None:
    tag = api.ledger.tagged(f"batch{uuid.uuid4().hex[:6]}")
    creates = [
        Ask(
            "create",
            i,
            lambda i=i: api.call("admin", "POST", "/api/v1/users", json={"email": f"{tag}-{i}@example.com"}),
            created_id,
            f"POST /api/v1/users ({tag}-{i})",
        )
        for i in range(size(api))
    ]
    reads = [
        Ask("count", None, lambda: counted(api, tag), count_of, f"GET /api/v1/users/count ({tag})"),
        Ask("list", None, lambda: listed(api, tag), ids_of, f"GET /api/v1/users ({tag})"),
        Ask("count", None, lambda: counted(api, tag), count_of, f"GET /api/v1/users/count ({tag})"),
    ]
    calls = at_once([*creates, *reads])
    calls += then(
        [
            Ask("count", None, lambda: counted(api, tag), count_of, f"GET /api/v1/users/count ({tag})"),
            Ask("list", None, lambda: listed(api, tag), ids_of, f"GET /api/v1/users ({tag})"),
        ],
        len(calls),
    )
    judge(api, calls, Population(), population_rule, f"{size(api)} simultaneous creates under {tag}", "create_user")


# ------------------------------------------------------------------------------ logouts (USR-9, AUTH-4)


@rule("USR-9", "AUTH-4")
def test_simultaneous_logouts_all_answer_and_revoke(api: Api, writable: None) -> None:
    """N simultaneous logouts of one user each answer 200 (a logout is a logout however many come), and
    afterwards every token the user had before them is dead."""
    for _ in rounds(api):
        one_logouts_batch(api)


def one_logouts_batch(api: Api) -> None:
    user = api.create_user()
    tokens = []
    for _ in range(2):
        granted = api.expect(
            api.tokens.user_token(user["username"], user["tempPassword"]), "AUTH-3", 200, "a password grant"
        )
        tokens.append(access_token(granted))
    path = f"/api/v1/users/{user['id']}/logout"
    answers = [
        c.evidence
        for c in at_once(
            [
                Ask("logout", None, lambda: api.call("admin", "POST", path), status, f"POST {path}")
                for _ in range(size(api))
            ]
        )
    ]
    for answer in answers:
        api.expect(answer, "USR-9", 200, f"one of {size(api)} simultaneous logouts")
    for token in (t for t in tokens if t is not None):
        after = api.token_state(token)
        if after.status_code != 401:
            raise ContractViolation(
                "AUTH-4",
                f"after {size(api)} simultaneous logouts a token issued before them still authenticates\n{api.evidence(after)}",
                answer=after,
            )


# ------------------------------------------------------------------------------ tenant hard deletes (TEN-6, TEN-7)


class OneTenant(OneUser):
    """A tenant that exists until one hard delete succeeds (200), 404 after."""

    def step(self, exists: Hashable, call: Call) -> Iterable[Hashable]:
        if call.op == "delete":
            return [False] if call.result == (200 if exists else 404) else []
        return super().step(exists, call)

    def needed(self, call: Call) -> bool:
        return call.op == "delete" and call.result == 200


@rule("TEN-6", "TEN-7")
def test_simultaneous_hard_deletes_of_one_tenant_have_one_winner(api: Api, writable: None) -> None:
    """N simultaneous hard deletes of one tenant: one 200, the rest 404 (a hard-deleted id is 404), and
    afterwards GET of it answers 404."""
    api.tokens.token("operator")  # skips without the role
    for _ in rounds(api):
        one_hard_deletes_batch(api)


def one_hard_deletes_batch(api: Api) -> None:
    tenant = api.expect(api.create_tenant(), "TEN-1", 201, "creating a tenant").json()["tenant"]
    made = tenant["id"]
    path = f"/api/v1/tenants/{made}"
    hard = {"isHardDelete": "true"}
    deletes = [
        Ask(
            "delete",
            None,
            lambda: api.call("operator", "DELETE", path, params=hard),
            status,
            f"DELETE {path}?isHardDelete=true",
        )
        for _ in range(size(api))
    ]
    calls = at_once(deletes)
    calls += then([Ask("get", None, lambda: api.call("operator", "GET", path), status, f"GET {path}")], len(calls))
    won, after = sum(c.op == "delete" and c.result == 200 for c in calls), calls[-1]
    if won and after.result != 404 and same_tenant(after.evidence, tenant):  # whatever the order, the hard delete
        raise ContractViolation(
            "TEN-6",
            f"after {size(api)} simultaneous hard deletes of tenant {made}, {won} of them answered 200, GET of it "
            f"answered {after.result}, not 404\n{api.evidence(after.evidence)}",
            answer=after.evidence,
        )  # did not take: TEN-6's, not the repeats' (a 200 of an id handed to another tenant is neither)
    judge(
        api,
        calls,
        OneTenant(),
        lambda smallest: "TEN-7" if any(c.op == "delete" for c in smallest) else "TEN-6",
        f"{size(api)} simultaneous hard deletes of tenant {made}",
        "delete_tenant_by_id",
    )


def same_tenant(answer: httpx.Response, tenant: dict[str, Any]) -> bool:
    """Whether an answer is of this tenant (or of no other: an error, a body without a name)."""
    try:
        name = answer.json().get("name") if answer.status_code == 200 else None
    except (ValueError, AttributeError):
        return True
    return name is None or name == tenant.get("name")


# ------------------------------------------------------------------------------ reads scoped to a name or tag


def listed(api: Api, name: str) -> httpx.Response:
    return api.call("admin", "GET", "/api/v1/users", params={"filterBy": f"username=@{name}"})


def counted(api: Api, name: str) -> httpx.Response:
    return api.call("admin", "GET", "/api/v1/users/count", params={"filterBy": f"username=@{name}"})


def matching(answer: httpx.Response, name: str) -> Hashable:
    try:
        return sum(1 for u in answer.json() if u.get("username") == name) if answer.status_code == 200 else None
    except (ValueError, AttributeError, TypeError):
        return None


def count_of(answer: httpx.Response) -> Hashable:
    try:
        return int(answer.json()["count"]) if answer.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        return None


def ids_of(answer: httpx.Response) -> Hashable:
    try:
        return frozenset(str(u["id"]) for u in answer.json()) if answer.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        return None
