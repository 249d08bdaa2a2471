"""Named defects the reference server can plant, each a small deviation that breaks one contract rule.

The self-tests start the server with `--fault NAME` and prove that the rule's checks go red.
"""

from __future__ import annotations

from dataclasses import dataclass

EMAIL_SHARDS = 40  # usr-email-shard-rejects: the validator's shards, one of them stale
RESET_REPEATS_EVERY = 4  # usr-reset-sometimes-repeats: one reset in this many repeats a password


@dataclass(frozen=True)
class Fault:
    name: str
    rule: str
    description: str
    # Rules the same defect breaks because the contract states the same thing in them too (e.g. LIST-1's
    # "no user of another tenant" is ISO-1's "absent from B's list"); empty for almost every fault.
    also: tuple[str, ...] = ()


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
        Fault("auth-no-token-403", "AUTH-1", "a request without an Authorization header gets 403, not 401"),
        Fault("auth-malformed-token-400", "AUTH-1", "a bearer token that is not a well-formed JWT gets 400, not 401"),
        Fault("auth-signature-unchecked", "AUTH-1", "an HS256 token whose signature does not verify is accepted"),
        Fault("auth-count-open", "AUTH-1", "GET /api/v1/users/count answers without authentication"),
        Fault("auth-viewer-cannot-read-user", "AUTH-2", "the viewer gets 403 on GET /api/v1/users/{id}"),
        Fault("auth-admin-cannot-reset", "AUTH-2", "the admin gets 403 on password resets", also=("USR-8",)),
        Fault(
            "auth-operator-no-deleted-list",
            "AUTH-2",
            "the operator gets 403 on GET /api/v1/tenants?deleted=true",
            also=("TEN-5",),
        ),
        Fault(
            "auth-viewer-403-touches-user",
            "AUTH-2",
            "the viewer's 403 on a password reset or logout still stamps the user's updatedAt (an audit write before the permission check)",
        ),
        Fault("auth-client-id-one-spelling", "AUTH-3", "the client_credentials grant takes clientId but not clientID"),
        Fault("auth-token-without-exp", "AUTH-3", "access tokens carry no exp claim"),
        Fault("auth-expires-in-millis", "AUTH-3", "expiresIn is the lifetime in milliseconds, not seconds"),
        Fault("auth-password-grant-plus-as-space", "AUTH-3", "the password grant reads '+' in a username as a space"),
        Fault("auth-unknown-client-404", "AUTH-3", "a grant for a client id that does not exist gets 404, not 401"),
        Fault("auth-logout-revokes-latest-only", "AUTH-4", "logout revokes only the user's most recent token"),
        Fault(
            "auth-logout-revokes-tenant",
            "AUTH-4",
            "logout of a user also revokes every other user's earlier tokens in the tenant",
        ),
        # ERR
        Fault(
            "err-form-body-500",
            "ERR-3",
            "a JSON body sent as application/x-www-form-urlencoded answers 500: the handler reads it as a form "
            "before the content type is checked",
        ),
        Fault("err-conflict-code-400", "ERR-1", "409 answers carry code 400 in their Error body"),
        Fault("err-404-plain-text", "ERR-1", "404 answers for unknown user ids are plain text, not an Error body"),
        Fault("err-lenient-notify-type", "ERR-2", "create_user accepts a non-boolean notify and creates the user"),
        Fault("err-crash-on-non-ascii-search", "ERR-3", "a non-ASCII search text gets a 500"),
        Fault("err-401-empty-body", "ERR-1", "401 answers have an empty body (only WWW-Authenticate)"),
        Fault(
            "err-token-errors-oauth-shape",
            "ERR-1",
            "token endpoint errors are OAuth {error, error_description}, not Error",
        ),
        Fault(
            "err-missing-field-422",
            "ERR-2",
            "a body without a required field gets 422 (the framework's default), not 400",
        ),
        Fault("err-enum-unchecked", "ERR-2", "create_tenant accepts a contractType outside its enum"),
        Fault("err-negative-tenant-id-404", "ERR-2", "a negative tenantId (below the minimum 0) gets 404, not 400"),
        Fault(
            "err-rejected-create-still-inserts",
            "ERR-2",
            "create_user inserts the user before validating the optional fields, then answers 400",
        ),
        Fault(
            "ten-rejected-create-still-inserts",
            "ERR-2",
            "create_tenant writes the tenant once name and email are good, then rejects its contractType with 400",
        ),
        Fault(
            "err-me-password-400-touches-user",
            "ERR-2",
            "a /me/password that breaks the schema gets 400, but the user's updatedAt is stamped first",
        ),
        Fault(
            "err-crash-on-long-fraction",
            "ERR-3",
            "a filterBy date with more than 6 fractional-second digits gets a 500",
        ),
        Fault("err-token-missing-secret-500", "ERR-3", "a client_credentials grant without clientSecret gets a 500"),
        Fault(
            "err-undeclared-method-500",
            "ERR-3",
            "a method no operation of a path declares (PUT, PATCH, …) gets a 500, not 405: the router's fallback raises",
        ),
        Fault(
            "err-crash-on-username-bound",
            "ERR-3",
            "a username <= or >= term whose value is exactly a user's username gets a 500",
        ),
        Fault(
            "err-read-after-login-500",
            "ERR-3",
            "GET of a user who has logged in gets a 500: the detail view cannot parse the stored lastLogin",
        ),
        Fault(
            "err-logout-never-logged-in-500",
            "ERR-3",
            "logging out a user who never logged in gets a 500: there is no session to revoke",
        ),
        # USR
        Fault("usr-username-lowercased", "USR-1", "the username is the lowercased email"),
        Fault("usr-email-without-tld", "USR-2", "an email without a top-level domain is accepted"),
        Fault(
            "usr-email-shard-rejects",
            "USR-2",
            "a valid email gets 400 when its domain falls to one shard of a sharded validator (one domain in "
            f"{EMAIL_SHARDS}), whose pattern is stale: a run meets it only on the seeds that draw such a domain",
        ),
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
        Fault(
            "usr-reset-sometimes-repeats",
            "USR-8",
            f"one password reset in {RESET_REPEATS_EVERY} (counted over the server: the 1st, the "
            f"{RESET_REPEATS_EVERY + 1}th, ...) hands back the user's first temporary password again: an intermittent defect",
        ),
        Fault("usr-logout-204", "USR-9", "logout answers 204 instead of 200"),
        Fault("usr-me-password-unchecked", "USR-10", "a wrong current password still changes the password"),
        Fault(
            "usr-me-password-wrong-still-saved",
            "USR-10",
            "a wrong current password gets 403, but the new password was written before the check",
        ),
        Fault("usr-login-keeps-last-login", "USR-11", "a password grant does not set lastLogin"),
        Fault("usr-create-200", "USR-1", "create_user answers 200, not 201"),
        Fault("usr-id-reused", "USR-1", "a new user gets the id of the tenant's most recently deleted user"),
        Fault("usr-notify-empty-temp-password", "USR-1", "with notify: true the created user's tempPassword is empty"),
        Fault("usr-email-255-accepted", "USR-2", "the email length bound is 5..255 (one too many)"),
        Fault(
            "usr-duplicate-409-but-creates", "USR-3", "a duplicate email gets 409 but a second user is stored anyway"
        ),
        Fault(
            "usr-concurrent-duplicates",
            "USR-3",
            "two creates of one email at the same moment both succeed (the check and the insert are not atomic)",
        ),
        Fault("usr-get-username-lowercased", "USR-4", "GET by id shows the username lowercased"),
        Fault("usr-is-local-false", "USR-4", "GET by id shows isLocal false for users created through the API"),
        Fault(
            "usr-timestamps-local-time",
            "USR-4",
            "createdAt/updatedAt are UTC+2 local time written with a Z (2 h in the future)",
        ),
        Fault(
            "usr-updated-before-created", "USR-4", "a new user's updatedAt is a few milliseconds before its createdAt"
        ),
        Fault("usr-last-login-at-create", "USR-4", "lastLogin is set to the creation time before any login"),
        Fault(
            "usr-viewer-no-created-by",
            "USR-4",
            "the viewer's reads (GET by id and lists) show createdBy null: a field filter meant for another role",
        ),
        Fault("usr-list-leaks-password-hash", "USR-5", "list items carry passwordHash when the list is sorted"),
        Fault("usr-delete-200", "USR-6", "delete answers 200 (empty body), not 204"),
        Fault("usr-logout-deleted-200", "USR-6", "logout of a deleted user answers 200"),
        Fault("usr-reset-deleted-200", "USR-6", "a password reset of a deleted user answers 200 with a tempPassword"),
        Fault("usr-deleted-in-filtered-list", "USR-6", "a deleted user still shows in lists filtered with filterBy"),
        Fault("usr-count-includes-deleted", "USR-6", "the count still counts deleted users"),
        Fault("usr-delete-unknown-204", "USR-7", "DELETE of an id that never existed answers 204"),
        Fault("usr-logout-unknown-200", "USR-7", "logout of an id that never existed answers 200"),
        Fault("usr-reset-unknown-400", "USR-7", "a password reset of an id that never existed gets 400"),
        Fault("usr-reset-201", "USR-8", "a password reset answers 201, not 200"),
        Fault("usr-me-password-204", "USR-10", "a successful /me/password answers 204, not 200"),
        Fault("usr-me-password-not-saved", "USR-10", "/me/password answers 200 but keeps the old password"),
        Fault(
            "usr-me-password-old-still-works",
            "USR-10",
            "after /me/password the old password still works beside the new",
        ),
        Fault("usr-me-password-max-256", "USR-10", "a 256-character new password is accepted"),
        Fault("usr-me-password-min-9", "USR-10", "an 8-character new password gets 400"),
        Fault(
            "usr-failed-grant-sets-last-login",
            "USR-11",
            "a password grant with a wrong password answers 401 but records the attempt as the user's lastLogin",
        ),
        Fault(
            "usr-reset-updated-in-future",
            "USR-4",
            "a password reset stamps updatedAt in the server's local time (UTC+2) written with a Z: 2 h in the future",
        ),
        Fault(
            "usr-logout-updated-without-zone",
            "USR-4",
            "a logout stamps updatedAt as a date-time without a zone ('2026-12-04T15:40:00.123')",
        ),
        Fault(
            "usr-last-login-first-only", "USR-11", "lastLogin is set by the first login only, never moved by later ones"
        ),
        # LIST
        Fault("list-hides-idle-users", "LIST-1", "the unfiltered list leaves out users that never logged in"),
        Fault("list-filter-terms-or", "LIST-2", "filterBy terms are joined with OR instead of AND"),
        Fault("list-filter-dates-as-text", "LIST-2", "date terms compare as text, not as instants"),
        Fault("list-bad-date-ignored", "LIST-3", "a term with an unparseable date is ignored instead of rejected"),
        Fault("list-search-case-sensitive", "LIST-4", "search matches case-sensitively"),
        Fault(
            "list-search-drops-non-ascii",
            "LIST-4",
            "search drops the characters outside ASCII from the text (a wrong encoding): a text of only such "
            "characters becomes empty and matches every user",
        ),
        Fault("list-sort-desc-ignored", "LIST-5", "sortOrder=desc sorts ascending"),
        Fault("list-offset-skips-one", "LIST-6", "a page at offset > 0 starts one item late"),
        Fault("list-negative-offset-accepted", "LIST-6", "a negative offset is read as 0 instead of rejected"),
        Fault("list-count-ignores-search", "LIST-7", "count ignores the search parameter"),
        Fault("list-filter-param-rejected", "LIST-8", "the deprecated filter parameter gets 400"),
        Fault(
            "list-cross-tenant-unfiltered",
            "LIST-1",
            "the unfiltered list holds the users of every tenant",
            also=("ISO-1",),
        ),
        Fault("list-equals-ignores-case", "LIST-2", "== on strings ignores case"),
        Fault("list-string-bounds-exclusive", "LIST-2", "<= and >= on strings are strict (< and >)"),
        Fault("list-contains-prefix-only", "LIST-2", "=@ matches only at the start of the value"),
        Fault("list-created-by-term-ignored", "LIST-2", "a createdBy term is ignored"),
        Fault("list-null-matches-le", "LIST-2", "a null lastLogin satisfies <= terms (null read as the epoch)"),
        Fault("list-creation-time-uses-updated", "LIST-2", "creationTime terms compare updatedAt"),
        Fault("list-last-updated-uses-created", "LIST-2", "lastUpdated terms compare createdAt"),
        Fault("list-is-local-term-ignored", "LIST-2", "an isLocal term is ignored"),
        Fault("list-date-bounds-exclusive", "LIST-2", "<= and >= on dates are strict (< and >)"),
        Fault("list-empty-filter-matches-none", "LIST-3", "an empty filterBy returns no users"),
        Fault("list-unknown-field-ignored", "LIST-3", "a term with an unknown field is ignored"),
        Fault("list-unknown-operator-lenient", "LIST-3", "< and > are accepted as <= and >="),
        Fault("list-empty-value-ignored", "LIST-3", "a term with an empty value is ignored"),
        Fault("list-search-matches-created-by", "LIST-4", "search also matches createdBy"),
        Fault("list-sort-last-updated-by-created", "LIST-5", "sortBy=lastUpdated sorts by createdAt"),
        Fault("list-sort-default-desc", "LIST-5", "sortBy without sortOrder sorts descending"),
        Fault(
            "list-sort-nulls-middle",
            "LIST-5",
            "sortBy=lastLogin puts never-logged-in users where their createdAt would be",
        ),
        Fault(
            "list-sort-unknown-ignored",
            "LIST-5",
            "a sortBy naming a user field outside the enum (createdAt, id, …) is ignored (200)",
        ),
        Fault("list-sort-type-400", "LIST-5", "sortBy=type gets 400"),
        Fault("list-limit-501-accepted", "LIST-6", "limit=501 is accepted (off by one)"),
        Fault("list-default-limit-100", "LIST-6", "without limit the list holds at most 100 users"),
        Fault("list-offset-past-end-last-page", "LIST-6", "an offset past the end answers the last page, not []"),
        Fault(
            "list-ties-shuffled-per-page",
            "LIST-6",
            "users whose sort key ties are ordered by a hash of the page's offset: each page breaks ties its own way",
        ),
        Fault("list-count-ignores-date-terms", "LIST-7", "count ignores the date terms of filterBy"),
        # TEN
        Fault("ten-empty-contract-type-kept", "TEN-1", "an empty contractType is stored as given, not as normal"),
        Fault("ten-role-null-rejected", "TEN-1a", "role: null gets 400"),
        Fault("ten-duplicate-name", "TEN-2", "a tenant name already in use creates a second tenant"),
        Fault("ten-metric-store-echoed", "TEN-3", "tenant representations carry the metricStore sent"),
        Fault("ten-get-unknown-403", "TEN-4", "GET of a tenant id that never existed gets 403"),
        Fault("ten-soft-delete-purges", "TEN-5", "a soft delete removes the tenant entirely"),
        Fault("ten-hard-delete-is-soft", "TEN-6", "a hard delete only soft-deletes"),
        Fault("ten-delete-unknown-200", "TEN-7", "deleting a tenant id that never existed gets 200"),
        Fault("ten-create-200", "TEN-1", "create_tenant answers 200, not 201"),
        Fault("ten-create-answer-name-lowercased", "TEN-1", "the create answer shows the tenant name lowercased"),
        Fault(
            "ten-create-answer-contract-type-default",
            "TEN-1",
            "the create answer shows contractType normal whatever was sent",
        ),
        Fault("ten-absent-contract-type-null", "TEN-1", "a tenant created without contractType has contractType null"),
        Fault("ten-status-lowercase", "TEN-1", "a live tenant's status is 'ready', outside the enum"),
        Fault("ten-uuid-not-uuid", "TEN-1", "a tenant's uuid is 'tnt-<hex>', not a UUID"),
        Fault(
            "ten-id-reused-after-hard-delete", "TEN-1", "a new tenant gets the id of a hard-deleted one (max id + 1)"
        ),
        Fault(
            "ten-name-trailing-hyphen-accepted",
            "TEN-2",
            "the name pattern has no end anchor: a trailing hyphen is accepted",
        ),
        Fault("ten-email-unchecked", "TEN-2", "the tenant email pattern is not checked"),
        Fault("ten-password-in-list", "TEN-3", "GET /api/v1/tenants items carry the tenant's password"),
        Fault(
            "ten-credential-in-url",
            "TEN-3",
            "tenant representations carry remoteWriteUrl with the metricStore credentials in it",
        ),
        Fault("ten-get-contract-type-default", "TEN-4", "GET by id shows contractType normal whatever was stored"),
        Fault("ten-soft-delete-uid-is-id", "TEN-5", "a soft delete answers {uid: <id>}, not the uuid"),
        Fault("ten-soft-deleted-still-listed", "TEN-5", "a soft-deleted tenant stays in GET /api/v1/tenants"),
        Fault("ten-get-soft-deleted-404", "TEN-5", "GET of a soft-deleted tenant gets 404"),
        Fault("ten-hard-delete-204", "TEN-6", "a hard delete answers 204, not 200 {uid}"),
        Fault("ten-hard-deleted-in-deleted-list", "TEN-6", "a hard-deleted tenant shows as Deleted with deleted=true"),
        # ISO
        Fault("iso-get-cross-tenant", "ISO-1", "GET of another tenant's user id answers 200 with the user"),
        Fault(
            "iso-delete-cross-tenant-403", "ISO-1", "DELETE of another tenant's user id gets 403, revealing it exists"
        ),
        Fault(
            "iso-logout-cross-tenant", "ISO-1", "logout of another tenant's user id answers 200 and revokes its tokens"
        ),
        Fault("iso-reset-cross-tenant", "ISO-1", "a password reset of another tenant's user id answers 200"),
        Fault(
            "iso-delete-cross-tenant-deletes", "ISO-1", "DELETE of another tenant's user id answers 404 but deletes it"
        ),
        Fault(
            "iso-peer-404-touches-user",
            "ISO-1",
            "another tenant's logout or password reset of a user id answers 404 but stamps the user's updatedAt",
        ),
        Fault("iso-search-cross-tenant", "ISO-1", "search looks at the users of every tenant"),
        Fault("iso-count-cross-tenant", "ISO-1", "count looks at the users of every tenant"),
        # At the same time: a check and the write it allows a moment apart (asyncio.sleep(0.05)), with no lock
        Fault(
            "race-delete-double-204",
            "USR-6",
            "two DELETEs of one user at the same moment both answer 204: the user is looked up, deleted a moment "
            "later, and the answer is 204 whether or not that delete removed a row",
        ),
        Fault(
            "race-reset-same-temp-password",
            "USR-8",
            "password resets of one user at the same moment hand out the same temporary password: the password "
            "generation is read, and the next one written a moment later",
        ),
        Fault(
            "race-password-change-both-win",
            "USR-10",
            "simultaneous /me/password changes with the right current password all answer 200: the current password "
            "is checked, the new one written a moment later (the last writer's password is the one that works)",
        ),
        Fault(
            "race-create-same-id",
            "USR-1",
            "creates of different emails at the same moment can get the same id: it comes from a per-tenant counter "
            "read, then advanced a moment later, and the second insert replaces the first user's row (both 201)",
        ),
        # At volume: beyond `window` results (--window, default 100)
        Fault(
            "vol-search-window",
            "LIST-4",
            "search returns at most the first `window` matching users (a search engine's default window), whatever "
            "the limit; count with the same search counts the same window",
        ),
        Fault(
            "vol-duplicate-check-recent",
            "USR-3",
            "a new email is checked against the tenant's `window` most recently created users only: the email of an "
            "older user gets 201 and a second user of that username",
        ),
        Fault(
            "vol-count-capped",
            "LIST-7",
            "GET /api/v1/users/count answers at most `window`: min(count, window)",
            # a tenant holding more than `window` users: the count does not drop by one after a delete either
            also=("USR-6",),
        ),
        # Over time: after `lapse` seconds (--lapse, default 3)
        Fault(
            "time-last-login-reverts",
            "USR-11",
            "a password grant's lastLogin lives in a session cache for `lapse` seconds and is never written: then "
            "the user reads with the lastLogin it had before the login (null for a first login)",
        ),
        Fault(
            "time-revocation-lapses",
            "AUTH-4",
            "a logout's revocation lasts `lapse` seconds: then the user's tokens issued before it work again",
        ),
        Fault(
            "time-token-dies-early",
            "AUTH-3",
            "access tokens of every grant get 401 from `lapse` seconds after their iat on, long before their exp",
            also=("AUTH-1",),
        ),
        Fault(
            "time-soft-delete-purged",
            "TEN-5",
            "a soft-deleted tenant is purged `lapse` seconds after its delete: then it is absent from "
            "?deleted=true and GET /api/v1/tenants/{id} gets 404",
        ),
        # However a request is written: repeated values, fields the server owns, path spellings, methods, Accept
        Fault(
            "wire-repeated-param-last-wins",
            "LIST-6",
            "a limit or offset given twice is validated by its first value and used by its last: limit=1&limit=501 "
            "answers up to 501 users, offset=0&offset=-1 starts the page at -1 as a Python slice does (the last user)",
        ),
        Fault(
            "wire-repeated-json-key-last-wins",
            "USR-2",
            "a create_user body with a key given twice is validated with the first occurrence and handled with the "
            'last: {"email": "<valid>", "email": "no-at-sign"} answers 201 and creates a user named "no-at-sign"',
        ),
        Fault(
            "wire-owned-fields-assigned",
            "USR-4",
            "a create_user body's createdBy, createdAt, lastLogin and isLocal are stored as sent: validation ignores "
            "them, then the handler copies every field it knows from the body (mass assignment)",
        ),
        Fault(
            "wire-path-spelling-skips-role-check",
            "AUTH-2",
            "the router routes a path with a trailing slash or a doubled slash (/api/v1/users/{id}/, "
            "/api/v1//users/{id}) to its operation, but the role check matches the path as written and lets it "
            "through: the viewer's DELETE spelled so answers 204 and deletes the user",
        ),
        Fault(
            "wire-head-skips-auth",
            "AUTH-1",
            "a HEAD request without an Authorization header is let through as the gateway's health check, read as "
            "a viewer of tenant 1: HEAD of a Users API path without a token answers 200 (or what GET answers that "
            "viewer), not 401",
        ),
        Fault(
            "wire-errors-follow-accept",
            "ERR-1",
            "an error answered to a request whose Accept header prefers text/html over application/json "
            "(Accept: text/html, or text/html;q=0.9, application/json;q=0.1) is an HTML page (text/html), not an "
            "Error body",
        ),
        # Tenants side by side: the same username in two tenants
        Fault(
            "iso-lookalike-login-stamps-all",
            "ISO-1",
            "a password grant sets lastLogin on every user of that username, in every tenant (the session writer "
            "updates by username, not by user id)",
        ),
        Fault(
            "iso-lookalike-reset-resets-all",
            "ISO-1",
            "a password reset of a user id also resets every user of the same username in every tenant: each gets "
            "a new password and its updatedAt stamped",
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
