"""Self-tests: the probe helpers get pytest's assertion rewriting, so their failures explain themselves; the
suite runs they start write bytecode, as on a user's machine."""

import os

import pytest

from runai_conformance.conformance.plugin import balanced

# Every suite run a self-test starts is a new process that imports the plugins (ours, Hypothesis',
# Schemathesis', ...: some 300 modules whose assertions pytest rewrites). With bytecode written, the
# rewritten modules are cached after the first run; without, each run spends ~3 s rewriting them again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

pytest.register_assert_rewrite("tests.reference.probes")


# The self-tests that run the whole suite once or more: seconds each took on the 2-core CI machine (the
# slowest of `--durations`, setup included), by test-id prefix; every other test counts half a second. With
# -n N each of the N shares pytest-xdist hands out gets a fair part of them, its longest first
# (conformance/plugin.py's `balanced`), so that the run does not end with one worker alone on a long test.
DEFAULT_SECONDS = 0.5
SECONDS = {
    "tests/suite/test_installed.py::test_installed_copy_is_green": 140.0,
    "tests/suite/test_installed.py::test_the_readme_remote_staging_line": 70.0,
    "tests/suite/test_throttled_target.py::test_a_throttled_target_gets_a_whole_verdict": 70.0,
    "tests/suite/test_verdicts.py::test_workers_give_the_same_rule_statuses": 70.0,
    "tests/suite/test_concurrency.py::test_the_rate_limit_holds": 50.0,
    "tests/suite/test_safety_audit.py::test_a_ci_run_changes_only": 50.0,
    "tests/suite/test_verdicts.py::test_a_machine_part_replays_alone": 40.0,
    "tests/suite/test_real_targets.py::test_a_target_that_stops_answering": 40.0,
    "tests/suite/test_shared_staging.py::test_scoped_properties_and_machines_stay_green_under_churn": 35.0,
    "tests/suite/test_throttled_target.py::test_503_bursts": 30.0,
    "tests/suite/test_real_targets.py::test_a_throttling_gateway": 30.0,
    "tests/suite/test_real_targets.py::test_tls_with_a_corporate_ca": 28.0,
    "tests/suite/test_verdicts.py::test_against_prism": 27.0,
    "tests/suite/test_verdicts.py::test_a_complete_run_says_so": 26.0,
    "tests/suite/test_concurrency.py::test_a_killed_worker": 25.0,
    "tests/suite/test_concurrency.py::test_sigterm": 25.0,
    "tests/suite/test_verdicts.py::test_certify": 23.0,
    "tests/suite/test_history.py": 8.0,
    "tests/suite/test_server_errors.py::test_a_5xx_in_every_kind_of_test": 20.0,
    "tests/suite/test_installed.py": 17.0,
    "tests/suite/test_never_green_on_nothing.py": 12.0,
}


def seconds(item: pytest.Item) -> float:
    return next((s for prefix, s in SECONDS.items() if item.nodeid.startswith(prefix)), DEFAULT_SECONDS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        items[:] = balanced(items, int(worker.get("workercount", 1)), seconds, light=DEFAULT_SECONDS)
