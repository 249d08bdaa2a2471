"""Input bounds drawn from strategies/: emails (USR-2), tenant names and emails (TEN-2), valid ones at
the corners and near-miss invalid ones, each bound exactly at the bound and one past it; and requests
that break the schema in each way ERR-2 lists, each of which must get 400 and change nothing. Valid
ones are created (tagged) and cleaned up; invalid ones must get 400."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given

from runai_conformance.conformance.api import Api, ContractViolation, access_token, raise_found
from runai_conformance.conformance.examples import property_settings
from runai_conformance.conformance.fuzz import tag_email, tag_tenant_name
from runai_conformance.conformance.rules import rule
from runai_conformance.strategies.emails import MAX_LENGTH, emails, invalid_emails, pattern_breaking_emails
from runai_conformance.strategies.tenants import invalid_tenant_names, tenant_names

TAG_ROOM = 14  # "rcf-xxxxxxxx-": what tagging adds to a name


@pytest.fixture(scope="module", autouse=True)
def writable(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: these tests send POSTs")


@rule("USR-2")
def test_valid_emails_are_accepted(api: Api) -> None:
    @property_settings(api.target.profile.property_examples)
    @given(email=emails(max_size=254 - TAG_ROOM))
    def accepted(email: str) -> None:
        tagged = tag_email(email, api.ledger.run_tag)
        answer = api.call("admin", "POST", "/api/v1/users", json={"email": tagged})
        api.expect(answer, "USR-2", (201, 409), f"a valid {len(tagged)}-character email")

    accepted()


@rule("USR-2")
def test_near_miss_emails_get_400(api: Api) -> None:
    @property_settings(api.target.profile.property_examples)
    @given(email=invalid_emails())
    def rejected(email: str) -> None:
        answer = api.call("admin", "POST", "/api/v1/users", json={"email": email})
        api.expect(answer, "USR-2", 400, f"the invalid email {email!r}")

    rejected()


def email_of_length(api: Api, length: int) -> str:
    """A valid tagged email of exactly `length` characters: the tag and a short local part, the rest in
    domain labels of at most 63 characters (an address a mail system takes)."""
    local = api.ledger.tagged(secrets.token_hex(3))
    room = length - len(local) - len("@") - len(".com")
    labels = []
    while room > 0:
        size = min(63, room) if room != 64 else 62  # never leave a 0-character label after a dot
        labels.append("d" * size)
        room -= size + 1 if room > size else size
    return f"{local}@{'.'.join(labels)}.com"


@rule("USR-2")
def test_email_length_bounds(api: Api) -> None:
    """At the bound and one past it: 254 characters are accepted, 255 get 400."""
    longest = email_of_length(api, MAX_LENGTH)
    assert len(longest) == MAX_LENGTH, longest
    api.expect(
        api.call("admin", "POST", "/api/v1/users", json={"email": longest}), "USR-2", 201, "a valid 254-character email"
    )
    too_long = email_of_length(api, MAX_LENGTH + 1)
    assert len(too_long) == MAX_LENGTH + 1, too_long
    api.expect(
        api.call("admin", "POST", "/api/v1/users", json={"email": too_long}), "USR-2", 400, "a 255-character email"
    )


def operator(api: Api) -> None:
    if not api.target.has_role("operator"):
        pytest.skip("the credentials have no operator role: the Tenants API needs it")


# Names that break the pattern at each of its parts; each carries the run tag so that no two runs collide.
BAD_TENANT_NAMES: dict[str, Callable[[str], str]] = {
    "a trailing hyphen": lambda tag: f"{tag}-x-",
    "a leading hyphen": lambda tag: f"-{tag}-x",
    "an underscore": lambda tag: f"{tag}_x",
    "a dot": lambda tag: f"{tag}.x",
    "a space": lambda tag: f"{tag} x",
}


@rule("TEN-2")
def test_tenant_names(api: Api) -> None:
    operator(api)
    for what, make in BAD_TENANT_NAMES.items():
        wrong = api.call(
            "operator", "POST", "/api/v1/tenants", json={"name": make(api.ledger.run_tag), "email": "o@example.com"}
        )
        api.expect(wrong, "TEN-2", 400, f"a tenant name with {what}")

    @property_settings(api.target.profile.property_examples)
    @given(name=tenant_names(max_size=40), bad=invalid_tenant_names())
    def checked(name: str, bad: str) -> None:
        good = api.call(
            "operator",
            "POST",
            "/api/v1/tenants",
            json={"name": tag_tenant_name(name, api.ledger.run_tag), "email": "o@example.com"},
        )
        api.expect(good, "TEN-2", (201, 409), f"the valid tenant name {name!r}")
        wrong = api.call("operator", "POST", "/api/v1/tenants", json={"name": bad, "email": "o@example.com"})
        api.expect(wrong, "TEN-2", 400, f"the invalid tenant name {bad!r}")

    checked()


@rule("TEN-2")
def test_tenant_emails(api: Api) -> None:
    """A tenant email that breaks its pattern gets 400 (the name is valid and this run's)."""
    operator(api)

    @property_settings(api.target.profile.property_examples)
    @given(email=pattern_breaking_emails())
    def rejected(email: str) -> None:
        name = api.ledger.tagged(f"email-{secrets.token_hex(3)}")
        answer = api.call("operator", "POST", "/api/v1/tenants", json={"name": name, "email": email})
        api.expect(answer, "TEN-2", 400, f"a tenant with the invalid email {email!r}")

    rejected()


def user_is_absent(api: Api, email: str) -> None:
    """Nothing was created under `email`: the list does not show it."""
    users, answer = api.users_named(email)
    if users:
        raise ContractViolation(
            "ERR-2", f"a rejected create_user still created {email}\n{api.evidence(answer)}", operation="create_user"
        )


def tenant_is_absent(api: Api, name: str) -> None:
    tenants, answer = api.tenants_named(name)
    if tenants:
        raise ContractViolation(
            "ERR-2", f"a rejected create_tenant still created {name}\n{api.evidence(answer)}", operation="create_tenant"
        )


@rule("ERR-2")
def test_schema_breaking_requests_get_400_and_change_nothing(api: Api) -> None:
    """Each way ERR-2 lists (a missing required field, a wrong type, a value outside an enum, a pattern
    or a bound) on each operation that takes a body or a bounded path parameter gets 400, and what the
    request named was not created, and no field of the run's user moved (a look before and after each).
    Each failure is reported on its own."""
    email = f"{api.ledger.tagged('rejected-' + secrets.token_hex(3))}@example.com"
    name = api.ledger.tagged(f"rejected-{secrets.token_hex(3)}")
    cases: list[tuple[str, Callable[[], Any], Callable[[], None] | None]] = [
        ("create_user without email", lambda: api.call("admin", "POST", "/api/v1/users", json={}), None),
        (
            "create_user with a number for email",
            lambda: api.call("admin", "POST", "/api/v1/users", json={"email": 12345}),
            None,
        ),
        (
            "create_user with notify 'yes'",
            lambda: api.call("admin", "POST", "/api/v1/users", json={"email": email, "notify": "yes"}),
            lambda: user_is_absent(api, email),
        ),
    ]
    if api.target.has_role("operator"):
        cases += [
            (
                "create_tenant without name",
                lambda: api.call("operator", "POST", "/api/v1/tenants", json={"email": "o@example.com"}),
                None,
            ),
            (
                "create_tenant with contractType 'gold'",
                lambda: api.call(
                    "operator",
                    "POST",
                    "/api/v1/tenants",
                    json={"name": name, "email": "o@example.com", "contractType": "gold"},
                ),
                lambda: tenant_is_absent(api, name),
            ),
            ("GET of tenant -1 (below the minimum 0)", lambda: api.call("operator", "GET", "/api/v1/tenants/-1"), None),
        ]
    me = api.create_user(f"me-{secrets.token_hex(2)}")
    token = access_token(api.tokens.user_token(me["username"], me["tempPassword"]))
    if token is not None:
        cases.append(
            (
                "/me/password without newPassword",
                lambda: api.call(
                    None, "POST", "/api/v1/me/password", token=token, json={"currentPassword": me["tempPassword"]}
                ),
                None,
            )
        )
    found: list[ContractViolation] = []
    seen = api.look(me["username"])
    for what, send, unchanged in cases:
        answer = send()
        try:
            seen = api.unmoved(seen, "ERR-2", answer, what)
        except ContractViolation as exc:
            found.append(exc)
            seen = api.look(me["username"])
        if answer.status_code != 400:
            found.append(
                ContractViolation(
                    "ERR-2", f"{what}: expected 400, got {answer.status_code}\n{api.evidence(answer)}", answer=answer
                )
            )
            continue
        try:
            if unchanged is not None:
                unchanged()
        except ContractViolation as exc:
            found.append(exc)
    raise_found(found, "schema-breaking requests answered against ERR-2")
