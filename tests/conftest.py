"""Self-tests: the probe helpers get pytest's assertion rewriting, so their failures explain themselves; the
suite runs they start write bytecode, as on a user's machine."""

import os

import pytest

# Every suite run a self-test starts is a new process that imports the plugins (ours, Hypothesis',
# Schemathesis', ...: some 300 modules whose assertions pytest rewrites). With bytecode written, the
# rewritten modules are cached after the first run; without, each run spends ~3 s rewriting them again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

pytest.register_assert_rewrite("tests.reference.probes")


# The self-tests that run the whole suite once or more (tens of seconds each) start first, so that on two
# workers the run does not end with one of them alone on a long test while the other idles.
LONG_FIRST = (
    "tests/suite/test_verdicts.py",
    "tests/suite/test_real_targets.py",
    "tests/suite/test_safety_audit.py",
    "tests/suite/test_shared_staging.py",
    "tests/suite/test_run_hygiene.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order within each group stays as collected
