"""The suite's command-line options (each with an environment variable), its markers and Hypothesis
profiles, and the stash keys the other parts of the plugin share. Nothing else reads the environment."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import ExampleDatabase

from .rules import rules
from .target import PROFILES

SUITE_DIR = Path(__file__).resolve().parent
SUITE_PACKAGE = __name__.rpartition(".")[0]  # runai_conformance.conformance: the suite's tests and plugin
ROOT_PACKAGE = SUITE_PACKAGE.partition(".")[0]  # runai_conformance: the one import name the distribution adds
NO_VERDICT = 4  # the exit of a run that gives no verdict: it could not start, stopped early, or proved nothing
PARTIAL = 6  # the exit of a run some of whose selected rules got no verdict (unless --accept-partial)
STATE = pytest.StashKey["RunState"]()
REPORTS = pytest.StashKey["RunReports"]()
EXAMPLES = pytest.StashKey["RunExamples"]()
ENV = {
    "target_url": "RUNAI_TARGET_URL",
    "credentials": "RUNAI_CREDENTIALS",
    "token": "RUNAI_TOKEN",
    "profile": "RUNAI_PROFILE",
    "report_dir": "RUNAI_REPORT_DIR",
    "waivers": "RUNAI_WAIVERS",
    "history": "RUNAI_HISTORY",
    "concurrency": "RUNAI_CONCURRENCY",
    "example_db": "RUNAI_EXAMPLE_DB",
    "example_db_from": "RUNAI_EXAMPLE_DB_FROM",
    "reproduce": "RUNAI_REPRODUCE",
}
REMOTE_CONCURRENCY = 8  # worker processes against a target you name that is not on this machine


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runai-conformance", "Run:ai conformance suite")
    group.addoption(
        "--target-url",
        default=None,
        help=f"base URL of the target (env {ENV['target_url']}); default: start the embedded reference server",
    )
    group.addoption("--credentials", default=None, help=f"credentials file, TOML (env {ENV['credentials']})")
    group.addoption("--token", default=None, help=f"a bearer token for the admin role alone (env {ENV['token']})")
    group.addoption(
        "--profile",
        default=None,
        choices=sorted(PROFILES),
        help=f"smoke | ci | nightly (env {ENV['profile']}; default ci)",
    )
    group.addoption(
        "--read-only",
        action="store_true",
        default=False,
        help="send no state-changing request, nor a wrong secret for a real client (for production targets)",
    )
    group.addoption(
        "--certify",
        action="store_true",
        default=False,
        help="a run for a vendor report: it fails unless every rule ran and passed (a skipped, not-run or "
        "waived rule fails it, named)",
    )
    group.addoption(
        "--accept-partial",
        action="store_true",
        default=False,
        help="pass a run in which some selected rules got no verdict (a role missing, throttled past the "
        "patience); without it such a run exits 6. summary.json and the reports record the acceptance",
    )
    group.addoption(
        "--shrink-seconds",
        type=shrink_seconds,
        default=None,
        metavar="SECONDS",
        help="how long Hypothesis may shrink one failure against the target (default: the profile's, "
        "ci 20; 0: report each failure as first found, the fastest red verdict)",
    )
    group.addoption(
        "--concurrency",
        default=None,
        metavar="N",
        help=f"tests in N worker processes at once, for a target far away (pytest-xdist's -n N; -n wins) "
        f"(env {ENV['concurrency']}; default {REMOTE_CONCURRENCY} for a target that is not on this machine, 1 for "
        "one that is and for the embedded server); a rate_limit is shared by all of them",
    )
    group.addoption(
        "--progress-every",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="how often a long test (the state machines, nightly fuzzing) prints how far it got (default 30); "
        "with -n N every worker prints its own, marked with its id",
    )
    group.addoption(
        "--report-dir",
        default=None,
        help=f"where JUnit XML and Allure results go (env {ENV['report_dir']}; default reports/)",
    )
    group.addoption(
        "--example-db",
        default=None,
        metavar="DIR",
        help=f"keep Hypothesis' examples in DIR between runs: a failure found once is replayed first in every "
        f"later run, whatever its seed (env {ENV['example_db']}; default: none kept). Holds no secret",
    )
    group.addoption(
        "--example-db-from",
        default=None,
        metavar="github:OWNER/REPO[/ARTIFACT]",
        help=f"also read the examples a nightly uploaded as a GitHub Actions artifact (read-only; default artifact "
        f"runai-examples; GITHUB_TOKEN from the environment) (env {ENV['example_db_from']})",
    )
    group.addoption(
        "--reproduce",
        default=None,
        metavar="N",
        help=f"replay each failure this run found and no earlier run had, N times with the same example, at the "
        f"end of the run: the report says 'reproduced k of N' (env {ENV['reproduce']}; default: nightly 3, else 0)",
    )
    group.addoption("--replay-only", action="store_true", default=False, help=argparse.SUPPRESS)
    group.addoption("--replay-tests", default=None, help=argparse.SUPPRESS)
    group.addoption(
        "--waivers",
        default=None,
        help=f"known failures to report as waived, TOML or YAML (env {ENV['waivers']}; see conformance/waivers.py)",
    )
    group.addoption(
        "--history",
        default=None,
        metavar="PATH",
        help=f"the run history the team keeps, a SQLite file: the run adds itself as one night and writes "
        f"trend.html (env {ENV['history']}; default: none kept; see conformance/history.py)",
    )


def shrink_seconds(text: str) -> float:
    """--shrink-seconds: a number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the shrink budget must be >= 0 seconds")
    return value


