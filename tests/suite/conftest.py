"""Fixtures of the self-tests that run the suite against a reference server."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def company_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[Path, Path]]:
    """A CA of our own (as a corporate one) and a server certificate for 127.0.0.1 it signed."""
    trustme = pytest.importorskip("trustme")
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(where / "server.pem"))
    cert.private_key_pem.write_to_path(str(where / "server.key"))
    return where / "ca.pem", (where / "server.pem", where / "server.key")
