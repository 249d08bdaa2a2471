"""The reference server obeys every CONTRACT rule, and each planted fault breaks its rule and no other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reference.faults import FAULTS
from reference.server import running
from tests.reference.probes import PROBES, Api

CONTRACT_RULES = set(PROBES)


@pytest.fixture(scope="module")
def clean_api() -> Iterator[Api]:
    with running() as server:
        yield Api(server.url, server.credentials, server.store.signing_key)


@pytest.mark.parametrize("rule", sorted(PROBES))
def test_rule_holds_on_the_clean_server(rule: str, clean_api: Api) -> None:
    PROBES[rule](clean_api)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_breaks_its_rule_and_no_other(name: str) -> None:
    fault = FAULTS[name]
    with running([name]) as server:
        api = Api(server.url, server.credentials, server.store.signing_key)
        with pytest.raises(AssertionError):
            PROBES[fault.rule](api)
        broken = []
        for rule, check in PROBES.items():
            if rule == fault.rule or rule in fault.also:
                continue
            try:
                check(api)
            except AssertionError as exc:
                broken.append(f"{rule}: {(str(exc) or repr(exc)).splitlines()[0]}")
        assert not broken, f"{name} also breaks {broken}"


def test_every_fault_is_planted_in_the_server_code() -> None:
    """A fault registered but never asked for with `faults.on(name)` would plant nothing."""
    server = [p for p in (Path(__file__).parents[2] / "reference").glob("*.py") if p.name != "faults.py"]
    code = "\n".join(p.read_text(encoding="utf-8") for p in server)
    unplanted = sorted(name for name in FAULTS if f'"{name}"' not in code)
    assert not unplanted, f"faults the server never plants: {unplanted}"


def test_every_rule_family_has_at_least_two_faults() -> None:
    families: dict[str, int] = {}
    for fault in FAULTS.values():
        families[fault.rule.split("-")[0]] = families.get(fault.rule.split("-")[0], 0) + 1
    assert {f for f, n in families.items() if n >= 2} == {"AUTH", "ERR", "USR", "LIST", "TEN", "ISO"}
    assert {f.rule for f in FAULTS.values()} <= CONTRACT_RULES
