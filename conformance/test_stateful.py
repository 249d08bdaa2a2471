"""Lifecycles as Hypothesis state machines: a model of what the target must hold, checked after
every step (USR-1..USR-11, AUTH-4 for users; TEN-1..TEN-7 for tenants).

Why not Schemathesis' own state machine: on this spec it infers links such as
`GET /api/v1/users -> DELETE /api/v1/users/{userId}` and `GET /api/v1/tenants -> DELETE …`, so it
deletes whatever a list shows, other people's users and tenants included. These machines only
ever touch what they created, and scope every list and count to their own tag.

Nothing else moves: after every step the users machine looks at every field of every user of its own
(one list scoped to its tag, the read the invariant makes anyway). After a step whose request must change
nothing (a read, a 4xx, a failed grant) the look must equal the one before it, timestamps included, or the
rule of that request fails; after every step, writes included, the client judges every timestamp clause of
USR-4/USR-11 in that look (conformance/api.py).

Each machine runs as SHARDS independently seeded parts (`test_users_lifecycle_machine[shard3]`), each
with its own share of the profile's examples and its own tags: against a remote target the parts run
at once on the run's workers (--concurrency) instead of one long chain of requests. A part's seed comes
from the run's seed and its number, so its test id and the run's --hypothesis-seed re-run exactly it.

A failure prints the shrunk sequence of steps as a script (`v1 = state.create_user(...)`, …) and
the answer that broke the rule.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, get_state_machine_test, invariant, rule

from runai_conformance.conformance.api import (
    CLOCK_SKEW,
    Api,
    ContractViolation,
    Secret,
    Snapshot,
    access_token,
    instant,
    jwt_claims,
)
from runai_conformance.conformance.examples import keyed
from runai_conformance.conformance.rules import rule as contract_rule
from runai_conformance.conformance.secret import secret
from runai_conformance.strategies import emails, passwords
from runai_conformance.strategies import tenants as tenant_names

MACHINES = itertools.count()
SECRET_KEY = re.compile(r"password|secret", re.IGNORECASE)
# The parts each machine runs as. Eight: a remote run's workers (4 by default) always have a part to take,
# and at 150 ms a part of the ci profile is about half a minute of requests, not three.
SHARDS = 8
shards = pytest.mark.parametrize("shard", range(SHARDS), ids=[f"shard{n}" for n in range(SHARDS)])


def machine_settings(api: Api) -> settings:
    """One part's settings: its share of the profile's examples (rounded up: no part runs none)."""
    profile = api.target.profile
    return settings(
        max_examples=math.ceil(profile.stateful_examples / SHARDS),
        stateful_step_count=profile.stateful_steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


def run_part(machine: type[RuleBasedStateMachine], api: Api, shard: int, run_seed: int) -> None:
    """Run one part of a machine: seeded by the run's seed, the machine and the part's number, so the
    part's test id with the run's --hypothesis-seed replays it, and no two parts draw the same steps."""
    digest = hashlib.sha256(f"{run_seed}/{machine.__name__}/{shard}".encode()).digest()
    seeded = seed(int.from_bytes(digest[:8], "big"))(machine)
    keyed(get_state_machine_test(seeded, settings=machine_settings(api)), machine.__name__)()


@pytest.fixture(scope="module", autouse=True)
def writable(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: the state machines create and delete")


# ------------------------------------------------------------------------------ users


@dataclass
class ModelUser:
    id: str
    username: str
    password: Secret
    seen_passwords: list[Secret]
    created_at: str | None = None
    created_by: str | None = None
    logged_in: bool = False
    deleted: bool = False
    live_tokens: list[Secret] = field(default_factory=list)
    dead_tokens: list[Secret] = field(default_factory=list)
    logged_out_at: float = float("-inf")
    wrong_grants: int = 0
    wrong_changes: int = 0

    def wrong_password(self) -> Secret:
        """A password that is not the user's: its current one with a suffix."""
        return Secret(self.password.reveal() + "-wrong")


def expires_soon(token: Secret) -> bool:
    """Whether a token's exp claim is past, or as near as the clocks may differ (no exp: it may expire any time)."""
    exp = jwt_claims(token).get("exp")
    return not isinstance(exp, (int, float)) or exp <= time.time() + CLOCK_SKEW


