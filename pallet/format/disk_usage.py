"""docker/cli's formatter for `system df` (formatter/disk_usage.go, 20.10): the summary table,
`-v`'s four tables, and `--format` over either.

    summary(usage, format_) -> str      one row per kind (Type, TotalCount, Active, Size,
                                        Reclaimable); "json" and templates run per row
    verbose(usage, format_, container_row) -> str
                                        "Images space usage:" ... the four tables; "json" is one
                                        document of the four lists; another template runs once
                                        over *formatter.diskUsageContext
container_row is the CLI's ps row maker (its columns are ps's), passed in so that this module
does not reach into the commands.
"""

from __future__ import annotations

from pallet.base.humanize import human_size
from pallet.format import kinds
from pallet.format.gotemplate import GoMap, Struct, TemplateError, parse
from pallet.format.gotemplate.builtins import go_json_text
from pallet.format.listing import ListingError, ListingKind, render_listing

SUMMARY = ListingKind(
    "*formatter.diskUsageImagesContext",
    "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
     "Reclaimable": "RECLAIMABLE"})
SUMMARY_TYPES = {"Images": "*formatter.diskUsageImagesContext",
                 "Containers": "*formatter.diskUsageContainersContext",
                 "Local Volumes": "*formatter.diskUsageVolumesContext",
                 "Build Cache": "*formatter.diskUsageBuilderContext"}

# -v's tables: docker's image, container and volume contexts (their headers), other columns
IMAGES = ListingKind(
    kinds.IMAGES.type_name,
    "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t"
    "{{.UniqueSize}}\t{{.Containers}}", kinds.IMAGES.headers)
CONTAINERS = ListingKind(
    kinds.PS.type_name,
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t"
    "{{.Status}}\t{{.Names}}", kinds.PS.headers)
VOLUMES = ListingKind(kinds.VOLUMES.type_name, "{{.Name}}\t{{.Links}}\t{{.Size}}",
                      kinds.VOLUMES.headers)
BUILD_CACHE = ListingKind(
    "*formatter.buildCacheContext",
    "{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t"
    "{{.UsageCount}}\t{{.Shared}}",
    {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
     "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED",
     "Description": "DESCRIPTION", "CreatedAt": "CREATED AT", "LastUsedAt": "LAST USED AT",
     "InUse": "IN USE", "Parent": "PARENT"})


def _struct(type_name: str, fields: dict) -> Struct:
    return Struct(type_name, fields, GoMap(fields))


def _reclaimable(total) -> str:
    text = human_size(total.reclaimable, 4)
    if total.percent and total.size > 0:
        text += f" ({total.reclaimable * 100 // total.size}%)"
    return text


def summary(usage, format_: str | None) -> str:
    rows = [_struct(SUMMARY_TYPES[t.kind], {
        "Type": t.kind, "TotalCount": str(t.total), "Active": str(t.active),
        "Size": human_size(t.size, 4), "Reclaimable": _reclaimable(t)})
        for t in usage.totals()]
    return render_listing(format_, rows, SUMMARY)


def _ago(stamp: str) -> str:
    import time
    from pallet.base.humanize import human_duration
    from pallet.base.units import parse_rfc3339
    moment = parse_rfc3339(stamp) if stamp else None
    if moment is None:
        return ""
    return human_duration(max(time.time() - moment.timestamp(), 0)) + " ago"


def _go_time(stamp: str) -> str:
    from pallet.base.units import parse_rfc3339
    moment = parse_rfc3339(stamp) if stamp else None
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC") if moment else ""


def _image_fields(image, trunc: bool) -> dict:
    from pallet.runtime.store.references import familiar_string
    repository, tag = "<none>", "<none>"
    tags = [name for name in image.references if "@" not in name]
    if tags:   # docker shows the first tag only
        repository, _, tag = familiar_string(tags[0]).rpartition(":")
    return {"Containers": str(image.containers), "CreatedAt": _go_time(image.created),
            "CreatedSince": _ago(image.created), "Digest": "",
            "ID": image.id.split(":", 1)[-1][:12] if trunc else image.id,
            "Repository": repository, "SharedSize": human_size(image.shared_size, 4),
            "Size": human_size(image.size), "Tag": tag,
            "UniqueSize": human_size(image.unique_size, 4),
            "VirtualSize": human_size(image.size, 4)}


def _container_fields(container, trunc: bool, container_row) -> dict:
    fields = container_row(container.row, not trunc)
    fields.pop("_labels", None)
    # docker's df blanks the virtual size: the column is the container's own bytes
    fields.update(Size=human_size(container.size_rw), Platform=None)
    return fields


def _volume_fields(entry) -> dict:
    volume = entry.volume
    return {"Availability": "N/A", "Driver": "local", "Group": "N/A",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(volume.labels.items())),
            "Links": str(entry.ref_count), "Mountpoint": str(volume.data), "Name": volume.name,
            "Scope": "local", "Size": human_size(entry.size, 4), "Status": "N/A"}


def _cache_fields(entry, trunc: bool) -> dict:
    return {"CacheType": entry.type, "CreatedAt": _go_time(entry.created),
            "CreatedSince": _ago(entry.created), "Description": entry.description,
            "ID": (entry.id[:12] if trunc else entry.id) + ("*" if entry.in_use else ""),
            "InUse": "true" if entry.in_use else "false", "LastUsedAt": _go_time(entry.last_used),
            "LastUsedSince": _ago(entry.last_used), "Parent": "",
            "Shared": "true" if entry.shared else "false", "Size": human_size(entry.size),
            "UsageCount": str(entry.usage_count)}


def verbose(usage, format_: str | None, container_row) -> str:
    if format_ == "json":
        return go_json_text({
            "Images": [GoMap(_image_fields(i, False)) for i in usage.images],
            "Containers": [GoMap(_container_fields(c, False, container_row))
                           for c in usage.containers],
            "Volumes": [GoMap(_volume_fields(v)) for v in usage.volumes],
            "BuildCache": [GoMap(_cache_fields(e, False)) for e in usage.build_cache],
        }, escape_html=True) + "\n"
    tables = {
        "Images": render_listing("table", [_struct(IMAGES.type_name, _image_fields(i, True))
                                           for i in usage.images], IMAGES),
        "Containers": render_listing("table", [
            _struct(CONTAINERS.type_name, _container_fields(c, True, container_row))
            for c in usage.containers], CONTAINERS),
        "Volumes": render_listing("table", [_struct(VOLUMES.type_name, _volume_fields(v))
                                            for v in usage.volumes], VOLUMES),
        "BuildCache": render_listing("table", [
            _struct(BUILD_CACHE.type_name, _cache_fields(e, True)) for e in usage.build_cache],
            BUILD_CACHE),
    }
    if format_ and format_ != "table":
        context = Struct("*formatter.diskUsageContext",
                         {**tables, "BuilderSize": human_size(usage.build_cache_size, 4)})
        try:
            return parse(format_.replace("\\t", "\t").replace("\\n", "\n")).execute(context) \
                + "\n"
        except TemplateError as error:
            raise ListingError(error.message) from None
    return (f"Images space usage:\n\n{tables['Images']}\n"
            f"Containers space usage:\n\n{tables['Containers']}\n"
            f"Local Volumes space usage:\n\n{tables['Volumes']}\n"
            f"Build cache usage: {human_size(usage.build_cache_size, 4)}\n\n"
            f"{tables['BuildCache']}")
