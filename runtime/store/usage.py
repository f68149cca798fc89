"""The engine's disk usage (`system df`, GET /system/df): one typed view both fronts share.

    disk_usage(store, build_cache=(), kinds=None) -> DiskUsage
        images, containers, local volumes, with the sizes dockerd reports for them; the build
        cache entries come from the caller (the builder owns their format: builder/usage.py
        makes the whole view). kinds narrows what is computed (the API's type=).
    DiskUsage.totals() -> tuple[UsageTotal, ...]
        the four summary rows as docker's CLI computes them (formatter/disk_usage.go):
        active images are those with containers, and their reclaimable space is the layers'
        total minus the unique size of the active images; active containers are running,
        paused or restarting ones; active volumes have a container; build cache sizes leave out
        shared entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from pallet.base.errors import PalletError
from pallet.base.files import tree_size

KINDS = ("image", "container", "volume", "build-cache")


@dataclass(frozen=True)
class ImageUsage:
    id: str
    references: tuple[str, ...]     # full references, as ImageSummary holds them
    created: str                    # RFC 3339
    size: int                       # the content of all its layers
    shared_size: int                # of its layers that another image also has
    containers: int                 # containers (any state) made from it

    @property
    def unique_size(self) -> int:
        return self.size - self.shared_size


@dataclass(frozen=True)
class ContainerUsage:
    row: object                     # runtime.container.views.ContainerRow
    size_rw: int                    # its own files (the overlay's upper directory)
    size_root_fs: int               # its image's too

    @property
    def active(self) -> bool:
        return self.row.state in ("running", "paused", "restarting")


@dataclass(frozen=True)
class VolumeUsage:
    volume: object                  # runtime.volume.store.Volume
    size: int
    ref_count: int                  # containers (any state) that mount it


@dataclass(frozen=True)
class CacheUsage:
    id: str
    type: str                       # BuildKit's record types: "regular", "exec.cachemount"
    description: str
    size: int
    in_use: bool
    shared: bool                    # its content is counted by another entry
    created: str                    # RFC 3339
    last_used: str                  # RFC 3339, "" when unknown
    usage_count: int


@dataclass(frozen=True)
class UsageTotal:
    kind: str                       # "Images", "Containers", "Local Volumes", "Build Cache"
    total: int
    active: int
    size: int
    reclaimable: int
    percent: bool                   # docker prints "(N%)" after the reclaimable size


@dataclass(frozen=True)
class DiskUsage:
    layers_size: int                # every layer once, however many images share it
    images: tuple[ImageUsage, ...] = ()
    containers: tuple[ContainerUsage, ...] = ()
    volumes: tuple[VolumeUsage, ...] = ()
    build_cache: tuple[CacheUsage, ...] = ()

    @property
    def build_cache_size(self) -> int:
        return sum(entry.size for entry in self.build_cache if not entry.shared)

    def totals(self) -> tuple[UsageTotal, ...]:
        used = sum(i.unique_size for i in self.images if i.containers)
        container_size = sum(c.size_rw for c in self.containers)
        volume_size = sum(v.size for v in self.volumes)
        in_use = sum(e.size for e in self.build_cache if e.in_use and not e.shared)
        return (
            UsageTotal("Images", len(self.images), sum(1 for i in self.images if i.containers),
                       self.layers_size, self.layers_size - used, True),
            UsageTotal("Containers", len(self.containers),
                       sum(1 for c in self.containers if c.active), container_size,
                       sum(c.size_rw for c in self.containers if not c.active), True),
            UsageTotal("Local Volumes", len(self.volumes),
                       sum(1 for v in self.volumes if v.ref_count), volume_size,
                       sum(v.size for v in self.volumes if not v.ref_count), True),
            UsageTotal("Build Cache", len(self.build_cache),
                       sum(1 for e in self.build_cache if e.in_use), self.build_cache_size,
                       self.build_cache_size - in_use, False),
        )


def disk_usage(store, build_cache: tuple[CacheUsage, ...] = (),
               kinds: frozenset[str] | None = None) -> DiskUsage:
    from pallet.runtime.container.views import container_rows
    wanted = frozenset(KINDS) if kinds is None else kinds
    need_rows = bool(wanted & {"image", "container"})
    rows = container_rows(store.root, all_=True) if need_rows else []
    layers_size, images = _images(store, rows) if "image" in wanted else (0, ())
    return DiskUsage(
        layers_size=layers_size, images=images,
        containers=_containers(store, rows) if "container" in wanted else (),
        volumes=_volumes(store.root) if "volume" in wanted else (),
        build_cache=tuple(build_cache) if "build-cache" in wanted else ())


def _images(store, rows) -> tuple[int, tuple[ImageUsage, ...]]:
    from pallet.runtime.image import images as images_mod
    from pallet.runtime.store.layerinfo import layer_content_size
    layer_bytes: dict[str, int] = {}
    layers_of: dict[str, list[str]] = {}
    summaries = images_mod.list_images(store)
    for summary in summaries:
        try:
            image = images_mod.image_by_manifest(store, summary.manifest_digest)
        except PalletError:
            continue      # unreadable: system check's business, not df's
        for descriptor, diff_id in zip(image.layers, image.diff_ids):
            known = layer_content_size(store, diff_id)
            layer_bytes[diff_id] = known if known is not None else descriptor.size
        layers_of[summary.id] = list(dict.fromkeys(image.diff_ids))
    holders: dict[str, int] = {}
    for diff_ids in layers_of.values():
        for diff_id in diff_ids:
            holders[diff_id] = holders.get(diff_id, 0) + 1
    images = []
    for summary in summaries:
        shared = sum(layer_bytes[d] for d in layers_of.get(summary.id, ()) if holders[d] > 1)
        images.append(ImageUsage(
            id=summary.id, references=summary.references, created=summary.created,
            size=summary.size, shared_size=shared,
            containers=sum(1 for row in rows if row.image_id == summary.id)))
    return sum(layer_bytes.values()), tuple(images)


def _containers(store, rows) -> tuple[ContainerUsage, ...]:
    from pallet.runtime.image.images import list_images
    sizes = {summary.id: summary.size for summary in list_images(store)} if rows else {}
    found = []
    for row in rows:
        own = tree_size(store.root / "containers" / row.id / "upper")
        found.append(ContainerUsage(row, own, own + sizes.get(row.image_id, 0)))
    return tuple(found)


def _volumes(root) -> tuple[VolumeUsage, ...]:
    from pallet.runtime.volume.store import list_volumes, volume_users
    users = volume_users(root)
    return tuple(VolumeUsage(volume, tree_size(volume.data), len(users.get(volume.name, [])))
                 for volume in list_volumes(root))
