"""The fuzzer's safety helpers: names get the run tag without changing validity; no id that could
name someone else's tenant reaches a delete."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.fuzz import EMAIL_PATTERN, TENANT_NAME_PATTERN, could_name_a_tenant, tag_email, tag_tenant_name
from strategies.emails import emails, invalid_emails
from strategies.tenants import invalid_tenant_names, tenant_names

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


@pytest.mark.parametrize("value", [0, 1, 7, "7", " +07 ", "7.0", 2147483647, "1e3"])
def test_every_spelling_of_a_tenant_id_is_caught(value: object) -> None:
    assert could_name_a_tenant(value)


@pytest.mark.parametrize("value", [-1, "-3", "abc", "", None, "1.5", "nan", "inf", [1]])
def test_values_that_name_no_tenant(value: object) -> None:
    assert not could_name_a_tenant(value)


@given(st.integers(min_value=0))
def test_any_non_negative_integer_is_caught(value: int) -> None:
    assert could_name_a_tenant(value) and could_name_a_tenant(str(value))
