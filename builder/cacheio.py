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

What is imported is untrusted (a cache restored by CI, a registry): every digest is checked
(content.check_digest) before it names a file, the index, manifest and records are checked by
pallet.runtime.image.documents and CacheRecord.from_json, a blob is read only as a regular file
inside the layout, and a pulled blob is written to the store's tmp/ and renamed into the
temporary layout only once its digest and size are verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

from pallet.base.files import atomic_file, atomic_write
from pallet.builder.cache import CacheRecord, CacheRecords, write_json_atomic
from pallet.base.errors import PalletError
from pallet.runtime.store.digests import sha256_hex

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
    return directory / "blobs" / "sha256" / sha256_hex(digest, what="cache blob digest")


def _put_blob(directory: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = _blob_path(directory, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, mode=None, durable=False)
    return {"digest": digest, "size": len(data)}


class _Shown:
    """BuildKit's cache vertex in the build's progress view ("exporting cache to registry",
    a status line per layer with its size and time); nothing without a view."""

    def __init__(self, progress, step_id: str, title: str) -> None:
        self.progress, self.step_id = progress, step_id
        if progress is not None:
            progress.start(step_id, title)

    def status(self, text: str) -> None:
        if self.progress is not None:
            self.progress.status(self.step_id, text)

    def layer(self, verb: str, digest: str, size: int, started: float) -> None:
        import time

        from pallet.builder.progress import transfer_size
        self.status(f"{verb} {digest} {transfer_size(size)} {time.monotonic() - started:.1f}s done")

    def done(self) -> None:
        if self.progress is not None:
            self.progress.done(self.step_id)


def export_cache(*, store, root: Path, spec: str, keys: list[str], progress=None) -> None:
    fields = parse_cache_spec(spec, flag="--cache-to")
    if fields["type"] == "registry":
        shown = _Shown(progress, "cache-export", "exporting cache to registry")
        directory = store.temp_dir("cache-export-")
        try:
            _write_layout(store, root, directory, keys)
            _push_layout(directory, fields["ref"], shown)
        finally:
            store.remove_tree(directory)
        shown.done()
        return
    dest = fields.get("dest")
    if not dest:
        raise PalletError("--cache-to type=local needs dest=DIR")
    shown = _Shown(progress, "cache-export", "exporting cache to client directory")
    _write_layout(store, root, Path(dest), keys, shown)
    shown.done()


def _write_layout(store, root: Path, directory: Path, keys: list[str], shown=None) -> None:
    import time

    shown = shown or _Shown(None, "", "")
    directory.mkdir(parents=True, exist_ok=True)
    records = CacheRecords(store)
    exported = []
    layers: dict[str, dict] = {}
    for key in keys:
        record = records.get(key)
        if record is None:
            continue
        exported.append(record.to_json())
        for layer in record.layers():
            target = _blob_path(directory, layer.digest)
            if not target.exists():
                started = time.monotonic()
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(store.blob_path(layer.digest), "rb") as source, \
                        atomic_file(target, mode=None, durable=False) as copy:
                    shutil.copyfileobj(source, copy, 1 << 20)
                shown.layer("writing layer", layer.digest, layer.size, started)
            layers[layer.digest] = {"mediaType": layer.media_type, "digest": layer.digest,
                                    "size": layer.size}
    config = _put_blob(directory, json.dumps({"records": exported}, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": {"mediaType": MT_RECORDS, **config},
                "layers": list(layers.values())}
    manifest_desc = _put_blob(directory, json.dumps(manifest, sort_keys=True).encode())
    shown.status(f"writing cache manifest {manifest_desc['digest']} done")
    write_json_atomic(directory / "oci-layout", {"imageLayoutVersion": "1.0.0"})
    write_json_atomic(directory / "index.json", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": MT_MANIFEST, "artifactType": ARTIFACT_TYPE, **manifest_desc,
                       "annotations": {REF_NAME: CACHE_REF}}]})


