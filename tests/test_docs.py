"""The documentation's generated tables match the code, every relative link in it leads somewhere, and
docs/layout.md draws the layers tests/test_layers.py holds the code to."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests import docs
from tests.test_layers import LAYERS

PAGES = [docs.README, *sorted(docs.DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_tables_are_up_to_date() -> None:
    assert docs.main(["--check"]) == 0, "tables are stale: run python -m tests.docs"


def test_every_table_stands_in_its_file() -> None:
    for name, (file, _) in docs.TABLES.items():
        begin, end = docs.markers(name)
        text = (docs.ROOT / file).read_text(encoding="utf-8")
        assert text.count(begin) == 1 and text.count(end) == 1, f"{file}: the {name} table's markers"


def test_a_stale_table_is_noticed() -> None:
    fresh = (docs.DOCS / "proves.md").read_text(encoding="utf-8")
    stale = fresh.replace("| ci | 40 |", "| ci | 41 |", 1)
    assert stale != fresh and docs.render(stale, "docs/proves.md") == fresh


def test_check_names_the_stale_file_and_a_rewrite_freshens_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a copy of the pages: one stale family count on the README and the check names README.md alone."""
    shutil.copy(docs.README, tmp_path / "README.md")
    shutil.copytree(docs.DOCS, tmp_path / "docs")
    readme = tmp_path / "README.md"
    fresh = readme.read_text(encoding="utf-8")
    stale = re.sub(r"^(\| ISO \| .*\| )\d+( \| \d+ \|)$", r"\g<1>99\2", fresh, count=1, flags=re.M)
    assert stale != fresh
    readme.write_text(stale, encoding="utf-8")
    assert docs.main(["--check"], root=tmp_path) == 1
    err = capsys.readouterr().err
    assert "README.md" in err and "docs/" not in err, err
    assert readme.read_text(encoding="utf-8") == stale  # --check writes nothing
    assert docs.main([], root=tmp_path) == 0
    assert readme.read_text(encoding="utf-8") == fresh
    assert docs.main(["--check"], root=tmp_path) == 0


def test_every_rule_has_a_proof_and_every_fault_a_catcher() -> None:
    table = docs.rules_table()
    assert "NOT CAUGHT" not in table
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in table.splitlines()[2:]]
    assert len(cells) == len(docs.rules())
    unproved = [row[0] for row in cells if row[2] == "—"]
    assert unproved == [], f"rules no check proves: {unproved}"


def test_every_family_has_its_line() -> None:
    assert {docs.family(r) for r in docs.rules()} == set(docs.FAMILIES)


def outside_code_blocks(text: str) -> list[str]:
    """The lines of a page outside its fenced code blocks."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            kept.append(line)
    return kept


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation but '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors a page's headings make (GitHub numbers repeats: `x`, `x-1`, …)."""
    found: set[str] = set()
    times: dict[str, int] = {}
    for line in outside_code_blocks(text):
        if match := re.match(r"#{1,6} (.+)", line):
            base = anchor(match[1])
            found.add(f"{base}-{times[base]}" if base in times else base)
            times[base] = times.get(base, 0) + 1
    return found


def test_anchors_follow_githubs_rules() -> None:
    assert anchor("The credentials file (TOML)") == "the-credentials-file-toml"
    assert anchor("`conformance/`, layer by layer") == "conformance-layer-by-layer"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n### A\n") == {"a", "a-1", "a-2"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(docs.ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    broken = []
    prose = "\n".join(re.sub(r"`[^`]*`", "", line) for line in outside_code_blocks(page.read_text(encoding="utf-8")))
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        file, _, fragment = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading #{fragment} in {path.relative_to(docs.ROOT)}")
    assert broken == [], f"{page.relative_to(docs.ROOT)}: {broken}"


def test_every_docs_page_has_a_title_and_the_way_back_and_the_readme_links_it() -> None:
    readme = docs.README.read_text(encoding="utf-8")
    for page in PAGES[1:]:
        first = page.read_text(encoding="utf-8").splitlines()[:3]
        assert first[0].startswith("# ") and "](../README.md)" in first[2], f"{page.name}: {first}"
        assert f"](docs/{page.name})" in readme, f"the README links no docs/{page.name}"


def test_layout_draws_the_layers_of_test_layers() -> None:
    """docs/layout.md has a heading per layer of tests/test_layers.py, in its order, naming its modules."""
    text = (docs.DOCS / "layout.md").read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    drawn = [
        (section.splitlines()[0].strip().lower(), frozenset(re.findall(r"^- `(\w+)\.py`", section, re.M)))
        for section in sections
    ]
    assert drawn == [(name.lower(), members) for name, members in LAYERS]
