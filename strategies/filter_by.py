"""The `filterBy` grammar (CONTRACT LIST-2, LIST-3): `field op value` terms, comma-joined.

Commas: `filterBy` is an array with `explode: false`, so terms are joined with commas and a comma
inside a value cannot be told from a term separator. The valid strategies never put a comma in a
value; the suite never sends one as valid data (see `invalid_terms` for what it does send).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

STRING_FIELDS = ("username", "createdBy")
DATE_FIELDS = ("lastLogin", "creationTime", "lastUpdated")
BOOLEAN_FIELDS = ("isLocal",)
FILTER_FIELDS = STRING_FIELDS + DATE_FIELDS + BOOLEAN_FIELDS
OPERATORS = ("==", "<=", ">=", "=@")

# Characters a username or creator can hold that stress parsing: the email alphabet's punctuation,
# a percent sign, quotes, an operator look-alike, and non-ASCII letters. No comma (see above).
AWKWARD = "._%+-@'\"=<>!é中"


def fields() -> st.SearchStrategy[str]:
    """A filterable field name."""
    return st.sampled_from(FILTER_FIELDS)


def operators_for(field: str) -> st.SearchStrategy[str]:
    """An operator the contract defines for the field: dates take ==, <=, >=; booleans ==; strings all four."""
    if field in DATE_FIELDS:
        return st.sampled_from(("==", "<=", ">="))
    if field in BOOLEAN_FIELDS:
        return st.just("==")
    return st.sampled_from(OPERATORS)


def string_values() -> st.SearchStrategy[str]:
    """A non-empty value without commas, favouring email-like text and awkward characters."""
    plain = st.text(
        st.characters(codec="utf-8", exclude_characters=",", exclude_categories=("Cs", "Cc")), min_size=1, max_size=24
    )
    awkward = st.text(st.sampled_from("abcXYZ019" + AWKWARD), min_size=1, max_size=12)
    emailish = st.from_regex(r"\A[a-z0-9]{1,8}(@[a-z]{1,6}(\.[a-z]{2,4})?)?\Z")
    return st.one_of(emailish, awkward, plain).filter(lambda s: s.strip() == s and s != "")


# "Around now", fixed once per process: a strategy must draw the same way every time it is asked.
ANCHOR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def instants(*, min_value: datetime | None = None, max_value: datetime | None = None) -> st.SearchStrategy[datetime]:
    """An aware UTC instant, by default around now (within ten years either way), to the microsecond."""
    low = (min_value or ANCHOR - timedelta(days=3650)).astimezone(UTC).replace(tzinfo=None)
    high = (max_value or ANCHOR + timedelta(days=3650)).astimezone(UTC).replace(tzinfo=None)
    return st.datetimes(min_value=low, max_value=high).map(lambda d: d.replace(tzinfo=UTC))


def iso_spellings(instant: datetime) -> st.SearchStrategy[str]:
    """The same instant spelled several ISO 8601 ways: `Z` or a numeric offset, with or without fractions."""
    offsets = st.sampled_from(
        [timedelta(0), timedelta(hours=2), timedelta(hours=-8), timedelta(hours=5, minutes=30), timedelta(hours=14)]
    )
    precisions = st.sampled_from(["seconds", "milliseconds", "microseconds"])

    def spell(offset: timedelta, precision: str, zulu: bool) -> str:
        local = instant.astimezone(timezone(offset))
        text = local.isoformat(timespec=precision)
        return text.replace("+00:00", "Z") if zulu and offset == timedelta(0) else text

    return st.builds(spell, offsets, precisions, st.booleans())


def iso_8601_forms(instant: datetime) -> list[str]:
    """Every form of ISO 8601 a date term may carry, for one instant: extended and basic formats, `Z`,
    numeric offsets with and without a colon, hours-only offsets, 0 to 9 fraction digits with `.` or `,`,
    lowercase `t`/`z`, a space for `T`, no seconds, a date alone, week and ordinal dates, 24:00. A target
    may reject a form it does not read (400), never crash on one (ERR-3)."""
    utc = instant.astimezone(UTC)
    plus2 = utc.astimezone(timezone(timedelta(hours=2)))
    day = utc.strftime("%Y-%m-%d")
    clock = utc.strftime("%H:%M:%S")
    iso_year, iso_week, iso_weekday = utc.isocalendar()
    digits = f"{utc.microsecond:06d}123"
    forms = [
        f"{day}T{clock}Z",
        f"{day}t{clock}z",
        f"{day} {clock}Z",
        f"{day}T{clock}+00:00",
        f"{day}T{clock}-00:00",
        plus2.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
        plus2.strftime("%Y-%m-%dT%H:%M:%S+0200"),
        plus2.strftime("%Y-%m-%dT%H:%M:%S+02"),
        utc.strftime("%Y%m%dT%H%M%SZ"),
        f"{day}T{utc:%H:%M}Z",
        f"{day}T{utc:%H}Z",
        day,
        utc.strftime("%Y%m%d"),
        f"{day}T{clock}",
        f"{day}T24:00:00Z",
        f"{iso_year}-W{iso_week:02d}-{iso_weekday}",
        f"{iso_year}-W{iso_week:02d}-{iso_weekday}T{clock}Z",
        f"{utc:%Y}-{utc.timetuple().tm_yday:03d}",
        f"{utc:%Y}-{utc.timetuple().tm_yday:03d}T{clock}Z",
        *(f"{day}T{clock}.{digits[:n]}Z" for n in range(1, 10)),
        f"{day}T{clock},{digits[:3]}Z",
        f"+00{day}T{clock}Z",
    ]
    return forms


def date_values() -> st.SearchStrategy[str]:
    """An ISO 8601 date-time with an offset, in one of several spellings."""
    return instants().flatmap(iso_spellings)


def values_for(field: str) -> st.SearchStrategy[str]:
    """A value of the field's type."""
    if field in DATE_FIELDS:
        return date_values()
    if field in BOOLEAN_FIELDS:
        return st.sampled_from(("true", "false"))
    return string_values()


