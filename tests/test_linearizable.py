"""The linearizability checker judges by hand-made histories against three tiny models of a contract: a
user that one delete removes, creates racing counts, and password resets racing logins."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from runai_conformance.conformance.linearizable import (
    Call,
    Model,
    linearization,
    smallest_counterexample,
    timeline,
)


def call(index: int, op: str, arg: Hashable, result: Hashable, start: float, end: float, label: str = "") -> Call:
    """A call of a hand-made history, its times in seconds."""
    return Call(index=index, op=op, arg=arg, result=result, start=start, end=end, label=label)


def indices(calls: Sequence[Call] | None) -> list[int] | None:
    """The calls by their index: what an assertion compares."""
    return None if calls is None else [c.index for c in calls]


def explains(order: Sequence[Call], history: Sequence[Call], model: Model) -> bool:
    """Whether `order` is the history in an order that respects real time and that the model explains:
    a linearization found must be one, whoever found it."""
    assert sorted(indices(order) or []) == sorted(indices(history) or [])
    for position, earlier in enumerate(order):
        assert not any(later.end < earlier.start for later in order[position + 1 :]), "real time broken"
    states = {model.initial}
    for each in order:
        states = {after for state in states for after in model.step(state, each)}
    return bool(states)


class OneUser:
    """A user that exists until one delete succeeds. A delete answered 500 may or may not have happened."""

    initial = "exists"

    def step(self, state: Hashable, call: Call) -> Iterable[Hashable]:
        """The user's states after the call, or none when its answer is impossible."""
        if call.op == "delete" and call.result == 500:
            return [state, "gone"]
        if call.op == "delete":
            return ["gone"] if call.result == (204 if state == "exists" else 404) else []
        return [state] if call.result == (200 if state == "exists" else 404) else []

    def needed(self, call: Call) -> bool:
        """A delete that succeeded."""
        return call.op == "delete" and call.result == 204


class Emails:
    """The emails of the users created: create answers 201 for a new email, 409 for one already there;
    count answers how many there are."""

    initial: frozenset[str] = frozenset()

    def step(self, state: Hashable, call: Call) -> Iterable[Hashable]:
        """The set of emails after the call, or none when its answer is impossible."""
        assert isinstance(state, frozenset)
        if call.op == "create" and call.result == 201:
            return [state | {call.arg}] if call.arg not in state else []
        if call.op == "create":
            return [state] if call.result == 409 and call.arg in state else []
        return [state] if call.result == len(state) else []

    def needed(self, call: Call) -> bool:
        """A create that succeeded."""
        return call.op == "create" and call.result == 201


class EmailsForgetful(Emails):
    """The same contract with no call marked needed: shrinking may then drop the creates too."""

    def needed(self, call: Call) -> bool:
        """None."""
        return False


class Passwords:
    """Password resets: each answers a temporary password never issued before, which becomes the only
    one a login accepts. State: (current password, every password issued)."""

    initial = ("first", frozenset({"first"}))

    def step(self, state: Hashable, call: Call) -> Iterable[Hashable]:
        """The passwords after the call, or none when its answer is impossible."""
        assert isinstance(state, tuple)
        current, issued = state
        if call.op == "reset":
            return [(call.result, issued | {call.result})] if call.result not in issued else []
        return [state] if (call.result == "ok") == (call.arg == current) else []

    def needed(self, call: Call) -> bool:
        """A reset: it issued a password."""
        return call.op == "reset"


# One user, four-ish deletes


def test_one_204_among_overlapping_deletes_goes_first() -> None:
    history = [
        call(0, "delete", None, 404, 0, 10),
        call(1, "delete", None, 204, 1, 11),
        call(2, "delete", None, 404, 2, 12),
    ]
    order = linearization(history, OneUser())
    assert indices(order) == [1, 0, 2]
    assert order is not None and explains(order, history, OneUser())


def test_two_204s_have_no_linearization_and_are_the_counterexample() -> None:
    history = [
        call(0, "delete", None, 204, 0, 10),
        call(1, "delete", None, 404, 1, 11),
        call(2, "delete", None, 204, 2, 12),
    ]
    assert linearization(history, OneUser()) is None
    assert indices(smallest_counterexample(history, OneUser())) == [0, 2]


def test_real_time_forbids_the_404_before_the_204() -> None:
    history = [call(0, "delete", None, 404, 0, 1), call(1, "delete", None, 204, 2, 3)]
    assert linearization(history, OneUser()) is None


