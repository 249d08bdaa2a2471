"""The user lifecycle (USR-3, USR-4, USR-6..USR-11, AUTH-4): create → read → reset, log in, change
password, log out → delete, and what every operation answers afterwards. Only this run's users are
touched; counts and lists are read through a filter on this run's tag, so other clients' users
coming and going on a shared target cannot disturb them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runai_conformance.conformance.api import (
    Api,
    ContractViolation,
    Secret,
    access_token,
    instant,
    jwt_claims,
    simultaneously,
)
from runai_conformance.conformance.rules import rule
from runai_conformance.conformance.secret import secret

pytestmark = pytest.mark.usefixtures("writable")
CLOCK_SKEW = timedelta(seconds=30)  # tolerated difference between the target's clock and ours


@pytest.fixture(scope="module")
def writable(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: the lifecycle tests create and delete users")


def get_user(api: Api, user_id: str, rule_id: str) -> dict[str, Any]:
    return api.expect(
        api.call("admin", "GET", f"/api/v1/users/{user_id}"), rule_id, 200, "reading a created user"
    ).json()


def mine(api: Api, username: str = "", **params: Any) -> list[dict[str, Any]]:
    """This run's users (scoped by the run tag), or the one `username` of this run, as the list shows
    them. A long run tags more users than one page holds (LIST-6: 500): name the user to look for."""
    scope = username or api.ledger.run_tag
    answer = api.call("admin", "GET", "/api/v1/users", params={"filterBy": f"username=@{scope}", **params})
    return api.expect(answer, "LIST-1", 200, "listing this run's users").json()


def my_count(api: Api) -> int:
    answer = api.call("admin", "GET", "/api/v1/users/count", params={"filterBy": f"username=@{api.ledger.run_tag}"})
    return int(api.expect(answer, "LIST-7", 200, "counting this run's users").json()["count"])


def token_is_live(api: Api, token: Secret) -> bool:
    """Whether a user token still authenticates: a too-short new password is 400 only for a live token."""
    answer = api.token_state(token)
    if not 400 <= answer.status_code < 500:
        raise ContractViolation(
            "USR-10",
            f"a 5-character new password: expected 400 (or 401 for a dead token)\n{api.evidence(answer)}",
            answer=answer,
        )
    return answer.status_code != 401  # 400, or 403 for a target that checks the current password first


def login(api: Api, user: dict[str, Any], password: Secret, rule_id: str) -> Secret:
    answer = api.expect(
        api.tokens.user_token(user["username"], password), rule_id, 200, "the password grant for a created user"
    )
    token = access_token(answer)
    if token is None:
        raise ContractViolation(
            "AUTH-3", f"the password grant answered no accessToken\n{api.evidence(answer)}", answer=answer
        )
    return token


@rule("USR-1")
@pytest.mark.parametrize("notify", [None, True, False], ids=["notify-absent", "notify-true", "notify-false"])
def test_create_answers_id_username_temp_password(api: Api, notify: bool | None) -> None:
    """201 {id, username, tempPassword} with the username the email sent, exactly (mixed case kept),
    and a temporary password whether or not the user is notified by mail."""
    email = f"{api.ledger.tagged('Create-' + uuid.uuid4().hex[:6])}@example.com"
    body: dict[str, Any] = {"email": email} if notify is None else {"email": email, "notify": notify}
    answer = api.expect(api.call("admin", "POST", "/api/v1/users", json=body), "USR-1", 201, "creating a user")
    got = answer.json()
    problems = []
    if not isinstance(got, dict):
        raise ContractViolation("USR-1", f"create answered {answer.text[:200]!r}, not an object", answer=answer)
    if got.get("username") != email:
        problems.append(f"username {got.get('username')!r} is not the email sent {email!r}")
    if not isinstance(got.get("id"), (str, int)) or got.get("id") in ("", None):
        problems.append(f"id {got.get('id')!r} is empty")
    if not isinstance(got.get("tempPassword"), str) or not got.get("tempPassword"):
        problems.append(f"tempPassword is {'empty' if got.get('tempPassword') == '' else 'missing'}")
    if problems:
        raise ContractViolation("USR-1", "; ".join(problems), answer=answer)


@rule("USR-1")
def test_ids_are_never_reused(api: Api) -> None:
    """A new user's id is new: not the id of a user deleted a moment ago."""
    first = api.create_user()
    api.expect(api.call("admin", "DELETE", f"/api/v1/users/{first['id']}"), "USR-6", 204, "deleting a user")
    seen = {first["id"]}
    for _ in range(2):
        user = api.create_user()
        if user["id"] in seen:
            raise ContractViolation(
                "USR-1", f"a new user got the id {user['id']} of a user created before it", operation="create_user"
            )
        seen.add(user["id"])


