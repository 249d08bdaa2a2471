"""New passwords the suite sets for the users it created: 8..255 characters are accepted (CONTRACT USR-10)."""

from __future__ import annotations

from hypothesis import strategies as st

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
SHORTEST, LONGEST = 8, 255


def new_passwords(*, min_size: int = SHORTEST, max_size: int = 16) -> st.SearchStrategy[str]:
    """A valid new password, drawn character by character. Not `st.text(ALPHABET)`: text strategies also
    draw whole string constants of the modules the run has loaded (in a checkout, conformance/'s own
    words: "complete", "operator", "inconclusive"), and a password the run sets is a secret masked wherever
    it stands, so such a password masked the reports' own words (a nightly run wrote summary.json with
    `"[REDACTED]": 0` for `"inconclusive": 0`; `"complete"`, which the gate reads, was as exposed)."""
    if not SHORTEST <= min_size <= max_size <= LONGEST:
        raise ValueError(f"a new password has {SHORTEST}..{LONGEST} characters")
    return st.lists(st.sampled_from(ALPHABET), min_size=min_size, max_size=max_size).map("".join)