def test_overlap_lets_the_later_204_take_effect_first() -> None:
    history = [call(0, "delete", None, 404, 0, 2), call(1, "delete", None, 204, 1, 3)]
    assert indices(linearization(history, OneUser())) == [1, 0]


def test_a_call_that_ends_as_the_next_starts_overlaps_it() -> None:
    history = [call(0, "delete", None, 404, 0, 1), call(1, "delete", None, 204, 1, 2)]
    assert indices(linearization(history, OneUser())) == [1, 0]


def test_a_read_after_a_delete_succeeded_cannot_find_the_user() -> None:
    history = [
        call(0, "delete", None, 404, 0, 10),
        call(1, "delete", None, 204, 0, 10),
        call(2, "read", None, 200, 11, 12),
    ]
    assert linearization(history, OneUser()) is None
    assert indices(smallest_counterexample(history, OneUser())) == [1, 2]


def test_a_read_overlapping_the_delete_may_still_find_the_user() -> None:
    history = [call(0, "delete", None, 204, 0, 10), call(1, "read", None, 200, 5, 15)]
    assert indices(linearization(history, OneUser())) == [1, 0]


def test_every_state_a_call_may_leave_is_tried() -> None:
    """A delete answered 500 may have happened or not: a later read may answer either, and only one of
    the states it left explains a 404."""
    for read in (200, 404):
        history = [call(0, "delete", None, 500, 0, 1), call(1, "read", None, read, 2, 3)]
        assert indices(linearization(history, OneUser())) == [0, 1], read


def test_a_linearizable_history_has_no_counterexample() -> None:
    history = [call(0, "delete", None, 204, 0, 1), call(1, "read", None, 404, 2, 3)]
    assert smallest_counterexample(history, OneUser()) == []
    assert linearization([], OneUser()) == []


def test_calls_that_may_go_in_any_order_go_in_start_order() -> None:
    history = [call(2, "read", None, 200, 2, 9), call(0, "read", None, 200, 0, 9), call(1, "read", None, 200, 1, 9)]
    assert indices(linearization(history, OneUser())) == [0, 1, 2]


def test_a_counterexample_keeps_the_order_sent() -> None:
    history = [
        call(7, "delete", None, 204, 5, 10),
        call(3, "delete", None, 404, 6, 9),
        call(4, "delete", None, 204, 0, 10),
    ]
    assert indices(smallest_counterexample(history, OneUser())) == [7, 4]


# Creates racing counts


def racing_creates(final_count: int) -> list[Call]:
    """Two creates that succeed and one that finds its email taken, all at once, counts among them, and
    a count after them all."""
    return [
        call(0, "create", "a@x", 201, 0, 10),
        call(1, "count", None, 1, 2, 3),
        call(2, "create", "b@x", 201, 0, 10),
        call(3, "count", None, 2, 4, 5),
        call(4, "create", "a@x", 409, 0, 10),
        call(5, "count", None, final_count, 11, 12),
    ]


def test_counts_among_creates_may_see_any_number_the_overlap_allows() -> None:
    for seen in (0, 1, 2):
        history = [
            call(0, "create", "a@x", 201, 0, 10),
            call(1, "create", "b@x", 201, 0, 10),
            call(2, "count", None, seen, 2, 3),
        ]
        order = linearization(history, Emails())
        assert order is not None and explains(order, history, Emails()), seen
    order = linearization(racing_creates(2), Emails())
    assert order is not None and explains(order, racing_creates(2), Emails())


def test_a_count_above_the_creates_that_succeeded_is_not_linearizable() -> None:
    assert linearization(racing_creates(3), Emails()) is None


def test_the_counterexample_keeps_the_creates_that_succeeded_and_the_bad_count() -> None:
    assert indices(smallest_counterexample(racing_creates(3), Emails())) == [0, 2, 5]


def test_without_needed_calls_the_counterexample_drops_them_too() -> None:
    assert indices(smallest_counterexample(racing_creates(3), EmailsForgetful())) == [5]


def test_two_creates_of_one_email_cannot_both_succeed() -> None:
    history = [call(0, "create", "a@x", 201, 0, 10), call(1, "create", "a@x", 201, 0, 10)]
    assert linearization(history, Emails()) is None


# Resets racing logins


