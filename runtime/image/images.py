"""The image model: OCI manifest + config in the store, named by tags in index.json.

Public API (stable):

    Image               frozen: id, manifest_digest, manifest, config, layers (Descriptors),
                        diff_ids, repo_tags (familiar "busybox:latest"), references (full names),
                        media_type, created, size;  image.layer_objects() -> list[Layer]
    resolve_image(store, reference: str) -> Image
        name, name:tag, name@sha256:..., full ID (sha256:... or 64 hex), unique short ID prefix.
        Missing: PalletError("No such image: <reference>").
    commit_image(store, *, config: dict, layers: list[Layer], tags: list[str],
                 annotations: dict | None = None) -> Image
        Writes config + manifest blobs (rootfs.diff_ids filled from layers; architecture/os/
        created defaulted), then moves each tag to this image under the store lock. The image
        that loses its last tag stays as a dangling <none> image, as in Docker.
    store_manifest(store, *, manifest_bytes: bytes, tags, media_type=None) -> Image
        (load/pull path: config and layer blobs must already be in the store)
    select_platform(index: dict, platform: str | None = None) -> dict   (index/list entry; None:
        this machine's platform)
    tag_image(store, source: str, target: str) -> Image
    add_repo_digest(store, image, repository, digest)  name@digest, as pull/push record it
    list_images(store) -> list[ImageSummary]         newest first
    image_by_manifest(store, manifest_digest) -> Image
    entry_image_id(store, index entry) -> image ID; familiar_tag(name); index_entry(...) (the
        index.json entry format, shared with removal.py)
Removal and garbage collection (remove_image, image_users, collect_garbage, ...) are in
removal.py, which builds on this module (this one never imports it).

Index entries: one descriptor per tag (org.opencontainers.image.ref.name = full reference,
e.g. docker.io/library/busybox:latest), or one without a name for a dangling image. Each entry
also carries vnd.pallet.image.{id,created,size} annotations so `pallet images` reads no blobs.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pallet.base.errors import PalletError
from pallet.base.units import now_rfc3339, parse_rfc3339
from pallet.runtime.store import references as refs
from pallet.runtime.store.content import REF_NAME, Store
from pallet.runtime.store.digests import Descriptor, check_digest
from pallet.runtime.store.layerinfo import layer_content_size, layer_size

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFEST_TYPES = {MT_OCI_MANIFEST, MT_DOCKER_MANIFEST}
INDEX_TYPES = {MT_OCI_INDEX, MT_DOCKER_LIST}
ANN_ID = "vnd.pallet.image.id"
ANN_CREATED = "vnd.pallet.image.created"
ANN_SIZE = "vnd.pallet.image.size"


@dataclass(frozen=True)
class Image:
    id: str
    manifest_digest: str
    manifest: dict = field(compare=False, hash=False)
    config: dict = field(compare=False, hash=False)
    layers: tuple = ()
    diff_ids: tuple = ()
    repo_tags: tuple = ()
    references: tuple = ()
    media_type: str = MT_OCI_MANIFEST
    manifest_size: int = 0
    size: int = 0

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def created(self) -> str:
        created = self.config.get("created")
        return created if isinstance(created, str) else ""

    def layer_objects(self, store: Store | None = None) -> list:
        """The layers as Layer objects, e.g. to build on top of this image with commit_image."""
        from pallet.runtime.image.layers import Layer
        return [Layer(digest=d.digest, size=d.size, media_type=d.media_type, diff_id=diff_id,
                      uncompressed_size=layer_size(store, diff_id) if store else None)
                for d, diff_id in zip(self.layers, self.diff_ids)]


@dataclass(frozen=True)
class ImageSummary:
    id: str
    manifest_digest: str
    references: tuple      # full references, e.g. docker.io/library/busybox:latest
    created: str
    size: int

    @property
    def dangling(self) -> bool:
        return not self.references


def wanted_platform(platform: str | None):
    """The platform a pull or load asks for (None: this machine's), or a clear error."""
    from pallet.base.platforms import host_platform, parse_platform
    try:
        return parse_platform(platform) if platform else host_platform()
    except ValueError as error:
        raise PalletError(str(error), hint="use os/arch[/variant], e.g. linux/amd64") from error


def select_platform(index: dict, platform: str | None = None) -> dict:
    """The descriptor for platform ("os/arch[/variant]", normalised as containerd does) in an
    OCI index or Docker manifest list."""
    wanted = wanted_platform(platform)
    for entry in index.get("manifests") or []:
        offered = entry.get("platform") if isinstance(entry, dict) else None
        if isinstance(offered, dict) and all(isinstance(offered.get(k, ""), str)
                                             for k in ("os", "architecture", "variant")) and \
                wanted.matches(offered.get("os", ""), offered.get("architecture", ""),
                               offered.get("variant", "")):
            return entry
    raise PalletError(f"no image for platform {wanted} in the index",
                      hint="choose another --platform")


def diff_ids_of(config, *, what: str) -> list[str]:
    """rootfs.diff_ids of an image config, each a well-formed digest, else a PalletError (a
    config from outside, or a damaged store: never an AttributeError on `rootfs: 5`)."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if diff_ids is None and isinstance(rootfs, dict) and "diff_ids" not in rootfs:
        diff_ids = []
    if not isinstance(diff_ids, list):
        raise PalletError(f"invalid image config {what}: rootfs.diff_ids is not a list",
                          hint="the image is corrupt")
    for index, diff_id in enumerate(diff_ids):
        try:
            check_digest(diff_id, what=f"diff ID at rootfs/diff_ids/{index}")
        except PalletError as error:
            raise PalletError(f"invalid image config {what}: {error.message}",
                              hint=error.hint) from error
    return diff_ids


# ---- reading --------------------------------------------------------------------------------

def _load_image(store: Store, entry: dict, entries: list[dict]) -> Image:
    descriptor = Descriptor.from_json(entry)
    manifest = store.read_json_blob(descriptor.digest, descriptor.size)
    media_type = manifest.get("mediaType") or descriptor.media_type
    if media_type in INDEX_TYPES or "manifests" in manifest:
        raise PalletError(f"{descriptor.digest} is an image index, not an image manifest")
    try:
        config_desc = Descriptor.from_json(manifest["config"])
        layers = tuple(Descriptor.from_json(layer) for layer in manifest.get("layers") or [])
    except (KeyError, TypeError) as error:
        raise PalletError(f"manifest {descriptor.digest} is malformed: no config") from error
    config = store.read_json_blob(config_desc.digest, config_desc.size)
    diff_ids = tuple(diff_ids_of(config, what=config_desc.digest))
    if len(diff_ids) != len(layers):
        raise PalletError(f"image {config_desc.digest} is malformed: {len(layers)} layers but "
                          f"{len(diff_ids)} diff IDs")
    names = tuple(sorted({e["annotations"][REF_NAME] for e in entries
                          if entry_image_id(store, e) == config_desc.digest
                          and (e.get("annotations") or {}).get(REF_NAME)}))
    size = _entry_size(store, entry, diff_ids, layers)
    return Image(id=config_desc.digest, manifest_digest=descriptor.digest, manifest=manifest,
                 config=config, layers=layers, diff_ids=diff_ids,
                 repo_tags=tuple(familiar_tag(name) for name in names if "@" not in name),
                 references=names, media_type=media_type, manifest_size=descriptor.size, size=size)


def familiar_tag(name: str) -> str:
    try:
        return refs.familiar_string(name)
    except PalletError:
        return name


def _entry_size(store, entry, diff_ids, layers) -> int:
    annotated = (entry.get("annotations") or {}).get(ANN_SIZE)
    if annotated and annotated.isdigit():
        return int(annotated)
    return image_content_size(store, diff_ids, layers)


def image_content_size(store: Store, diff_ids, layers) -> int:
    """Docker's image SIZE: the layers' content bytes (blob sizes for layers never unpacked)."""
    total = 0
    for diff_id, layer in zip(diff_ids, layers):
        known = layer_content_size(store, diff_id)
        total += known if known is not None else layer.size
    return total


def entry_image_id(store: Store, entry: dict) -> str | None:
    annotated = (entry.get("annotations") or {}).get(ANN_ID)
    if annotated:
        return annotated
    try:
        manifest = store.read_json_blob(entry["digest"], entry.get("size"))
        return manifest["config"]["digest"]
    except (PalletError, KeyError, TypeError):
        return None


class ImageNotFound(PalletError):
    """No image by that reference (Docker's 404)."""


def _not_found(reference: str) -> PalletError:
    return ImageNotFound(f"No such image: {reference}",
                         hint="run `pallet images` to see the local images, or pull/load/build it")


def resolve_image(store: Store, reference: str) -> Image:
    """Find an image by name, name:tag, name@digest, full ID or unique short ID prefix."""
    entries = store.index_entries()
    text = reference.strip()
    if refs.is_full_id(text):
        full = text if text.startswith("sha256:") else "sha256:" + text
        for entry in entries:
            if entry_image_id(store, entry) == full:
                return _load_image(store, entry, entries)
        raise _not_found(reference)
    try:
        parsed = refs.parse_reference(text)
    except PalletError:
        if not refs.looks_like_id_prefix(text):
            raise
        parsed = None
    if parsed is not None:
        if parsed.digest:
            wanted = str(parsed)
            for entry in entries:
                if (entry.get("annotations") or {}).get(REF_NAME) == wanted or \
                        entry.get("digest") == parsed.digest:
                    return _load_image(store, entry, entries)
        else:
            wanted = str(parsed.with_default_tag())
            for entry in entries:
                if (entry.get("annotations") or {}).get(REF_NAME) == wanted:
                    return _load_image(store, entry, entries)
    if refs.looks_like_id_prefix(text) and ":" not in text.removeprefix("sha256:"):
        prefix = text if text.startswith("sha256:") else "sha256:" + text
        matches: dict[str, dict] = {}
        for entry in entries:
            image_id = entry_image_id(store, entry)
            if image_id and image_id.startswith(prefix):
                matches.setdefault(image_id, entry)
        if len(matches) == 1:
            return _load_image(store, next(iter(matches.values())), entries)
        if len(matches) > 1:
            raise PalletError(f"No such image: {reference} (the short ID is ambiguous: "
                              f"{len(matches)} images match)", hint="give more digits of the ID")
    raise _not_found(reference)


def names_to_ids(store: Store) -> dict[str, str]:
    """Every full reference name in the store -> the image ID it names (one index read)."""
    found = {}
    for entry in store.index_entries():
        name = (entry.get("annotations") or {}).get(REF_NAME)
        image_id = entry_image_id(store, entry) if name else None
        if image_id:
            found[name] = image_id
    return found


def still_names(reference: str, image_id: str, names: dict[str, str]) -> bool:
    """Whether reference (as a container was created from it) still names image_id: Docker's
    `ps` shows the image ID instead once the name was removed or moved to another image."""
    bare = reference.removeprefix("sha256:")
    if refs.looks_like_id_prefix(reference) and image_id.startswith("sha256:" + bare):
        return True
    try:
        parsed = refs.parse_reference(reference)
    except PalletError:
        return False
    if parsed.digest:
        return any(name.endswith("@" + parsed.digest) and found == image_id
                   for name, found in names.items())
    return names.get(str(parsed.with_default_tag())) == image_id


def image_by_manifest(store: Store, manifest_digest: str) -> Image:
    entries = store.index_entries()
    for entry in entries:
        if entry.get("digest") == manifest_digest:
            return _load_image(store, entry, entries)
    raise _not_found(manifest_digest)


def list_images(store: Store) -> list[ImageSummary]:
    """One summary per image ID, newest first (what `pallet images` shows)."""
    entries = store.index_entries()
    by_id: dict[str, dict] = {}
    for entry in entries:
        annotations = entry.get("annotations") or {}
        image_id = entry_image_id(store, entry)
        if image_id is None:
            continue
        info = by_id.get(image_id)
        if info is None:
            created = annotations.get(ANN_CREATED)
            size = annotations.get(ANN_SIZE)
            if created is None or size is None:
                try:
                    image = _load_image(store, entry, entries)
                except PalletError:
                    continue
                created, size = image.created, image.size
            info = by_id[image_id] = {"manifest": entry["digest"], "refs": [], "created": created,
                                      "size": int(size)}
        name = annotations.get(REF_NAME)
        if name:
            info["refs"].append(name)
    summaries = [ImageSummary(id=image_id, manifest_digest=info["manifest"],
                              references=tuple(sorted(set(info["refs"]))),
                              created=info["created"], size=info["size"])
                 for image_id, info in by_id.items()]
    epoch = datetime.fromtimestamp(0, timezone.utc)
    summaries.sort(key=lambda s: (parse_rfc3339(s.created) or epoch, s.id), reverse=True)
    return summaries


# ---- writing --------------------------------------------------------------------------------

def normalize_tags(tags) -> list[str]:
    out = []
    for tag in tags:
        parsed = refs.parse_reference(tag)
        if parsed.digest:
            raise PalletError(f"cannot tag with a digest reference: {tag}",
                              hint="a tag is name[:tag]; digests are given by the content")
        name = str(parsed.with_default_tag())
        if name not in out:
            out.append(name)
    return out


def index_entry(manifest: Descriptor, image_id: str, created: str, size: int,
                 name: str | None) -> dict:
    annotations = {ANN_ID: image_id, ANN_CREATED: created, ANN_SIZE: str(size)}
    if name:
        annotations[REF_NAME] = name
    entry = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size,
             "annotations": annotations}
    return entry


def _point_tags(store: Store, entry_template: dict, names: list[str]) -> None:
    """Move names to the manifest in entry_template; keep untagged images as dangling entries."""
    digest = entry_template["digest"]

    def change(entries: list[dict]) -> list[dict]:
        kept = [e for e in entries if (e.get("annotations") or {}).get(REF_NAME) not in names]
        for name in names:
            entry = copy.deepcopy(entry_template)
            entry["annotations"][REF_NAME] = name
            kept.append(entry)
        if not names and not any(e.get("digest") == digest for e in kept):
            entry = copy.deepcopy(entry_template)
            entry["annotations"].pop(REF_NAME, None)
            kept.append(entry)
        # Images that lost their last name stay as dangling <none> entries (Docker keeps them).
        present = {e.get("digest") for e in kept}
        for old in entries:
            if old.get("digest") not in present:
                dangling = copy.deepcopy(old)
                (dangling.get("annotations") or {}).pop(REF_NAME, None)
                kept.append(dangling)
                present.add(old.get("digest"))
        # A manifest with a name needs no extra unnamed entry.
        named = {e.get("digest") for e in kept if (e.get("annotations") or {}).get(REF_NAME)}
        return [e for e in kept if (e.get("annotations") or {}).get(REF_NAME) or e.get("digest") not in named]

    store.update_index(change)


def store_manifest(store: Store, *, manifest_bytes: bytes, tags,
                   media_type: str | None = None) -> Image:
    """Record a manifest whose config and layer blobs are already in the store; tag it."""
    names = normalize_tags(tags)
    try:
        manifest = json.loads(manifest_bytes)
        config_desc = Descriptor.from_json(manifest["config"])
        layer_descs = [Descriptor.from_json(layer) for layer in manifest.get("layers") or []]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise PalletError(f"invalid image manifest: {error}") from error
    media_type = media_type or manifest.get("mediaType") or MT_OCI_MANIFEST
    for descriptor in [config_desc, *layer_descs]:
        if not store.has_blob(descriptor.digest):
            raise PalletError(f"manifest points at a missing blob {descriptor.digest}",
                              hint="the image is incomplete; nothing was stored")
    config = store.read_json_blob(config_desc.digest, config_desc.size)
    diff_ids = diff_ids_of(config, what=config_desc.digest)
    if len(diff_ids) != len(layer_descs):
        raise PalletError(f"image config has {len(diff_ids)} diff IDs for {len(layer_descs)} layers")
    size = image_content_size(store, diff_ids, layer_descs)
    manifest_desc = store.put_bytes(manifest_bytes, media_type=media_type)
    created = config.get("created")
    entry = index_entry(manifest_desc, config_desc.digest,
                        created if isinstance(created, str) else "", size, None)
    _point_tags(store, entry, names)
    return image_by_manifest(store, manifest_desc.digest)


def commit_image(store: Store, *, config: dict, layers: list, tags: list[str],
                 annotations: dict | None = None) -> Image:
    """Write config + manifest for layers, then point tags at it (see module docstring)."""
    names = normalize_tags(tags)
    config = copy.deepcopy(config)
    config.setdefault("created", now_rfc3339())
    config.setdefault("architecture", "amd64")
    config.setdefault("os", "linux")
    config["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    with store.lease():
        for layer in layers:
            if not store.has_blob(layer.digest):
                raise PalletError(f"layer blob {layer.digest} is not in the store",
                                  hint="pack the layer with pack_layer before committing")
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        config_desc = store.put_bytes(config_bytes, media_type=MT_OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                    "config": config_desc.to_json(),
                    "layers": [layer.descriptor().to_json() for layer in layers]}
        if annotations:
            manifest["annotations"] = dict(annotations)
        manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
        return store_manifest(store, manifest_bytes=manifest_bytes, tags=names,
                              media_type=MT_OCI_MANIFEST)


def add_repo_digest(store: Store, image: Image, repository: str, digest: str) -> None:
    """Record that repository (a full name) holds image under digest in a registry (what `pull`
    and `push` learn): Docker's RepoDigests, `images --digests`, and `run name@digest`."""
    name = f"{repository}@{digest}"

    def change(entries: list[dict]) -> list[dict]:
        kept = [e for e in entries if (e.get("annotations") or {}).get(REF_NAME) != name]
        template = next((e for e in kept if e.get("digest") == image.manifest_digest), None)
        if template is None:
            return kept
        entry = copy.deepcopy(template)
        entry.setdefault("annotations", {})[REF_NAME] = name
        kept.append(entry)
        # a manifest with a name needs no extra unnamed entry
        return [e for e in kept if (e.get("annotations") or {}).get(REF_NAME)
                or e.get("digest") != image.manifest_digest]

    store.update_index(change)


def tag_image(store: Store, source: str, target: str) -> Image:
    image = resolve_image(store, source)
    names = normalize_tags([target])
    entry = index_entry(Descriptor(image.manifest_digest, image.manifest_size, image.media_type),
                         image.id, image.created, image.size, None)
    _point_tags(store, entry, names)
    from pallet.runtime.store.events import record_event
    from pallet.runtime.store.references import familiar
    labels = (image.config.get("config") or {}).get("Labels") or {}
    for name in names:
        record_event(store.root, "image", "tag", image.id,
                     {**labels, "name": familiar(name)})
    return image_by_manifest(store, image.manifest_digest)