def terms(fields: tuple[str, ...] = FILTER_FIELDS) -> st.SearchStrategy[str]:
    """One valid filterBy term, `field op value`, with a value of the field's type."""
    if not fields or set(fields) - set(FILTER_FIELDS):
        raise ValueError(f"fields must be a non-empty subset of {FILTER_FIELDS}, got {fields!r}")
    return (
        st.sampled_from(fields).flatmap(lambda f: st.tuples(st.just(f), operators_for(f), values_for(f))).map("".join)
    )


def filter_by_expressions(*, min_size: int = 0, max_size: int = 4) -> st.SearchStrategy[list[str]]:
    """A list of valid terms (the `filterBy` array before comma-joining); empty lists filter nothing."""
    if not 0 <= min_size <= max_size:
        raise ValueError(f"need 0 <= min_size <= max_size, got {min_size}, {max_size}")
    return st.lists(terms(), min_size=min_size, max_size=max_size)


def invalid_terms() -> st.SearchStrategy[str]:
    """A near miss that the contract says gets 400 (LIST-3): unknown or wrong-case field, unknown operator,
    empty value, unparseable date, stray spaces around the field or operator."""
    field = fields()
    value = string_values()
    unknown_field = st.tuples(
        st.sampled_from(["email", "name", "id", "type", "created", "UserName", "USERNAME", "createdby", "islocal"]),
        st.sampled_from(OPERATORS),
        value,
    ).map("".join)
    wrong_case = (
        field.map(lambda f: f.upper() if f != f.upper() else f.lower())
        .flatmap(lambda f: st.tuples(st.just(f), st.sampled_from(OPERATORS), value))
        .map("".join)
    )
    bad_operator = st.tuples(
        st.sampled_from(STRING_FIELDS),
        st.sampled_from(["=", "!=", "<", ">", "=~", "~=", "=<", "=>", "@="]),
        value.filter(lambda v: v[0] not in "=<>@~!"),
    ).map("".join)
    empty_value = st.tuples(field, st.sampled_from(OPERATORS)).map("".join)
    bad_date = st.tuples(
        st.sampled_from(DATE_FIELDS),
        st.sampled_from(["==", "<=", ">="]),
        st.sampled_from(
            [
                "yesterday",
                "2026-13-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "not-a-date",
                "12/31/2026",
                "2026-11-22T25:00:00Z",
                "0",
            ]
        ),
    ).map("".join)
    stray_space = (
        st.tuples(field, st.sampled_from(OPERATORS), value)
        .map(lambda t: st.sampled_from([f" {t[0]}{t[1]}{t[2]}", f"{t[0]} {t[1]}{t[2]}"]))
        .flatmap(lambda s: s)
    )
    return st.one_of(unknown_field, wrong_case, bad_operator, empty_value, bad_date, stray_space)


def invalid_filter_by() -> st.SearchStrategy[str]:
    """A whole filterBy query value that must get 400: one near-miss term among valid ones, or a trailing comma."""
    with_bad_term = st.tuples(st.lists(terms(), max_size=2), invalid_terms(), st.lists(terms(), max_size=2)).map(
        lambda t: ",".join([*t[0], t[1], *t[2]])
    )
    trailing_comma = st.lists(terms(), min_size=1, max_size=3).map(lambda ts: ",".join(ts) + ",")
    return st.one_of(with_bad_term, trailing_comma)
