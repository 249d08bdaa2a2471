"""Build and run the reference server: the ASGI app, its credentials file, an in-process runner."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference.app import ReferenceApp
from reference.faults import Faults
from reference.store import Store


def make_app(
    store: Store, faults: Faults, *, token_ttl: int = 3600, access_log: Callable[[str], Any] | None = None
) -> Any:
    """The ASGI application of one reference server."""
    writer = None if access_log is None else (lambda line: access_log(line + "\n"))
    return ReferenceApp(store, faults, token_ttl=token_ttl, access_log=writer).asgi()


def credentials_toml(store: Store, url: str) -> str:
    """The suite's credentials file for this server: its URL and one client per role."""
    lines = [
        "# Written by python -m reference --credentials-out: the seeded clients of this server.",
        "[target]",
        f'url = "{url}"',
        "",
    ]
    for role, creds in store.credentials().items():
        lines += [
            f"[roles.{role}]",
            f'client_id = "{creds["client_id"]}"',
            f'client_secret = "{creds["client_secret"]}"',
            "",
        ]
    return "\n".join(lines)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket. Created as IPPROTO_TCP so that asyncio sets TCP_NODELAY on its connections
    (it checks the protocol number); without it every answer waits ~40 ms for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@dataclass
class RunningServer:
    url: str
    store: Store
    credentials: dict[str, dict[str, str]]
    requests: list[dict[str, Any]]


@contextmanager
def running(
    faults: tuple[str, ...] | list[str] = (), *, db: Path | None = None, token_ttl: int = 3600
) -> Iterator[RunningServer]:
    """A reference server on a free loopback port in a background thread, stopped on exit."""
    import json

    import uvicorn

    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="runai-reference-")
        db = Path(tmp.name) / "reference.sqlite"
    store = Store(db)
    requests: list[dict[str, Any]] = []
    app = make_app(
        store, Faults(list(faults)), token_ttl=token_ttl, access_log=lambda line: requests.append(json.loads(line))
    )
    sock = listening_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the reference server did not start within 20 s")
        time.sleep(0.01)
    try:
        yield RunningServer(url, store, store.credentials(), requests)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
        sock.close()
        if tmp is not None:
            tmp.cleanup()