def positive_seconds(text: str) -> float:
    """--progress-every: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds > 0")
    return value


def concurrency(config: pytest.Config) -> int:
    """How many worker processes a run uses: --concurrency / RUNAI_CONCURRENCY, else by where the target is
    (the URL given, or the credentials file's [target] url): one on this machine is CPU-bound, serial;
    one elsewhere is mostly waiting for answers."""
    given = option(config, "concurrency")
    if given is not None:
        try:
            value = int(given)
        except ValueError:
            value = 0
        if value < 1:
            raise pytest.UsageError(
                f"runai-conformance: --concurrency / RUNAI_CONCURRENCY {given!r}: give a whole number >= 1"
            )
        return value
    url = option(config, "target_url") or _file_url(option(config, "credentials"))
    return REMOTE_CONCURRENCY if url and not is_loopback(url) else 1


def _file_url(credentials: str | None) -> str | None:
    """The credentials file's [target] url, if it reads (a broken file is reported, in one line, later)."""
    if not credentials:
        return None
    try:
        url = tomllib.loads(Path(credentials).read_text(encoding="utf-8")).get("target", {}).get("url")
    except (OSError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) else None


def is_loopback(url: str) -> bool:
    """Whether a URL names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    return value if value is not None else os.environ.get(ENV[name])


def name_the_suite(config: pytest.Config) -> None:
    """`pytest --pyargs runai_conformance` runs the suite: the distribution's tests are those of its
    `conformance` subpackage, which is what pytest is given to collect."""
    if getattr(config.option, "pyargs", False):
        config.args[:] = [SUITE_PACKAGE if arg == ROOT_PACKAGE else arg for arg in config.args]


def is_suite_run(config: pytest.Config) -> bool:
    """Whether this pytest run collects the conformance suite: `pytest conformance[/…]` by path, or
    `pytest --pyargs runai_conformance[.conformance.test_auth]` by module name, as an installed copy is named."""
    pyargs = bool(getattr(config.option, "pyargs", False))
    for arg in config.args:
        name = arg.split("::")[0]
        path = (module_path(name) if pyargs else None) or Path(name).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents:
            return True
    return False


def module_path(name: str) -> Path | None:
    """Where an importable module or package is (what `--pyargs NAME` collects), without importing it."""
    if not all(part.isidentifier() for part in name.split(".")):
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(spec.origin).resolve() if spec.origin else None


def register_hypothesis_profiles(database: ExampleDatabase | None = None, *, replay_only: bool = False) -> None:
    """The profiles' Hypothesis settings. No example database unless the run keeps one (conformance/examples.py),
    never Hypothesis' default one in the working directory. A replay (--reproduce) tries stored examples only."""
    for profile in PROFILES.values():
        settings.register_profile(
            f"runai-{profile.name}",
            max_examples=profile.fuzz_examples,
            deadline=None,
            database=database,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
            derandomize=False,
            # no "explain" phase: it replays failures against the target to print lines of our own code
            phases=(
                [Phase.explicit, Phase.reuse]
                if replay_only
                else [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
            ),
        )


def reproduce_count(config: pytest.Config, profile: str) -> int:
    """--reproduce / RUNAI_REPRODUCE: how often a new failure is replayed (default: the profile's)."""
    given = option(config, "reproduce")
    if given is None:
        return PROFILES[profile].reproduce
    try:
        value = int(given)
    except ValueError:
        value = -1
    if not 0 <= value <= 20:
        raise pytest.UsageError(
            f"runai-conformance: --reproduce / RUNAI_REPRODUCE {given!r}: give a whole number 0..20"
        )
    return value


def register_markers(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(*ids): the CONTRACT rules a test proves (conformance/rules.toml)")
    config.addinivalue_line("markers", "operation(id): the API operation a test exercises")
    for rule_id, title in rules().items():  # `-m USR-8` selects the tests proving USR-8, exactly
        config.addinivalue_line("markers", f"{rule_id}: proves {rule_id}: {title}")
