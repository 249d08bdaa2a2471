"""The suite as its users have it: a wheel built from this checkout, installed into a fresh virtual
environment outside it, run from an empty directory as `runai-conformance run` and as
`pytest --pyargs runai_conformance`. Both give the checkout's verdicts, rule for rule, name the rule of a
planted fault, and the README's remote-staging line (TLS, workers) runs with nothing else installed.
`--version` and every report header say what the merged spec and the contract are. The wheel adds one
import name, and stand-ins for the unrelated index packages named like our folders, installed first, are
neither imported by the suite nor overwritten by it."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from runai_conformance.reference.faults import FAULTS
from runai_conformance.reference.server import credentials_toml
from tests.suite.runner import ROOT, SuiteResult, clean_smoke_run, once_per_session, reference, run_suite

PACKAGED = ("pyproject.toml", "README.md", "runai_conformance", "specs", "conformance", "strategies", "reference")
IMPORT_NAME = "runai_conformance"
# Distributions on the public index with the names of the repository's folders (issue 38): installed first
STANDINS = ("specs", "strategies", "conformance", "reference")
STANDIN_LOG = "RUNAI_SELFTEST_STANDIN_LOG"  # where a stand-in notes that it was imported
INSTALL_TIMEOUT = 900  # a fresh environment downloads every dependency once (pip's cache makes it quick after)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh virtual environment holding only the wheel of this checkout and what
    it declares. Built once per self-test session, shared by the workers (-n): the first builds it under a
    lock, the others wait for it."""
    with once_per_session(tmp_path_factory, "installed") as (home, first):
        bin_dir = home / "venv" / "bin"
        if first:
            src = home / "src"  # built from a copy: the checkout gets no build/ or egg-info of its own
            shutil.rmtree(src, ignore_errors=True)  # (left by a build that failed)
            src.mkdir()
            for name in PACKAGED:
                if (ROOT / name).is_dir():
                    shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / name, src / name)
            pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet")
            _run(*pip, "wheel", "--no-deps", "-w", str(home / "dist"), str(src))
            # The environment gets no pip of its own (ensurepip: 4 s): this pip installs into it (--python), and
            # compiles nothing ahead (10 s of the install): a run compiles what it imports, once.
            _run(sys.executable, "-m", "venv", "--clear", "--without-pip", str(home / "venv"))
            into = (*pip, "--python", str(bin_dir / "python"), "install", "--no-compile")
            _run(*into, *(str(standin_wheel(name, home / "standins")) for name in STANDINS))
            _run(*into, str(next((home / "dist").glob("runai_conformance-*.whl"))))
    found = subprocess.run(
        [str(bin_dir / "python"), "-c", f"import {IMPORT_NAME}.conformance as c; print(c.__file__)"],
        cwd=home, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(home / "venv") in found, f"the installed suite is not the one imported: {found}"
    return bin_dir


def standin_wheel(name: str, where: Path) -> Path:
    """A wheel of an unrelated distribution whose one package is `name`: it notes each import of itself in
    the file $RUNAI_SELFTEST_STANDIN_LOG names, and says it is the stand-in."""
    where.mkdir(exist_ok=True)
    wheel = where / f"{name}-0.0.1-py3-none-any.whl"
    info = f"{name}-0.0.1.dist-info"
    files = {
        f"{name}/__init__.py": (
            "import os\n"
            f"STANDIN = {name!r}\n"
            f"if os.environ.get({STANDIN_LOG!r}):\n"
            f"    open(os.environ[{STANDIN_LOG!r}], 'a').write({name!r} + '\\n')\n"
        ),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: selftest\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD", "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"]))
    return wheel


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    assert done.returncode == 0, f"{shlex.join(command)}:\n{(done.stdout + done.stderr)[-3000:]}"


def starts(venv: Path) -> dict[str, tuple[str, ...]]:
    """The two ways an installed copy is started."""
    return {
        "runai-conformance run": (str(venv / "runai-conformance"), "run"),
        f"pytest --pyargs {IMPORT_NAME}": (str(venv / "python"), "-m", "pytest", "--pyargs", IMPORT_NAME),
    }


def statuses(result: SuiteResult) -> dict[str, str]:
    return {rule: entry["status"] for rule, entry in summary(result)["rules"].items()}


def summary(result: SuiteResult) -> dict:
    return json.loads((result.report_dir / "summary.json").read_text())


def version_lines(*command: str) -> list[str]:
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()


def test_installed_copy_is_green_from_an_empty_directory_with_the_checkouts_verdicts(
    venv: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    imported = tmp_path / "standins-imported"
    checkout = clean_smoke_run(tmp_path_factory)  # the checkout's own smoke run, shared with other self-tests
    with reference() as server:
        installed = {
            how: run_suite(
                server,
                tmp_path / how.split()[0],
                "--profile",
                "smoke",
                command=command,
                cwd=empty,
                env={STANDIN_LOG: str(imported)},
            )
            for how, command in starts(venv).items()
        }
    assert checkout.returncode == 0 and checkout.passed, checkout.output[-3000:]
    version = version_lines(str(venv / "runai-conformance"))
    assert version == version_lines(sys.executable, "-m", "runai_conformance.conformance.cli"), (
        "the wheel says another version"
    )
    for how, result in installed.items():
        assert result.returncode == 0, f"{how}:\n{result.output[-3000:]}"
        assert statuses(result) == statuses(checkout), how
        # the same tests, by the same ids (`conformance/test_auth.py::…`), as the checkout reports them
        assert result.passed == checkout.passed and result.skipped == checkout.skipped, how
        assert summary(result)["run"]["complete"], how
        # every report header says what --version says
        for line in version:
            assert line in result.output, f"{how}: the terminal header lacks {line!r}"
        assert " · ".join(version) in (result.report_dir / "matrix.md").read_text(), how
        junit = (result.report_dir / "junit.xml").read_text()
        assert all(f'value="{line}"' in junit for line in version), how
    # the reports went where --report-dir said: nothing beside the run but pytest's and Hypothesis' caches
    assert {p.name for p in empty.iterdir()} <= {".pytest_cache", ".hypothesis"}
    # the unrelated packages named like our folders, installed before the suite, were never imported by it
    assert not imported.exists(), imported.read_text()


def test_the_wheel_adds_one_import_name_and_leaves_packages_named_like_its_folders_alone(venv: Path) -> None:
    wheel = next(venv.parent.parent.glob("dist/runai_conformance-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        listed = [line.split(",")[0] for line in archive.read(record).decode().splitlines() if line]
    top = {path.split("/")[0] for path in listed if not path.split("/")[0].endswith(".dist-info")}
    assert top == {IMPORT_NAME}, f"the wheel adds the top-level names {sorted(top)}"
    assert {f"{IMPORT_NAME}/{folder}/__init__.py" for folder in STANDINS} <= set(listed)
    # each stand-in installed first is still itself, beside the suite
    probe = "; ".join(f"import {n}; print({n}.STANDIN)" for n in STANDINS)
    done = subprocess.run([str(venv / "python"), "-c", probe], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.stdout.split() == list(STANDINS), done.stdout + done.stderr


def test_installed_copy_is_red_naming_the_rule_of_a_planted_fault(venv: Path, tmp_path: Path) -> None:
    fault = "usr-logout-204"
    rule = FAULTS[fault].rule
    empty = tmp_path / "empty"
    empty.mkdir()
    rerun = starts(venv)["runai-conformance run"]
    with reference(fault) as server:
        for how, command in starts(venv).items():
            result = run_suite(
                server, tmp_path / how.split()[0], "-m", rule, "--profile", "smoke", "--shrink-seconds", "0",
                command=command, cwd=empty,
            )  # fmt: skip
            assert result.returncode == 1, f"{how}:\n{result.output[-3000:]}"
            assert rule in result.failed_rules, f"{how}: {result.failed_rules}"
            assert result.failed_rules <= {rule, *FAULTS[fault].also}, f"{how}: {result.failed_rules}"
            # its summary line starts with the rule, then the test's id as pytest gives it from there
            failed = re.findall(rf"^FAILED \[{rule}\] (\S+conformance/test_\w+\.py::\S+)", result.output, re.M)
            assert failed, f"{how}:\n{result.output[-3000:]}"
            # the printed id re-runs that test alone
            again = run_suite(server, tmp_path / "again", failed[-1], "--shrink-seconds", "0", command=rerun, cwd=empty)
            assert again.returncode == 1 and len(again.failed) == 1, (
                f"{how} re-run of {failed[-1]}:\n{again.output[-3000:]}"
            )


def test_the_readme_remote_staging_line_runs_over_tls_with_nothing_else_installed(
    venv: Path, company_ca: tuple[Path, tuple[Path, Path]], tmp_path: Path
) -> None:
    """The README's line, as it stands but for its profile and its number of workers (its options, workers
    all the same), against the reference in TLS mode behind our own CA, in the fresh environment: nothing
    more to install, reports in ./reports. The smoke profile stands in for ci and 2 workers for the line's 8,
    to spare the self-tests' time: what ci adds is more examples of the same tests, which CI's quick start
    runs from the checkout, and each of 8 workers would import and collect the suite again on 2 cores."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- remote-staging:begin -->\n```sh\n(.+?)\n```\n<!-- remote-staging:end -->", readme, re.S)
    assert block, "README.md has no remote-staging block"
    line = block.group(1).strip()
    assert line.startswith("runai-conformance run ") and " --concurrency " in line, line
    ca, (cert, key) = company_ca
    empty = tmp_path / "empty"
    empty.mkdir()
    with reference(tls=(cert, key)) as server:
        creds = tmp_path / "creds.toml"
        creds.write_text(
            credentials_toml(server.store, server.url).replace("[target]\n", f'[target]\nca_bundle = "{ca}"\n', 1)
        )
        words = [
            server.url if w == "https://staging.example.com" else str(creds) if w == "creds.toml" else w
            for w in shlex.split(line)
        ]
        words[0] = str(venv / words[0])
        words[words.index("--profile") + 1] = "smoke"
        words[words.index("--concurrency") + 1] = "2"
        done = subprocess.run(words, cwd=empty, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "2 workers (-n, --concurrency)" in out, out[-3000:]
    data = json.loads((empty / "reports" / "summary.json").read_text())
    assert data["run"]["complete"] and data["target"].startswith("https://"), data["run"]


def test_version_says_what_the_merged_spec_and_the_contract_say() -> None:
    """`--version`, held to specs/runai.json, specs/CONTRACT.md, the rule table and pyproject.toml, read here
    on their own."""
    spec = json.loads((ROOT / "specs" / "runai.json").read_text())
    by_page = {source["page"].split("-")[0]: source["version"] for source in spec["x-runai-sources"]}
    contract = hashlib.sha256((ROOT / "specs" / "CONTRACT.md").read_bytes()).hexdigest()[:12]
    rules = tomllib.loads((ROOT / "conformance" / "rules.toml").read_text())["rules"]
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    overlays = ", ".join(f"{o['file'].removesuffix('.yaml')} ({o['rule']})" for o in spec["x-runai-overlays"])
    assert version_lines(sys.executable, "-m", "runai_conformance.conformance.cli") == [
        f"runai-conformance {package}",
        f"spec: Users {by_page['users']}, Tenant {by_page['tenant']} (merged document {spec['info']['version']})",
        f"contract: sha256:{contract} ({len(rules)} rules)",
        f"overlays: {overlays}",
    ]


def test_the_container_installs_what_the_wheel_here_is_built_from() -> None:
    """Where no container engine runs, the image's install is proven by the wheel tests above: they build from
    exactly the files the Containerfile copies, and its entrypoint is the command they run."""
    text = (ROOT / "Containerfile").read_text()
    copied = [word for line in re.findall(r"^COPY (.+)$", text, re.M) for word in line.split()[:-1]]
    assert sorted(copied) == sorted(PACKAGED), copied
    assert re.search(r'^ENTRYPOINT \["runai-conformance", "run"\]$', text, re.M), "the one command"
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)


def test_the_container_image_runs_the_suite(tmp_path: Path) -> None:
    """The Containerfile builds an image whose entrypoint is the one command; run against the reference."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no container engine here: docker is not installed")
    engine = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60)
    if engine.returncode != 0:
        pytest.skip(
            f"no container engine here: `docker info` failed ({(engine.stderr.strip().splitlines() or ['?'])[-1]})"
        )
    image = "runai-conformance:selftest"
    _run(docker, "build", "-q", "-t", image, "-f", str(ROOT / "Containerfile"), str(ROOT))
    with reference() as server:
        (tmp_path / "creds.toml").write_text(credentials_toml(server.store, server.url))
        done = subprocess.run(
            [docker, "run", "--rm", "--network", "host", "-v", f"{tmp_path}:/work", image,
             "--credentials", "creds.toml", "--profile", "smoke"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert json.loads((tmp_path / "reports" / "summary.json").read_text())["run"]["complete"]
