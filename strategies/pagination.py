"""`limit` and `offset` at, inside and outside their bounds (CONTRACT LIST-6: limit 1..500, offset >= 0)."""

from __future__ import annotations

from hypothesis import strategies as st

MIN_LIMIT, MAX_LIMIT = 1, 500
INT32_MAX = 2**31 - 1


def limits() -> st.SearchStrategy[int]:
    """A valid limit; the bounds 1 and 500 are drawn often."""
    return st.one_of(
        st.sampled_from([MIN_LIMIT, MAX_LIMIT, MIN_LIMIT + 1, MAX_LIMIT - 1]), st.integers(MIN_LIMIT, MAX_LIMIT)
    )


def offsets(*, max_value: int = 1000) -> st.SearchStrategy[int]:
    """A valid offset; 0 is drawn often."""
    return st.one_of(st.just(0), st.integers(0, max_value))


def invalid_limits() -> st.SearchStrategy[int]:
    """A limit just or far outside 1..500."""
    return st.one_of(
        st.sampled_from([0, -1, MAX_LIMIT + 1]), st.integers(max_value=0), st.integers(MAX_LIMIT + 1, INT32_MAX)
    )


def invalid_offsets() -> st.SearchStrategy[int]:
    """A negative offset; -1 is drawn often."""
    return st.one_of(st.just(-1), st.integers(-(2**31), -1))


def page_sizes(total: int) -> st.SearchStrategy[int]:
    """A page size for paging through a list of `total` items: every size from 1 to one past the end, with
    1, 2, the whole list and one past it drawn often (the sizes that leave a last page of one, or none)."""
    if total < 0:
        raise ValueError(f"total must be >= 0, not {total}")
    favoured = sorted({1, min(2, total + 1), max(1, total), total + 1})
    return st.one_of(st.sampled_from(favoured), st.integers(1, total + 1))
