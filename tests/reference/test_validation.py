"""The reference's compiled request validation (reference/validation.py) decides every request as openapi-core
(which the reference validated with before; a dependency of the suite for this comparison) did: the same requests refused, and the same parameters and body handed to the handlers. Compared on the
operations of the clean spec and of spec-changing faults, over drawn queries, path values and bodies."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from runai_conformance.reference.app import ReferenceApp
from runai_conformance.reference.faults import Faults
from runai_conformance.reference.store import Store
from runai_conformance.reference.validation import Invalid

TEXTS = (
    "", "0", "1", "-1", "+5", " 5", "1_0", "5.0", "2", "500", "501", "2147483648", "abc", "asc", "desc", "up",
    "true", "false", "yes", "TRUE", "0", "off", "type", "username", "createdBy", "lastLogin", "password",
    "username==a", "username=@b,createdBy==c", "bad", "lastLogin>=2020-01-01", "creationTime<=2020-13-45", "x,",
    "isLocal==true", "username=@", "ü", "a" * 300,
)  # fmt: skip
BODIES = (
    b"", b"nope", b"[1]", b"null", b'{"email":"a@b.co"}', b'{"email":"a@b.co","x":1}', b'{"email":5}',
    b'{"email":"a@b.co","notify":null}', b'{"email":"a@b.co","notify":"yes"}', b'{"email":"ab"}',
    b'{"currentPassword":"12345678","newPassword":"87654321"}', b'{"currentPassword":"12345678","newPassword":"1"}',
    b'{"name":"ab","email":"a@b.co"}', b'{"name":"ab","email":"a@b.co","role":null}', b'{"name":"-a","email":"a@b.co"}',
    b'{"name":"ab","email":"a@b.co","contractType":""}', b'{"name":"ab","email":"a@b.co","contractType":"gold"}',
    b'{"name":"ab","email":"a@b.co","metricStore":{"read":{"url":"http://x"},"write":{"url":"http://y"}}}',
    b'{"name":"ab","email":"a@b.co","metricStore":{"url":"x"}}', b'{"name":"ab","email":"a@b.co","role":"Cloud operator"}',
)  # fmt: skip
FAULTS = ((), ("list-negative-offset-accepted",), ("list-limit-501-accepted",), ("usr-email-without-tld",),
          ("list-unknown-operator-lenient",), ("err-enum-unchecked",), ("ten-role-null-rejected",))  # fmt: skip


def app_for(faults: tuple[str, ...]) -> ReferenceApp:
    where = Path(tempfile.mkdtemp(prefix="runai-validation-"))
    return ReferenceApp(Store(where / "reference.sqlite"), Faults(list(faults)))


APPS = {faults: app_for(faults) for faults in FAULTS}


class OpenapiCoreRequest:
    """openapi-core's request protocol, over what a test asks."""

    def __init__(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> None:
        self.host_url = "http://reference"
        self.method = method.lower()
        self.path = path
        self.body = body or None
        self.content_type = "application/json"
        headers = Headers({"authorization": "Bearer x"})
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=headers, path={})


OPENAPI: dict[int, OpenAPI] = {}


def openapi_core(app: ReferenceApp, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> Any:
    """What openapi-core (which the reference used before) decides of a request."""
    openapi = OPENAPI.setdefault(id(app), OpenAPI.from_dict(app.spec))
    result = openapi.unmarshal_request(OpenapiCoreRequest(method, path, query, body))
    if result.errors:
        return "invalid"
    return dict(result.parameters.query), dict(result.parameters.path), _plain(result.body)


def compiled(
    app: ReferenceApp, template: str, method: str, path: dict[str, str], query: list[tuple[str, str]], body: bytes
) -> Any:
    try:
        q, p, b = app.validator.validate(template, method, query, path, {"authorization": "Bearer x"}, body or None)
    except Invalid:
        return "invalid"
    return q, p, b


def _plain(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=dict))


def operations(app: ReferenceApp) -> list[tuple[str, str, list[str]]]:
    found = []
    for template, item in app.spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                names = []
                for p in op.get("parameters", []):
                    if "$ref" in p:
                        p = app.spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[-1]]
                    if p["in"] == "query":
                        names.append(p["name"])
                found.append((template, method.upper(), names))
    return found


@pytest.mark.parametrize("faults", FAULTS, ids=lambda f: f[0] if f else "clean")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(data=st.data())
def test_compiled_validation_decides_as_openapi_core(faults: tuple[str, ...], data: st.DataObject) -> None:
    app = APPS[faults]
    template, method, names = data.draw(st.sampled_from(operations(app)))
    query = data.draw(st.lists(st.tuples(st.sampled_from([*names, "unknown"]), st.sampled_from(TEXTS)), max_size=4))
    path_values = {
        name: data.draw(st.sampled_from(("5", "-5", "x", "0", "2147483648", "abc-123")))
        for name in ("tenantId", "userId")
        if "{" + name + "}" in template
    }
    path = template
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", value)
    body = data.draw(st.sampled_from(BODIES)) if method == "POST" else b""
    expected = openapi_core(app, method, path, query, body)
    got = compiled(app, template, method, path_values, query, body)
    assert got == expected, (template, method, query, path_values, body)
