"""Named defects the reference server can plant, each a small deviation that breaks one contract rule.

The self-tests start the server with `--fault NAME` and prove that the rule's checks go red.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    rule: str
    description: str


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in [
        # AUTH
        Fault("auth-accepts-expired", "AUTH-1", "expired tokens are accepted"),
        Fault("auth-accepts-alg-none", "AUTH-1", "unsigned tokens with alg none are accepted"),
        Fault("auth-grant-keys-case-sensitive", "AUTH-3", "the app_token grant matches its key names case-sensitively"),
        Fault("auth-viewer-can-write", "AUTH-2", "the viewer role may POST and DELETE users"),
        Fault("auth-admin-sees-tenants", "AUTH-2", "the admin role may read the Tenants API"),
        Fault("auth-logout-keeps-tokens", "AUTH-4", "logout does not revoke the user's earlier tokens"),
        # ERR
        Fault("err-conflict-code-400", "ERR-1", "409 answers carry code 400 in their Error body"),
        Fault("err-404-plain-text", "ERR-1", "404 answers for unknown user ids are plain text, not an Error body"),
        Fault("err-lenient-notify-type", "ERR-2", "create_user accepts a non-boolean notify and creates the user"),
        Fault("err-crash-on-non-ascii-search", "ERR-3", "a non-ASCII search text gets a 500"),
        # USR
        Fault("usr-username-lowercased", "USR-1", "the username is the lowercased email"),
        Fault("usr-email-without-tld", "USR-2", "an email without a top-level domain is accepted"),
        Fault("usr-duplicate-email", "USR-3", "a duplicate email in the tenant creates a second user"),
        Fault("usr-created-at-moves", "USR-4", "createdAt is the time of the read, not of the creation"),
        Fault("usr-created-by-self", "USR-4", "createdBy is the new user's own username"),
        Fault("usr-get-leaks-temp-password", "USR-5", "GET of a user includes its tempPassword"),
        Fault("usr-delete-keeps-user", "USR-6", "delete answers 204 but the user stays readable"),
        Fault(
            "usr-delete-twice-204", "USR-6", "a second DELETE of a deleted user answers 204 (an 'idempotent' delete)"
        ),
        Fault("usr-malformed-id-400", "USR-7", "an id that is not UUID-shaped gets 400 instead of 404"),
        Fault("usr-reset-repeats-password", "USR-8", "a password reset hands back the first temporary password again"),
        Fault("usr-logout-204", "USR-9", "logout answers 204 instead of 200"),
        Fault("usr-me-password-unchecked", "USR-10", "a wrong current password still changes the password"),
        Fault("usr-login-keeps-last-login", "USR-11", "a password grant does not set lastLogin"),
        # LIST
        Fault("list-hides-idle-users", "LIST-1", "the unfiltered list leaves out users that never logged in"),
        Fault("list-filter-terms-or", "LIST-2", "filterBy terms are joined with OR instead of AND"),
        Fault("list-filter-dates-as-text", "LIST-2", "date terms compare as text, not as instants"),
        Fault("list-bad-date-ignored", "LIST-3", "a term with an unparseable date is ignored instead of rejected"),
        Fault("list-search-case-sensitive", "LIST-4", "search matches case-sensitively"),
        Fault("list-sort-desc-ignored", "LIST-5", "sortOrder=desc sorts ascending"),
        Fault("list-offset-skips-one", "LIST-6", "a page at offset > 0 starts one item late"),
        Fault("list-negative-offset-accepted", "LIST-6", "a negative offset is read as 0 instead of rejected"),
        Fault("list-count-ignores-search", "LIST-7", "count ignores the search parameter"),
        Fault("list-filter-param-rejected", "LIST-8", "the deprecated filter parameter gets 400"),
        # TEN
        Fault("ten-empty-contract-type-kept", "TEN-1", "an empty contractType is stored as given, not as normal"),
        Fault("ten-role-null-rejected", "TEN-1a", "role: null gets 400"),
        Fault("ten-duplicate-name", "TEN-2", "a tenant name already in use creates a second tenant"),
        Fault("ten-metric-store-echoed", "TEN-3", "tenant representations carry the metricStore sent"),
        Fault("ten-get-unknown-403", "TEN-4", "GET of a tenant id that never existed gets 403"),
        Fault("ten-soft-delete-purges", "TEN-5", "a soft delete removes the tenant entirely"),
        Fault("ten-hard-delete-is-soft", "TEN-6", "a hard delete only soft-deletes"),
        Fault("ten-delete-unknown-200", "TEN-7", "deleting a tenant id that never existed gets 200"),
        # ISO
        Fault("iso-get-cross-tenant", "ISO-1", "GET of another tenant's user id answers 200 with the user"),
        Fault(
            "iso-delete-cross-tenant-403", "ISO-1", "DELETE of another tenant's user id gets 403, revealing it exists"
        ),
    ]
}


class UnknownFault(ValueError):
    pass


class Faults:
    """The set of planted faults; `faults.on("name")` asks whether one is planted."""

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        unknown = [n for n in names if n not in FAULTS]
        if unknown:
            raise UnknownFault(f"unknown fault {', '.join(unknown)} (see --list-faults)")
        self.names = frozenset(names)

    def on(self, name: str) -> bool:
        if name not in FAULTS:  # a typo in the server's own code must not silently disable a fault
            raise KeyError(name)
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)
