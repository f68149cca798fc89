"""version, info, system df/prune on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

from dataclasses import dataclass

import click

from pallet.base.errors import PalletError
from pallet.remote import client, host


def version(ctx, format_) -> None:
    from pallet.commands.info import show_version
    api = client(ctx)
    show_version(format_, api.version(), api.api_version, host(ctx).context)


def info(ctx, format_) -> None:
    from pallet.commands.info import show_info
    show_info(format_, client(ctx).info(), host(ctx).context)


@dataclass(frozen=True)
class RemoteUsage:
    """GET /system/df's answer with the totals() the local summary renders (the docker CLI's
    own arithmetic over the same fields)."""

    document: dict

    def totals(self):
        from pallet.runtime.store.usage import UsageTotal
        images = self.document.get("Images") or []
        containers = self.document.get("Containers") or []
        volumes = self.document.get("Volumes") or []
        cache = self.document.get("BuildCache") or []
        layers = self.document.get("LayersSize") or 0
        used = sum((i.get("Size") or 0) - max(i.get("SharedSize") or 0, 0)
                   for i in images if (i.get("Containers") or 0) > 0)
        running = [c for c in containers if c.get("State") in ("running", "paused",
                                                                 "restarting")]
        container_size = sum(c.get("SizeRw") or 0 for c in containers)
        volume_sizes = [((v.get("UsageData") or {}).get("Size") or 0,
                         (v.get("UsageData") or {}).get("RefCount") or 0) for v in volumes]
        cache_size = sum(e.get("Size") or 0 for e in cache if not e.get("Shared"))
        cache_in_use = sum(e.get("Size") or 0 for e in cache
                           if e.get("InUse") and not e.get("Shared"))
        return (
            UsageTotal("Images", len(images),
                       sum(1 for i in images if (i.get("Containers") or 0) > 0), layers,
                       max(layers - used, 0), True),
            UsageTotal("Containers", len(containers), len(running), container_size,
                       sum(c.get("SizeRw") or 0 for c in containers if c not in running), True),
            UsageTotal("Local Volumes", len(volumes), sum(1 for _, refs in volume_sizes if refs),
                       sum(size for size, _ in volume_sizes if size > 0),
                       sum(size for size, refs in volume_sizes if not refs and size > 0), True),
            UsageTotal("Build Cache", len(cache), sum(1 for e in cache if e.get("InUse")),
                       cache_size, cache_size - cache_in_use, False),
        )


def df(ctx, verbose, format_) -> None:
    from pallet.format import disk_usage
    if verbose:
        raise PalletError("`pallet system df -v` is not supported on a remote host yet",
                          hint="`pallet system df` prints the summary")
    click.echo(disk_usage.summary(RemoteUsage(client(ctx).df()), format_), nl=False)


def prune(ctx, all_, force) -> None:
    from pallet.commands.image_format import confirm, human_size
    warning = ("WARNING! This will remove:\n  - all stopped containers\n"
               "  - all networks not used by at least one container\n"
               f"  - all {'images without at least one container associated to them' if all_ else 'dangling images'}\n"
               "  - all dangling build cache\n")
    if not force and not confirm(warning):
        return
    api = client(ctx)
    containers = api.prune_containers()
    networks = api.prune_networks()
    images = api.prune_images(filters={"dangling": ["false" if all_ else "true"]})
    from pallet.remote.client import post
    cache = post(api, "/build/prune", {"all": "1"} if all_ else {}).json()
    if containers.get("ContainersDeleted"):
        click.echo("Deleted Containers:")
        for container_id in containers["ContainersDeleted"]:
            click.echo(container_id)
        click.echo("")
    if networks.get("NetworksDeleted"):
        click.echo("Deleted Networks:")
        for name in networks["NetworksDeleted"]:
            click.echo(name)
        click.echo("")
    if images.get("ImagesDeleted"):
        click.echo("Deleted Images:")
        for entry in images["ImagesDeleted"]:
            for action, subject in entry.items():
                click.echo(f"{action.lower()}: {subject}")
        click.echo("")
    reclaimed = sum((answer.get("SpaceReclaimed") or 0) for answer in (containers, images, cache))
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")
