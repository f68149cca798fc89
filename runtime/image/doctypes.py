"""Typed checks of OCI image documents: the vendored JSON schemas (schemas/), written as code.

    manifest_problem(value) -> str | None     image-manifest-schema.json
    index_problem(value) -> str | None        image-index-schema.json
    config_problem(value) -> str | None       config-schema.json
    (each with the relaxations of documents.relaxed_schemas(); None: the document conforms)
    docker_config_problem(value) -> str | None  an image config's Docker fields, which the OCI
                                              schema lets through unchecked (moby's
                                              docker-image-spec: Healthcheck, OnBuild, Shell,
                                              StopTimeout): the runtime and builder use them
    container_config_problem(value) -> str | None  a container config alone (cache records)

Why by hand rather than through jsonschema: importing jsonschema (with referencing, rpds and
attrs) costs 0.3-0.5 s here, paid by every `load`, `pull` and `build --cache-from`, which is
more than a cached CI build takes in all. The schemas stay the judge:
tests/runtime/image/test_doctypes.py runs these checks and jsonschema's Draft 4 validator over
the same valid documents and hundreds of mutations of them and requires the same verdict.
A problem reads as jsonschema words it: "rootfs: 5 is not of type 'object'".
"""

from __future__ import annotations

import re
from typing import Any, Callable

_MEDIA_TYPE = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_DIGEST = r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
INT64 = (-9223372036854776000, 9223372036854776000)   # the schema's (float-rounded) bounds

_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


class _Problem(Exception):
    pass


def _at(path: str, key) -> str:
    return f"{path}/{key}" if path else str(key)


def _fail(path: str, message: str):
    raise _Problem(f"{path or '(document)'}: {message}")


def _type(value: Any, path: str, *names: str) -> None:
    for name in names:
        if name == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return
        if name != "integer" and _TYPE_NAMES.get(type(value)) == name:
            return
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
    wanted = f"'{names[0]}'" if len(names) == 1 else repr(list(names))
    _fail(path, f"{shown} is not of type {wanted}")


def _required(value: dict, path: str, *keys: str) -> None:
    for key in keys:
        if key not in value:
            _fail(path, f"'{key}' is a required property")


def _string(value, path) -> None:
    _type(value, path, "string")


def _pattern(pattern: str) -> Callable:
    def check(value, path) -> None:
        _type(value, path, "string")
        if not re.fullmatch(pattern, value):
            _fail(path, f"{value!r:.80} does not match {'^' + pattern + '$'!r}")
    return check


def _array_of(item: Callable) -> Callable:
    def check(value, path) -> None:
        _type(value, path, "array")
        for index, element in enumerate(value):
            item(element, _at(path, index))
    return check


def _map_of(kind: str) -> Callable:
    """defs.json mapStringString / mapStringObject: every key the schema's pattern `.{1,}`
    finds (any character but a newline, as re.search reads it) maps to a kind."""
    def check(value, path) -> None:
        _type(value, path, "object")
        for key, element in value.items():
            if re.search(r"[^\n]", key):
                _type(element, _at(path, key), kind)
    return check


def _nullable(check: Callable) -> Callable:
    def nullable(value, path) -> None:
        if value is not None:
            check(value, path)
    return nullable


def _integer(low: int, high: int) -> Callable:
    def check(value, path) -> None:
        _type(value, path, "integer")
        if value < low:
            _fail(path, f"{value} is less than the minimum of {low}")
        if value > high:
            _fail(path, f"{value} is greater than the maximum of {high}")
    return check


def _object(fields: dict[str, Callable], required: tuple[str, ...] = ()) -> Callable:
    def check(value, path) -> None:
        _type(value, path, "object")
        _required(value, path, *required)
        for key, field in fields.items():
            if key in value:
                field(value[key], _at(path, key))
    return check


def _boolean(value, path) -> None:
    _type(value, path, "boolean")


