"""docker/cli's formatter contexts for each listing: Go type name, default table, headers.

    listing(format_, rows, kind, empty=None) -> str   rows: dicts of the context's fields; a
        "Labels" dict gives the row docker's Label method; "_json" (optional) is what {{json .}}
        encodes instead of the fields
"""

from __future__ import annotations

from pallet.format.gotemplate import GoMap, Struct
from pallet.format.listing import ListingKind, render_listing

PS = ListingKind(
    "*formatter.ContainerContext",
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
     "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
     "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
     "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS", "Platform": "PLATFORM"},
    parse_prefix="failed to parse template", exec_prefix="failed to execute template",
    validate=True)

IMAGES = ListingKind(
    "*formatter.imageContext",
    "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
     "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
     "Containers": "CONTAINERS", "VirtualSize": "SIZE", "SharedSize": "SHARED SIZE",
     "UniqueSize": "UNIQUE SIZE"})

IMAGES_DIGESTS = ListingKind(
    IMAGES.type_name,
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    IMAGES.headers)

VOLUMES = ListingKind(
    "*formatter.volumeContext", "{{.Driver}}\t{{.Name}}",
    {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
     "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Group": "GROUP",
     "Availability": "AVAILABILITY", "Status": "STATUS"})

NETWORKS = ListingKind(
    "*network.networkContext", "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
     "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"})

STATS = ListingKind(
    "*container.statsContext",
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t"
    "{{.PIDs}}",
    {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
     "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
     "BlockIO": "BLOCK I/O", "PIDs": "PIDS"})

HISTORY = ListingKind(
    "*image.historyContext",
    "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
     "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"})

CONTEXTS = ListingKind(
    "*formatter.ClientContext",
    "{{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}",
    {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT",
     "Error": "ERROR"})


def row_struct(kind: ListingKind, row: dict) -> Struct:
    fields = {k: v for k, v in row.items() if not k.startswith("_")}
    json_fields = row.get("_json", GoMap(fields))   # a context marshals as a map: keys sorted
    labels = row.get("_labels")
    if labels is not None:
        fields["Label"] = lambda name: labels.get(name, "")
    return Struct(kind.type_name, fields, json_fields)


def listing(format_: str | None, rows: list[dict], kind: ListingKind) -> str:
    """The listing's text (ending in a newline when it has lines); ListingError with docker's
    message for a bad template."""
    empty = None
    if kind.validate:
        empty = row_struct(kind, {**{k: "" for k in kind.headers}, "_labels": {}})
    return render_listing(format_, [row_struct(kind, row) for row in rows], kind, empty)
