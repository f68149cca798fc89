"""The build cache as `system df` lists it, and the whole disk-usage view both fronts show.

    cache_entries(root) -> tuple[CacheUsage, ...]
        one "regular" entry per step record (its layer blob's bytes; a record whose blob an
        earlier record already counted is "shared", as BuildKit marks content held twice),
        one "exec.cachemount" entry per RUN --mount=type=cache directory and one
        "source.local" entry per build context the API keeps (builder/keptcontext.py).
    system_usage(root, kinds=None) -> DiskUsage
        runtime.store.usage.disk_usage with these entries: what `pallet system df [-v]` formats
        and GET /system/df serialises.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pallet.base.files import tree_size
from pallet.builder.cache import CacheRecords


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cache_entries(root: Path) -> tuple:
    from pallet.runtime.store.content import Store
    from pallet.runtime.store.usage import CacheUsage
    store = Store.open(root)
    seen: set[str] = set()
    entries = []
    for path, record in CacheRecords(store):
        size, shared = 0, False
        for layer in record.layers():     # a chunked COPY's record has several
            if store.has_blob(layer.digest):
                shared = shared or layer.digest in seen
                seen.add(layer.digest)
                size += store.blob_size(layer.digest)
        used = path.stat().st_mtime        # prune's least-recently-used order reads it too
        entries.append(CacheUsage(
            id=record.key, type="regular",
            description=str(record.history.get("created_by", "")), size=size, in_use=False,
            shared=shared, created=str(record.history.get("created") or _stamp(used)),
            last_used=_stamp(used), usage_count=0))
    mounts = Path(root) / "cache" / "mounts"
    if mounts.is_dir():
        for child in sorted(mounts.iterdir()):
            made = child.stat().st_mtime
            entries.append(CacheUsage(
                id=child.name, type="exec.cachemount", description="cache mount", in_use=False,
                size=tree_size(child), shared=False, created=_stamp(made), last_used="",
                usage_count=0))
    from pallet.builder.keptcontext import kept_trees
    for kept in kept_trees(root):
        entries.append(CacheUsage(
            id=kept.name, type="source.local", description="local source for context",
            size=tree_size(kept.tree), in_use=kept.in_use, shared=False,
            created=_stamp(kept.tree.stat().st_mtime), last_used=_stamp(kept.last_used),
            usage_count=0))
    return tuple(entries)


def system_usage(root: Path, kinds: frozenset[str] | None = None):
    from pallet.runtime.store.content import Store
    from pallet.runtime.store.usage import disk_usage
    wanted = kinds is None or "build-cache" in kinds
    return disk_usage(Store.open(root), cache_entries(root) if wanted else (), kinds)
