"""save/load: docker-archive and oci-archive tarballs, and OCI layout directories.

    save_images(store, names: list[str], dest: Path | BinaryIO, *, archive_format="docker-archive",
                progress: Callable[[str], None] | None = None)
    load_images(store, source: Path | BinaryIO, *, platform: str | None = None (this machine's),
                progress: Callable[[str], None] | None = None, stream_name="from stdin") -> list[str]
        returns Docker's lines: "Loaded image: busybox:latest" / "Loaded image ID: sha256:..."

docker-archive is written the way Docker 25+ writes it, which every reader accepts (Docker
20.10's `docker load`, skopeo's docker-archive:, and OCI tools): manifest.json + repositories,
plus an OCI layout (oci-layout, index.json, blobs/sha256/) whose layer blobs are the
*uncompressed* layer tars, so each layer's blob digest is its diff ID, as `docker save` does.
oci-archive is the store's own OCI layout subset: manifests and compressed blobs verbatim (the
manifest digests are kept); index.json names each image with io.containerd.image.name (full
reference) and org.opencontainers.image.ref.name (the tag), as Docker and containerd do.

Loading reads manifest.json (docker-archive) or index.json (OCI; nested indexes resolved to the
platform asked for), every JSON document checked by pallet.runtime.image.documents (limits, the
OCI schemas, every digest well-formed before it names a member or a store path), copies each
blob while verifying it against its descriptor, then unpacks each
layer into layers/<diffid>/ (the safety checks of pallet.runtime.image.unpack, and the diff ID check)
before the image is committed and tagged. On any error the blobs this load added are deleted:
no partial image, no tag. A compressed or piped archive is first spooled (uncompressed) to tmp/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import BinaryIO

from pallet.base.errors import PalletError
from pallet.base.progress import NULL, Bytes, Meter, State
from pallet.runtime.store import references as refs
from pallet.runtime.image.committing import store_manifest
from pallet.runtime.image.images import (ANN_ID, MT_OCI_CONFIG, MT_OCI_MANIFEST, Image,
                                         select_platform, wanted_platform)
from pallet.runtime.image.removal import live_content
from pallet.runtime.image.archive_save import save_images  # noqa: F401 (re-exported API)
from pallet.runtime.image.archive_source import ArchiveSource
from pallet.runtime.image.compression import DecompressingReader, sniff_compression
from pallet.runtime.image.tarheaders import BoundedTarInfo
from pallet.runtime.image import documents
from pallet.runtime.image.layers import (MT_OCI_GZIP, MT_OCI_TAR, MT_OCI_ZSTD, store_layer,
                                         unpacked_layer_dir)
from pallet.runtime.store.content import REF_NAME, Store
from pallet.runtime.store.digests import Descriptor, sha256_hex

CONTAINERD_NAME = "io.containerd.image.name"
JSON_LIMIT = documents.JSON_LIMIT
CHUNK = 1 << 20
DOWNLOADS = 3


# ---- load -----------------------------------------------------------------------------------

def _blob_name(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


class Loader:
    """One load into the store from a source of named blobs (an archive, a layout directory, a
    registry: anything with open(name), read_bytes(name) and has(name)): copies and verifies
    blobs, unpacks layers, and rolls back what it added when the load fails. what names the
    source in error messages ("from REF"). progress: a pallet.base.progress sink; a pull
    (pulling=True) reports Docker's pull states and byte counts, a load "Loading layer"."""

    def __init__(self, store: Store, source, platform: str, progress=None, *, what: str = "",
                 pulling: bool = False):
        self.store = store
        self.source = source
        self.platform = platform
        self.progress = progress or NULL
        self.pulling = pulling
        self.what = what
        self.added: list[str] = []
        self.added_dirs: list[str] = []
        # which image each tag named before this load, for Docker's "renaming" notice
        self.before = {(entry.get("annotations") or {}).get(REF_NAME):
                       (entry.get("annotations") or {}).get(ANN_ID) for entry in store.index_entries()}

    def loaded_lines(self, tags: list[str], image: "Image") -> list[str]:
        lines = []
        for tag in tags:
            old = self.before.get(tag)
            if old and old != image.id:
                lines.append(f"The image {refs.familiar_string(tag)} already exists, renaming the old "
                             f"one with ID {old} to empty string")
            lines.append(f"Loaded image: {refs.familiar_string(tag)}")
        return lines or [f"Loaded image ID: {image.id}"]

    def copy_blob(self, name: str, *, expected: Descriptor | None = None, media_type: str,
                  layer: bool = False) -> Descriptor:
        digest = expected.digest if expected else None
        if digest and self.store.has_blob(digest):
            return Descriptor(digest, self.store.blob_size(digest), media_type)
        shown = self.pulling and layer and expected is not None
        with self.source.open(name) as handle:
            if shown:
                # put_blob reads until b"": pieces of 128 kB show a slow link's progress
                handle = Meter(handle, self.progress, digest[7:19], "Downloading", expected.size,
                               piece=128 << 10)
            descriptor = self.store.put_blob(handle, expected_digest=digest,
                                             expected_size=expected.size if expected else None,
                                             media_type=media_type)
        self.added.append(descriptor.digest)
        if shown:   # the digest was checked as the bytes went by; put_blob verified it
            self.progress.emit(State(digest[7:19], "Verifying Checksum"))
            self.progress.emit(State(digest[7:19], "Download complete"))
        return descriptor

    def layer_exists(self, descriptor: Descriptor, diff_id: str) -> bool:
        return ((self.store.layers / sha256_hex(diff_id, what="diff ID")).is_dir()
                and self.store.has_blob(descriptor.digest))

    def unpack(self, descriptor: Descriptor, diff_id: str) -> None:
        target = self.store.layers / sha256_hex(diff_id, what="diff ID")
        existed = target.is_dir()
        if existed:
            return
        # Docker counts extraction in bytes of the blob it reads (compressed, for a pull)
        short, action = ((descriptor.digest[7:19], "Extracting") if self.pulling
                         else (diff_id[7:19], "Loading layer"))
        unpacked_layer_dir(self.store, descriptor, diff_id, meter=lambda raw: Meter(
            raw, self.progress, short, action, descriptor.size))
        self.added_dirs.append(diff_id)
        if self.pulling:
            self.progress.emit(State(short, "Pull complete"))

    def copy_layer(self, name: str, *, expected: Descriptor | None, diff_id: str,
                   media_type: str | None) -> Descriptor:
        """A layer blob read once: stored and unpacked in the same pass (layers.store_layer);
        only what is missing is done. expected None (docker-archive): the blob is known by
        its diff ID when the store has it uncompressed. media_type None: told by the blob's
        first bytes."""
        digest = expected.digest if expected else diff_id
        if self.store.has_blob(digest):
            descriptor = Descriptor(digest, self.store.blob_size(digest),
                                    media_type or _layer_media_type(self.store, digest))
            self.unpack(descriptor, diff_id)
            return descriptor
        if (self.store.layers / sha256_hex(diff_id, what="diff ID")).is_dir():
            descriptor = self.copy_blob(name, expected=expected,
                                        media_type=media_type or MT_OCI_TAR, layer=True)
            if media_type is None:
                descriptor = Descriptor(descriptor.digest, descriptor.size,
                                        _layer_media_type(self.store, descriptor.digest))
            return descriptor
        total = expected.size if expected else self.source.size(name)
        if self.pulling:   # Docker counts a pull in bytes of the (compressed) blob
            short = digest[7:19]

            def meter(raw):
                return Meter(raw, self.progress, short, "Downloading", total, piece=128 << 10)
        else:
            short = diff_id[7:19]

            def meter(raw):
                return Meter(raw, self.progress, short, "Loading layer", total)
        region = self.source.region(name) if isinstance(self.source, ArchiveSource) else None
        if region is not None and sniff_compression(os.pread(region[0], 4, region[1])) == "none":
            from pallet.runtime.image.plainlayer import store_plain_layer
            descriptor = store_plain_layer(self.store, region, media_type=media_type,
                                           expected=expected, diff_id=diff_id,
                                           name=f"layer {name}", meter=meter)
        else:
            with self.source.open(name) as handle:
                descriptor = store_layer(self.store, handle, media_type=media_type,
                                         expected=expected, diff_id=diff_id,
                                         name=f"layer {name}", meter=meter)
        self.added.append(descriptor.digest)
        self.added_dirs.append(diff_id)
        if self.pulling:   # downloaded and unpacked in one pass: Docker's states, in its order
            for state in ("Verifying Checksum", "Download complete"):
                self.progress.emit(State(short, state))
            self.progress.emit(Bytes(short, "Extracting", descriptor.size, descriptor.size))
            self.progress.emit(State(short, "Pull complete"))
        return descriptor

    def rollback(self) -> None:
        # Only what this load added and no image references (never shared content).
        blobs, diff_ids = live_content(self.store)
        for digest in self.added:
            if digest not in blobs:
                self.store.delete_blob(digest)
        for diff_id in self.added_dirs:
            target = self.store.layers / diff_id.removeprefix("sha256:")
            if diff_id not in diff_ids and target.is_dir():
                self.store.remove_tree(target)


