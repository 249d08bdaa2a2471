"""Start the embedded reference server as a separate process: the default target when none is given.

The suite talks to it over HTTP like to any other target; it is started with `python -m runai_conformance.reference`
and never imported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .target import ConfigError

START_DEADLINE = 30.0
REFERENCE_MODULE = f"{__name__.split('.')[0]}.reference"  # beside this package, run as a program


@dataclass
class EmbeddedServer:
    url: str
    credentials: Path
    process: subprocess.Popen[str]
    workdir: tempfile.TemporaryDirectory[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.workdir.cleanup()


def start_embedded(extra_args: tuple[str, ...] = ()) -> EmbeddedServer:
    """`python -m runai_conformance.reference` on a free loopback port; returns once its ready line says where."""
    workdir = tempfile.TemporaryDirectory(prefix="runai-conformance-")
    credentials = Path(workdir.name) / "credentials.toml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            REFERENCE_MODULE,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--credentials-out",
            str(credentials),
            *extra_args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    ready: list[str] = []
    reader = threading.Thread(
        target=lambda: ready.append(process.stdout.readline() if process.stdout else ""), daemon=True
    )
    reader.start()
    reader.join(START_DEADLINE)
    line = ready[0] if ready else ""
    if not line.startswith("reference: serving "):
        process.kill()
        err = process.stderr.read().strip().splitlines() if process.stderr and process.poll() is not None else []
        workdir.cleanup()
        reason = err[-1] if err else f"no ready line within {START_DEADLINE:.0f} s"
        raise ConfigError(f"the embedded reference server did not start: {reason}")
    # Keep draining its output so that a chatty server never blocks on a full pipe.
    threading.Thread(target=lambda: process.stdout and process.stdout.read(), daemon=True).start()
    threading.Thread(target=lambda: process.stderr and process.stderr.read(), daemon=True).start()
    return EmbeddedServer(url=line.split()[2], credentials=credentials, process=process, workdir=workdir)
