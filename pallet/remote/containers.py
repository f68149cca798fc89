"""Container commands on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations


import click

from pallet.base.errors import PalletError
from pallet.remote import client
from pallet.remote.convert import container_row
from pallet.remote.errors import for_each


def ps(ctx, show_all, quiet, filters, format_, no_trunc, latest, last) -> None:
    from pallet.commands.container_views import show_containers
    from pallet.commands.flags import filter_flags
    wanted = filter_flags(filters)
    limit = 1 if latest else last
    from pallet.remote.light import listing
    summaries = listing(ctx, "/containers/json",
                        {"all": 1 if show_all else 0, "limit": limit if limit > 0 else -1},
                        wanted)
    show_containers([container_row(s) for s in summaries], quiet=quiet, format_=format_,
                    no_trunc=no_trunc)


def _signal_checked(sig) -> None:
    if sig is not None:
        from pallet.runtime.container.lifecycle import parse_signal
        parse_signal(sig)   # a bad signal fails before any container is touched, as locally


def stop(ctx, timeout, sig, containers) -> None:
    _signal_checked(sig)
    api = client(ctx)
    if sig is None:
        for_each(containers, lambda name: api.stop(name, timeout=timeout))
        return
    from pallet.remote.client import post
    params = {"signal": sig} if timeout is None else {"signal": sig, "t": timeout}
    wait = (10 if timeout is None else timeout) + api.timeout
    for_each(containers, lambda name: post(api, f"/containers/{name}/stop", params, wait))


def restart(ctx, timeout, sig, containers) -> None:
    _signal_checked(sig)
    api = client(ctx)
    for_each(containers, lambda name: api.restart(name, timeout=10 if timeout is None
                                                  else timeout))


def kill(ctx, sig, containers) -> None:
    _signal_checked(sig)
    api = client(ctx)
    for_each(containers, lambda name: api.kill(name, signal=sig))


def rm(ctx, force, volumes, containers) -> None:
    api = client(ctx)
    for_each(containers, lambda name: api.remove_container(name, v=volumes, force=force))


def pause(ctx, containers) -> None:
    api = client(ctx)
    for_each(containers, api.pause)


def unpause(ctx, containers) -> None:
    api = client(ctx)
    for_each(containers, api.unpause)


def rename(ctx, container, new_name) -> None:
    client(ctx).rename(container, new_name)


def port(ctx, container, private_port) -> None:
    from pallet.runtime.network.ports import port_lines, split_proto
    document = client(ctx).inspect_container(container)
    ports = (document.get("NetworkSettings") or {}).get("Ports") or {}
    wanted = None
    if private_port is not None:
        number, proto = split_proto(private_port)
        wanted = f"{number}/{proto}"
    lines = port_lines(ports, wanted)
    if wanted is not None and not lines:
        raise PalletError(f"No public port '{private_port}' published for {container}")
    for line in lines:
        click.echo(line)


def prune(ctx, force) -> None:
    if not force and not click.confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?", default=False):
        return
    from pallet.format.prune import deleted, reclaimed
    answer = client(ctx).prune_containers()
    deleted("Deleted Containers:", answer.get("ContainersDeleted") or [])
    reclaimed(answer.get("SpaceReclaimed") or 0)


# ---- inspect (containers, images, networks, volumes) ------------------------------------------

def _lookup(api, name: str, type_):
    """docker inspect's order: container, image, network, volume (or only --type's)."""
    from docker.errors import NotFound
    kinds = [("container", api.inspect_container), ("image", api.inspect_image),
             ("network", api.inspect_network), ("volume", api.inspect_volume)]
    for kind, fetch in kinds:
        if type_ not in (None, kind):
            continue
        try:
            return fetch(name)
        except NotFound:
            continue
    return None


def inspect(ctx, format_, type_, size, names) -> None:
    from pallet.remote.documents import NotThere, show_documents

    def fetch(api, name):
        document = _lookup(api, name, type_)
        if document is None:
            raise NotThere(f"Error: No such object: {name}")
        return document
    show_documents(ctx, format_, names, fetch)


def container_inspect(ctx, format_, size, names) -> None:
    inspect(ctx, format_, "container", size, names)