def import_cache(*, store, root: Path, spec: str, progress=None) -> int:
    """Copy the records and layer blobs of an exported cache into the store; returns the
    number of records imported. A missing source is not an error (first CI run)."""
    fields = parse_cache_spec(spec, flag="--cache-from")
    if fields["type"] == "registry":
        shown = _Shown(progress, f"cache-import-{fields['ref']}",
                       f"importing cache manifest from {fields['ref']}")
        directory = store.temp_dir("cache-import-")
        try:
            count = _import_layout(store, root, directory) if _pull_layout(
                fields["ref"], directory, shown) else 0
        finally:
            store.remove_tree(directory)
        shown.done()
        return count
    src = fields.get("src")
    if not src:
        raise PalletError("--cache-from type=local needs src=DIR")
    shown = _Shown(progress, f"cache-import-{src}", f"importing cache manifest from {src}")
    count = _import_layout(store, root, Path(src))
    shown.done()
    return count


def _import_layout(store, root: Path, directory: Path) -> int:
    try:
        return _import_records(store, root, directory)
    except PalletError as error:
        raise PalletError(f"--cache-from {directory}: {error.message}",
                          hint=error.hint or "export the cache again") from error


def _import_records(store, root: Path, directory: Path) -> int:
    from pallet.runtime.image import documents

    try:
        with _open_member(directory / "index.json") as handle:
            data = handle.read(documents.JSON_LIMIT + 1)
    except FileNotFoundError:
        return 0
    except OSError as error:
        raise PalletError(f"unreadable index.json: {error.strerror or error}") from error
    index = documents.parse_index(data, what="index.json")
    records = CacheRecords(store)
    count = 0
    for entry in index.get("manifests") or []:
        if entry.get("artifactType") != ARTIFACT_TYPE:
            continue
        manifest = documents.parse_manifest(
            _read_verified(directory, entry["digest"], entry["size"]), what=entry["digest"])
        config = manifest["config"]
        payload = documents.parse_json(_read_verified(directory, config["digest"], config["size"]),
                                       what=f"cache records {config['digest']}")
        entries = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            raise PalletError(f"cache records {config['digest']} hold no list of records")
        for data in entries:
            try:
                record = CacheRecord.from_json(data)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise PalletError(f"invalid cache record in {config['digest']}: {error}") from error
            _check_record_config(record, config["digest"])
            for layer in record.layers():
                if store.has_blob(layer.digest):
                    continue
                with _open_member(_blob_path(directory, layer.digest)) as handle:
                    store.put_blob(handle, expected_digest=layer.digest, expected_size=layer.size,
                                   media_type=layer.media_type)
            if records.get(record.key) is None:
                records.put(record)
                count += 1
    return count


def _check_record_config(record: CacheRecord, where: str) -> None:
    """A record's config becomes an image's container config and its history an image's
    history entry: both typed as the image spec types them, before any build uses them."""
    from pallet.runtime.image import doctypes

    problem = doctypes.container_config_problem(record.config) or \
        doctypes.config_problem({"architecture": "", "os": "", "history": [record.history],
                                 "rootfs": {"type": "layers", "diff_ids": []}})
    if problem:
        raise PalletError(f"invalid cache record {record.key} in {where}: {problem}")


