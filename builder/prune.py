"""Bound the build cache: remove records and the layer blobs only they kept alive.

A layer blob is deleted only when no image in the store and no remaining record uses it, so
pruning never breaks an image and never leaves a record pointing at a missing layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pallet.base.files import remove_tree, tree_size
from pallet.builder.cache import CacheRecords


@dataclass(frozen=True)
class PruneResult:
    """What `builder prune` removed."""

    records: int
    reclaimed: int  # bytes


def cache_usage(root: Path) -> tuple[int, int]:
    """(number of cache entries, their bytes): step records with the layer blobs they reference
    (each blob counted once), plus every RUN --mount=type=cache directory with its content, as
    BuildKit lists its exec.cachemount records among the build cache."""
    from pallet.builder.usage import cache_entries
    entries = cache_entries(root)
    return len(entries), sum(entry.size for entry in entries if not entry.shared)


def prune_cache(root: Path, *, all_records: bool, older_than_s: float | None,
                keep_storage: int | None) -> PruneResult:
    from pallet.runtime.image.removal import live_content
    from pallet.runtime.store.content import Store

    store = Store.open(root)
    records = CacheRecords(store)
    entries = sorted(records, key=lambda item: item[0].stat().st_mtime)  # least recently used first
    now = time.time()
    doomed = []
    kept = []
    for path, record in entries:
        age = now - path.stat().st_mtime
        dangling = any(not store.has_blob(layer.digest) for layer in record.layers())
        if all_records and older_than_s is None and keep_storage is None:
            doomed.append((path, record))
        elif older_than_s is not None and age >= older_than_s:
            doomed.append((path, record))
        elif dangling:
            doomed.append((path, record))
        else:
            kept.append((path, record))
    if keep_storage is not None:
        def size_of(items):
            digests = {layer.digest for _, r in items for layer in r.layers()
                       if store.has_blob(layer.digest)}
            return sum(store.blob_size(d) for d in digests)
        while kept and size_of(kept) > keep_storage:
            doomed.append(kept.pop(0))
    reclaimed = 0
    # The gc lock waits for builds (they hold a lease from a cache hit until the image that
    # reuses the layer is committed), as garbage collection does.
    with store.gc_lock(), store.lock():
        for _, record in doomed:
            records.remove(record.key)
        records.reconcile()
        # What images, containers and the remaining records' roots still keep.
        live_blobs, live_diff_ids = live_content(store)
        for _, record in doomed:
            for layer in record.layers():
                if layer.digest in live_blobs:
                    continue
                if store.has_blob(layer.digest):
                    reclaimed += store.blob_size(layer.digest)
                    store.delete_blob(layer.digest)
                layer_dir = store.layers / layer.diff_id.split(":", 1)[1]
                if layer.diff_id not in live_diff_ids and layer_dir.is_dir():
                    store.remove_tree(layer_dir)
                live_blobs.add(layer.digest)  # deleted once
    if all_records:
        mounts = root / "cache" / "mounts"
        if mounts.is_dir():
            for child in mounts.iterdir():
                reclaimed += tree_size(child)
                remove_tree(child, ignore_errors=True)
        # the API's kept build contexts (BuildKit prunes its kept local sources alike)
        from pallet.builder.keptcontext import kept_dir, remove_all
        kept = kept_dir(root)
        if kept.is_dir():
            size = tree_size(kept)
            remove_all(root)
            reclaimed += size - tree_size(kept)
    return PruneResult(records=len(doomed), reclaimed=reclaimed)