_media_type = _pattern(_MEDIA_TYPE)
_strings = _array_of(_string)
_annotations = _map_of("string")
_DESCRIPTOR_FIELDS = {"mediaType": _media_type, "size": _integer(0, INT64[1]),
                      "digest": _pattern(_DIGEST), "urls": _strings, "data": _string,
                      "artifactType": _media_type, "annotations": _annotations}
_descriptor = _object(_DESCRIPTOR_FIELDS, ("mediaType", "size", "digest"))
_schema_version = _integer(2, 2)
_platform = _object({"architecture": _string, "os": _string, "os.version": _string,
                     "os.features": _strings, "variant": _string}, ("architecture", "os"))
_index_entry = _object({"mediaType": _media_type, "size": _integer(*INT64),
                        "digest": _pattern(_DIGEST), "urls": _strings, "platform": _platform,
                        "annotations": _annotations}, ("mediaType", "size", "digest"))
_manifest = _object({"schemaVersion": _schema_version, "mediaType": _media_type,
                     "artifactType": _media_type, "config": _descriptor, "subject": _descriptor,
                     "layers": _array_of(_descriptor),   # relaxed: may be empty
                     "annotations": _annotations}, ("schemaVersion", "config", "layers"))
_index = _object({"schemaVersion": _schema_version, "mediaType": _media_type,
                  "artifactType": _media_type, "subject": _descriptor,
                  "manifests": _array_of(_index_entry), "annotations": _annotations},
                 ("schemaVersion", "manifests"))
_string_list_or_null = _nullable(_strings)
_container_config = _nullable(_object({   # relaxed: Docker writes "config": null, "Env": null
    "User": _string, "ExposedPorts": _nullable(_map_of("object")), "Env": _string_list_or_null,
    "Entrypoint": _string_list_or_null, "Cmd": _string_list_or_null,
    "Volumes": _nullable(_map_of("object")), "WorkingDir": _string,
    "Labels": _nullable(_map_of("string")), "StopSignal": _string, "ArgsEscaped": _boolean}))


def _rootfs_type(value, path) -> None:
    if value != "layers":
        _fail(path, f"{value!r:.80} is not one of ['layers']")


_config = _object({
    "created": _string, "author": _string, "architecture": _string, "variant": _string,
    "os": _string, "os.version": _string, "os.features": _strings, "config": _container_config,
    "rootfs": _object({"diff_ids": _strings, "type": _rootfs_type}, ("diff_ids", "type")),
    "history": _array_of(_object({"created": _string, "author": _string, "created_by": _string,
                                  "comment": _string, "empty_layer": _boolean}))},
    ("architecture", "os", "rootfs"))


_duration = _integer(0, INT64[1])   # Go time.Duration nanoseconds; Docker refuses negative ones
_docker_fields = _nullable(_object({
    "Healthcheck": _nullable(_object({"Test": _string_list_or_null, "Interval": _duration,
                                      "Timeout": _duration, "StartPeriod": _duration,
                                      "StartInterval": _duration,
                                      "Retries": _integer(0, INT64[1])})),
    "OnBuild": _string_list_or_null, "Shell": _string_list_or_null,
    "StopTimeout": _nullable(_integer(*INT64))}))
_docker_config = _object({"config": _docker_fields})


def _both(value, path) -> None:
    _container_config(value, path)
    _docker_fields(value, path)


def _problem(check: Callable, value: Any) -> str | None:
    try:
        check(value, "")
    except _Problem as problem:
        return str(problem)
    return None


def manifest_problem(value: Any) -> str | None:
    return _problem(_manifest, value)


def index_problem(value: Any) -> str | None:
    return _problem(_index, value)


def config_problem(value: Any) -> str | None:
    return _problem(_config, value)


def docker_config_problem(value: Any) -> str | None:
    return _problem(_docker_config, value)


def container_config_problem(value: Any) -> str | None:
    return _problem(_both, value)
