"""A pre-warmed starter for the self-tests' suite runs: one process per self-test worker imports pytest, the
suite's plugin, Schemathesis, Hypothesis and the rest once, then forks a child for every run, which runs
`pytest ARGS` in a directory with an environment of its own, exactly as `python -m pytest ARGS` would
(its output to a file, its exit code its own), and exits. A run starts in ~0.1 s instead of ~1.3 s of
imports and plugin loading; ~500 runs of the self-tests add up.

The starter is single-threaded while it forks (no server, no pool in it), so a child never inherits a lock
another thread held. A run that needs the process itself (a signal sent to it, a test that follows its
output as it goes) is started with subprocess as before (`runner.start_suite`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

WARM = (
    "pytest",
    "_pytest.config",
    "hypothesis",
    "schemathesis",
    "httpx",
    "allure_pytest.plugin",
    "xdist.plugin",
    "runai_conformance.conformance.plugin",
    "runai_conformance.conformance.fuzz",
    "runai_conformance.conformance.checks",
    "runai_conformance.conformance.test_stateful",
    # imported only once a run is under way (a client's transport, Schemathesis's pytest plugin and reports,
    # xdist's hooks): ~130 modules, each read again through pytest's assertion rewriter in every child
    "httpcore",
    "h11",
    "anyio._backends._asyncio",
    "execnet",
    "xdist.looponfail",
    "xdist.newhooks",
    "schemathesis.pytest.plugin",
    "schemathesis.pytest.xdist",
    "schemathesis.reporting.html",
    "schemathesis.reporting.allure",
    "schemathesis.reporting.junitxml",
    "schemathesis.python.asgi",
    "schemathesis.python._constants.orchestrator",
    "schemathesis.generation.stateful.state_machine",
    "schemathesis.engine.summary",
    "schemathesis.engine.statistic",
    "schemathesis.engine.supervisor",
    "schemathesis.wfc.escalation",
    "schemathesis.specs.openapi.schemas",  # loading the spec, fuzzing and stateful parts
    "schemathesis.specs.openapi.stateful",
    "schemathesis.specs.openapi.coverage._operation",
    "schemathesis.specs.openapi.object_authorization",
    "schemathesis.generation.dictionaries",
    "schemathesis.reporting.html.writer",
    "schemathesis.specs.openapi.checks",
    "schemathesis.specs.openapi.examples",
    "schemathesis.specs.openapi.negative",
    "schemathesis.specs.openapi.auths",
    "schemathesis.generation.jsonschema.builder",
    "schemathesis.generation.stateful.control",
    "werkzeug.test",
    "werkzeug.serving",
    "email.policy",
    "packaging.version",
    "markupsafe",
    "faulthandler",
    "readline",
    "encodings.unicode_escape",
    "_pytest._argcomplete",
)


def serve() -> None:  # pragma: no cover - runs in the starter process
    """Read one JSON request a line (args, cwd, env, output path), fork, run pytest in the child, answer
    its exit code. Ends at end of input."""
    warm()
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"rc": code}), flush=True)


def warm() -> None:  # pragma: no cover - runs in the starter process
    """Import what every run imports, once. Nothing here may touch Hypothesis's storage (its charmap, say):
    the Hypothesis plugin, imported after, would warn of it in every self-test that starts a run."""
    import importlib

    for name in WARM:
        with contextlib.suppress(Exception):  # a module that fails here fails in the run itself, as usual
            importlib.import_module(name)
    import importlib.metadata

    import _pytest.config

    for plugin in _pytest.config.default_plugins:  # pytest's own plugins, and those installed (pytest11)
        with contextlib.suppress(Exception):
            importlib.import_module(f"_pytest.{plugin}")
    for entry in importlib.metadata.entry_points(group="pytest11"):
        with contextlib.suppress(Exception):
            entry.load()
    # What was imported lives as long as every child: frozen, a child's collections (pytest runs a few at its
    # end) do not walk it again, and its pages stay shared with the starter instead of being copied on write.
    gc.collect()
    gc.freeze()


def _child(job: dict[str, Any]) -> None:  # pragma: no cover - runs in a forked child
    os.setsid()  # its own process group: a timeout kills the run with its servers and workers
    out = os.open(job["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    code = 1
    try:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        sys.argv = [sys.executable, "-m", "pytest", *job["args"]]
        import pytest

        # the plugins were imported before pytest could mark them for its assertion rewriting: say nothing of it
        quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
        code = _profiled(lambda: int(pytest.main([*quiet, *job["args"]])))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _profiled(run: Any) -> int:  # pragma: no cover - runs in a forked child
    """`run()`, under cProfile when $RUNAI_SELFTEST_PROFILE names a directory: each run's profile is left
    there as PID.prof (read them together with pstats), to see where the self-tests' runs spend their CPU."""
    where = os.environ.get("RUNAI_SELFTEST_PROFILE")
    if not where:
        return int(run())
    import cProfile

    profile = cProfile.Profile()
    try:
        return int(profile.runcall(run))
    finally:
        profile.dump_stats(Path(where) / f"{os.getpid()}.prof")


class Starter:
    """The self-test process's side: starts the starter once, and runs pytest through it."""

    def __init__(self, cwd: Path) -> None:
        self._lock = threading.Lock()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tests.suite.forkserver import serve; serve()"],
            cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(self, args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        """`python -m pytest ARGS` in `cwd` with `env`, as a forked child of the starter."""
        with self._lock, tempfile.NamedTemporaryFile(prefix="runai-forked-", suffix=".out", delete=False) as handle:
            output = Path(handle.name)
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(
                json.dumps({"args": args, "cwd": str(cwd), "env": env, "output": str(output)}) + "\n"
            )
            self.process.stdin.flush()
            pid = json.loads(self.process.stdout.readline())["pid"]
            fired = threading.Event()
            timer = threading.Timer(timeout, lambda: (fired.set(), _kill_group(pid)))
            timer.start()
            try:
                answer = self.process.stdout.readline()
            finally:
                timer.cancel()
            if not answer:
                raise RuntimeError("the self-tests' starter ended")
            text = output.read_text(encoding="utf-8", errors="replace")
            output.unlink(missing_ok=True)
            code = json.loads(answer)["rc"]
            if fired.is_set():
                raise subprocess.TimeoutExpired([sys.executable, "-m", "pytest", *args], timeout, output=text)
            return subprocess.CompletedProcess([sys.executable, "-m", "pytest", *args], code, text, "")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
