"""Removing images and collecting garbage (Docker's `rmi` rules), part of the image API.

    image_users(store, image_id) -> list[str]
        IDs of containers whose containers/<id>/config.json has "Image": image_id (the contract
        with the container runtime).
    remove_image(store, reference: str, *, force: bool = False) -> list[tuple[str, str]]
        ("Untagged", "busybox:latest") / ("Deleted", "sha256:...") lines (the image ID, then
        the chain IDs of the layers no other image or container holds). By name: untag; the
        image goes when its last name does, unless a container uses it (then an error; with
        force it goes all the same, except that a running container's image stays, nameless).
        By ID: refused if a running container uses it (even with force), or, unless force, if
        the image has several names or a stopped container uses it. Conflicts raise
        ImageConflict. A container whose image was removed keeps its layers (container_roots).
    class ImageConflict(PalletError)   the daemon-side refusals (the CLI prints Docker's
        "Error response from daemon: conflict: ..." for these)
    referenced_blobs(store) -> (blob digests, diff IDs) reachable from index.json (images only)
    container_roots(store) -> diff IDs of the layer directories containers are made of
    chain_ids(diff_ids) -> Docker's layer chain IDs (rmi's "Deleted: <layer>" lines)
    live_content(store) -> (blob digests, diff IDs) all of the above plus the garbage-collection
        roots (store/roots.py: how the build cache keeps its layers; no builder format read here)
    collect_garbage(store) -> int   bytes freed: blobs and unpacked layer dirs that neither an
        image, a root nor a container references, under the exclusive gc lock
        (waits for every store.lease() holder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.store import references as refs
from pallet.runtime.container.state import alive
from pallet.runtime.image.committing import index_entry
from pallet.runtime.image.images import entry_image_id, familiar_tag, resolve_image
from pallet.runtime.store.content import REF_NAME, Store
from pallet.runtime.store.digests import Descriptor
from pallet.runtime.store.roots import root_content


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


class ImageConflict(PalletError):
    """rmi refused: a container uses the image, or it has several names (Docker's 409)."""


def container_running(store: Store, container_id: str) -> bool:
    """Whether the container's process is alive (Docker counts paused containers as running)."""
    try:
        state = json.loads((store.root / "containers" / container_id / "state.json").read_bytes())
    except (OSError, ValueError):
        return False
    if not isinstance(state, dict) or not state.get("Running"):
        return False
    return alive(state.get("Pid") or 0, state.get("PidStart"))


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
            targets = [str(parsed)] if str(parsed) in image.references else []
        else:
            targets = [str(parsed.with_default_tag())]
            # Docker: when the last tag of a repository goes, its digest names go with it
            same_repo = [name for name in image.references if name not in targets and
                         refs.parse_reference(name).name == parsed.name]
            if same_repo and all("@" in name for name in same_repo):
                targets += sorted(same_repo)
        remaining = [name for name in image.references if name not in targets]
        if not remaining and users and not force:
            raise ImageConflict(f'conflict: unable to remove repository reference "{reference}" '
                              f"(must force) - container {users[0][:12]} is using its referenced "
                              f"image {image.short_id}", hint="remove the container first, or use -f")
    else:
        targets = list(image.references)
        # Docker's order (daemon/images/image_delete.go): the hard conflict first, then the
        # soft ones that -f overrides.
        running = [user for user in users if container_running(store, user)]
        stopped = [user for user in users if user not in running]
        if running:
            raise ImageConflict(f"conflict: unable to delete {image.short_id} (cannot be forced) - "
                                f"image is being used by running container {running[0][:12]}",
                                hint="stop and remove the container first")
        if len(targets) > 1 and not force:
            raise ImageConflict(f"conflict: unable to delete {image.short_id} (must be forced) - "
                                "image is referenced in multiple repositories", hint="use -f")
        if stopped and not force:
            raise ImageConflict(f"conflict: unable to delete {image.short_id} (must be forced) - "
                                f"image is being used by stopped container {stopped[0][:12]}",
                                hint="remove the container first, or use -f")
        remaining = []
    # Docker deletes the image once its last name is gone, also under a stopped container when
    # forced (the container keeps its layers: container_roots); under a running one the image
    # stays, nameless (a hard conflict, silenced when the removal was by name).
    in_use = bool(users) and (not force or any(container_running(store, u) for u in users))
    delete = not remaining and not in_use

    def change(entries: list[dict]) -> list[dict]:
        kept = []
        for entry in entries:
            annotations = entry.get("annotations") or {}
            same = entry_image_id(store, entry) == image.id
            if same and annotations.get(REF_NAME) in targets:
                continue
            if same and delete:
                continue
            kept.append(entry)
        if not delete and not any(entry_image_id(store, e) == image.id for e in kept):
            entry = index_entry(Descriptor(image.manifest_digest, image.manifest_size, image.media_type),
                                 image.id, image.created, image.size, None)
            kept.append(entry)
        return kept

    store.update_index(change)
    from pallet.runtime.store.events import record_event
    labels = (image.config.get("config") or {}).get("Labels") or {}
    for name in targets:
        lines.append(("Untagged", familiar_tag(name)))
        # docker 20.10 names the image ID here, not the tag (checked against a private dockerd)
        record_event(store.root, "image", "untag", image.id, {**labels, "name": image.id})
    if delete:
        record_event(store.root, "image", "delete", image.id, {**labels, "name": image.id})
    if delete:
        lines.append(("Deleted", image.id))
        # Docker then lists the layers the image alone held, top first, by chain ID.
        in_use = _chains_in_use(store)
        lines += [("Deleted", chain) for chain in reversed(chain_ids(image.diff_ids))
                  if chain not in in_use]
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


def _container_layers(store: Store) -> list[list[str]]:
    """Each container's layer diff IDs, bottom first, from its config.json's
    GraphDriver.Data.LowerDir (topmost first, overlayfs order)."""
    found: list[list[str]] = []
    directory = store.root / "containers"
    if not directory.is_dir():
        return found
    layers = os.path.realpath(store.layers)
    for entry in os.scandir(directory):
        try:
            config = json.loads(Path(entry.path, "config.json").read_bytes())
            lowers = config["GraphDriver"]["Data"]["LowerDir"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        paths = lowers.split(":") if isinstance(lowers, str) and lowers else []
        found.append(["sha256:" + os.path.basename(path) for path in reversed(paths)
                      if os.path.realpath(os.path.dirname(path)) == layers])
    return found


def container_roots(store: Store) -> set[str]:
    """Diff IDs of the unpacked layers containers are made of: a container outlives a forced
    `rmi` of its image, as in Docker."""
    return {diff_id for chain in _container_layers(store) for diff_id in chain}


def chain_ids(diff_ids) -> list[str]:
    """Docker's layer chain IDs, bottom first: the first is the diff ID, then
    sha256("<parent chain ID> <diff ID>")."""
    from pallet.runtime.store.digests import new_sha256

    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
            continue
        text = f"{chains[-1]} {diff_id}".encode()
        digest = new_sha256(len(text))
        digest.update(text)
        chains.append("sha256:" + digest.hexdigest())
    return chains


def _chains_in_use(store: Store) -> set[str]:
    in_use: set[str] = set()
    for entry in store.index_entries():
        try:
            manifest = store.read_json_blob(entry["digest"])
            config = store.read_json_blob(manifest["config"]["digest"])
            in_use.update(chain_ids((config.get("rootfs") or {}).get("diff_ids") or []))
        except (PalletError, KeyError, TypeError):
            continue
    for layers in _container_layers(store):
        in_use.update(chain_ids(layers))
    return in_use


def live_content(store: Store, *, skip_damaged_roots: bool = False) -> tuple[set[str], set[str]]:
    """Everything garbage collection must keep: what images reference, the layers of
    containers, and what the garbage-collection roots name (the build cache's, store/roots.py)."""
    blobs, diff_ids = referenced_blobs(store)
    rooted_blobs, rooted_diff_ids = root_content(store, skip_damaged=skip_damaged_roots)
    return blobs | rooted_blobs, diff_ids | rooted_diff_ids | container_roots(store)


def collect_garbage(store: Store) -> int:
    """Delete blobs and unpacked layers that neither an image, a container nor a root keeps;
    returns the bytes freed."""
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
