"""On a shared target other clients create and delete users all the time: the scoped listing
properties, the lifecycles, the simultaneous batches, the crowd, the look-alikes and the facts judged later
must stay green meanwhile."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.suite.runner import client_token, reference, run_suite, tagged_leftovers

PAUSE = 0.02  # seconds between the background client's requests


def churn(url: str, creds: dict[str, str], stop: threading.Event, counter: list[int]) -> None:
    """Create and delete untagged users all along, until stopped (or 10 minutes): a busy colleague, a
    request every PAUSE at most, not a client that takes every cycle the machine has from the run."""
    token = client_token(url, creds)
    deadline = time.monotonic() + 600
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        alive: list[str] = []
        while not stop.is_set() and time.monotonic() < deadline:
            answer = http.post("/api/v1/users", json={"email": f"churn-{uuid.uuid4().hex[:10]}@example.com"})
            if answer.status_code == 201:
                alive.append(answer.json()["id"])
                counter[0] += 1
            if len(alive) > 5:
                http.delete(f"/api/v1/users/{alive.pop(0)}")
                counter[0] += 1
            stop.wait(PAUSE)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scoped_properties_and_machines_stay_green_under_churn(workers: str, tmp_path: Path) -> None:
    """Another client creates and deletes users all along; serially and with workers (each with its own
    run tag, each seeing the other's users as someone else's), the run stays green and leaves nothing."""
    with reference() as server:
        stop, counter = threading.Event(), [0]
        worker = threading.Thread(
            target=churn, args=(server.url, server.credentials["admin"], stop, counter), daemon=True
        )
        worker.start()
        try:
            result = run_suite(
                server,
                tmp_path,
                "conformance/test_listing.py",
                "conformance/test_users_lifecycle.py",
                "conformance/test_roles_and_isolation.py",
                "conformance/test_stateful.py",
                "conformance/test_simultaneous.py",
                "conformance/test_volume.py",
                "conformance/test_lookalikes.py",
                "conformance/test_later.py",
                "--profile",
                "ci",
                "--concurrency",
                workers,
            )
        finally:
            stop.set()
            worker.join(timeout=60)
        assert counter[0] > 50, "the background client hardly ran: this proves nothing"
        assert result.returncode == 0, result.output[-4000:]
        assert tagged_leftovers(server) == []
