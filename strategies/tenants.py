"""Tenant names inside and outside the published pattern `^[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]$` (CONTRACT TEN-2)."""

from __future__ import annotations

from hypothesis import strategies as st

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def tenant_names(*, max_size: int = 40) -> st.SearchStrategy[str]:
    """A valid name: alphanumeric ends, hyphens allowed inside (runs of them too); two characters is the shortest."""
    if max_size < 2:
        raise ValueError("a tenant name has at least 2 characters")
    inner = st.text(st.sampled_from(ALNUM + "-"), max_size=max_size - 2)
    return st.builds(lambda a, m, z: a + m + z, st.sampled_from(ALNUM), inner, st.sampled_from(ALNUM))


def invalid_tenant_names() -> st.SearchStrategy[str]:
    """A near miss: one character, a leading or trailing hyphen, an underscore, a dot, a space, non-ASCII, empty."""
    valid = tenant_names(max_size=20)
    return st.one_of(
        st.sampled_from(ALNUM),
        st.just(""),
        valid.map(lambda n: "-" + n),
        valid.map(lambda n: n + "-"),
        valid.map(lambda n: n[0] + "_" + n[1:]),
        valid.map(lambda n: n[0] + "." + n[1:]),
        valid.map(lambda n: n[0] + " " + n[1:]),
        valid.map(lambda n: n[0] + "é" + n[1:]),
    )
