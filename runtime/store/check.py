"""Store health and housekeeping: `system check [--repair]`, image prune (`system df`: usage.py).

    check_store(store, *, repair: bool = False) -> CheckReport
        Verifies oci-layout, index.json, every blob's digest, and every reference (manifest,
        config, layers, diff ID count, reference syntax). Problems make the report unclean;
        leftovers of interrupted work (temp files in tmp/, unreferenced blobs and layer dirs,
        containers marked running whose monitor died) are "garbage": reported, harmless, cleaned
        by --repair (a dead container is marked exited, 137, and its cgroup and processes go, as
        `ps` would do when it sees it). repair drops what is broken.
    prune_images(store, *, all_images: bool = False) -> (lines, reclaimed_bytes)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.image import images as images_mod
from pallet.runtime.image import removal
from pallet.runtime.store import roots
from pallet.runtime.store import references as refs
from pallet.runtime.store.content import REF_NAME, Store


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    garbage: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    blobs: int = 0
    images: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _entry_problem(store: Store, entry: dict, bad_blobs: set[str]) -> str | None:
    digest = entry.get("digest")
    name = (entry.get("annotations") or {}).get(REF_NAME)
    label = name or digest
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        return f"index entry {label!r} has no valid digest"
    if name:
        try:
            refs.parse_reference(name)
        except PalletError:
            return f"index entry has an invalid reference name {name!r}"
    if digest in bad_blobs or not store.has_blob(digest):
        return f"image {label}: manifest blob {digest} is missing or corrupt"
    try:
        manifest = json.loads(store.blob_path(digest).read_bytes())
        config_desc = manifest["config"]
        layers = manifest.get("layers") or []
    except (ValueError, KeyError, TypeError):
        return f"image {label}: manifest {digest} is not a valid image manifest"
    for descriptor in [config_desc, *layers]:
        blob = descriptor.get("digest") if isinstance(descriptor, dict) else None
        if not isinstance(blob, str) or blob in bad_blobs or not store.has_blob(blob):
            return f"image {label}: blob {blob} is missing or corrupt"
        if store.blob_size(blob) != descriptor.get("size"):
            return f"image {label}: blob {blob} has the wrong size"
    try:
        config = json.loads(store.blob_path(config_desc["digest"]).read_bytes())
        diff_ids = config["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        return f"image {label}: config {config_desc.get('digest')} is not a valid image config"
    if len(diff_ids) != len(layers):
        return f"image {label}: {len(layers)} layers but {len(diff_ids)} diff IDs"
    return None


def check_store(store: Store, *, repair: bool = False) -> CheckReport:
    report = CheckReport()
    layout = store.oci / "oci-layout"
    try:
        if json.loads(layout.read_bytes()).get("imageLayoutVersion") != "1.0.0":
            report.problems.append("oci/oci-layout has an unknown imageLayoutVersion")
    except (OSError, ValueError, AttributeError):
        report.problems.append("oci/oci-layout is missing or invalid")
        if repair:
            from pallet.base.files import atomic_write
            from pallet.runtime.store.content import OCI_LAYOUT_VERSION
            atomic_write(layout, json.dumps(OCI_LAYOUT_VERSION).encode(), tmp_dir=store.tmp)
            report.repaired.append("rewrote oci/oci-layout")
    with store.gc_lock() if repair else contextlib.nullcontext(), store.lock():
        try:
            entries = store.index_entries()
        except PalletError as error:
            report.problems.append(error.message)
            entries = None
            if repair:
                entries = _recover_entries(store)
                store.write_index(entries)
                report.repaired.append(f"rebuilt the unreadable index.json: {len(entries)} image(s) "
                                       "recovered from their manifests, untagged")
        bad_blobs: set[str] = set()
        for digest in store.list_blobs():
            report.blobs += 1
            if _hash_file(store.blob_path(digest)) != digest:
                bad_blobs.add(digest)
                report.problems.append(f"blob {digest} does not match its digest")
        for entry in [] if entries is None else entries:
            problem = _entry_problem(store, entry, bad_blobs)
            if problem:
                report.problems.append(problem)
            else:
                report.images += 1
        if repair and entries is not None:
            broken = [e for e in entries if _entry_problem(store, e, bad_blobs)]
            if broken:
                store.write_index([e for e in entries if e not in broken])
                report.repaired.append(f"dropped {len(broken)} broken reference(s)")
            for digest in bad_blobs:
                store.delete_blob(digest)
                report.repaired.append(f"deleted corrupt blob {digest}")
        for path in roots.damaged_roots(store):
            name = os.path.relpath(path, store.root)
            report.problems.append(f"garbage-collection root {name} is unreadable")
            if repair:
                os.unlink(path)
                report.repaired.append(f"dropped the unreadable root {name}")
        live, diff_ids = removal.live_content(store, skip_damaged_roots=True)
        for digest in store.list_blobs():
            if digest not in live and digest not in bad_blobs:
                report.garbage.append(f"unreferenced blob {digest}")
                if repair:
                    store.delete_blob(digest)
        for entry in os.scandir(store.layers):
            if "sha256:" + entry.name not in diff_ids:
                report.garbage.append(f"unreferenced layer directory layers/{entry.name}")
                if repair:
                    store.remove_tree(Path(entry.path))
        from pallet.runtime.store import scratch
        for path in scratch.leftovers(store.tmp_base):  # a live process's scratch is not garbage
            report.garbage.append(f"leftover temporary tmp/{path.name}")
            if repair:
                scratch.sweep_one(path)
        if (store.root / "network").is_dir():
            # Leases, rules, veths and bridges whose owner is gone (a dead container's monitor
            # owned its leases: they are reported here, the container itself just below).
            from pallet.runtime.network.repair import sweep
            report.garbage += sweep(store.root, repair=repair)
        _check_containers(store, report, repair=repair)
        if repair and report.garbage:
            report.repaired.append(f"removed {len(report.garbage)} leftover(s)")
    return report


def _check_containers(store: Store, report: CheckReport, *, repair: bool) -> None:
    """Containers whose state says running but whose monitor (or process) is gone: the monitor
    was SIGKILLed or the host rebooted, so nothing will ever record the exit."""
    from pallet.runtime.container import state as cs

    containers = cs.ContainerStore(store.root)
    for container_id in sorted(containers.ids()):
        try:
            record = containers.load(container_id)
        except PalletError:
            continue
        state = record.state
        if not state.get("Running"):
            continue
        # A live monitor whose container just exited is about to record it: not a leftover.
        if cs.alive(state.get("MonitorPid") or 0, state.get("MonitorStart")):
            continue
        report.garbage.append(f"container {container_id[:12]} ({record.name}) is marked running "
                              f"but its monitor (pid {state.get('MonitorPid') or 0}) is gone")
        if repair:
            # The same correction `ps` makes on sight (it re-checks under a fresh read).
            from pallet.runtime.container.lifecycle import refresh
            try:
                refresh(containers, record)
            except cs.ContainerNotFound:
                pass  # an --rm container: refresh removed it, as its monitor would have


def _recover_entries(store: Store) -> list[dict]:
    """Index entries (dangling: names are lost) for every complete image manifest among the blobs."""
    from pallet.runtime.image.images import ANN_CREATED, ANN_ID, ANN_SIZE, MANIFEST_TYPES, image_content_size
    from pallet.runtime.store.digests import Descriptor
    entries = []
    for digest in store.list_blobs():
        path = store.blob_path(digest)
        if path.stat().st_size > (4 << 20) or _hash_file(path) != digest:
            continue
        try:
            manifest = json.loads(path.read_bytes())
            media_type = manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
            config_desc = Descriptor.from_json(manifest["config"])
            layers = [Descriptor.from_json(layer) for layer in manifest["layers"]]
            config = store.read_json_blob(config_desc.digest, config_desc.size)
            diff_ids = config["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError, AttributeError, PalletError):
            continue
        if media_type not in MANIFEST_TYPES or len(diff_ids) != len(layers) or \
                not all(store.has_blob(layer.digest) for layer in layers):
            continue
        entries.append({"mediaType": media_type, "digest": digest, "size": path.stat().st_size,
                        "annotations": {ANN_ID: config_desc.digest, ANN_CREATED: config.get("created", ""),
                                        ANN_SIZE: str(image_content_size(store, diff_ids, layers))}})
    return entries


def prune_images(store: Store, *, all_images: bool = False,
                 selected=None) -> tuple[list[tuple[str, str]], int]:
    """Remove dangling images (or, with all_images, every image no container uses);
    selected(summary) -> bool narrows them further (the prune filters)."""
    lines: list[tuple[str, str]] = []
    before = sum(store.blob_size(d) for d in store.list_blobs())
    for summary in images_mod.list_images(store):
        if not summary.dangling and not all_images:
            continue
        if selected is not None and not selected(summary):
            continue
        if removal.image_users(store, summary.id):
            continue
        lines += removal.remove_image(store, summary.id, force=True)
    removal.collect_garbage(store)
    after = sum(store.blob_size(d) for d in store.list_blobs())
    return lines, max(before - after, 0)
