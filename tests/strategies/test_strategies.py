"""strategies/: every valid value satisfies the constraint as specs/runai.json states it (read from the
spec, not copied), every invalid one breaks it, and the corners are actually drawn."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from runai_conformance.conformance.redact import Redactor
from runai_conformance.specs import load_spec
from runai_conformance.strategies import emails, filter_by, pagination, passwords, tenants

SPEC = load_spec()
SCHEMAS, PARAMETERS = SPEC["components"]["schemas"], SPEC["components"]["parameters"]
EMAIL = SCHEMAS["UserCreationRequest"]["properties"]["email"]
TENANT_NAME = SCHEMAS["TenantCreationRequest"]["properties"]["name"]
TERM = PARAMETERS["usersFilterBy"]["schema"]["items"]
LIMIT, OFFSET = PARAMETERS["limit"]["schema"], PARAMETERS["Offset"]["schema"]
NEW_PASSWORD = SCHEMAS["UserChangePasswordRequest"]["properties"]["newPassword"]
REACH = settings(max_examples=3000, database=None, phases=[Phase.generate])  # found is proof: no shrinking


def email_ok(value: str) -> bool:
    return bool(re.search(EMAIL["pattern"], value)) and EMAIL["minLength"] <= len(value) <= EMAIL["maxLength"]


def term_ok(value: str) -> bool:
    """The spec's pattern, plus what the contract adds (LIST-3): a date term's value must parse."""
    if not re.search(TERM["pattern"], value):
        return False
    field = next(f for f in filter_by.FILTER_FIELDS if value.startswith(f))
    if field in filter_by.DATE_FIELDS:
        try:
            datetime.fromisoformat(value[len(field) + 2 :])
        except ValueError:
            return False
    return True


@given(emails.emails())
def test_valid_emails_satisfy_the_spec(value: str) -> None:
    assert email_ok(value)


@given(emails.invalid_emails())
def test_invalid_emails_break_the_spec(value: str) -> None:
    assert not email_ok(value)


@given(emails.pattern_breaking_emails())
def test_pattern_breaking_emails_break_the_pattern_whatever_their_length(value: str) -> None:
    assert not re.fullmatch(EMAIL["pattern"].strip("^$"), value)


def test_iso_8601_forms_are_every_form_of_one_instant() -> None:
    instant = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
    forms = filter_by.iso_8601_forms(instant)
    assert len(forms) == len(set(forms)) >= 25
    readable = [f for f in forms if "W" not in f and "24:00" not in f and not f.startswith("+")]
    for form in readable:  # the forms Python reads are this instant, or its day, hour or minute
        try:
            value = datetime.fromisoformat(form.replace("z", "Z").replace("t", "T"))
        except ValueError:
            continue
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        assert abs((value - instant).total_seconds()) < 86400, form
    assert any(f.endswith(".456789123Z") for f in forms), "nine fraction digits"
    assert "2026-W49-1" in forms and "2026-334" in forms


def test_email_corners_are_drawn() -> None:
    assert len(find(emails.emails(), lambda e: len(e) == EMAIL["maxLength"], settings=REACH)) == 254
    assert len(find(emails.emails(), lambda e: len(e) == 6, settings=REACH)) == 6  # the shortest the pattern allows
    assert find(emails.emails(), lambda e: e != e.lower(), settings=REACH)
    for near_miss in (
        lambda e: len(e) == EMAIL["maxLength"] + 1,
        lambda e: len(e) == 4,
        lambda e: e.count("@") == 2,
        lambda e: " " in e,
    ):
        find(emails.invalid_emails(), near_miss, settings=REACH)


@given(filter_by.terms())
def test_valid_terms_satisfy_the_spec_and_the_contract(value: str) -> None:
    assert term_ok(value) and "," not in value


@given(filter_by.invalid_terms())
def test_invalid_terms_break_the_grammar(value: str) -> None:
    assert not term_ok(value)


@given(filter_by.invalid_filter_by())
def test_invalid_filter_values_hold_a_bad_term(value: str) -> None:
    assert not all(term_ok(t) for t in value.split(","))


@pytest.mark.parametrize("field", filter_by.FILTER_FIELDS)
def test_every_field_is_drawn_with_each_of_its_operators(field: str) -> None:
    operators = (
        ("==",)
        if field in filter_by.BOOLEAN_FIELDS
        else ("==", "<=", ">=")
        if field in filter_by.DATE_FIELDS
        else filter_by.OPERATORS
    )
    for op in operators:
        find(
            filter_by.terms(),
            lambda t, p=field + op: t.startswith(p) and not t[len(p) :].startswith(("=", "@")),
            settings=REACH,
        )


@pytest.mark.parametrize(
    "spelling",
    [r"Z$", r"\+02:00$", r"-08:00$", r"\+05:30$", r"\.\d{3}(Z|[+-])", r"\.\d{6}(Z|[+-])", r":\d\d(Z|[+-]\d\d:\d\d)$"],
)
def test_dates_are_drawn_in_several_iso_spellings(spelling: str) -> None:
    find(filter_by.date_values(), lambda v: re.search(spelling, v) is not None, settings=REACH)


@pytest.mark.parametrize(
    "kind", ["unknown field", "wrong case", "bad operator", "empty value", "bad date", "stray space"]
)
def test_each_kind_of_near_miss_is_drawn(kind: str) -> None:
    fields = filter_by.FILTER_FIELDS
    match = {
        "unknown field": lambda t: (
            not any(t.startswith(f) for f in fields) and not any(t.lower().startswith(f.lower()) for f in fields)
        ),
        "wrong case": lambda t: any(t.lower().startswith(f.lower()) and not t.startswith(f) for f in fields),
        "bad operator": lambda t: any(t.startswith(f + o) for f in fields for o in ("!=", "=~", "=<")),
        "empty value": lambda t: t in {f + o for f in fields for o in filter_by.OPERATORS},
        "bad date": lambda t: (
            any(t.startswith(f) for f in filter_by.DATE_FIELDS) and re.search(r"yesterday|13-01|02-30|25:00", t)
        ),
        "stray space": lambda t: t.startswith(" ") or " ==" in t or " =@" in t or " <=" in t or " >=" in t,
    }[kind]
    find(filter_by.invalid_terms(), match, settings=REACH)


def test_trailing_comma_is_drawn() -> None:
    find(filter_by.invalid_filter_by(), lambda v: v.endswith(","), settings=REACH)


@given(pagination.limits())
def test_limits_are_inside_the_spec_bounds(value: int) -> None:
    assert LIMIT["minimum"] <= value <= LIMIT["maximum"]


@given(pagination.invalid_limits())
def test_invalid_limits_are_outside(value: int) -> None:
    assert not LIMIT["minimum"] <= value <= LIMIT["maximum"]


@given(pagination.offsets())
def test_offsets_respect_the_overlaid_minimum(value: int) -> None:
    assert value >= OFFSET["minimum"]


@given(pagination.invalid_offsets())
def test_invalid_offsets_are_below_it(value: int) -> None:
    assert value < OFFSET["minimum"]


@pytest.mark.parametrize(
    ("strategy", "value"),
    [
        (pagination.limits(), 1),
        (pagination.limits(), 500),
        (pagination.invalid_limits(), 0),
        (pagination.invalid_limits(), 501),
        (pagination.offsets(), 0),
        (pagination.invalid_offsets(), -1),
    ],
)
def test_boundaries_are_drawn(strategy: st.SearchStrategy[int], value: int) -> None:
    find(strategy, lambda v: v == value, settings=REACH)


@given(tenants.tenant_names())
def test_valid_tenant_names_satisfy_the_spec(value: str) -> None:
    assert re.search(TENANT_NAME["pattern"], value)


@given(tenants.invalid_tenant_names())
def test_invalid_tenant_names_break_it(value: str) -> None:
    assert not re.search(TENANT_NAME["pattern"], value)


def test_shortest_tenant_name_is_drawn() -> None:
    assert len(find(tenants.tenant_names(), lambda n: len(n) == 2, settings=REACH)) == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda: emails.emails(min_size=3),
        lambda: emails.emails(min_size=10, max_size=9),
        lambda: emails.emails_of_length(5),
        lambda: filter_by.terms(("email",)),
        lambda: filter_by.filter_by_expressions(min_size=3, max_size=1),
        lambda: tenants.tenant_names(max_size=1),
    ],
)
def test_bad_arguments_raise_a_clear_error(call) -> None:
    with pytest.raises(ValueError):
        call()


# Schemathesis' own fuzzing draws from these strategies (conformance/fuzz.py registers them as formats):
# its positive cases hold grammar-valid filterBy terms and pattern-valid emails, not random strings.


def _positive(path: str, method: str) -> st.SearchStrategy:
    from runai_conformance.conformance.fuzz import load_schema

    return load_schema()[path][method].as_strategy()


def _terms(case: object) -> list[str]:
    """The filterBy terms of a case, whether Schemathesis holds them as a list or serialized."""
    value = (getattr(case, "query", None) or {}).get("filterBy") or []
    return value.split(",") if isinstance(value, str) else [str(t) for t in value]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schemathesis_draws_filter_terms_from_the_grammar(data: st.DataObject) -> None:
    terms = _terms(data.draw(_positive("/api/v1/users", "GET")))
    assert all(term_ok(t) for t in terms), terms


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schemathesis_draws_emails_from_the_pattern(data: st.DataObject) -> None:
    case = data.draw(_positive("/api/v1/users", "POST"))
    assert email_ok(case.body["email"]), case.body


def test_schemathesis_draws_filter_terms_at_all() -> None:
    """The two above prove nothing if no case carried a term: find one that carries several."""
    found = find(
        _positive("/api/v1/users", "GET"),
        lambda case: len(_terms(case)) >= 2,
        # the first such case is proof enough: shrinking it (most of the time this took) proves nothing more
        settings=settings(
            max_examples=500, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
        ),
    )
    assert all(term_ok(t) for t in _terms(found))


@given(total=st.integers(0, 40), data=st.data())
def test_page_sizes_run_from_one_to_one_past_the_end(total: int, data: st.DataObject) -> None:
    assert 1 <= data.draw(pagination.page_sizes(total)) <= total + 1


@pytest.mark.parametrize("size", [1, 2, 5, 9, 10])
def test_page_sizes_reach_every_size_of_a_list_of_nine(size: int) -> None:
    find(pagination.page_sizes(9), lambda s: s == size, settings=REACH)


def test_page_sizes_of_a_negative_total_are_an_error() -> None:
    with pytest.raises(ValueError, match="total"):
        pagination.page_sizes(-1)


def words_a_text_strategy_could_draw() -> set[str]:
    """The string constants of conformance/'s modules that fit the password alphabet and length: Hypothesis'
    text strategies draw the constants of the local modules a run has loaded, and these are also words of
    the reports (summary.json's keys, role names, test ids)."""
    fits = re.compile(rf"[{passwords.ALPHABET}]{{{passwords.SHORTEST},}}")
    root = Path(__file__).resolve().parents[2] / "conformance"
    return {
        node.value
        for path in root.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and fits.fullmatch(node.value)
    }


REPORT_WORDS = "\n".join(sorted(words_a_text_strategy_could_draw()))


def test_the_reports_words_are_found() -> None:
    assert {"complete", "inconclusive", "operator"} <= set(REPORT_WORDS.split()), REPORT_WORDS


@given(passwords.new_passwords())
@settings(max_examples=1000, database=None)
def test_a_new_password_is_valid_and_masks_no_word_of_the_reports(password: str) -> None:
    """A password the users machine sets is a secret, masked wherever it stands: it must never be (nor hold
    a piece of) one of the suite's own words, or the reports lose them."""
    assert NEW_PASSWORD["minLength"] <= len(password) <= NEW_PASSWORD["maxLength"], password
    assert set(password) <= set(passwords.ALPHABET), password
    assert Redactor([password])(REPORT_WORDS) == REPORT_WORDS, password


@pytest.mark.parametrize("bounds", [(7, 16), (8, 256), (9, 8)])
def test_new_passwords_refuse_bounds_outside_the_contract(bounds: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"8\.\.255"):
        passwords.new_passwords(min_size=bounds[0], max_size=bounds[1])
