"""The suite: green on the clean reference, red on each planted fault a part of it is meant to catch,
with the failing test naming the fault's rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from runai_conformance.reference.faults import FAULTS
from tests.suite.runner import reference, run_suite, tagged_leftovers

FUZZ = "conformance/test_fuzz.py"
AUTH = "conformance/test_auth.py"
USERS = "conformance/test_users_lifecycle.py"
TENANTS = "conformance/test_tenants_lifecycle.py"
ROLES = "conformance/test_roles_and_isolation.py"
LISTING = "conformance/test_listing.py"
INPUTS = "conformance/test_inputs.py"


def fuzzing(operation: str) -> str:
    """The fuzz test of one operation (`GET /api/v1/users`), as a node id pytest re-runs."""
    return f"{FUZZ}::test_operation_conforms::test_operation_conforms[{operation}]"


# fault -> the test of its clause that must catch it: one test (a fuzzed operation is one test too), so
# that the whole matrix stays within the CI budget
CAUGHT_BY = {
    "auth-accepts-expired": AUTH + "::test_expired_token_gets_401",
    "auth-accepts-alg-none": AUTH + "::test_bad_token_gets_401",
    "auth-grant-keys-case-sensitive": AUTH + "::test_token_grant_answers_a_jwt",
    "err-conflict-code-400": fuzzing("POST /api/v1/users"),
    "err-404-plain-text": fuzzing("GET /api/v1/users/{userId}"),
    "err-lenient-notify-type": fuzzing("POST /api/v1/users"),
    "err-crash-on-non-ascii-search": "conformance/test_listing.py::test_search_returns_exactly_the_containing_users",
    "list-search-drops-non-ascii": "conformance/test_listing.py::test_search_returns_exactly_the_containing_users",
    "usr-username-lowercased": fuzzing("POST /api/v1/users"),
    "usr-get-leaks-temp-password": fuzzing("GET /api/v1/users/{userId}"),
    "usr-malformed-id-400": fuzzing("GET /api/v1/users/{userId}"),
    "ten-metric-store-echoed": fuzzing("POST /api/v1/tenants"),
    "ten-empty-contract-type-kept": fuzzing("POST /api/v1/tenants"),
    "ten-role-null-rejected": fuzzing("POST /api/v1/tenants"),
    "list-negative-offset-accepted": fuzzing("GET /api/v1/users"),
    "list-filter-param-rejected": fuzzing("GET /api/v1/users"),
    "auth-viewer-can-write": ROLES + "::test_viewer_reads_but_never_writes",
    "auth-admin-sees-tenants": ROLES + "::test_admin_has_no_tenants_api",
    "auth-logout-keeps-tokens": USERS + "::test_logout_revokes_earlier_tokens_only",
    "usr-duplicate-email": USERS + "::test_duplicate_email_conflicts_and_creates_nothing",
    "usr-created-at-moves": USERS + "::test_read_shows_the_created_user",
    "usr-created-by-self": USERS + "::test_read_shows_the_created_user",
    "usr-delete-keeps-user": USERS + "::test_delete_removes_the_user_everywhere",
    "usr-delete-twice-204": USERS + "::test_delete_removes_the_user_everywhere",
    "usr-reset-repeats-password": USERS + "::test_password_reset_never_repeats_a_password",
    "usr-reset-sometimes-repeats": USERS + "::test_password_reset_never_repeats_a_password",  # its 1st reset repeats
    "usr-email-shard-rejects": INPUTS
    + "::test_valid_emails_are_accepted",  # on some seeds: tests/suite/test_nightly_memory.py
    "usr-logout-204": USERS + "::test_logout_revokes_earlier_tokens_only",
    "usr-me-password-unchecked": USERS + "::test_password_change_needs_the_current_password",
    "usr-login-keeps-last-login": USERS + "::test_login_sets_last_login",
    "ten-duplicate-name": TENANTS + "::test_name_in_use_conflicts",
    "ten-get-unknown-403": TENANTS + "::test_id_that_never_existed_is_404",
    "ten-soft-delete-purges": TENANTS + "::test_soft_delete_keeps_a_deleted_record",
    "ten-hard-delete-is-soft": TENANTS + "::test_hard_delete_removes_the_tenant",
    "ten-delete-unknown-200": TENANTS + "::test_deleting_a_missing_tenant_is_404",
    "iso-get-cross-tenant": ROLES + "::test_other_tenants_admin_gets_404_by_id",
    "iso-delete-cross-tenant-403": ROLES + "::test_other_tenants_admin_gets_404_by_id",
    "usr-email-without-tld": INPUTS + "::test_near_miss_emails_get_400",
    "list-hides-idle-users": LISTING + "::test_list_holds_every_user_of_the_tenant_and_no_other",
    "list-filter-terms-or": LISTING + "::test_filter_returns_exactly_the_matching_users",
    "list-filter-dates-as-text": LISTING + "::test_filter_returns_exactly_the_matching_users",
    "list-bad-date-ignored": LISTING + "::test_bad_terms_get_400",
    "list-search-case-sensitive": LISTING + "::test_search_returns_exactly_the_containing_users",
    "list-sort-desc-ignored": LISTING + "::test_sort_orders_the_list",
    "list-offset-skips-one": LISTING + "::test_pages_are_disjoint_and_make_up_the_list",
    "list-count-ignores-search": LISTING + "::test_count_is_the_length_of_the_list",
}

# fault -> the one test of its clause the matrix runs (faults planted for the clause table, issue 17)
CAUGHT_BY |= {
    "auth-no-token-403": "conformance/test_auth.py::test_bad_token_gets_401",
    "auth-malformed-token-400": "conformance/test_auth.py::test_bad_token_gets_401",
    "auth-signature-unchecked": "conformance/test_auth.py::test_bad_token_gets_401",
    "auth-count-open": "conformance/test_auth.py::test_bad_token_gets_401",
    "err-401-empty-body": "conformance/test_auth.py::test_bad_token_gets_401",
    "auth-viewer-cannot-read-user": "conformance/test_roles_and_isolation.py::test_viewer_reads_but_never_writes",
    "auth-admin-cannot-reset": "conformance/test_roles_and_isolation.py::test_admin_uses_every_users_operation",
    "auth-operator-no-deleted-list": "conformance/test_roles_and_isolation.py::test_operator_has_the_tenants_api",
    "auth-client-id-one-spelling": "conformance/test_auth.py::test_token_grant_answers_a_jwt",
    "auth-token-without-exp": "conformance/test_auth.py::test_token_grant_answers_a_jwt",
    "auth-expires-in-millis": "conformance/test_auth.py::test_token_grant_answers_a_jwt",
    "auth-password-grant-plus-as-space": "conformance/test_auth.py::test_password_grant_for_a_created_user",
    "auth-unknown-client-404": "conformance/test_auth.py::test_bad_credentials_get_401",
    "auth-logout-revokes-latest-only": "conformance/test_users_lifecycle.py::test_logout_revokes_earlier_tokens_only",
    "auth-logout-revokes-tenant": "conformance/test_users_lifecycle.py::test_logout_revokes_earlier_tokens_only",
    "err-token-errors-oauth-shape": "conformance/test_auth.py::test_every_wrong_grant_gets_a_4xx_error_body",
    "err-token-missing-secret-500": "conformance/test_auth.py::test_every_wrong_grant_gets_a_4xx_error_body",
    "err-missing-field-422": "conformance/test_inputs.py::test_schema_breaking_requests_get_400_and_change_nothing",
    "err-enum-unchecked": "conformance/test_inputs.py::test_schema_breaking_requests_get_400_and_change_nothing",
    "err-negative-tenant-id-404": "conformance/test_inputs.py::test_schema_breaking_requests_get_400_and_change_nothing",
    "err-rejected-create-still-inserts": "conformance/test_inputs.py::test_schema_breaking_requests_get_400_and_change_nothing",
    "ten-rejected-create-still-inserts": "conformance/test_inputs.py::test_schema_breaking_requests_get_400_and_change_nothing",
    "err-crash-on-long-fraction": "conformance/test_listing.py::test_every_iso_8601_form_gets_200_or_400",
    "usr-create-200": "conformance/test_users_lifecycle.py::test_create_answers_id_username_temp_password",
    "usr-notify-empty-temp-password": "conformance/test_users_lifecycle.py::test_create_answers_id_username_temp_password",
    "usr-id-reused": "conformance/test_users_lifecycle.py::test_ids_are_never_reused",
    "usr-email-255-accepted": "conformance/test_inputs.py::test_email_length_bounds",
    "usr-duplicate-409-but-creates": "conformance/test_users_lifecycle.py::test_duplicate_email_conflicts_and_creates_nothing",
    "usr-concurrent-duplicates": "conformance/test_users_lifecycle.py::test_concurrent_creates_of_one_email_have_one_winner",
    "usr-get-username-lowercased": "conformance/test_users_lifecycle.py::test_read_shows_the_created_user",
    "usr-is-local-false": "conformance/test_users_lifecycle.py::test_read_shows_the_created_user",
    "usr-timestamps-local-time": "conformance/test_users_lifecycle.py::test_read_shows_the_created_user",
    "usr-updated-before-created": "conformance/test_users_lifecycle.py::test_read_shows_the_created_user",
    "usr-last-login-at-create": "conformance/test_users_lifecycle.py::test_read_shows_the_created_user",
    "usr-viewer-no-created-by": "conformance/test_users_lifecycle.py::test_every_read_of_a_user_agrees",
    "usr-me-password-wrong-still-saved": "conformance/test_users_lifecycle.py::test_password_change_needs_the_current_password",
    "usr-list-leaks-password-hash": "conformance/test_listing.py::test_sort_orders_the_list",
    "list-sort-last-updated-by-created": "conformance/test_listing.py::test_sort_orders_the_list",
    "list-sort-default-desc": "conformance/test_listing.py::test_sort_orders_the_list",
    "list-sort-nulls-middle": "conformance/test_listing.py::test_sort_orders_the_list",
    "list-sort-type-400": "conformance/test_listing.py::test_sort_orders_the_list",
    "usr-delete-200": "conformance/test_users_lifecycle.py::test_delete_removes_the_user_everywhere",
    "usr-logout-deleted-200": "conformance/test_users_lifecycle.py::test_delete_removes_the_user_everywhere",
    "usr-reset-deleted-200": "conformance/test_users_lifecycle.py::test_delete_removes_the_user_everywhere",
    "usr-deleted-in-filtered-list": "conformance/test_users_lifecycle.py::test_delete_removes_the_user_everywhere",
    "usr-count-includes-deleted": "conformance/test_users_lifecycle.py::test_delete_removes_the_user_everywhere",
    "usr-delete-unknown-204": "conformance/test_users_lifecycle.py::test_id_that_never_existed_is_404",
    "usr-logout-unknown-200": "conformance/test_users_lifecycle.py::test_id_that_never_existed_is_404",
    "usr-reset-unknown-400": "conformance/test_users_lifecycle.py::test_id_that_never_existed_is_404",
    "usr-reset-201": "conformance/test_users_lifecycle.py::test_password_reset_never_repeats_a_password",
    "usr-me-password-204": "conformance/test_users_lifecycle.py::test_password_change_needs_the_current_password",
    "usr-me-password-not-saved": "conformance/test_users_lifecycle.py::test_password_change_needs_the_current_password",
    "usr-me-password-old-still-works": "conformance/test_users_lifecycle.py::test_password_change_needs_the_current_password",
    "usr-me-password-max-256": "conformance/test_users_lifecycle.py::test_password_change_needs_the_current_password",
    "usr-me-password-min-9": "conformance/test_users_lifecycle.py::test_password_change_needs_the_current_password",
    "usr-last-login-first-only": "conformance/test_users_lifecycle.py::test_login_sets_last_login",
    "list-cross-tenant-unfiltered": "conformance/test_listing.py::test_list_holds_every_user_of_the_tenant_and_no_other",
    "list-equals-ignores-case": "conformance/test_listing.py::test_terms_on_every_field_select_exactly",
    "list-string-bounds-exclusive": "conformance/test_listing.py::test_terms_on_every_field_select_exactly",
    "list-contains-prefix-only": "conformance/test_listing.py::test_terms_on_every_field_select_exactly",
    "list-created-by-term-ignored": "conformance/test_listing.py::test_terms_on_every_field_select_exactly",
    "list-is-local-term-ignored": "conformance/test_listing.py::test_terms_on_every_field_select_exactly",
    "list-null-matches-le": "conformance/test_listing.py::test_date_terms_at_the_exact_instant",
    "list-creation-time-uses-updated": "conformance/test_listing.py::test_date_terms_at_the_exact_instant",
    "list-last-updated-uses-created": "conformance/test_listing.py::test_date_terms_at_the_exact_instant",
    "list-date-bounds-exclusive": "conformance/test_listing.py::test_date_terms_at_the_exact_instant",
    "list-empty-filter-matches-none": "conformance/test_listing.py::test_empty_filter_filters_nothing",
    "list-unknown-field-ignored": "conformance/test_listing.py::test_bad_terms_get_400",
    "list-unknown-operator-lenient": "conformance/test_listing.py::test_bad_terms_get_400",
    "list-empty-value-ignored": "conformance/test_listing.py::test_bad_terms_get_400",
    "list-search-matches-created-by": "conformance/test_listing.py::test_search_returns_exactly_the_containing_users",
    "list-sort-unknown-ignored": "conformance/test_listing.py::test_sort_values_outside_the_enums_get_400",
    "list-limit-501-accepted": "conformance/test_listing.py::test_paging_bounds_exactly",
    "list-default-limit-100": "conformance/test_listing.py::test_default_limit_holds_every_user",
    "list-offset-past-end-last-page": "conformance/test_listing.py::test_pages_are_disjoint_and_make_up_the_list",
    "list-count-ignores-date-terms": "conformance/test_listing.py::test_count_agrees_for_every_kind_of_term",
    "ten-create-200": "conformance/test_tenants_lifecycle.py::test_create_answers_the_tenant_sent",
    "ten-create-answer-name-lowercased": "conformance/test_tenants_lifecycle.py::test_create_answers_the_tenant_sent",
    "ten-create-answer-contract-type-default": "conformance/test_tenants_lifecycle.py::test_create_answers_the_tenant_sent",
    "ten-absent-contract-type-null": "conformance/test_tenants_lifecycle.py::test_create_answers_the_tenant_sent",
    "ten-status-lowercase": "conformance/test_tenants_lifecycle.py::test_create_answers_the_tenant_sent",
    "ten-uuid-not-uuid": "conformance/test_tenants_lifecycle.py::test_create_answers_the_tenant_sent",
    "ten-id-reused-after-hard-delete": "conformance/test_tenants_lifecycle.py::test_ids_are_never_reused",
    "ten-name-trailing-hyphen-accepted": "conformance/test_inputs.py::test_tenant_names",
    "ten-email-unchecked": "conformance/test_inputs.py::test_tenant_emails",
    "ten-password-in-list": "conformance/test_tenants_lifecycle.py::test_write_only_fields_never_come_back",
    "ten-credential-in-url": "conformance/test_tenants_lifecycle.py::test_write_only_fields_never_come_back",
    "ten-get-contract-type-default": "conformance/test_tenants_lifecycle.py::test_read_shows_the_created_tenant",
    "ten-soft-delete-uid-is-id": "conformance/test_tenants_lifecycle.py::test_soft_delete_keeps_a_deleted_record",
    "ten-soft-deleted-still-listed": "conformance/test_tenants_lifecycle.py::test_soft_delete_keeps_a_deleted_record",
    "ten-get-soft-deleted-404": "conformance/test_tenants_lifecycle.py::test_soft_delete_keeps_a_deleted_record",
    "ten-hard-delete-204": "conformance/test_tenants_lifecycle.py::test_hard_delete_removes_the_tenant",
    "ten-hard-deleted-in-deleted-list": "conformance/test_tenants_lifecycle.py::test_hard_delete_removes_the_tenant",
    "iso-logout-cross-tenant": "conformance/test_roles_and_isolation.py::test_other_tenants_admin_gets_404_by_id",
    "iso-reset-cross-tenant": "conformance/test_roles_and_isolation.py::test_other_tenants_admin_gets_404_by_id",
    "iso-delete-cross-tenant-deletes": "conformance/test_roles_and_isolation.py::test_other_tenants_admin_gets_404_by_id",
    "iso-search-cross-tenant": "conformance/test_roles_and_isolation.py::test_other_tenants_admin_cannot_see_the_user_in_lists",
    "iso-count-cross-tenant": "conformance/test_roles_and_isolation.py::test_other_tenants_admin_cannot_see_the_user_in_lists",
}

# fault -> the test that meets its 5xx: one of each kind (issue 26; tests/suite/test_server_errors.py plants
# them together): fuzzing, a Hypothesis property, a state machine, a hand-written probe that only looks for 403
CAUGHT_BY |= {
    "err-undeclared-method-500": fuzzing("GET /api/v1/users/count"),
    "err-crash-on-username-bound": LISTING + "::test_filter_returns_exactly_the_matching_users",
    "err-read-after-login-500": "conformance/test_stateful.py::test_users_lifecycle_machine",
    "err-logout-never-logged-in-500": ROLES + "::test_admin_uses_every_users_operation",
}

# fault -> the test that catches it: a field that must not move, moving (issue 26). A rejected request is
# followed by a look at every field of the users it could touch; every read judges every timestamp clause.
CAUGHT_BY |= {
    "usr-failed-grant-sets-last-login": "conformance/test_auth.py::test_password_grant_for_a_created_user",
    "auth-viewer-403-touches-user": "conformance/test_roles_and_isolation.py::test_viewer_reads_but_never_writes",
    "iso-peer-404-touches-user": "conformance/test_roles_and_isolation.py::test_other_tenants_admin_gets_404_by_id",
    "err-me-password-400-touches-user": "conformance/test_inputs.py::test_schema_breaking_requests_get_400_and_change_nothing",
    "usr-reset-updated-in-future": "conformance/test_users_lifecycle.py::test_every_read_of_a_user_agrees",
    "usr-logout-updated-without-zone": "conformance/test_users_lifecycle.py::test_logout_revokes_earlier_tokens_only",
    # ties on purpose: a paging bug that only a sort key many users share shows
    "list-ties-shuffled-per-page": "conformance/test_listing.py::test_pages_are_disjoint_under_ties",
}


# fault -> the test that catches it under pressure (issue 34): simultaneous requests judged by the
# linearizability checker, a crowd larger than a page or a window, what was true judged again later
SIMULTANEOUS = "conformance/test_simultaneous.py::test_simultaneous_"
VOLUME = "conformance/test_volume.py::"
LATER = "conformance/test_later.py::test_what_was_true_holds_later"
CAUGHT_BY |= {
    "race-delete-double-204": SIMULTANEOUS + "deletes_of_one_user_have_one_winner",
    "race-reset-same-temp-password": SIMULTANEOUS + "password_resets_hand_out_different_passwords",
    "race-password-change-both-win": SIMULTANEOUS + "password_changes_have_one_winner",
    "race-create-same-id": SIMULTANEOUS + "creates_racing_counts_add_up",
    "vol-search-window": VOLUME + "test_search_finds_the_whole_crowd",
    "vol-duplicate-check-recent": VOLUME + "test_an_old_members_email_is_still_a_duplicate",
    "vol-count-capped": VOLUME + "test_a_crowd_counts_whole",
    "time-last-login-reverts": LATER,
    "time-revocation-lapses": LATER,
    "time-token-dies-early": LATER,
    "time-soft-delete-purged": "conformance/test_later.py::test_a_deleted_tenant_stays_as_deleted_later",
}

# fault -> the test that catches a request written another way, or a look-alike in another tenant (issue 35)
WIRE = "conformance/test_wire.py::"
CAUGHT_BY |= {
    "wire-repeated-param-last-wins": WIRE + "test_a_repeated_query_parameter_is_refused_or_one_valid_value_is_used",
    "wire-repeated-json-key-last-wins": WIRE + "test_a_repeated_json_key_is_refused_or_one_valid_value_is_used",
    "wire-owned-fields-assigned": WIRE + "test_fields_the_server_owns_are_ignored_or_refused",
    "wire-path-spelling-skips-role-check": WIRE + "test_every_spelling_of_a_path_keeps_the_viewer_from_deleting",
    "wire-head-skips-auth": WIRE + "test_head_without_a_token_is_get_without_a_token",
    "wire-errors-follow-accept": WIRE + "test_accept_changes_no_errors_shape_and_any_content_type_gets_no_5xx",
    "err-form-body-500": WIRE + "test_accept_changes_no_errors_shape_and_any_content_type_gets_no_5xx",
    "iso-lookalike-login-stamps-all": "conformance/test_lookalikes.py::test_acting_on_one_twin_leaves_the_other_as_it_was",
    "iso-lookalike-reset-resets-all": "conformance/test_lookalikes.py::test_acting_on_one_twin_leaves_the_other_as_it_was",
}


# Faults whose target acknowledges deletes it does not do: no client can clean up after them.
DELETES_NOTHING = {"ten-hard-delete-is-soft", "usr-delete-keeps-user"}


# Faults a ci run meets only on some seeds: their catch, with the seeds that do and do not, and the example
# database that replays it, is tests/suite/test_nightly_memory.py's.
SEED_DEPENDENT = {"usr-email-shard-rejects"}


@pytest.mark.parametrize("fault", sorted(set(CAUGHT_BY) - SEED_DEPENDENT))
def test_planted_fault_is_caught_and_named(fault: str, tmp_path: Path) -> None:
    caught_exactly(fault, CAUGHT_BY[fault], tmp_path)


def caught_exactly(fault: str, part: str, tmp_path: Path, *extra: str) -> None:
    """`part` is red on `fault`, naming its rule and no rule the fault does not break, and leaves
    nothing tagged behind (or says what a target that deletes nothing kept)."""
    rule = FAULTS[fault].rule
    with reference(fault) as server:
        result = run_suite(server, tmp_path, part, "--profile", "ci", "--shrink-seconds", "0", *extra)
        assert result.returncode == 1, result.output[-3000:]
        assert rule in result.failed_rules, (
            f"{fault} ({rule}) was caught as {result.failed_rules}:\n{result.output[-3000:]}"
        )
        # verdicts are exact: the red run names the rules the fault breaks, and no other
        assert result.failed_rules <= {rule, *FAULTS[fault].also}, (
            f"{fault} ({rule}) was also reported as {sorted(result.failed_rules - {rule})}:\n{result.output[-3000:]}"
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
    "usr-id-reused",
    "usr-duplicate-409-but-creates",
    "auth-logout-revokes-tenant",
    # a field that must not move, moving: the look after every step
    "usr-failed-grant-sets-last-login",
    "usr-reset-updated-in-future",
    "usr-logout-updated-without-zone",
]


def machine_of(fault: str) -> str:
    """The state machine a lifecycle fault belongs to: the tenants machine for TEN faults, else users."""
    name = "test_tenants_lifecycle_machine" if FAULTS[fault].rule.startswith("TEN") else "test_users_lifecycle_machine"
    return f"{STATEFUL}::{name}"


@pytest.mark.parametrize("fault", CAUGHT_BY_MACHINES)
def test_state_machines_catch_lifecycle_faults(fault: str, tmp_path: Path) -> None:
    """Red naming the rule is the verdict wanted here, not the shortest reproduction: no shrinking, and the
    first of the machine's parts to fail decides (-x), as the benchmark's first failure does."""
    caught_exactly(fault, machine_of(fault), tmp_path, "-x")


# Faults that fuzzing meets in a response (a status or a field outside the schema) or in a look after a
# rejected create: the failure names the rule of what broke (the field's, the request's), not the operation's.
CAUGHT_BY_FUZZING = {
    "ten-status-lowercase": fuzzing("GET /api/v1/tenants"),
    "ten-uuid-not-uuid": fuzzing("GET /api/v1/tenants"),
    "ten-absent-contract-type-null": fuzzing("GET /api/v1/tenants"),
    "ten-hard-delete-204": fuzzing("DELETE /api/v1/tenants/{tenantId}"),
    "err-missing-field-422": fuzzing("POST /api/v1/tenants"),
    # a rejected create is looked up afterwards: it created nothing
    "err-rejected-create-still-inserts": fuzzing("POST /api/v1/users"),
    "usr-duplicate-409-but-creates": fuzzing("POST /api/v1/users"),
    "ten-rejected-create-still-inserts": fuzzing("POST /api/v1/tenants"),
    # a sample of the requests that must change nothing is followed by a look at the pool's users
    "err-me-password-400-touches-user": fuzzing("POST /api/v1/me/password"),
}


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY_FUZZING))
def test_fuzzing_names_the_rule_of_what_broke(fault: str, tmp_path: Path) -> None:
    caught_exactly(fault, CAUGHT_BY_FUZZING[fault], tmp_path)


def test_a_count_that_ignores_search_is_no_isolation_verdict(tmp_path: Path) -> None:
    """The peer's count with the victim's email is an isolation verdict only when the count applies the
    search at all (it counts nothing for an email nobody has): a count that ignores it is LIST-7's."""
    with reference("list-count-ignores-search") as server:
        result = run_suite(server, tmp_path, CAUGHT_BY["iso-count-cross-tenant"], "--profile", "ci")
    assert result.returncode == 0 and not result.failed_rules, result.output[-3000:]


def test_a_population_without_ties_is_no_paging_verdict(tmp_path: Path) -> None:
    """The ties paging property pages through the sort keys the run's population shares. Where a target's
    createdBy is wrong (each user its own creator: USR-4's), that key does not tie. The property must then
    page through the keys that still tie, and name nothing. Before, it failed with no rule, so a strict
    first failure (-x) named no rule for this fault."""
    with reference("usr-created-by-self") as server:
        result = run_suite(server, tmp_path, CAUGHT_BY["list-ties-shuffled-per-page"], "--profile", "ci")
    assert result.returncode == 0 and not result.failed, result.output[-3000:]
    assert result.passed, "lastLogin still ties (nobody logged in): the property runs on it"


def test_simultaneous_hard_deletes_name_a_hard_delete_that_did_not_take(tmp_path: Path) -> None:
    """Hard deletes that all answer 200 and leave the tenant readable are TEN-6's (the delete did not take),
    not TEN-7's repeats: the whole ci run with -x met this test first."""
    caught_exactly("ten-hard-delete-is-soft", SIMULTANEOUS + "hard_deletes_of_one_tenant_have_one_winner", tmp_path)
