"""Emails inside and just outside the published `UserCreationRequest.email` constraints (CONTRACT USR-2).

The published pattern is `^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$` with length 5..254.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

LOCAL_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
DOMAIN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
TLD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
MIN_LENGTH, MAX_LENGTH = 5, 254
PATTERN = re.compile(r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}")  # the published pattern, whole string


def _email(local: str, domain: str, tld: str) -> str:
    return f"{local}@{domain}.{tld}"


def emails(*, min_size: int = MIN_LENGTH, max_size: int = MAX_LENGTH) -> st.SearchStrategy[str]:
    """A valid email of length min_size..max_size; favours the corners: mixed case, punctuation in the local
    part, dots and hyphens in the domain, and the shortest and the longest lengths."""
    if not MIN_LENGTH <= min_size <= max_size <= MAX_LENGTH:
        raise ValueError(f"need {MIN_LENGTH} <= min_size <= max_size <= {MAX_LENGTH}")
    ordinary = st.builds(
        _email,
        st.text(st.sampled_from(LOCAL_ALPHABET), min_size=1, max_size=20),
        st.text(st.sampled_from(DOMAIN_ALPHABET), min_size=1, max_size=20),
        st.text(st.sampled_from(TLD_ALPHABET), min_size=2, max_size=6),
    )
    # The pattern needs at least a@b.cc, so 6 is the shortest valid email whatever min_size says.
    corners = st.sampled_from(sorted({max_size, max(min_size, 6)})).flatmap(emails_of_length)
    return st.one_of(ordinary, corners).filter(lambda e: min_size <= len(e) <= max_size)


def emails_of_length(length: int) -> st.SearchStrategy[str]:
    """A valid email of exactly `length` characters (6..254: the pattern needs at least a@b.cc)."""
    if not 6 <= length <= MAX_LENGTH:
        raise ValueError(f"a valid email has 6..{MAX_LENGTH} characters, not {length}")
    tld, domain = 2, 1
    local = length - tld - domain - 2
    if local > 64:  # keep the local part ordinary and grow the domain instead
        domain += local - 64
        local = 64
    return st.builds(
        _email,
        st.text(st.sampled_from(LOCAL_ALPHABET), min_size=local, max_size=local),
        st.text(st.sampled_from("abcdefghij"), min_size=domain, max_size=domain),
        st.text(st.sampled_from(TLD_ALPHABET), min_size=tld, max_size=tld),
    )


def invalid_emails() -> st.SearchStrategy[str]:
    """A near miss: no TLD, a one-letter TLD, a digit in the TLD, two @, no @, spaces, non-ASCII, empty
    local part, 4 characters, 255 characters."""
    valid = emails(max_size=60)
    local = st.text(st.sampled_from(LOCAL_ALPHABET), min_size=1, max_size=20)
    dotless_domain = st.text(st.sampled_from(DOMAIN_ALPHABET.replace(".", "")), min_size=1, max_size=20)
    return st.one_of(
        st.builds(lambda lp, d: f"{lp}@{d}", local, dotless_domain),  # no TLD: no dot after the @ at all
        valid.map(lambda e: e.rsplit(".", 1)[0] + ".c"),  # one-letter TLD
        valid.map(lambda e: e.rsplit(".", 1)[0] + ".c0m"),
        valid.map(lambda e: e.replace("@", "@@", 1)),
        valid.map(lambda e: e.replace("@", "", 1)),
        valid.map(lambda e: e.replace("@", " @", 1)),
        valid.map(lambda e: "é" + e),
        valid.map(lambda e: e[e.index("@") :]),  # empty local part
        st.just("a@bc"),  # 4 characters
        emails_of_length(MAX_LENGTH).map(lambda e: "a" + e),  # 255 characters
    )


def pattern_breaking_emails() -> st.SearchStrategy[str]:
    """A near miss of the pattern itself, whatever its length: for the tenant email (TEN-2), which has the
    pattern and no length bound."""
    return invalid_emails().filter(lambda e: not PATTERN.fullmatch(e))
