"""`save`: write images as a docker-archive or an oci-archive (see archive.py for the formats).

    save_images(store, names: list[str], dest: Path | BinaryIO, *, archive_format="docker-archive",
                progress=None)     a pallet.base.progress sink: "Saving layer" bytes per layer
A path is written atomically (a .partial file renamed at the end); a stream is written as it goes.
Re-exported by pallet.runtime.image.archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.base.progress import NULL, Meter
from pallet.runtime.store import references as refs
from pallet.runtime.image.images import MT_OCI_CONFIG, MT_OCI_MANIFEST, Image, resolve_image
from pallet.runtime.image.layers import MT_OCI_TAR, open_layer_stream
from pallet.runtime.store.layerinfo import layer_size
from pallet.base.files import atomic_file
from pallet.runtime.store.content import INDEX_MEDIA_TYPE, REF_NAME, Store
from pallet.runtime.store.digests import Descriptor

CONTAINERD_NAME = "io.containerd.image.name"


def _tags_for(name: str, image: Image) -> list[str]:
    """Which references of image a `save NAME` records (Docker: none when saved by ID)."""
    if refs.is_full_id(name) or image.id.removeprefix("sha256:").startswith(name.removeprefix("sha256:")):
        return []
    parsed = refs.parse_reference(name)
    if parsed.digest:
        return []
    return [str(parsed.with_default_tag())]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
    tar.addfile(info)


def _uncompressed_size(store: Store, descriptor: Descriptor, diff_id: str) -> int:
    known = layer_size(store, diff_id)
    if known is not None:
        return known
    with open_layer_stream(store, descriptor) as reader:
        reader.drain()
    return reader.size


def _write_archive(store: Store, tar: tarfile.TarFile, selected, archive_format: str,
                   progress) -> None:
    written: set[str] = set()
    sizes: dict[str, int] = {}
    index_entries, docker_manifest, repositories = [], [], {}
    _add_dir(tar, "blobs")
    _add_dir(tar, "blobs/sha256")

    def add_blob_bytes(digest: str, data: bytes) -> None:
        if digest not in written:
            written.add(digest)
            _add_bytes(tar, f"blobs/sha256/{digest[7:]}", data)

    for image, tags in selected:
        config_bytes = store.read_blob(image.id)
        add_blob_bytes(image.id, config_bytes)
        if archive_format == "oci-archive":
            manifest_bytes = store.read_blob(image.manifest_digest, image.manifest_size)
            for layer in image.layers:
                if layer.digest not in written:
                    written.add(layer.digest)
                    info = tarfile.TarInfo(f"blobs/sha256/{layer.digest[7:]}")
                    info.size, info.mode, info.mtime = layer.size, 0o644, 0
                    with store.open_blob(layer.digest, layer.size) as blob:
                        tar.addfile(info, Meter(blob, progress, layer.digest[7:19],
                                                "Saving layer", layer.size))
                        blob.verify_rest()
            manifest_digest = image.manifest_digest
            media_type = image.media_type
        else:
            for layer, diff_id in zip(image.layers, image.diff_ids):
                if diff_id in written:
                    continue
                written.add(diff_id)
                info = tarfile.TarInfo(f"blobs/sha256/{diff_id[7:]}")
                sizes[diff_id] = _uncompressed_size(store, layer, diff_id)
                info.size, info.mode, info.mtime = sizes[diff_id], 0o644, 0
                with open_layer_stream(store, layer) as reader:
                    tar.addfile(info, Meter(reader, progress, diff_id[7:19], "Saving layer",
                                            info.size))
                if reader.diff_id() != diff_id:
                    raise PalletError(f"layer {layer.digest} does not match diff ID {diff_id}",
                                      hint="run `pallet system check --repair`")
            manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                        "config": {"mediaType": MT_OCI_CONFIG, "digest": image.id,
                                   "size": len(config_bytes)},
                        "layers": [{"mediaType": MT_OCI_TAR, "digest": d,
                                    "size": sizes[d]} for d in image.diff_ids]}
            manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
            manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
            media_type = MT_OCI_MANIFEST
            docker_manifest.append({"Config": f"blobs/sha256/{image.id[7:]}",
                                    "RepoTags": [refs.familiar_string(t) for t in tags],
                                    "Layers": [f"blobs/sha256/{d[7:]}" for d in image.diff_ids]})
            for tag in tags:
                parsed = refs.parse_reference(tag)
                repositories.setdefault(parsed.familiar_name, {})[parsed.tag] = image.diff_ids[-1][7:] \
                    if image.diff_ids else image.id[7:]
        add_blob_bytes(manifest_digest, manifest_bytes)
        base = {"mediaType": media_type, "digest": manifest_digest, "size": len(manifest_bytes)}
        for tag in tags or [None]:
            entry = dict(base)
            if tag:
                entry["annotations"] = {CONTAINERD_NAME: tag, REF_NAME: refs.parse_reference(tag).tag}
            index_entries.append(entry)
    _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    _add_bytes(tar, "index.json", json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE,
                                              "manifests": index_entries}).encode())
    if archive_format == "docker-archive":
        _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode())
        _add_bytes(tar, "repositories", json.dumps(repositories).encode())


def save_images(store: Store, names: list[str], dest, *, archive_format: str = "docker-archive",
                progress=None) -> None:
    """Write the named images to dest (a path, written atomically, or a binary stream)."""
    if archive_format not in ("docker-archive", "oci-archive"):
        raise PalletError(f"unknown archive format {archive_format!r}",
                          hint="use docker-archive or oci-archive")
    selected = [(image, _tags_for(name, image)) for name, image in
                ((name, resolve_image(store, name)) for name in names)]
    if not isinstance(dest, (str, Path)):
        with tarfile.open(fileobj=dest, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _write_archive(store, tar, selected, archive_format, progress or NULL)
    else:
        dest = Path(dest)
        try:
            with atomic_file(dest, mode=None) as handle:
                with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    _write_archive(store, tar, selected, archive_format, progress or NULL)
        except OSError as error:
            raise PalletError(f"cannot write {dest}: {error.strerror or error}") from error
    _saved_events(store, [image for image, _ in selected])


def _saved_events(store: Store, images) -> None:
    """dockerd logs "save" once per image written, named by its ID, with its labels."""
    from pallet.runtime.store.events import record_event
    seen = set()
    for image in images:
        if image.id in seen:
            continue
        seen.add(image.id)
        labels = (image.config.get("config") or {}).get("Labels") or {}
        record_event(store.root, "image", "save", image.id, {**labels, "name": image.id})


