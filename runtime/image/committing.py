"""Writing images into the store and pointing names at them (index.json entries).

    commit_image(store, *, config: dict, layers: list[Layer], tags: list[str],
                 annotations: dict | None = None) -> Image
        Writes config + manifest blobs (rootfs.diff_ids filled from layers; architecture/os/
        created defaulted), then moves each tag to this image under the store lock. The image
        that loses its last tag stays as a dangling <none> image, as in Docker.
    store_manifest(store, *, manifest_bytes: bytes, tags, media_type=None) -> Image
        (load/pull path: config and layer blobs must already be in the store)
    tag_image(store, source: str, target: str) -> Image
    add_repo_digest(store, image, repository, digest)  name@digest, as pull/push record it
    normalize_tags(tags) -> list[str]                 full references; a bad one is refused
    index_entry(manifest, image_id, created, size, name=None) -> dict
        the index.json entry format (removal.py writes them too)

The model and the readers (Image, resolve_image, list_images, ...) are in images.py.
"""

from __future__ import annotations

import copy
import json

from pallet.base.errors import PalletError
from pallet.base.units import now_rfc3339
from pallet.runtime.image.images import (ANN_CREATED, ANN_ID, ANN_SIZE, MT_OCI_CONFIG,
                                         MT_OCI_MANIFEST, Image, diff_ids_of,
                                         image_by_manifest, image_content_size,
                                         resolve_image)
from pallet.runtime.store import references as refs
from pallet.runtime.store.content import REF_NAME, Store
from pallet.runtime.store.digests import Descriptor


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