class UsersMachine(RuleBasedStateMachine):
    api: ClassVar[Api]
    users = Bundle("users")

    def __init__(self) -> None:
        super().__init__()
        self.tag = self.api.ledger.tagged(f"sm{next(MACHINES)}-")
        self.model: dict[str, ModelUser] = {}
        self.strays: list[str] = []  # users a wrong target created from invalid emails
        self.seen: Snapshot | None = None  # the look after the last step: every field of every user of the machine
        self.must_not_move: tuple[str, Any, str] | None = None  # (rule, answer, what) of a step that changes nothing

    def teardown(self) -> None:
        for user_id in self.strays:
            self.call("DELETE", f"/api/v1/users/{user_id}")

    # -- helpers

    def live(self) -> list[ModelUser]:
        return [u for u in self.model.values() if not u.deleted]

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self.api.call("admin", method, path, **kw)

    def changes_nothing(self, rule_id: str, answer: Any, what: str) -> None:
        """This step's request must change nothing: the look after the step must show every field of every
        user of the machine as the look before it did (judged by the invariant), or `rule_id` fails."""
        self.must_not_move = (rule_id, answer, what)

    def token_state(self, token: Secret) -> int:
        """400 for a live user token (a too-short new password), 401 for a dead one (judged here: AUTH-4)."""
        return self.api.token_state(token).status_code

    # -- rules

    @rule(target=users, name=st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789._+-", min_size=1, max_size=12))
    def create_user(self, name: str) -> str:
        email = f"{self.tag}{name}@example.com"
        existing = next((u for u in self.live() if u.username == email), None)
        answer = self.call("POST", "/api/v1/users", json={"email": email})
        if existing is not None:
            self.duplicate_created_nothing(answer, existing)
            self.changes_nothing("USR-3", answer, "creating a user whose email exists")
            return existing.id  # nothing new: the bundle gets the existing user again
        body = self.api.expect(answer, "USR-1", 201, "creating a user").json()  # the Api judges the id new
        if body.get("username") != email or not body.get("id") or not body.get("tempPassword"):
            raise ContractViolation(
                "USR-1",
                f"create answered username {body.get('username')!r} for {email!r}, or no new id or tempPassword",
            )
        password = Secret(body["tempPassword"])
        self.model[body["id"]] = ModelUser(body["id"], email, password, [password])
        return str(body["id"])

    @rule(email=emails.invalid_emails())
    def create_with_invalid_email(self, email: str) -> None:
        """A near-miss email gets 400 and creates nothing (USR-2); if the target creates it anyway,
        the ledger deletes it at the end of the run."""
        answer = self.call("POST", "/api/v1/users", json={"email": email})
        if answer.status_code == 201:  # untagged: delete it before the next example meets it
            self.strays.append(str(answer.json().get("id")))
        self.api.expect(answer, "USR-2", 400, f"creating a user with the invalid email {email!r}")
        self.changes_nothing("USR-2", answer, f"creating a user with the invalid email {email!r}")

    @rule(target=users, user=users)
    def create_again(self, user: str) -> str:
        """The same email again: 409 while the user exists (USR-3), a new user once it was deleted."""
        model = self.model[user]
        answer = self.call("POST", "/api/v1/users", json={"email": model.username})
        live = next((u for u in self.live() if u.username == model.username), None)
        if live is not None:
            self.duplicate_created_nothing(answer, live)
            self.changes_nothing("USR-3", answer, "creating a user whose email exists")
            return live.id
        body = self.api.expect(answer, "USR-1", 201, "creating a user whose namesake was deleted").json()
        password = Secret(body["tempPassword"])
        self.model[body["id"]] = ModelUser(body["id"], model.username, password, [password])
        return str(body["id"])

    def duplicate_created_nothing(self, answer: Any, existing: ModelUser) -> None:
        """USR-3: a duplicate email gets 409 and creates nothing: no user but the existing one has that
        email (a list that lacks it is LIST-1's, judged by the invariant)."""
        self.api.expect(answer, "USR-3", 409, "creating a user whose email exists")
        namesakes, look = self.api.users_named(existing.username)
        if [u for u in namesakes if u.get("id") != existing.id]:
            raise ContractViolation(
                "USR-3",
                f"creating {existing.username} again answered 409, yet {len(namesakes)} users have that email: "
                f"ids {[u.get('id') for u in namesakes]}, the existing one {existing.id}\n"
                f"{self.api.evidence(answer)}\nthe look afterwards:\n{self.api.evidence(look)}",
                answer=answer,
            )

    @rule(user=users)
    def read_user(self, user: str) -> None:
        answer = self.check_user(user)
        self.changes_nothing("USR-6" if self.model[user].deleted else "USR-4", answer, "reading a user")

    def check_user(self, user: str) -> Any:
        """GET the user and compare it with the model (USR-4, USR-6, USR-11); the answer."""
        model = self.model[user]
        answer = self.call("GET", f"/api/v1/users/{user}")
        if model.deleted:
            self.api.expect(answer, "USR-6", 404, "reading a deleted user")
            return answer
        body = self.api.expect(answer, "USR-4", 200, "reading a user").json()
        leaked = [key for key in body if SECRET_KEY.search(key)]
        if leaked:
            raise ContractViolation(
                "USR-5", f"the user representation carries {leaked}\n{self.api.evidence(answer)}", answer=answer
            )
        problems = []
        if (body.get("id"), body.get("username"), body.get("isLocal")) != (user, model.username, True):
            problems.append(f"id/username/isLocal {body.get('id')!r}/{body.get('username')!r}/{body.get('isLocal')!r}")
        if (body.get("lastLogin") is None) == model.logged_in:
            rule_id = "USR-11" if model.logged_in else "USR-4"
            raise ContractViolation(
                rule_id,
                f"lastLogin is {body.get('lastLogin')!r} after {'a' if model.logged_in else 'no'} login\n{self.api.evidence(answer)}",
                answer=answer,
            )
        if model.created_at is not None and body.get("createdAt") != model.created_at:
            problems.append(f"createdAt changed from {model.created_at} to {body.get('createdAt')}")
        if model.created_by is not None and body.get("createdBy") != model.created_by:
            problems.append(f"createdBy changed from {model.created_by} to {body.get('createdBy')}")
        try:
            if instant(str(body.get("createdAt"))) > instant(str(body.get("updatedAt"))):
                problems.append(f"createdAt {body.get('createdAt')} is after updatedAt {body.get('updatedAt')}")
        except ValueError:
            problems.append(
                f"createdAt/updatedAt {body.get('createdAt')!r}/{body.get('updatedAt')!r} are not ISO 8601 date-times"
            )
        if problems:
            raise ContractViolation("USR-4", "; ".join(problems) + f"\n{self.api.evidence(answer)}", answer=answer)
        model.created_at, model.created_by = body.get("createdAt"), body.get("createdBy")
        return answer

    def changed_nothing(self, user: str, answer: Any, what: str) -> None:
        """A rejected request changes nothing (USR-10): a look right after it shows every field of every
        user of the machine as the look before it, and the user's password still logs in (the token joins
        the user's live ones)."""
        model = self.model[user]
        if self.seen is not None:
            self.seen = self.api.unmoved(self.seen, "USR-10", answer, what)
        time.sleep(max(0.0, model.logged_out_at + 1.05 - time.monotonic()))  # as log_in: iat has 1 s resolution
        grant = self.api.tokens.user_token(model.username, model.password)
        if grant.status_code != 200:
            raise ContractViolation(
                "USR-10",
                f"{what} was rejected but changed the password\n{self.api.evidence(grant)}",
                answer=grant,
            )
        token = access_token(grant)
        if token is not None:
            model.logged_in = True
            model.live_tokens.append(token)

    @rule(user=users)
    def reset_password(self, user: str) -> None:
        model = self.model[user]
        answer = self.call("POST", f"/api/v1/users/{user}/password")
        if model.deleted:
            self.api.expect(answer, "USR-6", 404, "resetting a deleted user's password")
            self.changes_nothing("USR-6", answer, "resetting a deleted user's password")
            return
        password = secret(self.api.expect(answer, "USR-8", 200, "resetting a password").json().get("tempPassword"))
        if not password or password in model.seen_passwords:
            raise ContractViolation("USR-8", "a reset handed out an empty or earlier temporary password", answer=answer)
        model.password = password
        model.seen_passwords.append(password)

    @rule(user=users)
    def log_in(self, user: str) -> None:
        """The password grant. The first two times for each user it is tried with a wrong password first
        (twice at most, so that no lockout policy of a real target is met): 401 (AUTH-3), and no login, so
        a look right after it shows every field of every user as before, lastLogin included (USR-11)."""
        model = self.model[user]
        if not model.deleted and model.wrong_grants < 2 and self.seen is not None:
            model.wrong_grants += 1
            wrong = self.api.tokens.user_token(model.username, model.wrong_password())
            self.api.expect(wrong, "AUTH-3", 401, "the password grant with a wrong password")
            self.seen = self.api.unmoved(self.seen, "USR-11", wrong, "the password grant with a wrong password")
        # A token issued in the same second as a logout may carry the logout's timestamp (iat has
        # one-second resolution on many servers): wait that second out rather than cry wolf.
        time.sleep(max(0.0, model.logged_out_at + 1.05 - time.monotonic()))
        answer = self.api.tokens.user_token(model.username, model.password)
        if model.deleted:
            self.api.expect(answer, "USR-6", 401, "the password grant for a deleted user")
            self.changes_nothing("USR-6", answer, "the password grant for a deleted user")
            return
        token = access_token(self.api.expect(answer, "AUTH-3", 200, "the password grant with the current password"))
        if token is None:
            raise ContractViolation(
                "AUTH-3",
                f"the password grant answered no accessToken\n{self.api.evidence(answer)}",
                answer=answer,
            )
        model.logged_in = True
        model.live_tokens.append(token)
        self.check_user(user)  # the login's own effect (USR-11), not left to a later draw

    @rule(user=users)
    def log_out(self, user: str) -> None:
        model = self.model[user]
        # AUTH-4 revokes "that user's" tokens: another user's token that works before this logout
        # must work after it (its exp checked too, so a token that expires meanwhile is no verdict).
        other = next((u for u in reversed(self.live()) if u.live_tokens and u is not model), None)
        probe = other.live_tokens[0] if other is not None and not model.deleted else None
        alive_before = probe is not None and self.token_state(probe) in (400, 403)  # what a live token gets
        answer = self.call("POST", f"/api/v1/users/{user}/logout")
        if model.deleted:
            self.api.expect(answer, "USR-6", 404, "logging out a deleted user")
            self.changes_nothing("USR-6", answer, "logging out a deleted user")
            return
        self.api.expect(answer, "USR-9", 200, "logging a user out")
        model.dead_tokens += model.live_tokens
        model.live_tokens = []
        model.logged_out_at = time.monotonic()
        if (
            other is not None
            and probe is not None
            and alive_before
            and self.token_state(probe) == 401
            and not expires_soon(probe)
        ):
            raise ContractViolation(
                "AUTH-4",
                f"logging out {model.username} also revoked a token of {other.username}, which authenticated "
                f"just before: a logout revokes that user's tokens only\n{self.api.evidence(answer)}",
                answer=answer,
            )

    @rule(user=users, new=passwords.new_passwords(), right=st.booleans())
    def change_password(self, user: str, new: str, right: bool) -> None:
        """/me/password, with the current password or a wrong one, as the user (logged in first when it holds
        no live token). A user's first change is tried with a wrong current password first, as log_in tries
        a wrong grant: every seed meets USR-10's "a wrong current password changes nothing", not only those
        that happen to draw a logged-in user and a wrong password in that order."""
        model = self.model[user]
        if model.deleted:
            return
        if not model.live_tokens:
            self.log_in(user)
            if self.seen is not None:  # the login moved lastLogin: what must not move is judged from here
                self.seen = self.api.look(self.tag)

        def change(current: Secret) -> httpx.Response:
            body = {"currentPassword": current, "newPassword": Secret(new)}
            return self.api.call(None, "POST", "/api/v1/me/password", token=model.live_tokens[-1], json=body)

        if not right or not model.wrong_changes:
            model.wrong_changes += 1
            answer = change(model.wrong_password())
            self.api.expect(answer, "USR-10", (400, 403), "a wrong current password")
            self.changed_nothing(user, answer, "a /me/password with a wrong current password")
        if not right:
            return
        answer = change(model.password)
        self.api.expect(answer, "USR-10", 200, "the right current password")
        model.password = Secret(new)
        model.seen_passwords.append(model.password)

    @rule(user=users)
    def delete_user(self, user: str) -> None:
        model = self.model[user]
        answer = self.call("DELETE", f"/api/v1/users/{user}")
        if model.deleted:
            self.api.expect(answer, "USR-6", 404, "deleting a deleted user")
            self.changes_nothing("USR-6", answer, "deleting a deleted user")
            return
        self.api.expect(answer, "USR-6", 204, "deleting a user")
        model.deleted = True
        model.dead_tokens += model.live_tokens
        model.live_tokens = []

    @rule(action=st.sampled_from([("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("POST", "/password")]))
    def touch_unknown_id(self, action: tuple[str, str]) -> None:
        answer = self.call(action[0], f"/api/v1/users/{self.api.ledger.nonexistent_user_id()}{action[1]}")
        self.api.expect(answer, "USR-7", 404, f"{action[0]} …{action[1]} of an id that never existed")
        self.changes_nothing("USR-7", answer, f"{action[0]} …{action[1]} of an id that never existed")

    # -- invariants

    @invariant()
    def list_and_count_match_the_model(self) -> None:
        if not self.model:
            self.must_not_move = None  # nothing of the machine's to have moved
            return
        look, counting = self.api.concurrently(
            lambda: self.api.look(self.tag, defer=True),
            lambda: self.call("GET", "/api/v1/users/count", params={"filterBy": f"username=@{self.tag}"}),
        )
        listed = {u["id"] for u in self.api.expect(look.answer, "LIST-1", 200, "listing").json()}
        expected = {u.id for u in self.live()}
        if listed != expected:
            rule_id = "USR-6" if listed - expected else "LIST-1"
            raise ContractViolation(
                rule_id,
                f"the list shows {len(listed)} of this machine's users, the model {len(expected)}: extra {sorted(listed - expected)}, missing {sorted(expected - listed)}",
                operation="get_users",
            )
        count = self.api.expect(counting, "LIST-7", 200, "counting").json().get("count")
        if count != len(expected):
            raise ContractViolation(
                "USR-6" if count > len(expected) else "LIST-7",
                f"the count is {count}, the model holds {len(expected)} users",
                operation="count_users",
            )
        self.nothing_else_moved(look)

    def nothing_else_moved(self, look: Snapshot) -> None:
        """After a step whose request must change nothing (a read, a rejected request, a failed grant),
        every field of every user of the machine is as the look before the step showed it: a moved
        updatedAt or lastLogin fails the rule of that request."""
        before, self.seen = self.seen, look
        step, self.must_not_move = self.must_not_move, None
        if step is not None and before is not None:
            self.api.nothing_moved(before, look, *step)
        look.verdict()  # the client's judgement of the look (every timestamp clause), after the step's rule

    @invariant()
    def revoked_tokens_stay_dead(self) -> None:
        # The earliest and the latest revoked token of each user: a logout must kill every earlier token.
        checks = [
            (model, token)
            for model in self.model.values()
            for token in dict.fromkeys(model.dead_tokens[:1] + model.dead_tokens[-1:])
        ]
        states = self.api.concurrently(*(lambda token=token: self.token_state(token) for _, token in checks))
        for (model, _), state in zip(checks, states, strict=True):
            if state != 401:
                rule_id = "USR-6" if model.deleted else "AUTH-4"
                raise ContractViolation(
                    rule_id,
                    f"a token of {'deleted' if model.deleted else 'logged-out'} user {model.username} still authenticates",
                )


@contract_rule(
    "USR-1", "USR-2", "USR-3", "USR-4", "USR-5", "USR-6", "USR-7", "USR-8", "USR-9", "USR-10", "USR-11", "AUTH-4"
)
@shards
def test_users_lifecycle_machine(api: Api, shard: int, request: pytest.FixtureRequest) -> None:
    """After every step the invariant looks at every user of the machine (the client judges every timestamp
    clause in that read): the client's own read after each write would only repeat it."""
    machine = type("UsersLifecycle", (UsersMachine,), {"api": api})
    api.read_after_writes = False
    try:
        run_part(machine, api, shard, request.config.option.hypothesis_seed)
    finally:
        api.read_after_writes = True


# ------------------------------------------------------------------------------ tenants


@dataclass
class ModelTenant:
    id: int
    uuid: str
    name: str
    contract_type: str
    state: str = "live"  # live | soft | hard


class TenantsMachine(RuleBasedStateMachine):
    api: ClassVar[Api]
    tenants = Bundle("tenants")

    def __init__(self) -> None:
        super().__init__()
        self.tag = self.api.ledger.tagged(f"sm{next(MACHINES)}-")
        self.model: dict[int, ModelTenant] = {}

    def teardown(self) -> None:
        """Hard-delete this example's tenants now rather than at the end of the run: the invariant reads
        both whole lists after every step, and on a deep run thousands of soft-deleted tenants left behind
        would make every read slower than the last (on a shared target, for everyone). What fails here is
        still in the ledger, which deletes it at the end."""
        for model in self.model.values():
            if model.state != "hard":
                self.call("DELETE", f"/api/v1/tenants/{model.id}", params={"isHardDelete": "true"})

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self.api.call("operator", method, path, **kw)

    @rule(
        target=tenants,
        contract=st.sampled_from([None, "", "normal", "trial"]),
        role=st.sampled_from(["absent", None, "System administrator", "Cloud operator"]),
        with_secrets=st.booleans(),
    )
    def create_tenant(self, contract: str | None, role: Any, with_secrets: bool) -> int:
        body: dict[str, Any] = {"name": f"{self.tag}{uuid.uuid4().hex[:6]}", "email": "owner@example.com"}
        if contract is not None:
            body["contractType"] = contract
        if role != "absent":
            body["role"] = role
        if with_secrets:
            tenant_secret = Secret(f"s3cret-{uuid.uuid4().hex[:8]}")  # revealed, and so learned, by the transport
            body["password"] = tenant_secret
            body["metricStore"] = {
                "read": {"url": "https://metrics.example.com/r"},
                "write": {
                    "url": "https://metrics.example.com/w",
                    "auth": {"basic": {"username": "u", "password": tenant_secret}},
                },
            }
        answer = self.call("POST", "/api/v1/tenants", json=body)
        rule_id = "TEN-1a" if body.get("role", "x") is None else "TEN-1"
        tenant = self.api.expect(answer, rule_id, 201, "creating a tenant").json().get("tenant") or {}
        expected = contract or "normal"
        if (
            tenant.get("name") != body["name"]
            or tenant.get("contractType") != expected
            or tenant.get("id") in self.model
        ):
            raise ContractViolation(
                "TEN-1",
                f"created {tenant.get('name')!r}/{tenant.get('contractType')!r}/{tenant.get('id')!r} for {body['name']!r}/{expected!r}\n{self.api.evidence(answer)}",
                answer=answer,
            )
        if with_secrets and (
            "metricStore" in answer.text or tenant_secret.reveal() in answer.text or '"password"' in answer.text
        ):
            raise ContractViolation("TEN-3", "the created tenant carries its metricStore or password")
        self.model[tenant["id"]] = ModelTenant(tenant["id"], str(tenant.get("uuid")), body["name"], expected)
        return int(tenant["id"])

    @rule(tenant=tenants)
    def read_tenant(self, tenant: int) -> None:
        model = self.model[tenant]
        answer = self.call("GET", f"/api/v1/tenants/{tenant}")
        if model.state == "hard":
            self.api.expect(answer, "TEN-6", 404, "reading a hard-deleted tenant")
            return
        body = self.api.expect(answer, "TEN-5" if model.state == "soft" else "TEN-4", 200, "reading a tenant").json()
        if (body.get("name"), body.get("contractType"), body.get("uuid")) != (
            model.name,
            model.contract_type,
            model.uuid,
        ):
            raise ContractViolation(
                "TEN-4",
                f"GET shows {body.get('name')}/{body.get('contractType')}/{body.get('uuid')}, created as {model.name}/{model.contract_type}/{model.uuid}",
                operation="get_tenant_by_id",
            )
        if model.state == "soft" and body.get("status") not in ("Deleting", "Deleted"):
            raise ContractViolation(
                "TEN-5", f"a soft-deleted tenant has status {body.get('status')!r}", operation="get_tenant_by_id"
            )
        if "metricStore" in body or "password" in body:
            raise ContractViolation(
                "TEN-3", "a tenant representation carries metricStore or password", operation="get_tenant_by_id"
            )

    @rule(tenant=tenants, hard=st.booleans())
    def delete_tenant(self, tenant: int, hard: bool) -> None:
        model = self.model[tenant]
        answer = self.call("DELETE", f"/api/v1/tenants/{tenant}", params={"isHardDelete": "true"} if hard else {})
        if model.state == "hard":
            self.api.expect(answer, "TEN-7", 404, "deleting a hard-deleted tenant")
            return
        if model.state == "soft" and not hard:
            if answer.status_code not in (200, 404):
                raise ContractViolation("TEN-5", f"a second soft delete answered {answer.status_code}", answer=answer)
            return
        self.api.expect(answer, "TEN-6" if hard else "TEN-5", 200, f"a {'hard' if hard else 'soft'} delete")
        if answer.json() != {"uid": model.uuid}:
            raise ContractViolation(
                "TEN-6" if hard else "TEN-5",
                f"the delete answered {answer.json()}, not {{uid: {model.uuid}}}",
                answer=answer,
            )
        model.state = "hard" if hard else "soft"

    @rule(tenant=tenants)
    def reuse_name(self, tenant: int) -> None:
        model = self.model[tenant]
        if model.state != "live":
            return  # the contract does not say whether a deleted tenant's name is free again
        answer = self.call("POST", "/api/v1/tenants", json={"name": model.name, "email": "owner@example.com"})
        self.api.expect(answer, "TEN-2", 409, "creating a tenant with a name in use")

    @rule()
    def touch_unknown(self) -> None:
        """A tenant id that never existed: 404 to GET (TEN-4). Read only: on a shared control plane any
        int32 can be someone's tenant, so deletes of missing tenants aim at this machine's hard-deleted
        ones (delete_tenant, TEN-7)."""
        answer = self.call("GET", "/api/v1/tenants/2147483001")
        self.api.expect(answer, "TEN-4", 404, "GET of a tenant id that never existed")

    @rule(name=tenant_names.invalid_tenant_names())
    def create_with_invalid_name(self, name: str) -> None:
        """A bad tenant name gets 400 and creates nothing (TEN-2); the ledger deletes it otherwise."""
        answer = self.call("POST", "/api/v1/tenants", json={"name": name, "email": "owner@example.com"})
        self.api.expect(answer, "TEN-2", 400, f"creating a tenant named {name!r}")

    @invariant()
    def lists_match_the_model(self) -> None:
        if not self.model:
            return
        plain_answer, every_answer = self.api.concurrently(
            lambda: self.call("GET", "/api/v1/tenants"),
            lambda: self.call("GET", "/api/v1/tenants", params={"deleted": "true"}),
        )
        plain = {t["id"]: t for t in self.api.expect(plain_answer, "TEN-5", 200, "listing").json()}
        every = {t["id"]: t for t in self.api.expect(every_answer, "TEN-5", 200, "listing with deleted").json()}
        for model in self.model.values():
            if model.state == "live" and model.id not in plain:  # (whether deleted=true lists live ones: unsaid)
                raise ContractViolation(
                    "TEN-5", f"live tenant {model.name} is missing from GET /api/v1/tenants", operation="get_tenants"
                )
            if model.state == "soft" and (
                model.id in plain or every.get(model.id, {}).get("status") not in ("Deleting", "Deleted")
            ):
                raise ContractViolation(
                    "TEN-5",
                    f"soft-deleted tenant {model.name}: in the plain list, or not Deleting/Deleted with deleted=true",
                    operation="get_tenants",
                )
            if model.state == "hard" and (model.id in plain or model.id in every):
                raise ContractViolation(
                    "TEN-6", f"hard-deleted tenant {model.name} is still listed", operation="get_tenants"
                )


@contract_rule("TEN-1", "TEN-1a", "TEN-2", "TEN-3", "TEN-4", "TEN-5", "TEN-6", "TEN-7")
@shards
def test_tenants_lifecycle_machine(api: Api, shard: int, request: pytest.FixtureRequest) -> None:
    api.tokens.token("operator")  # skips without the role
    machine = type("TenantsLifecycle", (TenantsMachine,), {"api": api})
    run_part(machine, api, shard, request.config.option.hypothesis_seed)
