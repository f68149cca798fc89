"""Portable build cache: ``--cache-to type=local,dest=DIR`` / ``--cache-from type=local,src=DIR``,
and the same through a registry: ``type=registry,ref=HOST/REPO:TAG``.

The export is an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/``) holding
one artifact manifest: its config blob is the list of cache records (step key -> layer and
config, see cache.py) and its layers are the layer blobs those records name. Because it is an
ordinary OCI artifact, the same manifest can later be pushed to a registry unchanged.

Import copies the records (and the blobs they need, digest-verified) into the local store,
after which the build's normal cache lookups find them: on a fresh root, a build of the same
inputs runs no RUN step at all.

type=registry moves that layout's one artifact: export writes the layout to a temporary
directory and pushes its blobs and manifest under ref (pallet.runtime.distribution.registry); import pulls
them into a temporary layout and imports from there. A ref the registry does not have is no
error on import (the first CI run), as a missing local directory is not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from pallet.builder.cache import CacheRecord, CacheRecords, write_json_atomic
from pallet.base.errors import PalletError

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_RECORDS = "application/vnd.pallet.buildcache.records.v1+json"
ARTIFACT_TYPE = "application/vnd.pallet.buildcache.v1"
REF_NAME = "org.opencontainers.image.ref.name"
CACHE_REF = "buildcache"


def parse_cache_spec(spec: str, *, flag: str) -> dict[str, str]:
    fields = dict(part.split("=", 1) if "=" in part else (part, "") for part in spec.split(","))
    kind = fields.setdefault("type", "local")
    if kind not in ("local", "registry"):
        raise PalletError(f"{flag} type={kind} is not supported", hint="use type=local or type=registry")
    if kind == "registry" and not fields.get("ref"):
        raise PalletError(f"{flag} type=registry needs ref=HOST/REPOSITORY:TAG")
    return fields


def _blob_path(directory: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return directory / "blobs" / algorithm / hexdigest


def _put_blob(directory: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = _blob_path(directory, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return {"digest": digest, "size": len(data)}


def export_cache(*, store, root: Path, spec: str, keys: list[str]) -> None:
    fields = parse_cache_spec(spec, flag="--cache-to")
    if fields["type"] == "registry":
        directory = store.temp_dir("cache-export-")
        try:
            _write_layout(store, root, directory, keys)
            _push_layout(directory, fields["ref"])
        finally:
            store.remove_tree(directory)
        return
    dest = fields.get("dest")
    if not dest:
        raise PalletError("--cache-to type=local needs dest=DIR")
    _write_layout(store, root, Path(dest), keys)


def _write_layout(store, root: Path, directory: Path, keys: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    records = CacheRecords(root)
    exported = []
    layers: dict[str, dict] = {}
    for key in keys:
        record = records.get(key)
        if record is None:
            continue
        exported.append(record.to_json())
        if record.layer is not None:
            layer = record.layer
            target = _blob_path(directory, layer.digest)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                shutil.copyfile(store.blob_path(layer.digest), tmp)
                os.replace(tmp, target)
            layers[layer.digest] = {"mediaType": layer.media_type, "digest": layer.digest,
                                    "size": layer.size}
    config = _put_blob(directory, json.dumps({"records": exported}, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": {"mediaType": MT_RECORDS, **config},
                "layers": list(layers.values())}
    manifest_desc = _put_blob(directory, json.dumps(manifest, sort_keys=True).encode())
    write_json_atomic(directory / "oci-layout", {"imageLayoutVersion": "1.0.0"})
    write_json_atomic(directory / "index.json", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": MT_MANIFEST, "artifactType": ARTIFACT_TYPE, **manifest_desc,
                       "annotations": {REF_NAME: CACHE_REF}}]})


def import_cache(*, store, root: Path, spec: str) -> int:
    """Copy the records and layer blobs of an exported cache into the store; returns the
    number of records imported. A missing source is not an error (first CI run)."""
    fields = parse_cache_spec(spec, flag="--cache-from")
    if fields["type"] == "registry":
        directory = store.temp_dir("cache-import-")
        try:
            return _import_layout(store, root, directory) if _pull_layout(
                fields["ref"], directory) else 0
        finally:
            store.remove_tree(directory)
    src = fields.get("src")
    if not src:
        raise PalletError("--cache-from type=local needs src=DIR")
    return _import_layout(store, root, Path(src))


def _import_layout(store, root: Path, directory: Path) -> int:
    src = str(directory)
    try:
        index = json.loads((directory / "index.json").read_text())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as error:
        raise PalletError(f"--cache-from {src}: unreadable index.json: {error}") from error
    records = CacheRecords(root)
    count = 0
    for entry in index.get("manifests") or []:
        if entry.get("artifactType") != ARTIFACT_TYPE:
            continue
        manifest = json.loads(_read_verified(directory, entry["digest"]))
        payload = json.loads(_read_verified(directory, manifest["config"]["digest"]))
        for data in payload.get("records") or []:
            record = CacheRecord.from_json(data)
            if record.layer is not None and not store.has_blob(record.layer.digest):
                with open(_blob_path(directory, record.layer.digest), "rb") as handle:
                    store.put_blob(handle, expected_digest=record.layer.digest,
                                   expected_size=record.layer.size,
                                   media_type=record.layer.media_type)
            if records.get(record.key) is None:
                records.put(record)
                count += 1
    return count


def _read_verified(directory: Path, digest: str) -> bytes:
    data = _blob_path(directory, digest).read_bytes()
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise PalletError(f"cache blob {digest} is corrupt", hint="export the cache again")
    return data


def _registry_client(ref: str, *, push: bool):
    from pallet.runtime.store import references as refs
    from pallet.runtime.distribution.registry import RegistryClient

    parsed = refs.parse_reference(ref).with_default_tag()
    return RegistryClient(parsed.domain, parsed.path, push=push), parsed.digest or parsed.tag


def _push_layout(directory: Path, ref: str) -> None:
    """Upload the layout's artifact (config, layers, then the manifest) under ref."""
    from pallet.runtime.distribution.registry import RegistryError

    client, tag = _registry_client(ref, push=True)
    index = json.loads((directory / "index.json").read_text())
    entry = index["manifests"][0]
    manifest_bytes = _read_verified(directory, entry["digest"])
    manifest = json.loads(manifest_bytes)
    try:
        client.ping()
        for blob in [manifest["config"], *manifest["layers"]]:
            if not client.has_blob(blob["digest"]):
                with open(_blob_path(directory, blob["digest"]), "rb") as handle:
                    client.upload_blob(handle, blob["digest"], blob["size"])
        client.put_manifest(tag, manifest_bytes, MT_MANIFEST)
    except RegistryError as error:
        raise PalletError(f"--cache-to {ref}: {error.message}", hint=error.hint) from error


