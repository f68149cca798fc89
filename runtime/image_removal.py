"""Removing images and collecting garbage (Docker's `rmi` rules), part of the image API.

    image_users(store, image_id) -> list[str]
        IDs of containers whose containers/<id>/config.json has "Image": image_id (the contract
        with the container runtime).
    remove_image(store, reference: str, *, force: bool = False) -> list[tuple[str, str]]
        ("Untagged", "busybox:latest") / ("Deleted", "sha256:...") lines. By name: untag; the
        image goes when its last name does, unless a container uses it (then an error, or with
        force the image stays as a dangling <none> image for the container). By ID: refused if
        the image has several names or a container uses it, unless force.
    referenced_blobs(store) -> (blob digests, diff IDs) reachable from index.json (images only)
    cache_roots(store) -> (blob digests, diff IDs) named by build-cache records
    collect_garbage(store) -> int   bytes freed: blobs and unpacked layer dirs that neither an
        image nor a build-cache record references, under the exclusive gc lock (waits for every
        store.lease() holder).
All are re-exported by pallet.runtime.images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pallet.errors import PalletError
from pallet.runtime import references as refs
from pallet.runtime.images import (_entry_image_id, _familiar_tag, _index_entry, resolve_image)
from pallet.runtime.store import REF_NAME, Descriptor, Store


def image_users(store: Store, image_id: str) -> list[str]:
    """IDs of containers whose containers/<id>/config.json names image_id under "Image"."""
    users = []
    directory = store.root / "containers"
    if not directory.is_dir():
        return users
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        try:
            data = json.loads(Path(entry.path, "config.json").read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("Image") == image_id:
            users.append(entry.name)
    return users


def remove_image(store: Store, reference: str, *, force: bool = False) -> list[tuple[str, str]]:
    """Docker's `rmi` for one reference; returns the Untagged/Deleted lines."""
    image = resolve_image(store, reference)
    by_name = not (refs.is_full_id(reference) or image.id.startswith(
        "sha256:" + reference.removeprefix("sha256:")) and refs.looks_like_id_prefix(reference))
    users = image_users(store, image.id)
    lines: list[tuple[str, str]] = []
    if by_name:
        parsed = refs.parse_reference(reference)
        if parsed.digest:
            targets = [name for name in image.references if "@" in name] or []
        else:
            targets = [str(parsed.with_default_tag())]
        remaining = [name for name in image.references if name not in targets]
        if not remaining and users and not force:
            raise PalletError(f'conflict: unable to remove repository reference "{reference}" '
                              f"(must force) - container {users[0][:12]} is using its referenced "
                              f"image {image.short_id}", hint="remove the container first, or use -f")
    else:
        targets = list(image.references)
        if len(targets) > 1 and not force:
            raise PalletError(f"conflict: unable to delete {image.short_id} (must be forced) - image "
                              "is referenced in multiple repositories", hint="use -f")
        if users and not force:
            raise PalletError(f"conflict: unable to delete {image.short_id} (must be forced) - image "
                              f"is being used by stopped container {users[0][:12]}",
                              hint="remove the container first, or use -f")
        remaining = []
    delete = not remaining and not users

    def change(entries: list[dict]) -> list[dict]:
        kept = []
        for entry in entries:
            annotations = entry.get("annotations") or {}
            same = _entry_image_id(store, entry) == image.id
            if same and annotations.get(REF_NAME) in targets:
                continue
            if same and delete:
                continue
            kept.append(entry)
        if not delete and not any(_entry_image_id(store, e) == image.id for e in kept):
            entry = _index_entry(Descriptor(image.manifest_digest, image.manifest_size, image.media_type),
                                 image.id, image.created, image.size, None)
            kept.append(entry)
        return kept

    store.update_index(change)
    for name in targets:
        lines.append(("Untagged", _familiar_tag(name)))
    if delete:
        lines.append(("Deleted", image.id))
        collect_garbage(store)
    return lines


def referenced_blobs(store: Store, entries: list[dict] | None = None) -> tuple[set[str], set[str]]:
    """(blob digests, diff IDs) reachable from index.json."""
    blobs: set[str] = set()
    diff_ids: set[str] = set()
    for entry in store.index_entries() if entries is None else entries:
        digest = entry.get("digest")
        if not isinstance(digest, str):
            continue
        blobs.add(digest)
        try:
            manifest = store.read_json_blob(digest)
            blobs.add(manifest["config"]["digest"])
            blobs.update(layer["digest"] for layer in manifest.get("layers") or [])
            config = store.read_json_blob(manifest["config"]["digest"])
            diff_ids.update((config.get("rootfs") or {}).get("diff_ids") or [])
        except (PalletError, KeyError, TypeError):
            continue
    return blobs, diff_ids


def cache_roots(store: Store) -> tuple[set[str], set[str]]:
    """(blob digests, diff IDs) named by build-cache records: cache/records/**/*.json with
    "layer": {"digest", "diff_id"} (the builder's format). `rmi` and image prune leave the build
    cache alone, as Docker does; `builder prune` is what removes cached layers."""
    blobs: set[str] = set()
    diff_ids: set[str] = set()
    records = store.cache / "records"
    if not records.is_dir():
        return blobs, diff_ids
    for directory, _dirs, files in os.walk(records):
        for name in files:
            if not name.endswith(".json"):
                continue
            try:
                layer = json.loads(Path(directory, name).read_bytes()).get("layer")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(layer, dict):
                if isinstance(layer.get("digest"), str):
                    blobs.add(layer["digest"])
                if isinstance(layer.get("diff_id"), str):
                    diff_ids.add(layer["diff_id"])
    return blobs, diff_ids


def live_content(store: Store) -> tuple[set[str], set[str]]:
    """Everything garbage collection must keep: what images reference plus the build cache."""
    blobs, diff_ids = referenced_blobs(store)
    cached_blobs, cached_diff_ids = cache_roots(store)
    return blobs | cached_blobs, diff_ids | cached_diff_ids


def collect_garbage(store: Store) -> int:
    """Delete blobs and unpacked layers that neither an image nor a build-cache record
    references; returns the bytes freed."""
    freed = 0
    with store.gc_lock(), store.lock():
        blobs, diff_ids = live_content(store)
        for digest in store.list_blobs():
            if digest not in blobs:
                freed += store.blob_size(digest)
                store.delete_blob(digest)
        for entry in list(os.scandir(store.layers)):
            if entry.is_dir(follow_symlinks=False) and "sha256:" + entry.name not in diff_ids:
                store.remove_tree(Path(entry.path))
    return freed