def _open_member(path: Path):
    """Open a file of the layout for reading: a regular file, not through a final symlink and
    without blocking on a FIFO (a restored cache directory is as untrusted as its content)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == getattr(os, "ELOOP", 40):
            raise PalletError(f"{path.name} in the cache layout is a symbolic link") from error
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PalletError(f"{path.name} in the cache layout is not a regular file")
    return os.fdopen(fd, "rb")


def _read_verified(directory: Path, digest: str, size: int) -> bytes:
    from pallet.runtime.image.documents import JSON_LIMIT

    path = _blob_path(directory, digest)
    try:
        with _open_member(path) as handle:
            data = handle.read(min(size, JSON_LIMIT) + 1)
    except FileNotFoundError as error:
        raise PalletError(f"cache blob {digest} is missing from the layout") from error
    if len(data) != size or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise PalletError(f"cache blob {digest} is corrupt", hint="export the cache again")
    return data


def _registry_client(ref: str, *, push: bool):
    from pallet.runtime.store import references as refs
    from pallet.runtime.distribution.registry import RegistryClient

    parsed = refs.parse_reference(ref).with_default_tag()
    return RegistryClient(parsed.domain, parsed.path, push=push), parsed.digest or parsed.tag


def _download(client, digest: str, size: int, directory: Path) -> None:
    """One blob into the layout: streamed to a temp name beside it while hashed, renamed only
    once it has exactly size bytes and the digest its descriptor names."""
    target = _blob_path(directory, digest)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    hasher = hashlib.sha256()
    written = 0
    response = client.open_blob(digest)
    try:
        with open(partial, "wb") as handle:
            while written <= size:
                chunk = response.read(min(1 << 20, size + 1 - written))
                if not chunk:
                    break
                hasher.update(chunk)
                handle.write(chunk)
                written += len(chunk)
        if written != size or "sha256:" + hasher.hexdigest() != digest:
            raise PalletError(f"blob {digest} does not match its descriptor (got "
                              f"{'more than ' if written > size else ''}{written} bytes, "
                              f"expected {size})",
                              hint="the registry served other content; nothing was imported")
        os.replace(partial, target)
    finally:
        response.close()
        partial.unlink(missing_ok=True)


def _push_layout(directory: Path, ref: str, shown) -> None:
    """Upload the layout's artifact (config, layers, then the manifest) under ref."""
    from pallet.runtime.distribution.registry import RegistryError

    client, tag = _registry_client(ref, push=True)
    index = json.loads((directory / "index.json").read_text())
    entry = index["manifests"][0]
    manifest_bytes = _read_verified(directory, entry["digest"], entry["size"])
    manifest = json.loads(manifest_bytes)
    try:
        client.ping()
        import time
        for blob in [manifest["config"], *manifest["layers"]]:
            if not client.has_blob(blob["digest"]):
                started = time.monotonic()
                with open(_blob_path(directory, blob["digest"]), "rb") as handle:
                    client.upload_blob(handle, blob["digest"], blob["size"])
                shown.layer("pushing layer", blob["digest"], blob["size"], started)
        client.put_manifest(tag, manifest_bytes, MT_MANIFEST)
    except RegistryError as error:
        raise PalletError(f"--cache-to {ref}: {error.message}", hint=error.hint) from error


def _pull_layout(ref: str, directory: Path, shown) -> bool:
    """Fetch ref's cache artifact into an OCI layout at directory (in the store's tmp/); False
    if the registry does not have ref."""
    from pallet.runtime.distribution.registry import RegistryError
    from pallet.runtime.image import documents

    client, reference = _registry_client(ref, push=False)
    try:
        client.ping()
        try:
            manifest = client.get_manifest(reference)
        except RegistryError as error:
            if getattr(error, "status", None) == 404:
                return False
            raise
        document = documents.parse_manifest(manifest.data, what=f"of {ref}")
        if document.get("artifactType") != ARTIFACT_TYPE:
            raise PalletError(f"--cache-from {ref}: not a pallet build cache "
                              f"(artifactType {document.get('artifactType')!r})")
        blobs = [document["config"], *document.get("layers", [])]
        for blob in blobs:   # every digest checked before the first download
            _blob_path(directory, blob["digest"])
        _put_blob(directory, manifest.data)
        import time
        for blob in blobs:
            started = time.monotonic()
            _download(client, blob["digest"], blob["size"], directory)
            shown.layer("importing layer", blob["digest"], blob["size"], started)
    except RegistryError as error:
        raise PalletError(f"--cache-from {ref}: {error.message}", hint=error.hint) from error
    except PalletError as error:
        if error.message.startswith("--cache-from"):
            raise
        raise PalletError(f"--cache-from {ref}: {error.message}", hint=error.hint) from error
    (directory / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "manifests": [{"mediaType": MT_MANIFEST, "artifactType": ARTIFACT_TYPE,
                                           "digest": manifest.digest, "size": len(manifest.data)}]}))
    return True
