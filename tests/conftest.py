"""Self-tests: the probe helpers get pytest's assertion rewriting, so their failures explain themselves; the
suite runs they start write bytecode, as on a user's machine."""

import os

import pytest

# Every suite run a self-test starts is a new process that imports the plugins (ours, Hypothesis',
# Schemathesis', ...: some 300 modules whose assertions pytest rewrites). With bytecode written, the
# rewritten modules are cached after the first run; without, each run spends ~3 s rewriting them again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

pytest.register_assert_rewrite("tests.reference.probes")


# The self-test files that run the suite end to end, with roughly how long each takes on the 2-core CI
# machine at -n 4 (wall seconds, from --durations): each worker starts with a share of them, so that none is
# left at the end alone on a minute-long run while the others idle. What is left is dealt by count.
LONG = {
    "tests/suite/test_installed.py": 200,
    "tests/suite/test_verdicts.py": 190,
    "tests/suite/test_throttled_target.py": 175,
    "tests/suite/test_real_targets.py": 160,
    "tests/suite/test_safety_audit.py": 87,
    "tests/suite/test_concurrency.py": 80,
    "tests/suite/test_never_green_on_nothing.py": 60,
    "tests/suite/test_shared_staging.py": 53,
    "tests/suite/test_run_hygiene.py": 42,
    "tests/suite/test_reports.py": 35,
    "tests/suite/test_nightly_memory.py": 30,
    "tests/suite/test_server_errors.py": 26,
    "tests/suite/test_history.py": 20,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With -n N (every worker collects, and sorts alike), the order is N shares, one for each worker as
    pytest-xdist's work stealing first hands them out (the first len//N tests to the first worker, and so
    on): each share starts with whole long files, weighed against each other, then the other tests."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    by_file: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(item)
    long = sorted((f for f in by_file if f in LONG), key=lambda f: -LONG[f])
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    weight = [0] * workers
    for path in long:  # the heaviest first, each to the lightest share so far
        k = weight.index(min(weight))
        shares[k] += by_file[path]
        weight[k] += LONG[path]
    rest = [item for path, group in by_file.items() if path not in LONG for item in group]
    left = len(items)
    for k in range(workers):  # the sizes xdist cuts the collection into
        size = left // (workers - k)
        left -= size
        take = max(0, size - len(shares[k]))
        shares[k] += rest[:take]
        rest = rest[take:]
    shares[-1] += rest
    items[:] = [item for share in shares for item in share]