@rule("USR-3")
def test_concurrent_creates_of_one_email_have_one_winner(api: Api) -> None:
    """What must have exactly one winner is tried in parallel: the same new email sent eight times at
    once gets one 201 and seven 409, and the list holds one user of that name."""
    email = f"{api.ledger.tagged('race-' + uuid.uuid4().hex[:6])}@example.com"
    answers = simultaneously(  # (leaving together: a pool may send the first before the last thread starts)
        *(lambda: api.call("admin", "POST", "/api/v1/users", json={"email": email}) for _ in range(8))
    )
    statuses = sorted(a.status_code for a in answers)
    same = [u for u in mine(api, email) if u["username"] == email]
    winners = [s for s in statuses if 200 <= s < 300]  # 201; a 200 is USR-1's to judge, not this test's
    if len(winners) != 1 or statuses.count(409) != 7 or len(same) != 1:
        raise ContractViolation(
            "USR-3",
            f"eight concurrent creates of {email} answered {statuses}; the list holds {len(same)} users of that name",
            operation="create_user",
        )


@rule("USR-3")
def test_duplicate_email_conflicts_and_creates_nothing(api: Api) -> None:
    user = api.create_user()
    again = api.call("admin", "POST", "/api/v1/users", json={"email": user["username"]})
    api.expect(again, "USR-3", 409, "creating a user whose email exists")
    same = [u for u in mine(api, user["username"]) if u["username"] == user["username"]]
    if len(same) != 1:
        raise ContractViolation(
            "USR-3", f"after the 409 the list holds {len(same)} users named {user['username']}", operation="get_users"
        )


@rule("USR-4")
def test_read_shows_the_created_user(api: Api) -> None:
    start = datetime.now(UTC) - CLOCK_SKEW
    user = api.create_user(f"Read-Mixed-{uuid.uuid4().hex[:4]}")  # the same username, case included
    first = get_user(api, user["id"], "USR-4")
    time.sleep(0.05)
    second = get_user(api, user["id"], "USR-4")
    now = datetime.now(UTC) + CLOCK_SKEW
    problems = []
    if (first.get("id"), first.get("username")) != (user["id"], user["username"]):
        problems.append(f"id/username {first.get('id')!r}/{first.get('username')!r} are not the created ones")
    if first.get("isLocal") is not True:
        problems.append(f"isLocal is {first.get('isLocal')!r}, not true")
    if first.get("lastLogin") is not None:
        problems.append(f"lastLogin is {first.get('lastLogin')!r} before any login")
    claims = jwt_claims(api.tokens.token("admin"))
    identities = {
        str(v) for k, v in claims.items() if k in ("sub", "preferred_username", "email", "client_id", "azp", "name")
    }
    if not first.get("createdBy") or (identities and first.get("createdBy") not in identities):
        problems.append(
            f"createdBy {first.get('createdBy')!r} is not the creating token's identity {sorted(identities)}"
        )
    created, updated = instant(first.get("createdAt"), "createdAt"), instant(first.get("updatedAt"), "updatedAt")
    if not start <= created <= now or updated > now:
        problems.append(
            f"createdAt {first.get('createdAt')} / updatedAt {first.get('updatedAt')} are not between {start} and {now}"
        )
    if created > updated:
        problems.append(f"createdAt {first.get('createdAt')} is after updatedAt {first.get('updatedAt')}")
    if second.get("createdAt") != first.get("createdAt"):
        problems.append(f"createdAt changed between two reads: {first.get('createdAt')} → {second.get('createdAt')}")
    if problems:
        raise ContractViolation("USR-4", "; ".join(problems), operation="get_user_by_id")


