"""Self-tests: the probe helpers get pytest's assertion rewriting, so their failures explain themselves; the
suite runs they start write bytecode, as on a user's machine."""

import itertools
import os

import pytest

# Every suite run a self-test starts is a new process that imports the plugins (ours, Hypothesis',
# Schemathesis', ...: some 300 modules whose assertions pytest rewrites). With bytecode written, the
# rewritten modules are cached after the first run; without, each run spends ~3 s rewriting them again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

pytest.register_assert_rewrite("tests.reference.probes")


# The self-test modules that run the whole suite once or more: about how long each took on the 2-core CI
# machine with -n 4 (the sum of its tests' `--durations`, setup included). pytest-xdist hands each worker a
# contiguous share of the collection, then idle workers take pending tests from busy ones. With -n N, each
# share opens with its part of these modules, heaviest first, dealt so that the shares' loads are even; the
# other modules fill the shares in their own order. A module stays whole where it can, so a module-scoped
# fixture (a ci run, a server) is set up by one worker.
LONG_MODULES = {
    "tests/suite/test_verdicts.py": 330.0,
    "tests/suite/test_installed.py": 260.0,
    "tests/suite/test_real_targets.py": 200.0,
    "tests/suite/test_throttled_target.py": 185.0,
    "tests/suite/test_concurrency.py": 120.0,
    "tests/suite/test_shared_staging.py": 80.0,
    "tests/suite/test_safety_audit.py": 75.0,
    "tests/suite/test_never_green_on_nothing.py": 60.0,
    "tests/suite/test_history.py": 40.0,
    "tests/suite/test_server_errors.py": 30.0,
}


def module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def shared_out(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The items in the order that opens each of `workers` shares with an even part of the long modules."""
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    loads, shares = [0.0] * workers, [[] for _ in range(workers)]  # type: list[float], list[list[pytest.Item]]
    for module in sorted({m for m in map(module_of, items) if m in LONG_MODULES}, key=LONG_MODULES.get, reverse=True):
        share = min(range(workers), key=lambda i: loads[i])
        shares[share] += [item for item in items if module_of(item) == module]
        loads[share] += LONG_MODULES[module]
    rest = iter(item for item in items if module_of(item) not in LONG_MODULES)
    for share, size in zip(shares, sizes, strict=True):
        share.extend(itertools.islice(rest, max(0, size - len(share))))
    return [item for share in shares for item in share] + list(rest)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers > 1:  # every worker orders alike: pytest-xdist checks that the collections are the same
        items[:] = shared_out(items, workers)
