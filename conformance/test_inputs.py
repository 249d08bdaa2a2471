"""Input bounds drawn from strategies/: emails (USR-2) and tenant names (TEN-2), valid ones at the
corners and near-miss invalid ones. Valid ones are created (tagged) and cleaned up; invalid ones
must get 400."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.api import Api
from conformance.fuzz import tag_email, tag_tenant_name
from conformance.rules import rule
from strategies.emails import emails, invalid_emails
from strategies.tenants import invalid_tenant_names, tenant_names

TAG_ROOM = 14  # "rcf-xxxxxxxx-": what tagging adds to a name


def property_settings(api: Api) -> settings:
    return settings(
        max_examples=api.target.profile.property_examples, deadline=None, suppress_health_check=list(HealthCheck)
    )


@pytest.fixture(scope="module", autouse=True)
def writable(api: Api) -> None:
    if api.target.read_only:
        pytest.skip("read-only run: these tests send POSTs")


@rule("USR-2")
def test_valid_emails_are_accepted(api: Api) -> None:
    @property_settings(api)
    @given(email=emails(max_size=254 - TAG_ROOM))
    def accepted(email: str) -> None:
        tagged = tag_email(email, api.ledger.run_tag)
        answer = api.call("admin", "POST", "/api/v1/users", json={"email": tagged})
        api.expect(answer, "USR-2", (201, 409), f"a valid {len(tagged)}-character email")

    accepted()


@rule("USR-2")
def test_near_miss_emails_get_400(api: Api) -> None:
    @property_settings(api)
    @given(email=invalid_emails())
    def rejected(email: str) -> None:
        answer = api.call("admin", "POST", "/api/v1/users", json={"email": email})
        api.expect(answer, "USR-2", 400, f"the invalid email {email!r}")

    rejected()


@rule("TEN-2")
def test_tenant_names(api: Api) -> None:
    if not api.target.has_role("operator"):
        pytest.skip("the credentials have no operator role: the Tenants API needs it")

    @property_settings(api)
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
