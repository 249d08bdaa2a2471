"""Merge the published per-operation OpenAPI pages into one document and apply the overlays.

    python -m runai_conformance.specs.merge            # write specs/runai.json
    python -m runai_conformance.specs.merge --check    # exit 1 when specs/runai.json is not what the merge makes

Each page in `specs/sources/` holds complete single-operation OpenAPI 3.0.3 documents in
```json fences. Identical definitions merge into one; two different definitions under one
name stop the merge with one line naming both places and the JSON path where they differ.
Overlays (OpenAPI Overlay 1.0, `specs/overlays/*.yaml`) patch known gaps in the published
text after the merge; the merged document lists them under `x-runai-overlays`.
Nothing is written unless every step succeeds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import OVERLAYS_DIR, SOURCES_DIR, SPEC_PATH

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class MergeError(Exception):
    """A problem in a source page or overlay; its message is one line that says what to fix."""


@dataclass(frozen=True)
class Fragment:
    """One fenced OpenAPI document of a published page."""

    page: str
    index: int
    line: int
    heading: str
    doc: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.page} fence {self.index} (line {self.line}, '{self.heading}')"


# ---------------------------------------------------------------------------- extraction


def extract_fragments(page: Path) -> list[Fragment]:
    """Every ```json fence of a page, parsed; a broken fence raises MergeError naming it."""
    try:
        lines = page.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MergeError(f"{page}: cannot read the page: {exc}") from None
    fragments: list[Fragment] = []
    heading = "(no heading)"
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip().startswith("```json"):
            start = i + 1
            index = len(fragments) + 1
            where = f"{page.name} fence {index} (line {start}, '{heading}')"
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                if lines[i].lstrip().startswith("```"):
                    raise MergeError(f"{where}: the fence is never closed (another fence opens at line {i + 1})")
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise MergeError(f"{where}: the fence is never closed")
            text = "\n".join(body).strip()
            if not text:
                raise MergeError(f"{where}: the fence is empty")
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MergeError(f"{where}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
            if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.0."):
                raise MergeError(f"{where}: not an OpenAPI 3.0 document (no 'openapi: 3.0.x')")
            if not isinstance(doc.get("paths"), dict) or not doc["paths"]:
                raise MergeError(f"{where}: the document has no paths")
            fragments.append(Fragment(page.name, index, start, heading, doc))
        i += 1
    if not fragments:
        raise MergeError(f"{page.name}: no ```json fence found")
    return fragments


def load_sources(sources: Path) -> list[Fragment]:
    """All fragments of all pages, pages in name order."""
    pages = sorted(sources.glob("*.md"))
    if not pages:
        raise MergeError(f"{sources}: no published pages (*.md) to merge")
    return [fragment for page in pages for fragment in extract_fragments(page)]


# ---------------------------------------------------------------------------- merging


def _json_path(parts: list[str | int]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:
            out += f"['{part}']"
    return out


def first_difference(a: Any, b: Any, parts: list[str | int]) -> list[str | int] | None:
    """The path of the first place where two JSON values differ, or None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return [*parts, key]
            found = first_difference(a[key], b[key], [*parts, key])
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = first_difference(x, y, [*parts, i])
            if found is not None:
                return found
        return None if len(a) == len(b) else [*parts, min(len(a), len(b))]
    return None if (type(a), a) == (type(b), b) else parts


def _put(
    table: dict[str, Any], owners: dict[str, str], name: str, value: Any, where: str, parts: list[str | int]
) -> None:
    if name in table:
        diff = first_difference(table[name], value, [*parts, name])
        if diff is not None:
            raise MergeError(
                f"conflicting definitions of {_json_path([*parts, name])[2:]}: "
                f"{owners[name]} and {where} differ at {_json_path(diff)}"
            )
        return
    table[name] = value
    owners[name] = where


def _annotated(operation: dict[str, Any], fragment: Fragment) -> dict[str, Any]:
    """An operation with the page and published version it came from."""
    version = str(fragment.doc.get("info", {}).get("version", ""))
    return {**operation, "x-runai-published-version": version, "x-runai-source": fragment.page}


def merge_fragments(fragments: list[Fragment]) -> dict[str, Any]:
    """One OpenAPI document from single-operation documents; a conflict raises MergeError."""
    first = fragments[0].doc
    merged: dict[str, Any] = {"openapi": first["openapi"], "info": {}, "servers": [], "security": [], "tags": []}
    owners: dict[str, dict[str, str]] = {}
    top: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    tags: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for fragment in fragments:
        doc = fragment.doc
        versions.setdefault(fragment.page, str(doc.get("info", {}).get("version", "")))
        for key in ("openapi", "servers", "security"):
            if key in doc:
                _put(top, owners.setdefault("$", {}), key, doc[key], fragment.where, [])
        for tag in doc.get("tags", []):
            _put(tags, owners.setdefault("tags", {}), tag["name"], tag, fragment.where, ["tags"])
        for section, items in doc.get("components", {}).items():
            table = components.setdefault(section, {})
            for name, value in items.items():
                _put(
                    table,
                    owners.setdefault(f"components.{section}", {}),
                    name,
                    value,
                    fragment.where,
                    ["components", section],
                )
        for path, item in doc["paths"].items():
            for key, value in item.items():
                _put(
                    paths.setdefault(path, {}),
                    owners.setdefault(f"paths.{path}", {}),
                    key,
                    value,
                    fragment.where,
                    ["paths", path],
                )
    merged["openapi"] = top["openapi"]
    merged["info"] = {
        "title": first.get("info", {}).get("title", "merged"),
        "version": "+".join(f"{Path(page).stem}" for page in versions),
        "description": "Merged by `python -m runai_conformance.specs.merge` from the published pages "
        + ", ".join(sorted(versions))
        + ". Generated file: do not edit.",
    }
    merged["servers"] = top.get("servers", [])
    merged["security"] = top.get("security", [])
    merged["tags"] = list(tags.values())
    by_where = {fragment.where: fragment for fragment in fragments}
    merged["paths"] = {
        path: {
            key: _annotated(value, by_where[owners[f"paths.{path}"][key]]) if key in HTTP_METHODS else value
            for key, value in item.items()
        }
        for path, item in paths.items()
    }
    merged["components"] = components
    merged["x-runai-sources"] = [{"page": page, "version": version} for page, version in versions.items()]
    return merged


# ---------------------------------------------------------------------------- overlays

_SEGMENT = re.compile(r"""\.(?P<name>[A-Za-z0-9_$-]+)|\[(?P<quote>['"])(?P<key>.*?)(?P=quote)\]|\[(?P<index>\d+)\]""")


def parse_target(target: str) -> list[str | int]:
    """A JSONPath of the plain child kind (`$.a.b`, `$['a/b']`, `$.a[0]`); anything else raises."""
    if not target.startswith("$"):
        raise MergeError(f"target {target!r} does not start with '$'")
    parts: list[str | int] = []
    pos = 1
    while pos < len(target):
        match = _SEGMENT.match(target, pos)
        if match is None:
            raise MergeError(f"target {target!r}: unsupported JSONPath at {target[pos:]!r} (use child names only)")
        if match.group("name") is not None:
            parts.append(match.group("name"))
        elif match.group("key") is not None:
            parts.append(match.group("key"))
        else:
            parts.append(int(match.group("index")))
        pos = match.end()
    return parts


def _resolve(doc: Any, parts: list[str | int]) -> Any:
    node = doc
    for part in parts:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            return None
    return node


def _deep_update(node: dict[str, Any], update: dict[str, Any]) -> None:
    """Overlay 1.0 update: objects merge recursively, arrays gain the new items, scalars are replaced."""
    for key, value in update.items():
        if isinstance(node.get(key), dict) and isinstance(value, dict):
            _deep_update(node[key], value)
        elif isinstance(node.get(key), list) and isinstance(value, list):
            node[key].extend(item for item in value if item not in node[key])
        else:
            node[key] = value


def load_overlay(path: Path) -> dict[str, Any]:
    """An overlay file, checked for the parts of Overlay 1.0 the merge uses."""
    try:
        overlay = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MergeError(f"{path.name}: cannot read the overlay: {detail}") from None
    if not isinstance(overlay, dict) or not str(overlay.get("overlay", "")).startswith("1."):
        raise MergeError(f"{path.name}: not an OpenAPI Overlay 1.x document (no 'overlay: 1.0.0')")
    info = overlay.get("info")
    if not isinstance(info, dict) or not info.get("title") or not info.get("version"):
        raise MergeError(f"{path.name}: info.title and info.version are required")
    actions = overlay.get("actions")
    if not isinstance(actions, list) or not actions:
        raise MergeError(f"{path.name}: 'actions' must be a non-empty list")
    for number, action in enumerate(actions, 1):
        if not isinstance(action, dict) or not isinstance(action.get("target"), str):
            raise MergeError(f"{path.name} action {number}: 'target' (a JSONPath string) is required")
        if "update" not in action and action.get("remove") is not True:
            raise MergeError(f"{path.name} action {number}: needs 'update' or 'remove: true'")
    return overlay


def apply_overlay(doc: dict[str, Any], overlay: dict[str, Any], name: str) -> dict[str, Any]:
    """Apply one overlay in place; returns the record the merged document keeps of it."""
    targets = []
    for number, action in enumerate(overlay["actions"], 1):
        parts = parse_target(action["target"])
        node = _resolve(doc, parts)
        if node is None:
            raise MergeError(
                f"{name} action {number}: target {action['target']} matches nothing in the merged document"
            )
        if action.get("remove") is True:
            parent = _resolve(doc, parts[:-1])
            del parent[parts[-1]]
        elif isinstance(node, dict) and isinstance(action["update"], dict):
            _deep_update(node, action["update"])
        elif isinstance(node, list):
            node.extend(action["update"] if isinstance(action["update"], list) else [action["update"]])
        else:
            raise MergeError(f"{name} action {number}: cannot update {action['target']} (not an object or array)")
        targets.append(action["target"])
    info = overlay["info"]
    return {
        "file": name,
        "title": info["title"],
        "version": str(info["version"]),
        "rule": info.get("x-contract-rule", ""),
        "description": " ".join(str(info.get("x-description", "")).split()),
        "targets": targets,
    }


# ---------------------------------------------------------------------------- the whole merge


def build(sources: Path = SOURCES_DIR, overlays: Path = OVERLAYS_DIR) -> dict[str, Any]:
    """The merged, overlaid and validated document; raises MergeError on any problem."""
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    doc = merge_fragments(load_sources(sources))
    applied = []
    for path in sorted([*overlays.glob("*.yaml"), *overlays.glob("*.yml")]):
        applied.append(apply_overlay(doc, load_overlay(path), path.name))
    doc["x-runai-overlays"] = applied
    try:
        validate(doc)
    except OpenAPIValidationError as exc:
        location = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise MergeError(f"the merged document is not valid OpenAPI at {location}: {exc.message}") from None
    return doc


def render(doc: dict[str, Any]) -> str:
    """The canonical text of the merged document."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step, so a failed run never leaves a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def operations(doc: dict[str, Any]) -> list[str]:
    """The operationIds of a document, in path order."""
    return [op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m in HTTP_METHODS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runai_conformance.specs.merge", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sources", type=Path, default=SOURCES_DIR, help="folder of published pages (*.md)")
    parser.add_argument("--overlays", type=Path, default=OVERLAYS_DIR, help="folder of Overlay 1.0 files (*.yaml)")
    parser.add_argument("--out", type=Path, default=SPEC_PATH, help="the merged document to write")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when --out is not up to date")
    args = parser.parse_args(argv)
    try:
        text = render(build(args.sources, args.overlays))
    except MergeError as exc:
        print(f"specs.merge: error: {exc}", file=sys.stderr)
        return 2
    doc = json.loads(text)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(
                f"specs.merge: {args.out} is not what the merge makes from its sources; run: python -m runai_conformance.specs.merge",
                file=sys.stderr,
            )
            return 1
        print(
            f"specs.merge: {args.out} is up to date "
            f"({len(operations(doc))} operations, {len(doc['x-runai-overlays'])} overlays)"
        )
        return 0
    try:
        write_atomically(args.out, text)
    except OSError as exc:
        print(f"specs.merge: error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"specs.merge: wrote {args.out} ({len(operations(doc))} operations, {len(doc['x-runai-overlays'])} overlays)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
