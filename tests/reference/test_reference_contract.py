"""The reference server obeys every CONTRACT rule, and each planted fault breaks its rule and no other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runai_conformance.reference.faults import FAULTS
from runai_conformance.reference.server import running
from tests.reference.probes import PROBE_LAPSE, PROBE_WINDOW, PROBES, Api

CONTRACT_RULES = set(PROBES)


@pytest.fixture(scope="module")
def clean_api() -> Iterator[Api]:
    with running(lapse=PROBE_LAPSE, window=PROBE_WINDOW, listen=False) as server:
        yield Api(
            server.url, server.credentials, server.store.signing_key, later=server.later, transport=server.in_process
        )


@pytest.mark.parametrize("rule", sorted(PROBES))
def test_rule_holds_on_the_clean_server(rule: str, clean_api: Api) -> None:
    clean_api.server_errors.clear()
    PROBES[rule](clean_api)
    assert clean_api.server_errors == [], "the clean server answered a 5xx (ERR-3)"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_breaks_its_rule_and_no_other(name: str) -> None:
    """As the suite judges (conformance/reporting.py): a 5xx is ERR-3's whichever probe meets it, so an ERR-3
    fault that crashes an operation other probes use breaks ERR-3 only, and any other fault that makes a
    probe meet a 5xx breaks ERR-3 too."""
    fault = FAULTS[name]
    with running([name], listen=False, lapse=PROBE_LAPSE, window=PROBE_WINDOW) as server:
        api = Api(
            server.url, server.credentials, server.store.signing_key, later=server.later, transport=server.in_process
        )
        with pytest.raises(AssertionError):
            PROBES[fault.rule](api)
        broken = []
        for rule, check in PROBES.items():
            if rule == fault.rule or rule in fault.also:
                continue
            api.server_errors.clear()
            try:
                check(api)
            except Exception as exc:  # what a probe met after a 5xx (a failed check, a crash on its body) is ERR-3's
                if not api.server_errors and not isinstance(exc, AssertionError):
                    raise
                if not api.server_errors:
                    broken.append(f"{rule}: {(str(exc) or repr(exc)).splitlines()[0]}")
            if api.server_errors and "ERR-3" not in (fault.rule, *fault.also):
                broken.append(f"ERR-3 (met by the {rule} probe): {api.server_errors[:3]}")
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