@rule("USR-4")
def test_every_read_of_a_user_agrees(api: Api) -> None:
    """Every representation, for every role that reads users: GET by id and the user's item in a
    searched, a filtered, a sorted and a paged list, as admin and as viewer, after a reset and a login
    have moved updatedAt and lastLogin. `Api.judge_fixed_fields` compares username, createdBy,
    createdAt and isLocal of each read with the first one."""
    user = api.create_user(f"Every-Read-{uuid.uuid4().hex[:4]}")
    reset = api.call("admin", "POST", f"/api/v1/users/{user['id']}/password")
    password = secret(api.expect(reset, "USR-8", 200, "resetting a password").json().get("tempPassword"))
    api.expect(api.tokens.user_token(user["username"], password), "AUTH-3", 200, "the password grant")
    views: list[dict[str, Any]] = [
        {"search": user["username"]},
        {"filterBy": f"username=={user['username']}"},
        {"filterBy": f"username=@{user['username']}", "sortBy": "creationTime", "sortOrder": "desc"},
        {"filterBy": f"username=@{user['username']}", "limit": 1, "offset": 0},
    ]
    for role in [role for role in ("admin", "viewer") if role in api.tokens.roles]:
        read = api.call(role, "GET", f"/api/v1/users/{user['id']}")
        api.expect(read, "USR-4" if role == "admin" else "AUTH-2", 200, f"the {role} reading a user")
        for params in views if role == "admin" else views[:1]:
            listing = api.expect(api.call(role, "GET", "/api/v1/users", params=params), "LIST-1", 200, "a list")
            if not any(item.get("id") == user["id"] for item in listing.json()):
                rule_id = "LIST-4" if "search" in params else "LIST-2"
                raise ContractViolation(
                    rule_id, f"the {role}'s list {params} leaves out the user\n{api.evidence(listing)}", answer=listing
                )


@rule("USR-6")
def test_delete_removes_the_user_everywhere(api: Api) -> None:
    user = api.create_user()
    before = my_count(api)
    answer = api.expect(api.call("admin", "DELETE", f"/api/v1/users/{user['id']}"), "USR-6", 204, "deleting a user")
    if answer.content:
        raise ContractViolation("USR-6", f"the 204 has a body: {api.redact(answer.text[:200])!r}", answer=answer)
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")):
        api.expect(
            api.call("admin", method, f"/api/v1/users/{user['id']}{suffix}"),
            "USR-6",
            404,
            f"{method} …{suffix} of a deleted user",
        )
    if user["id"] in {u["id"] for u in mine(api, user["username"])}:
        raise ContractViolation("USR-6", "a deleted user is still in the list", operation="get_users")
    if my_count(api) != before - 1:
        raise ContractViolation(
            "USR-6",
            f"the count of this run's users went from {before} to {my_count(api)}, not down by one",
            operation="count_users",
        )


@rule("USR-7")
@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")]
)
def test_id_that_never_existed_is_404(api: Api, method: str, suffix: str) -> None:
    for user_id in (api.ledger.nonexistent_user_id(), str(uuid.uuid4())):
        answer = api.call("admin", method, f"/api/v1/users/{user_id}{suffix}")
        api.expect(answer, "USR-7", 404, f"{method} …{suffix} of an id that never existed")


@rule("USR-8")
def test_password_reset_never_repeats_a_password(api: Api) -> None:
    user = api.create_user()
    seen = [user["tempPassword"]]
    for _ in range(3):
        answer = api.expect(
            api.call("admin", "POST", f"/api/v1/users/{user['id']}/password"), "USR-8", 200, "resetting a password"
        )
        password = secret(answer.json().get("tempPassword"))
        if not password or password in seen:
            raise ContractViolation(
                "USR-8",
                f"reset #{len(seen)} handed out {'no' if not password else 'an earlier'} temporary password",
                answer=answer,
            )
        seen.append(password)
    login(api, user, seen[-1], "USR-8")


