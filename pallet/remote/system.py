"""version, info, system df/prune on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

import click

from pallet.remote import client, host


def version(ctx, format_) -> None:
    from pallet.commands.info import show_version
    api = client(ctx)
    show_version(format_, api.version(), api.api_version, host(ctx).context)


def info(ctx, format_) -> None:
    from pallet.commands.info import show_info
    show_info(format_, client(ctx).info(), host(ctx).context)


def df(ctx, verbose, format_) -> None:
    from pallet.format import disk_usage
    from pallet.remote.usage import disk_usage_of
    usage = disk_usage_of(client(ctx).df())
    if verbose:
        from pallet.commands.container_views import ps_row
        click.echo(disk_usage.verbose(usage, format_, ps_row), nl=False)
    else:
        click.echo(disk_usage.summary(usage, format_), nl=False)


def prune(ctx, all_, force) -> None:
    from pallet.commands.image_format import confirm
    warning = ("WARNING! This will remove:\n  - all stopped containers\n"
               "  - all networks not used by at least one container\n"
               f"  - all {'images without at least one container associated to them' if all_ else 'dangling images'}\n"
               f"  - all {'' if all_ else 'dangling '}build cache\n")
    if not force and not confirm(warning):
        return
    api = client(ctx)
    containers = api.prune_containers()
    networks = api.prune_networks()
    images = api.prune_images(filters={"dangling": ["false" if all_ else "true"]})
    from pallet.remote.client import post
    cache = post(api, "/build/prune", {"all": "1"} if all_ else {}).json()
    from pallet.format.prune import deleted, image_lines, reclaimed
    deleted("Deleted Containers:", containers.get("ContainersDeleted") or [])
    deleted("Deleted Networks:", networks.get("NetworksDeleted") or [])
    deleted("Deleted Images:", image_lines(images.get("ImagesDeleted") or []))
    reclaimed(sum((answer.get("SpaceReclaimed") or 0) for answer in (containers, images, cache)))
