"""What this copy of the suite checks: its package version, the published versions of the merged spec,
the contract's revision and the overlays that patch the published text. `runai-conformance --version`
prints it, and every report carries the same (the pytest header, summary.json, the matrix, JUnit and
Allure), so a verdict always says what it was measured against."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from typing import Any

from ..specs import CONTRACT_PATH, load_spec
from .rules import rules

PACKAGE = "runai-conformance"


def package_version() -> str:
    """The installed package's version (a checkout that was never installed says so)."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "0+not-installed"


@cache
def contract_revision() -> str:
    """The contract's revision: the start of the SHA-256 of the CONTRACT.md this suite was built from
    (the contract carries no number of its own, and it is amended)."""
    return "sha256:" + hashlib.sha256(CONTRACT_PATH.read_bytes()).hexdigest()[:12]


def identity() -> dict[str, Any]:
    """The suite's identity, as summary.json records it under `suite`."""
    spec = load_spec()
    apis: dict[str, str] = {}
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict):
                for tag in op.get("tags", []):
                    apis[tag] = op["x-runai-published-version"]
    return {
        "version": package_version(),
        "spec": spec["info"]["version"],
        "apis": dict(sorted(apis.items(), key=lambda kv: kv[0] != "Users")),  # Users first, as the API names them
        "contract": contract_revision(),
        "rules": len(rules()),
        "overlays": [f"{o['file'].removesuffix('.yaml')} ({o.get('rule')})" for o in spec.get("x-runai-overlays", [])],
    }


def describe(suite: dict[str, Any] | None = None) -> list[str]:
    """The identity in the lines `--version` prints and report headers repeat, word for word."""
    suite = suite or identity()
    apis = ", ".join(f"{name} {version}" for name, version in suite["apis"].items())
    return [
        f"{PACKAGE} {suite['version']}",
        f"spec: {apis} (merged document {suite['spec']})",
        f"contract: {suite['contract']} ({suite['rules']} rules)",
        f"overlays: {', '.join(suite['overlays']) or 'none'}",
    ]
