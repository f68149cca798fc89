"""runtime/image/doctypes.py is the vendored OCI schemas written as code; jsonschema's Draft 4
validator over the same schemas (the relaxed ones, documents.relaxed_schemas) is the judge.
Valid documents (Docker's, pallet's, BuildKit's shapes) and every single-field mutation of them
must get the same verdict from both."""

from __future__ import annotations

import copy
import itertools

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from pallet.runtime.image import doctypes, documents

D = "sha256:" + "a" * 64
DESCRIPTOR = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D, "size": 3,
              "urls": ["https://example.com/x"], "annotations": {"k": "v"},
              "artifactType": "application/x.a+json", "data": "aGk="}
MANIFEST = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.pallet.buildcache.v1",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D,
                       "size": 10},
            "layers": [DESCRIPTOR, {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                    "digest": D, "size": 0}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D,
                        "size": 1},
            "annotations": {"org.opencontainers.image.ref.name": "1"}}
INDEX = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D,
                        "size": 500, "platform": {"architecture": "amd64", "os": "linux",
                                                  "os.version": "1", "os.features": ["f"],
                                                  "variant": "v8"},
                        "annotations": {"io.containerd.image.name": "x:1"}}],
         "annotations": {"a": "b"}}
CONFIG = {"created": "2024-01-01T00:00:00Z", "author": "me", "architecture": "amd64",
          "variant": "v8", "os": "linux", "os.version": "1", "os.features": ["x"],
          "config": {"User": "1", "ExposedPorts": {"80/tcp": {}}, "Env": ["A=b"],
                     "Entrypoint": ["sh"], "Cmd": None, "Volumes": {"/v": {}}, "WorkingDir": "/",
                     "Labels": {"l": "v"}, "StopSignal": "SIGTERM", "ArgsEscaped": True,
                     "Healthcheck": {"Test": ["NONE"]}, "OnBuild": None},
          "rootfs": {"type": "layers", "diff_ids": [D, D]},
          "history": [{"created": "2024-01-01T00:00:00Z", "author": "a", "created_by": "b",
                       "comment": "c", "empty_layer": True}]}
DOCKER_CONFIG = {"architecture": "amd64", "os": "linux", "config": None,
                 "rootfs": {"type": "layers", "diff_ids": []}}
DOCKER_NULLS = {"architecture": "amd64", "os": "linux",
                "config": {"Env": None, "ExposedPorts": None, "Labels": None, "Volumes": None,
                           "Entrypoint": None, "Cmd": None},
                "rootfs": {"type": "layers", "diff_ids": []}}
EMPTY_MANIFEST = {"schemaVersion": 2, "config": MANIFEST["config"], "layers": []}

VALUES = [None, True, False, 0, -1, 1, 2, 3, 1.5, 2.0, 9223372036854775807, 9223372036854776001, "",
          "x", "sha256:../..", "a/b", "application/" + "x" * 127, "layers", "\n", [], ["x"], [1],
          [None], {}, {"k": "v"}, {"k": 1}, {"": 1}, {"\n": 1}, {"k": {}}, {"k": None}]

SCHEMAS = {"manifest": "image-manifest-schema.json", "index": "image-index-schema.json",
           "config": "config-schema.json"}
PROBLEMS = {"manifest": doctypes.manifest_problem, "index": doctypes.index_problem,
            "config": doctypes.config_problem}


@pytest.fixture(scope="module")
def judge():
    schemas = documents.relaxed_schemas()
    registry = Registry()
    for name, urls in documents.ALIASES.items():
        resource = Resource.from_contents(schemas[name], default_specification=DRAFT4)
        for url in urls:
            registry = registry.with_resource(url, resource)
    validators = {kind: Draft4Validator(schemas[name], registry=registry)
                  for kind, name in SCHEMAS.items()}
    return lambda kind, value: validators[kind].is_valid(value)


def _paths(value, prefix=()):
    """Every path to a value inside a document (dict keys and list indexes)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix + (key,)
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield prefix + (index,)
            yield from _paths(child, prefix + (index,))


def _mutations(document):
    """The document with each value replaced by each of VALUES, each key removed, and an
    extra key added at each object (extra properties are allowed)."""
    for path in _paths(document):
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        for value in VALUES:
            changed = copy.deepcopy(document)
            target = changed
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
            yield changed
        if isinstance(parent, dict):
            changed = copy.deepcopy(document)
            target = changed
            for part in path[:-1]:
                target = target[part]
            del target[path[-1]]
            yield changed
    yield from VALUES


CORPUS = {"manifest": [MANIFEST, EMPTY_MANIFEST], "index": [INDEX],
          "config": [CONFIG, DOCKER_CONFIG, DOCKER_NULLS]}


@pytest.mark.parametrize("kind", sorted(CORPUS))
def test_valid_documents_pass_both(judge, kind):
    for document in CORPUS[kind]:
        assert judge(kind, document)
        assert PROBLEMS[kind](document) is None


@pytest.mark.parametrize("kind", sorted(CORPUS))
def test_every_mutation_gets_the_schemas_verdict(judge, kind):
    checked = rejected = 0
    for document in itertools.chain.from_iterable(_mutations(d) for d in CORPUS[kind]):
        expected = judge(kind, document)
        problem = PROBLEMS[kind](document)
        assert (problem is None) == expected, (document, problem)
        checked += 1
        rejected += not expected
    assert checked > 200 and rejected > 100, (checked, rejected)   # the corpus bites
