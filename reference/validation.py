"""Request validation against the merged spec, compiled once per operation.

What openapi-core's `unmarshal_request` decided for the reference, decided the same way at a fraction of
its cost (it resolved every `$ref` of every parameter on every request; a request took ~3 ms to validate,
more than the rest of its handling). The semantics are openapi-core's, and a self-test compares the two on
every kind of request (tests/reference/test_validation.py):

- a query parameter: its first value (a later one given twice is not read); an absent one takes its
  default; an empty one is an error; an array under `style: form, explode: false` is its value split at
  commas; an integer is Python's `int()` of the text (`+5`, ` 5`, `1_0` read as numbers), a boolean one
  of y/yes/t/true/on/1 or n/no/f/false/off/0 in any case; then the value is checked against its schema;
- a path parameter the same way; a body is JSON checked against its schema (OAS 3.0: `nullable`, the
  `int32` and other formats); an operation that asks for a bearer token and has no Authorization header
  is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

TRUE = ("y", "yes", "t", "true", "on", "1")
FALSE = ("n", "no", "f", "false", "off", "0")
SPEC_URI = "urn:runai-reference:spec"


class Invalid(Exception):
    """The request breaks the spec; `errors` says where, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # query | path
    kind: str  # the schema's type: string | integer | boolean | array
    validator: Any
    default: Any
    has_default: bool
    split: bool  # an array read from one comma-joined value (style form, explode false)


@dataclass(frozen=True)
class Operation:
    parameters: tuple[Parameter, ...]
    body: Any  # the body schema's validator, or None
    secured: bool


class RequestValidator:
    """Every operation of a spec, compiled: `validate(template, method, query, path, headers, body)`."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT4)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        secured = bool(spec.get("security"))
        self.operations: dict[tuple[str, str], Operation] = {}
        for template, item in spec["paths"].items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if not isinstance(op, dict) or "operationId" not in op:
                    continue
                params = tuple(self._parameter(p) for p in [*shared, *op.get("parameters", [])])
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                self.operations[(template, method.upper())] = Operation(
                    params, self._validator(body) if body is not None else None, bool(op.get("security", secured))
                )

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _validator(self, schema: dict[str, Any]) -> Any:
        """A validator of a schema of the spec, its `$ref`s resolved in the spec (held by the registry)."""
        return OAS30Validator(_absolute(schema), registry=self.registry, format_checker=oas30_format_checker)

    def _parameter(self, raw: dict[str, Any]) -> Parameter:
        param = self._resolve(raw)
        schema = param.get("schema", {})
        resolved = self._resolve(schema)
        kind = resolved.get("type", "string")
        split = kind == "array" and param.get("style", "form") == "form" and param.get("explode") is False
        return Parameter(
            name=param["name"],
            where=param["in"],
            kind=kind,
            validator=self._validator(schema),
            default=resolved.get("default"),
            has_default="default" in resolved,
            split=split,
        )

    def validate(
        self,
        template: str,
        method: str,
        query: list[tuple[str, str]],
        path: dict[str, str],
        headers: dict[str, str],
        body: bytes | None,
    ) -> tuple[dict[str, Any], dict[str, Any], Any]:
        """(query parameters, path parameters, body) as the handlers read them; Invalid when the request
        breaks the spec."""
        op = self.operations[(template, method.upper())]
        errors: list[str] = []
        found: dict[str, dict[str, Any]] = {"query": {}, "path": {}}
        for param in op.parameters:
            values = (
                [v for k, v in query if k == param.name]
                if param.where == "query"
                else ([path[param.name]] if param.name in path else [])
            )
            if not values:
                if param.has_default:
                    found[param.where][param.name] = param.default
                elif param.where == "path":
                    errors.append(f"Missing path parameter: {param.name}")
                continue
            try:
                value = _cast(param, values[0])
            except ValueError:
                errors.append(f"{param.where.capitalize()} parameter error: {param.name}")
                continue
            if not param.validator.is_valid(value):
                errors.append(f"Invalid {param.where} parameter: {param.name}")
                continue
            found[param.where][param.name] = value
        if op.secured and not any(k.lower() == "authorization" for k in headers):
            errors.append("Security not found")
        parsed = None
        if op.body is not None:
            try:
                parsed = json.loads(body or b"")
            except (ValueError, UnicodeDecodeError, RecursionError):
                errors.append("Request body validation error: Failed to deserialize value with application/json")
            else:
                problems = sorted(op.body.iter_errors(parsed), key=str)
                if problems:
                    errors.append(f"Request body validation error: {problems[0].message}"[:300])
                    parsed = None
        if errors:
            raise Invalid(errors)
        return found["query"], found["path"], parsed


def _cast(param: Parameter, text: str) -> Any:
    if text == "":
        raise ValueError("an empty value")
    if param.split:
        return text.split(",")
    if param.kind == "integer":
        return int(text)
    if param.kind == "number":
        return float(text)
    if param.kind == "boolean":
        lowered = text.lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ValueError(f"invalid truth value {text!r}")
    return text


def _absolute(node: Any) -> Any:
    """A copy of a schema whose `$ref`s into the spec (`#/components/…`) name the spec's registry entry."""
    if isinstance(node, dict):
        return {
            k: (SPEC_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _absolute(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute(v) for v in node]
    return node