def _layer_media_type(store: Store, digest: str) -> str:
    with open(store.blob_path(digest), "rb") as handle:
        compression = sniff_compression(handle.read(4))
    return {"gzip": MT_OCI_GZIP, "zstd": MT_OCI_ZSTD}.get(compression, MT_OCI_TAR)


def _load_docker(loader: Loader) -> list[str]:
    manifest = documents.parse_docker_manifest(loader.source.read_bytes("manifest.json"),
                                               what="manifest.json")
    lines = []
    for entry in manifest:
        config_name, layer_names = entry["Config"], list(entry.get("Layers") or [])
        tags = list(entry.get("RepoTags") or [])
        config_bytes = loader.source.read_bytes(config_name)
        config = documents.parse_config(config_bytes, what=config_name)
        diff_ids = documents.diff_ids_of(config, what=config_name)
        if len(diff_ids) != len(layer_names):
            raise PalletError(f"cannot load: config has {len(diff_ids)} diff IDs for "
                              f"{len(layer_names)} layers", hint="the archive is corrupt")
        config_desc = loader.store.put_bytes(config_bytes, media_type=MT_OCI_CONFIG)
        loader.added.append(config_desc.digest)
        layers = []
        for name, diff_id in zip(layer_names, diff_ids):
            layers.append(loader.copy_layer(name, expected=None, diff_id=diff_id,
                                            media_type=None))
        body = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "config": config_desc.to_json(),
                "layers": [layer.to_json() for layer in layers]}
        image = store_manifest(loader.store, manifest_bytes=json.dumps(body, separators=(",", ":")).encode(),
                               tags=tags, media_type=MT_OCI_MANIFEST)
        lines += loader.loaded_lines([refs.normalize(t) for t in tags], image)
    return lines


