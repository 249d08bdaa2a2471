"""The fuzzer's safety helpers: names get the run tag without changing validity. (Which ids may reach
a state-changing request is the guard's to say: tests/suite/test_guard.py.)"""

from __future__ import annotations

from hypothesis import given

from runai_conformance.conformance.fuzz import EMAIL_PATTERN, TENANT_NAME_PATTERN, tag_email, tag_tenant_name
from runai_conformance.strategies.emails import emails, invalid_emails
from runai_conformance.strategies.tenants import invalid_tenant_names, tenant_names

TAG = "rcf-0123abcd"


@given(emails())
def test_tagged_valid_email_stays_valid_and_carries_the_tag(email: str) -> None:
    tagged = tag_email(email, TAG)
    assert tagged.startswith(TAG) and EMAIL_PATTERN.match(tagged) and len(tagged) <= 254


@given(invalid_emails())
def test_invalid_email_is_left_alone(email: str) -> None:
    assert tag_email(email, TAG) == email


@given(tenant_names())
def test_tagged_tenant_name_stays_valid(name: str) -> None:
    tagged = tag_tenant_name(name, TAG)
    assert tagged.startswith(TAG) and TENANT_NAME_PATTERN.match(tagged)


@given(invalid_tenant_names())
def test_invalid_tenant_name_is_left_alone(name: str) -> None:
    assert tag_tenant_name(name, TAG) == name
