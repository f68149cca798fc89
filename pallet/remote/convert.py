"""The Engine API's Docker-shaped JSON back into the library's rows, so a remote command renders
with the local command's own code (ps, images).

    container_row(summary) -> runtime.container.views.ContainerRow   GET /containers/json item
    image_rows(summary)    -> [runtime.image.views.ImageRow]         GET /images/json item
    rfc3339(unix_seconds)  -> str
"""

from __future__ import annotations

from datetime import datetime, timezone


def rfc3339(unix_seconds) -> str:
    if not unix_seconds:
        return ""
    moment = datetime.fromtimestamp(int(unix_seconds), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ports(entries) -> dict:
    """ContainerSummary.Ports (a list) back into NetworkSettings.Ports (what ps renders)."""
    ports: dict[str, list | None] = {}
    for entry in entries or ():
        key = f"{entry['PrivatePort']}/{entry.get('Type', 'tcp')}"
        if entry.get("PublicPort"):
            bindings = ports.get(key) or []
            bindings.append({"HostIp": entry.get("IP", ""), "HostPort": str(entry["PublicPort"])})
            ports[key] = bindings
        else:
            ports.setdefault(key, None)
    return ports


def container_row(summary: dict):
    from pallet.runtime.container.views import ContainerRow
    mounts = summary.get("Mounts") or []
    names = summary.get("Names") or [""]
    return ContainerRow(
        id=summary["Id"], name=names[0].lstrip("/"), image=summary.get("Image", ""),
        image_id=summary.get("ImageID", ""), command=summary.get("Command", ""),
        created=rfc3339(summary.get("Created")), state=summary.get("State", ""),
        status=summary.get("Status", ""), labels=dict(summary.get("Labels") or {}),
        mounts=tuple(m.get("Name") or m.get("Source", "") for m in mounts),
        local_volumes=sum(1 for m in mounts if m.get("Type") == "volume"),
        network=(summary.get("HostConfig") or {}).get("NetworkMode", ""),
        mount_points=tuple(mounts),
        networks=dict((summary.get("NetworkSettings") or {}).get("Networks") or {}),
        health=summary.get("Health"), ports=_ports(summary.get("Ports")))


def image_rows(summary: dict) -> list:
    """docker/cli's rows for one image: one per tag, then one per digest-only repository, or a
    dangling "<none>" row (the same split runtime.image.views.image_rows makes)."""
    from pallet.runtime.image.views import ImageRow
    digests: dict[str, str] = {}
    for name in summary.get("RepoDigests") or ():
        repository, _, digest = name.partition("@")
        digests.setdefault(repository, digest)
    pairs = [tuple(tag.rsplit(":", 1)) for tag in summary.get("RepoTags") or ()
             if tag != "<none>:<none>"]
    tagged = {repository for repository, _ in pairs}
    pairs += [(repository, "<none>") for repository in digests if repository not in tagged]
    if not pairs:
        pairs = [("<none>", "<none>")]
    size = summary.get("Size") or summary.get("VirtualSize") or 0
    return [ImageRow(repository=repository, tag=tag, id=summary["Id"],
                     digest=digests.get(repository, "<none>"),
                     created=rfc3339(summary.get("Created")), size=size)
            for repository, tag in pairs]