def _pull_layout(ref: str, directory: Path) -> bool:
    """Fetch ref's cache artifact into an OCI layout at directory; False if the registry does
    not have ref."""
    from pallet.runtime.distribution.registry import RegistryError

    client, reference = _registry_client(ref, push=False)
    try:
        client.ping()
        try:
            manifest = client.get_manifest(reference)
        except RegistryError as error:
            if getattr(error, "status", None) == 404:
                return False
            raise
        document = json.loads(manifest.data)
        if document.get("artifactType") != ARTIFACT_TYPE:
            raise PalletError(f"--cache-from {ref}: not a pallet build cache "
                              f"(artifactType {document.get('artifactType')!r})")
        _put_blob(directory, manifest.data)
        for blob in [document["config"], *document.get("layers", [])]:
            target = _blob_path(directory, blob["digest"])
            target.parent.mkdir(parents=True, exist_ok=True)
            response = client.open_blob(blob["digest"])
            try:
                with open(target, "wb") as handle:
                    shutil.copyfileobj(response, handle, 1 << 20)
            finally:
                response.close()
    except RegistryError as error:
        raise PalletError(f"--cache-from {ref}: {error.message}", hint=error.hint) from error
    except (ValueError, KeyError, TypeError) as error:
        raise PalletError(f"--cache-from {ref}: malformed cache manifest: {error}") from error
    (directory / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "manifests": [{"mediaType": MT_MANIFEST, "artifactType": ARTIFACT_TYPE,
                                           "digest": manifest.digest, "size": len(manifest.data)}]}))
    return True
