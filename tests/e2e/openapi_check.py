"""Checks live responses against docs/openapi.json: harness.Intake.request hands every response
here, so every end-to-end test that talks to the server checks its answers against the document.
A response must be documented for its path and method (the status listed, or a `default`), carry
the documented content type, and a JSON body must validate against the response's schema.
Responses libevent sends by itself (no security headers: see the document's description) are
left out, as are paths no route matches outside /v1 and /open311 (HTML 404 pages)."""
import json
import os
import re

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC_PATH = os.path.join(ROOT, "docs", "openapi.json")

_doc = None
_routes = None
checked = 0  # responses validated (tests assert the checks ran)


def doc():
    global _doc
    if _doc is None:
        with open(DOC_PATH) as f:
            _doc = json.load(f)
    return _doc


def _templates():
    global _routes
    if _routes is None:
        _routes = []
        for template in doc()["paths"]:
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            _routes.append((re.compile(rx), template))
    return _routes


def template_of(path):
    """The documented path template matching a request path, or None."""
    path = path.split("?", 1)[0] or "/"
    for rx, template in _templates():
        if rx.match(path):
            return template
    return None


def _resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        node = doc()
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def validate_body(schema, body):
    """Raises jsonschema.ValidationError when body (a parsed JSON value) breaks schema."""
    resolver = jsonschema.RefResolver(base_uri="", referrer=doc())
    Draft202012Validator(schema, resolver=resolver, format_checker=FormatChecker()).validate(body)


def check(method, path, status, headers, body):
    """Raises AssertionError when the response is not what docs/openapi.json says.
    headers: dict with lower-case names; body: bytes."""
    global checked
    if "strict-transport-security" not in headers:
        return  # libevent's own error reply, sent before our code ran
    template = template_of(path)
    if template is None and path.startswith("/open311/"):
        # No route: Open311's 404, or its 400 for a .xml address (only json is served).
        assert status in (400, 404), f"{method} {path} -> {status}: no documented path"
        response = _resolve({"$ref": "#/components/responses/Open311" +
                             ("NotFound" if status == 404 else "BadRequest")})
    elif template is None:
        if not path.startswith("/v1/") or status != 404:
            assert not path.startswith("/v1/"), f"{method} {path} -> {status}: no documented path"
            return
        response = _resolve({"$ref": "#/components/responses/NotFound"})
    else:
        ops = doc()["paths"][template]
        op = ops.get(method.lower()) or (ops.get("get") if method == "HEAD" else None)
        if op is None:
            # A method the path does not take: the 405 every path documents on its operations.
            assert status == 405, f"{method} {template} -> {status}: method not documented"
            op = next(iter(ops.values()))
        responses = op["responses"]
        assert str(status) in responses or "default" in responses, \
            f"{method} {template} -> {status}: status not documented (has {sorted(responses)})"
        response = _resolve(responses.get(str(status), responses.get("default")))
    ctype = headers.get("content-type", "").split(";")[0].strip()
    content = response.get("content", {})
    assert ctype in content, f"{method} {path} -> {status}: content type {ctype!r}, documented {sorted(content)}"
    for name, h in response.get("headers", {}).items():
        schema = _resolve(h).get("schema", {})
        value = headers.get(name.lower())
        if name in ("Location", "Retry-After", "Allow", "Cache-Control", "Strict-Transport-Security"):
            assert value is not None, f"{method} {path} -> {status}: header {name} missing"
        if value is not None:
            validate_body(schema, value)
    if method != "HEAD" and ctype == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError as e:
            raise AssertionError(f"{method} {path} -> {status}: body is not JSON: {e}")
        try:
            validate_body(content[ctype]["schema"], parsed)
        except jsonschema.ValidationError as e:
            raise AssertionError(f"{method} {path} -> {status}: body breaks the documented schema: "
                                 f"{e.message} at {list(e.absolute_path)}")
    checked += 1
