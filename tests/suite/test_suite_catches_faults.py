"""The suite: green on the clean reference, red on each planted fault a part of it is meant to catch,
with the failing test naming the fault's rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference.faults import FAULTS
from tests.suite.runner import reference, run_suite, tagged_leftovers, untouched_snapshot

FUZZ = "conformance/test_fuzz.py"
AUTH = "conformance/test_auth.py"
USERS = "conformance/test_users_lifecycle.py"
TENANTS = "conformance/test_tenants_lifecycle.py"
ROLES = "conformance/test_roles_and_isolation.py"
LISTING = "conformance/test_listing.py"
INPUTS = "conformance/test_inputs.py"
# fault -> the part of the suite that must catch it
CAUGHT_BY = {
    "auth-accepts-expired": AUTH,
    "auth-accepts-alg-none": AUTH,
    "auth-grant-keys-case-sensitive": AUTH,
    "err-conflict-code-400": FUZZ,
    "err-404-plain-text": FUZZ,
    "err-lenient-notify-type": FUZZ,
    "err-crash-on-non-ascii-search": FUZZ,
    "usr-username-lowercased": FUZZ,
    "usr-get-leaks-temp-password": FUZZ,
    "usr-malformed-id-400": FUZZ,
    "ten-metric-store-echoed": FUZZ,
    "ten-empty-contract-type-kept": FUZZ,
    "ten-role-null-rejected": FUZZ,
    "list-negative-offset-accepted": FUZZ,
    "list-filter-param-rejected": FUZZ,
    "auth-viewer-can-write": ROLES,
    "auth-admin-sees-tenants": ROLES,
    "auth-logout-keeps-tokens": USERS,
    "usr-duplicate-email": USERS,
    "usr-created-at-moves": USERS,
    "usr-created-by-self": USERS,
    "usr-delete-keeps-user": USERS,
    "usr-delete-twice-204": USERS,
    "usr-reset-repeats-password": USERS,
    "usr-logout-204": USERS,
    "usr-me-password-unchecked": USERS,
    "usr-login-keeps-last-login": USERS,
    "ten-duplicate-name": TENANTS,
    "ten-get-unknown-403": TENANTS,
    "ten-soft-delete-purges": TENANTS,
    "ten-hard-delete-is-soft": TENANTS,
    "ten-delete-unknown-200": TENANTS,
    "iso-get-cross-tenant": ROLES,
    "iso-delete-cross-tenant-403": ROLES,
    "usr-email-without-tld": INPUTS,
    "list-hides-idle-users": LISTING,
    "list-filter-terms-or": LISTING,
    "list-filter-dates-as-text": LISTING,
    "list-bad-date-ignored": LISTING,
    "list-search-case-sensitive": LISTING,
    "list-sort-desc-ignored": LISTING,
    "list-offset-skips-one": LISTING,
    "list-count-ignores-search": LISTING,
}


# Faults whose target acknowledges deletes it does not do: no client can clean up after them.
DELETES_NOTHING = {"ten-hard-delete-is-soft", "usr-delete-keeps-user"}


@pytest.mark.parametrize(
    "part",
    [FUZZ, AUTH, USERS, TENANTS, ROLES, LISTING, INPUTS],
    ids=["fuzz", "auth", "users", "tenants", "roles", "listing", "inputs"],
)
def test_clean_reference_is_green(part: str, tmp_path: Path) -> None:
    with reference(token_ttl=10) as server:
        before = untouched_snapshot(server)
        result = run_suite(server, tmp_path, part, "--profile", "ci")
        assert result.returncode == 0, result.output[-3000:]
        assert result.passed and not result.failed
        assert tagged_leftovers(server) == []
        assert untouched_snapshot(server) == before, "the run changed users or tenants it did not create"


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_planted_fault_is_caught_and_named(fault: str, tmp_path: Path) -> None:
    rule = FAULTS[fault].rule
    with reference(fault) as server:
        result = run_suite(server, tmp_path, CAUGHT_BY[fault], "--profile", "ci")
        assert result.returncode == 1, result.output[-3000:]
        assert rule in result.failed_rules, (
            f"{fault} ({rule}) was caught as {result.failed_rules}:\n{result.output[-3000:]}"
        )
        if fault in DELETES_NOTHING:  # the target cannot delete: the run must say what it left
            assert "cleanup left" in result.output and "still there" in result.output, result.output[-2000:]
        else:
            assert tagged_leftovers(server) == [], "a red run left tagged resources behind"


def test_every_fault_is_caught_by_some_part() -> None:
    assert set(CAUGHT_BY) == set(FAULTS), (
        f"faults no part of the suite is shown to catch: {sorted(set(FAULTS) - set(CAUGHT_BY))}"
    )


STATEFUL = "conformance/test_stateful.py"
# The lifecycle faults the state machines catch on their own (beside the part that CAUGHT_BY names).
CAUGHT_BY_MACHINES = [
    "usr-email-without-tld",
    "usr-get-leaks-temp-password",
    "ten-get-unknown-403",
    "usr-username-lowercased",
    "usr-duplicate-email",
    "usr-created-at-moves",
    "usr-delete-keeps-user",
    "usr-delete-twice-204",
    "usr-malformed-id-400",
    "usr-reset-repeats-password",
    "usr-logout-204",
    "usr-me-password-unchecked",
    "usr-login-keeps-last-login",
    "auth-logout-keeps-tokens",
    "ten-empty-contract-type-kept",
    "ten-role-null-rejected",
    "ten-duplicate-name",
    "ten-metric-store-echoed",
    "ten-soft-delete-purges",
    "ten-hard-delete-is-soft",
    "ten-delete-unknown-200",
]


@pytest.mark.parametrize("fault", CAUGHT_BY_MACHINES)
def test_state_machines_catch_lifecycle_faults(fault: str, tmp_path: Path) -> None:
    rule = FAULTS[fault].rule
    with reference(fault) as server:
        result = run_suite(server, tmp_path, STATEFUL, "--profile", "ci")
        assert result.returncode == 1, result.output[-3000:]
        assert rule in result.failed_rules, (
            f"{fault} ({rule}) was caught as {result.failed_rules}:\n{result.output[-3000:]}"
        )


def test_state_machines_are_green_on_the_clean_reference(tmp_path: Path) -> None:
    with reference() as server:
        before = untouched_snapshot(server)
        result = run_suite(server, tmp_path, STATEFUL, "--profile", "ci")
        assert result.returncode == 0, result.output[-3000:]
        assert tagged_leftovers(server) == [] and untouched_snapshot(server) == before