def _small_enough(desc: Descriptor, what: str) -> None:
    """A JSON document's descriptor may not claim more than JSON_LIMIT bytes: it is refused
    before a byte is fetched, not after gigabytes went to tmp/."""
    if desc.size > JSON_LIMIT:
        raise PalletError(f"cannot load: {what} claims {desc.size} bytes, more than the "
                          f"{JSON_LIMIT} a JSON document may have",
                          hint="the source is corrupt or malicious; nothing was loaded")


def load_oci_manifest(loader: Loader, descriptor: dict, tags: list[str], depth: int = 0) -> Image:
    """Load the image a descriptor names (an index is resolved to loader.platform) from
    loader.source into the store; every document is checked before it is used."""
    desc = Descriptor.from_json(descriptor)
    where = f"{desc.digest}" + (f" {loader.what}" if loader.what else "")
    _small_enough(desc, f"manifest {where}")
    loader.copy_blob(_blob_name(desc.digest), expected=desc, media_type=desc.media_type)
    manifest_bytes = loader.store.read_blob(desc.digest, desc.size)
    kind, manifest = documents.parse_manifest_or_index(manifest_bytes, what=where,
                                                       media_type=desc.media_type)
    if kind == "index":
        if depth >= 4:   # an index of indexes of ... is a loop in disguise
            raise PalletError(f"cannot load: image index {where} nests indexes too deeply")
        return load_oci_manifest(loader, select_platform(manifest, loader.platform), tags,
                                 depth + 1)
    config_desc = Descriptor.from_json(manifest["config"])
    layer_descs = [Descriptor.from_json(layer) for layer in manifest.get("layers") or []]
    _small_enough(config_desc, f"image config {config_desc.digest}")
    had_config = loader.store.has_blob(config_desc.digest)
    loader.copy_blob(_blob_name(config_desc.digest), expected=config_desc,
                     media_type=config_desc.media_type)
    config = documents.parse_config(loader.store.read_blob(config_desc.digest, config_desc.size),
                                    what=f"{config_desc.digest}" +
                                    (f" {loader.what}" if loader.what else ""))
    diff_ids = documents.diff_ids_of(config, what=config_desc.digest)
    if len(diff_ids) != len(layer_descs):
        raise PalletError(f"cannot load: config has {len(diff_ids)} diff IDs for {len(layer_descs)} layers")
    exists = [loader.layer_exists(layer, diff_id) for layer, diff_id in zip(layer_descs, diff_ids)]
    if loader.pulling and not (had_config and all(exists)):
        # Docker announces every layer before the first byte moves (none for an image it has)
        for layer, present in zip(layer_descs, exists):
            loader.progress.emit(State(layer.digest[7:19],
                                       "Already exists" if present else "Pulling fs layer"))
    jobs = list(dict.fromkeys(zip(layer_descs, diff_ids)))
    if loader.pulling and len(jobs) > 1:
        # each on its own connection, as dockerd's max-concurrent-downloads; a load reads one
        # archive, member after member
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(max_workers=DOWNLOADS, thread_name_prefix="pull")
        try:
            for future in [pool.submit(loader.copy_layer, _blob_name(layer.digest),
                                       expected=layer, diff_id=diff_id,
                                       media_type=layer.media_type)
                           for layer, diff_id in jobs]:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)   # the rollback waits for them
    else:
        for layer, diff_id in jobs:
            loader.copy_layer(_blob_name(layer.digest), expected=layer, diff_id=diff_id,
                              media_type=layer.media_type)
    return store_manifest(loader.store, manifest_bytes=manifest_bytes, tags=tags,
                          media_type=manifest.get("mediaType") or desc.media_type)


