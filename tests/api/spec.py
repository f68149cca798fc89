"""The Engine API's own specification (engine_api/, vendored) as a response judge.

    violations(exchange) -> list[str]     what is wrong with one recorded exchange

An exchange is (method, path, status, content_type, body). The path is matched to the spec's
operation (without the /v1.NN prefix); the status must be one the operation lists; a JSON body
is validated against that response's schema, a JSON-lines stream line by line.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

SPEC_FILE = Path(__file__).with_name("engine_api") / "docker-engine-api.yaml"
# Streams of JSON messages whose schema the spec gives as a definition, not per response.
STREAM_DEFINITIONS = {("post", "/build"): "BuildInfo",
                      ("post", "/images/create"): "CreateImageInfo",
                      ("post", "/images/{name}/push"): "PushImageInfo",
                      ("post", "/images/load"): "CreateImageInfo"}
HIJACKED = {("post", "/containers/{id}/attach"), ("post", "/exec/{id}/start")}
_VERSION = re.compile(r"^/v\d+\.\d+(/.*)$")


@functools.lru_cache(maxsize=1)
def spec() -> dict:
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(SPEC_FILE) as handle:
        document = yaml.load(handle, Loader=loader)
    document = _string_keys(document)
    _nullable(document)
    return document


def _string_keys(node):
    """YAML reads the status codes as integers; JSON pointers and JSON need strings."""
    if isinstance(node, dict):
        return {str(key): _string_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_string_keys(value) for value in node]
    return node


def _nullable(node) -> None:
    """Swagger 2.0 has no null; the Engine API marks nullable fields with x-nullable."""
    if isinstance(node, dict):
        if node.get("x-nullable") is True:
            kind = node.get("type")
            if isinstance(kind, str):
                node["type"] = [kind, "null"]
            elif "$ref" in node:
                reference = node.pop("$ref")
                node["anyOf"] = [{"$ref": reference}, {"type": "null"}]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = list(node["enum"]) + [None]
        for value in node.values():
            _nullable(value)
    elif isinstance(node, list):
        for value in node:
            _nullable(value)


@functools.lru_cache(maxsize=1)
def _operations() -> list[tuple[re.Pattern, str, str]]:
    table = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\{name\}", r"(?P<name>.+)", template)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        table.append((re.compile("^" + pattern + "$"), template, pattern))
    # fixed segments win over parameters: /images/json before /images/{name}/json
    table.sort(key=lambda item: item[1].count("{"))
    return table


def operation_for(method: str, path: str) -> tuple[str, dict] | None:
    path = path.split("?", 1)[0]
    match = _VERSION.match(path)
    if match:
        path = match.group(1)
    for regex, template, _ in _operations():
        if regex.match(path):
            operation = spec()["paths"][template].get(method.lower())
            if operation is not None:
                return template, operation
    return None


@functools.lru_cache(maxsize=None)
def _validator(reference: str):
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4
    document = spec()
    registry = Registry().with_resource("urn:engine-api", Resource.from_contents(
        document, default_specification=DRAFT4))
    return Draft4Validator({"$ref": f"urn:engine-api#{reference}"}, registry=registry)


def schema_errors(reference: str, document) -> list[str]:
    """reference: a JSON pointer into the spec, e.g. /definitions/ImageSummary."""
    validator = _validator(reference)
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in validator.iter_errors(document)]


# operations dockerd answers with 404 for a missing object though the spec lists no 404
NOT_FOUND_UNLISTED = {("get", "/images/get")}


def violations(method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
    where = f"{method} {path} -> {status}"
    found = operation_for(method, path)
    if found is None:
        # an unknown route: the router's 404/405 with the spec's error body
        if status in (404, 405):
            return [f"{where}: {p}" for p in _error_body(body)]
        return [f"{where}: no such operation in the Engine API"]
    template, operation = found
    responses = operation.get("responses", {})
    if str(status) not in responses:
        if status == 101 and (method.lower(), template) in HIJACKED:
            return []
        if status == 404 and (method.lower(), template) in NOT_FOUND_UNLISTED:
            # dockerd's own answer for a missing image (test_not_found_compare.py)
            return [f"{where}: {p}" for p in _error_body(body)]
        if status == 400:
            # a bad parameter (the version check included), which the spec's preamble
            # states once for every operation and dockerd answers on every one
            return [f"{where}: {p}" for p in _error_body(body)]
        return [f"{where}: status not in the spec (it lists {sorted(responses)})"]
    status = str(status)
    if method == "HEAD" or not body:
        return []
    key = (method.lower(), template)
    if "json" not in (content_type or ""):
        return []
    pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}/schema"
    schema = responses[status].get("schema")
    stream_definition = STREAM_DEFINITIONS.get(key) if status == "200" else None
    if template == "/events" and status == "200":
        stream_definition = "EventMessage"
    problems = []
    if stream_definition is not None:
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                problems.append(f"{where}: line {number} is not JSON: {line[:80]!r}")
                continue
            problems += [f"{where}: line {number}: {p}" for p in
                         schema_errors(f"/definitions/{stream_definition}", message)]
        return problems
    if schema is None or schema.get("format") == "binary":
        return []
    try:
        document = json.loads(body)
    except ValueError:
        return [f"{where}: body is not JSON: {body[:80]!r}"]
    return [f"{where}: {p}" for p in schema_errors(pointer, document)]


def _error_body(body: bytes) -> list[str]:
    try:
        return schema_errors("/definitions/ErrorResponse", json.loads(body))
    except ValueError:
        return [f"error body is not JSON: {body[:80]!r}"]


def _escape(template: str) -> str:
    return template.replace("~", "~0").replace("/", "~1")