@rule("USR-9", "AUTH-4")
def test_logout_revokes_earlier_tokens_only(api: Api) -> None:
    """Every token the user got before the logout dies (not only the latest); tokens of another user,
    and the user's tokens after the logout, keep working."""
    user, other = api.create_user(), api.create_user()
    before = [login(api, user, user["tempPassword"], "AUTH-3") for _ in range(3)]
    bystander = login(api, other, other["tempPassword"], "AUTH-3")
    if not all(api.concurrently(*(lambda t=t: token_is_live(api, t) for t in [*before, bystander]))):
        raise ContractViolation("AUTH-3", "a fresh user token does not authenticate")
    api.expect(api.call("admin", "POST", f"/api/v1/users/{user['id']}/logout"), "USR-9", 200, "logging a user out")
    live = api.concurrently(*(lambda t=t: token_is_live(api, t) for t in before))
    if any(live):
        which = ", ".join(f"#{i + 1}" for i, alive in enumerate(live) if alive)
        raise ContractViolation("AUTH-4", f"of 3 tokens issued before the logout, {which} still authenticate(s)")
    if not token_is_live(api, bystander):
        raise ContractViolation("AUTH-4", "logging one user out revoked another user's token")
    time.sleep(1.1)  # a token issued in the same second as the logout may share its timestamp
    after = login(api, user, user["tempPassword"], "AUTH-4")
    if not token_is_live(api, after):
        raise ContractViolation("AUTH-4", "a token issued after the logout does not authenticate")


@rule("USR-10")
def test_password_change_needs_the_current_password(api: Api) -> None:
    user = api.create_user()
    token = login(api, user, user["tempPassword"], "USR-10")
    seen = api.look(user["username"])  # each rejected change is followed by a look: nothing moved
    wrong = {"currentPassword": "not-the-password-1", "newPassword": "never-set-password-1"}
    answer = api.call(None, "POST", "/api/v1/me/password", token=token, json=wrong)
    api.expect(answer, "USR-10", (400, 403), "a wrong current password")
    seen = api.unmoved(seen, "USR-10", answer, "a wrong current password")
    for new in ("seven77", "x" * 256):
        body = {"currentPassword": user["tempPassword"], "newPassword": new}
        answer = api.call(None, "POST", "/api/v1/me/password", token=token, json=body)
        api.expect(answer, "USR-10", 400, f"a {len(new)}-character new password")
        seen = api.unmoved(seen, "USR-10", answer, f"a {len(new)}-character new password")
    login(api, user, user["tempPassword"], "USR-10")  # nothing changed so far
    # At the bounds: exactly 8, then exactly 255 characters are accepted; each time the new one works
    # and the one before it no longer does.
    current = user["tempPassword"]
    stem = f"Aa1-{uuid.uuid4().hex}"  # upper, lower, digit, symbol: what a password policy may ask for
    for new in (Secret(stem[:8]), Secret((stem * 8)[:255])):
        body = {"currentPassword": current, "newPassword": new}
        api.expect(
            api.call(None, "POST", "/api/v1/me/password", token=token, json=body),
            "USR-10",
            200,
            f"the right current password and a {len(new.reveal())}-character new one",
        )
        token = login(api, user, new, "USR-10")
        old = api.tokens.user_token(user["username"], current)
        api.expect(old, "USR-10", 401, "the password grant with the old password after a change")
        current = new


@rule("USR-11")
def test_login_sets_last_login(api: Api) -> None:
    user = api.create_user()
    start = datetime.now(UTC) - CLOCK_SKEW
    login(api, user, user["tempPassword"], "USR-11")
    end = datetime.now(UTC) + CLOCK_SKEW
    last = get_user(api, user["id"], "USR-11").get("lastLogin")
    if last is None or not start <= instant(last, "lastLogin") <= end:
        raise ContractViolation(
            "USR-11",
            f"after a login at about {datetime.now(UTC):%H:%M:%S}, lastLogin is {last!r}",
            operation="get_user_by_id",
        )
    time.sleep(1.1)  # the time of a later login, not of the first: a second apart for second-resolution clocks
    login(api, user, user["tempPassword"], "USR-11")
    again = get_user(api, user["id"], "USR-11").get("lastLogin")
    if again is None or instant(again, "lastLogin") <= instant(last, "lastLogin"):
        raise ContractViolation(
            "USR-11",
            f"a second login a second later left lastLogin at {again!r} (the first login set {last!r})",
            operation="get_user_by_id",
        )