def resets(*passwords: str) -> list[Call]:
    """Resets sent at once, each answering its password."""
    return [call(n, "reset", None, password, 0, 10) for n, password in enumerate(passwords)]


def logins(first_index: int, answers: dict[str, str], start: float = 11) -> list[Call]:
    """Logins one after another from `start`, each with a password and its answer ("ok" or "denied")."""
    return [
        call(first_index + n, "login", password, answer, start + 2 * n, start + 2 * n + 1)
        for n, (password, answer) in enumerate(answers.items())
    ]


def test_after_overlapping_resets_only_the_last_one_logs_in() -> None:
    history = resets("p1", "p2", "p3") + logins(3, {"first": "denied", "p1": "denied", "p2": "ok", "p3": "denied"})
    order = linearization(history, Passwords())
    assert order is not None and explains(order, history, Passwords())
    assert [c.result for c in order if c.op == "reset"][-1] == "p2"


def test_two_resets_answering_one_password_are_not_linearizable() -> None:
    assert linearization(resets("p1", "p1"), Passwords()) is None
    assert linearization(resets("p1", "first"), Passwords()) is None


def test_a_login_with_a_password_no_order_leaves_last_is_not_linearizable() -> None:
    two_current = resets("p1", "p2") + logins(2, {"p1": "ok", "p2": "ok"})
    assert linearization(two_current, Passwords()) is None
    superseded = [*resets("p1", "p2"), call(2, "reset", None, "p3", 11, 12), *logins(3, {"p1": "ok"}, start=13)]
    assert linearization(superseded, Passwords()) is None
    assert indices(smallest_counterexample(superseded, Passwords())) == [0, 1, 2, 3]


def test_a_login_among_the_resets_may_see_a_password_a_later_one_replaced() -> None:
    history = [*resets("p1", "p2"), call(2, "login", "p1", "ok", 1, 9), *logins(3, {"p2": "ok", "p1": "denied"})]
    order = linearization(history, Passwords())
    assert order is not None and explains(order, history, Passwords())
    assert indices(order) == [0, 2, 1, 3, 4]


# The report's timeline


def test_the_timeline_shows_each_call_on_its_line_in_start_order() -> None:
    history = [
        call(2, "read", None, 404, 0.020, 0.025, "GET /api/v1/users/u -> 404"),
        call(0, "delete", None, 204, 0.000, 0.0125, "DELETE /api/v1/users/u -> 204"),
        call(11, "delete", None, 404, 0.002, 0.010, "DELETE /api/v1/users/u -> 404"),
    ]
    assert timeline(history) == (
        "  #0    +0.0 ms … +12.5 ms  [==========          ]  DELETE /api/v1/users/u -> 204\n"
        "  #11   +2.0 ms … +10.0 ms  [ =======            ]  DELETE /api/v1/users/u -> 404\n"
        "  #2   +20.0 ms … +25.0 ms  [                ====]  GET /api/v1/users/u -> 404"
    )


def test_the_timeline_from_a_given_origin_shows_what_the_model_knows_without_a_label() -> None:
    history = [call(0, "count", None, 2, 1.000, 1.004), call(1, "create", "a@x", 409, 1.002, 1.010)]
    assert timeline(history, origin=1.002) == (
        "  #0  -2.0 ms … +2.0 ms  [=====               ]  count() -> 2\n"
        "  #1  +0.0 ms … +8.0 ms  [====================]  create('a@x') -> 409"
    )
    assert timeline([]) == ""


# The search stays on (remaining calls, state) pairs


class Budgeted(Emails):
    """The creates-and-counts contract, failing the test once the search steps more often than there
    are pairs to visit times the calls each may try: a search over orders would step millions of times."""

    def __init__(self, budget: int) -> None:
        self.steps_left = budget

    def step(self, state: Hashable, call: Call) -> Iterable[Hashable]:
        """As Emails, counted."""
        self.steps_left -= 1
        assert self.steps_left >= 0, "the search revisits what already failed"
        return super().step(state, call)


def test_a_dozen_overlapping_calls_without_a_linearization_are_searched_by_pairs() -> None:
    creates = [call(n, "create", f"u{n}@x", 201, 0, 10) for n in range(11)]
    history = [*creates, call(11, "count", None, 12, 0, 10)]  # 11 creates can never be counted 12
    assert linearization(history, Budgeted(12 * 2**12)) is None
