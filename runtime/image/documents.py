"""The JSON documents that arrive from outside (a registry, an archive, a cache export), parsed
into checked Python values before anything else looks at them.

    parse_json(data: bytes, *, what: str) -> object        size and nesting limits, clear errors
    parse_manifest(data, *, what) -> dict                   an image manifest (OCI or Docker v2)
    parse_index(data, *, what) -> dict                      an image index / Docker manifest list
    parse_manifest_or_index(data, *, what, media_type="") -> (kind, dict)  kind "index"|"manifest"
    parse_config(data, *, what) -> dict                     an image config
    parse_docker_manifest(data, *, what) -> list[dict]      a docker-archive's manifest.json
    diff_ids_of(config, *, what) -> list[str]               (images.py's) rootfs.diff_ids, checked

Each parse is: one size limit, json.loads with its recursion turned into a user error, a
nesting-depth limit (walked without recursion) so nothing later can recurse without bound,
then the OCI image-spec's own JSON schemas (vendored in schemas/, with their licence and
upstream commit; checked by doctypes, their translation into code, which the tests hold to
jsonschema's verdicts), then what those schemas leave to code: every digest per algorithm
(pallet.runtime.store.content.check_digest), media types of manifests and indexes, diff IDs.
Any failure is a PalletError that names the document and the field: "invalid image config
from REF: rootfs: 5 is not of type 'object'". `run` and a cached build read documents the
store already checked and never import this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pallet.base.errors import PalletError
from pallet.runtime.image import doctypes
from pallet.runtime.image.images import diff_ids_of
from pallet.runtime.store.digests import check_digest

JSON_LIMIT = 32 << 20
MAX_DEPTH = 64       # real documents nest 5-6 deep; Python's json and jsonschema recurse
SCHEMAS = Path(__file__).resolve().parent / "schemas"
MANIFEST_TYPES = {"application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json"}
INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}

# Every `id` a sub-schema declares moves the base URI its relative `$ref`s resolve against, so
# each file is registered under all the URIs it is reached by (the schemas' own `id`s).
ALIASES = {
    "config-schema.json": ["https://opencontainers.org/schema/image/config"],
    "content-descriptor.json": ["https://opencontainers.org/schema/descriptor",
                                "https://opencontainers.org/schema/image/content-descriptor.json"],
    "defs-descriptor.json": ["https://opencontainers.org/schema/image/descriptor/mediaType",
                             "https://opencontainers.org/schema/defs-descriptor.json",
                             "https://opencontainers.org/schema/image/defs-descriptor.json"],
    "defs.json": ["https://opencontainers.org/schema/defs.json",
                  "https://opencontainers.org/schema/image/defs.json",
                  "https://opencontainers.org/schema/image/descriptor/defs.json"],
    "image-index-schema.json": ["https://opencontainers.org/schema/image/index"],
    "image-layout-schema.json": ["https://opencontainers.org/schema/image/layout"],
    "image-manifest-schema.json": ["https://opencontainers.org/schema/image/manifest"],
}


def parse_json(data: bytes, *, what: str, limit: int = JSON_LIMIT) -> Any:
    """json.loads with the limits untrusted input needs; every failure is a PalletError."""
    if len(data) > limit:
        raise PalletError(f"{what} is larger than {limit} bytes", hint="not an image document")
    try:
        value = json.loads(data)
    except RecursionError as error:
        raise PalletError(f"{what} is nested too deeply (more than {MAX_DEPTH} levels)",
                          hint="the source is corrupt or malicious") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise PalletError(f"{what} is not valid JSON: {error}",
                          hint="the source is corrupt or malicious") from error
    if _depth_exceeds(value, MAX_DEPTH):
        raise PalletError(f"{what} is nested too deeply (more than {MAX_DEPTH} levels)",
                          hint="the source is corrupt or malicious")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def relaxed_schemas() -> dict[str, dict]:
    """The vendored schemas with pallet's relaxations (what doctypes implements), by file name;
    with ALIASES, what a Draft 4 validator needs (tests judge doctypes with it)."""
    schemas = {file: json.loads((SCHEMAS / file).read_text()) for file in ALIASES}
    # an image with no filesystem change (FROM scratch + LABEL) has no layers: the prose says
    # SHOULD have one, the schema says minItems 1
    schemas["image-manifest-schema.json"]["properties"]["layers"].pop("minItems", None)
    # Docker writes Go's nil slices and structs as null ("Env": null, "config": null)
    config = schemas["config-schema.json"]["properties"]["config"]
    config["type"] = ["object", "null"]
    for key in ("Env", "ExposedPorts"):
        field = config["properties"][key]
        config["properties"][key] = {"oneOf": [field, {"type": "null"}]}
    return schemas


def _validate(value: Any, problem, kind: str, what: str) -> None:
    found = problem(value)
    if found is not None:
        raise PalletError(f"invalid {kind} {what}: {found}", hint="the source is corrupt or malicious")


def _descriptor_digests(document: Any, kind: str, what: str) -> None:
    """Digests per algorithm (the schema's pattern lets `sha256:..%2F..` through); checked
    before the schema so that a digest problem reads as one."""
    if not isinstance(document, dict):
        return
    entries = [("config", document.get("config"))] if kind == "image manifest" else []
    key = "manifests" if kind == "image index" else "layers"
    listed = document.get(key) if isinstance(document.get(key), list) else []
    entries += [(f"{key}/{i}", entry) for i, entry in enumerate(listed)]
    if isinstance(document.get("subject"), dict):
        entries.append(("subject", document["subject"]))
    for where, entry in entries:
        if isinstance(entry, dict):
            try:
                check_digest(entry.get("digest"), what=f"digest at {where}")
            except PalletError as error:
                raise PalletError(f"invalid {kind} {what}: {error.message}",
                                  hint=error.hint) from error


def parse_manifest(data: bytes, *, what: str) -> dict:
    document = parse_json(data, what=f"image manifest {what}")
    _check_manifest(document, what)
    return document


def _check_manifest(document: Any, what: str) -> None:
    _check_document(document, "image manifest", what, doctypes.manifest_problem, MANIFEST_TYPES)


def parse_index(data: bytes, *, what: str) -> dict:
    document = parse_json(data, what=f"image index {what}")
    _check_index(document, what)
    return document


def _check_index(document: Any, what: str) -> None:
    _check_document(document, "image index", what, doctypes.index_problem, INDEX_TYPES)


def _check_document(document: Any, kind: str, what: str, problem, media_types) -> None:
    _descriptor_digests(document, kind, what)
    _validate(document, problem, kind, what)
    media_type = document.get("mediaType")
    if media_type is not None and media_type not in media_types:
        raise PalletError(f"invalid {kind} {what}: unsupported media type {media_type!r}")


def parse_manifest_or_index(data: bytes, *, what: str, media_type: str = "") -> tuple[str, dict]:
    """A registry's or layout's manifest: an index when its media type (in the document, else
    the one the source gave) says so or it lists manifests, else an image manifest."""
    document = parse_json(data, what=f"manifest {what}")
    if not isinstance(document, dict):
        raise PalletError(f"invalid manifest {what}: not a JSON object",
                          hint="the source is corrupt or malicious")
    declared = document.get("mediaType") if isinstance(document.get("mediaType"), str) else media_type
    if declared in INDEX_TYPES or (declared not in MANIFEST_TYPES and "manifests" in document):
        _check_index(document, what)
        return "index", document
    _check_manifest(document, what)
    return "manifest", document


def parse_config(data: bytes, *, what: str) -> dict:
    document = parse_json(data, what=f"image config {what}")
    _validate(document, doctypes.config_problem, "image config", what)
    _validate(document, doctypes.docker_config_problem, "image config", what)
    diff_ids_of(document, what=what)   # the schema's pattern is generic: digests per algorithm
    return document


def parse_docker_manifest(data: bytes, *, what: str) -> list[dict]:
    """A docker-archive's manifest.json: [{"Config": str, "RepoTags": [str]|null,
    "Layers": [str]}] (moby's image/tarexport format; there is no published schema)."""
    document = parse_json(data, what=what)
    if not isinstance(document, list):
        raise PalletError(f"invalid {what}: not a list of images", hint="the archive is corrupt")
    for index, entry in enumerate(document):
        problem = None
        if not isinstance(entry, dict):
            problem = "not an object"
        elif not isinstance(entry.get("Config"), str):
            problem = "Config is not a string"
        elif not _strings(entry.get("RepoTags") or []):
            problem = "RepoTags is not a list of strings"
        elif not _strings(entry.get("Layers") or []):
            problem = "Layers is not a list of strings"
        if problem:
            raise PalletError(f"invalid {what}: entry {index}: {problem}",
                              hint="the archive is corrupt")
    return document


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
