"""GET /system/df's answer back into the library's DiskUsage (runtime/store/usage.py), so
`system df` and `system df -v` on a remote host are drawn by the local formatter
(format/disk_usage.py) with the local arithmetic (DiskUsage.totals).

    disk_usage_of(document) -> DiskUsage
"""

from __future__ import annotations

from pathlib import Path


def disk_usage_of(document: dict):
    from pallet.remote.convert import container_row, rfc3339
    from pallet.runtime.store.usage import (CacheUsage, ContainerUsage, DiskUsage, ImageUsage,
                                            VolumeUsage)
    from pallet.runtime.volume.store import Volume
    images = tuple(ImageUsage(
        id=image["Id"],
        references=tuple(image.get("RepoTags") or ()) + tuple(image.get("RepoDigests") or ()),
        created=rfc3339(image.get("Created")), size=image.get("Size") or 0,
        shared_size=max(image.get("SharedSize") or 0, 0),
        containers=max(image.get("Containers") or 0, 0))
        for image in document.get("Images") or ())
    containers = tuple(ContainerUsage(row=container_row(summary),
                                      size_rw=summary.get("SizeRw") or 0,
                                      size_root_fs=summary.get("SizeRootFs") or 0)
                       for summary in document.get("Containers") or ())
    volumes = []
    for entry in document.get("Volumes") or ():
        usage = entry.get("UsageData") or {}
        mountpoint = Path(entry.get("Mountpoint") or "/_data")
        volume = Volume(name=entry["Name"], directory=mountpoint.parent,
                        created_at=entry.get("CreatedAt") or "",
                        labels=dict(entry.get("Labels") or {}),
                        options=dict(entry.get("Options") or {}))
        # dockerd's -1: a size it did not compute; the local view has none such
        volumes.append(VolumeUsage(volume=volume, size=max(usage.get("Size") or 0, 0),
                                   ref_count=max(usage.get("RefCount") or 0, 0)))
    cache = tuple(CacheUsage(
        id=entry["ID"], type=entry.get("Type") or "", description=entry.get("Description") or "",
        size=entry.get("Size") or 0, in_use=bool(entry.get("InUse")),
        shared=bool(entry.get("Shared")), created=entry.get("CreatedAt") or "",
        last_used=entry.get("LastUsedAt") or "", usage_count=entry.get("UsageCount") or 0)
        for entry in document.get("BuildCache") or ())
    return DiskUsage(layers_size=document.get("LayersSize") or 0, images=images,
                     containers=containers, volumes=tuple(volumes), build_cache=cache)