def _oci_tags(entry: dict) -> list[str]:
    annotations = entry.get("annotations") or {}
    name = annotations.get(CONTAINERD_NAME)
    ref_name = annotations.get(REF_NAME)
    if not name and ref_name and (":" in ref_name or "/" in ref_name):
        name = ref_name      # skopeo and friends put a whole reference in ref.name
    if not name:
        return []
    try:
        return [refs.normalize(name)]
    except PalletError:
        return []


def _load_oci(loader: Loader) -> list[str]:
    index = documents.parse_index(loader.source.read_bytes("index.json"), what="index.json")
    entries = index.get("manifests")
    if not entries:
        raise PalletError("cannot load: index.json lists no images")
    lines = []
    for entry in entries:
        tags = _oci_tags(entry)
        image = load_oci_manifest(loader, entry, tags)
        lines += loader.loaded_lines(tags, image)
    return lines


def _spool(store: Store, stream: BinaryIO, work: Path) -> Path:
    """Copy a (possibly compressed) archive stream into tmp/ as a plain, seekable tar."""
    target = work / "archive.tar"
    reader = DecompressingReader(stream, name="archive")
    try:
        with open(target, "wb") as handle:
            shutil.copyfileobj(reader, handle, CHUNK)
    finally:
        reader.close()
    return target


def _loaded(store: Store, names: list[str]) -> list[str]:
    """The event docker records per loaded image: its ID (and labels) as actor and name."""
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.events import record_event
    seen = set()
    for line in names:      # "Loaded image: NAME" / "Loaded image ID: sha256:..."
        name = line.split(": ", 1)[-1]
        try:
            image = resolve_image(store, name)
        except PalletError:
            continue
        if image.id in seen:
            continue
        seen.add(image.id)
        labels = (image.config.get("config") or {}).get("Labels") or {}
        record_event(store.root, "image", "load", image.id, {**labels, "name": image.id})
    return names


def load_images(store: Store, source, *, platform: str | None = None, progress=None,
                stream_name: str = "from stdin") -> list[str]:
    """Load every image of a docker-archive, oci-archive or OCI layout directory.
    stream_name: how errors name a source that is a stream ("from stdin" for the CLI)."""
    wanted_platform(platform)   # a bad --platform fails before anything is read
    with store.lease(), contextlib.ExitStack() as stack:
        work = store.temp_dir("load-")
        stack.callback(store.remove_tree, work)
        if isinstance(source, (str, Path)) and Path(source).is_dir():
            if not (Path(source) / "index.json").is_file():
                raise PalletError(f"cannot load {source}: not an OCI layout (no index.json)")
            archive = ArchiveSource(directory=Path(source))
        else:
            if isinstance(source, (str, Path)):
                try:
                    handle = stack.enter_context(open(source, "rb"))
                except OSError as error:
                    raise PalletError(f"cannot load {source}: {error.strerror}") from error
                head = handle.read(4)
                handle.seek(0)
                plain = sniff_compression(head) == "none"
                path = Path(source) if plain else _spool(store, handle, work)
            else:
                path = _spool(store, source, work)
            try:
                tar = stack.enter_context(tarfile.open(path, mode="r:", tarinfo=BoundedTarInfo))
            except (tarfile.TarError, EOFError) as error:
                raise PalletError(f"cannot load {source if isinstance(source, (str, Path)) else stream_name}"
                                  ": not a tar archive (docker-archive or oci-archive expected)",
                                  hint="nothing was loaded") from error
            archive = ArchiveSource(tar=tar)
        loader = Loader(store, archive, platform, progress)
        try:
            if archive.has("manifest.json"):
                return _loaded(store, _load_docker(loader))
            if archive.has("index.json"):
                return _loaded(store, _load_oci(loader))
            raise PalletError("cannot load: unrecognized image format (no manifest.json or index.json)",
                              hint="expected a docker-archive, an oci-archive or an OCI layout")
        except BaseException:
            loader.rollback()
            raise

