"""volume commands on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

import sys

import click

from pallet.base.errors import PalletError
from pallet.remote import client
from pallet.remote.errors import daemon_error


def _pairs(items, flag: str) -> dict:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PalletError(f'invalid argument "{item}" for "{flag}" flag: expected KEY=VALUE',
                              exit_code=125)
        pairs[key] = value
    return pairs


def create(ctx, driver, labels, opts, name, name_arg) -> None:
    if name and name_arg:
        raise PalletError("conflicting options: cannot specify a volume-name through both "
                          "--name and as a positional arg")
    made = client(ctx).create_volume(name=name or name_arg, driver=driver,
                                     driver_opts=_pairs(opts, "--opt") or None,
                                     labels=_pairs(labels, "--label") or None)
    click.echo(made["Name"])


def ls(ctx, quiet, filters, format_) -> None:
    from pallet.commands.flags import filter_flags
    from pallet.format.kinds import VOLUMES, listing
    from pallet.remote import light
    answer = light.listing(ctx, "/volumes", {}, filter_flags(filters))
    found = sorted(answer.get("Volumes") or [], key=lambda v: v.get("Name", ""))
    if quiet and (not format_ or format_ == "table"):
        for item in found:
            click.echo(item["Name"])
        return
    rows = []
    for item in found:
        labels = item.get("Labels") or {}
        rows.append({"Name": item["Name"], "Driver": item.get("Driver", "local"),
                     "Scope": item.get("Scope", "local"), "Mountpoint": item.get("Mountpoint", ""),
                     "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
                     "Links": "N/A", "Size": "N/A", "Group": "N/A", "Availability": "N/A",
                     "Status": "N/A", "_labels": labels})
    click.echo(listing(format_, rows, VOLUMES), nl=False)


def inspect(ctx, format_, names) -> None:
    from docker.errors import NotFound
    from pallet.remote.documents import NotThere, show_documents

    def fetch(api, name):
        try:
            return api.inspect_volume(name)
        except NotFound as error:
            raise NotThere(daemon_error(error).message) from error
    show_documents(ctx, format_, names, fetch)


def rm(ctx, force, names) -> None:
    from docker.errors import APIError
    api = client(ctx)
    failed = False
    for name in names:
        try:
            api.remove_volume(name, force=force)
            click.echo(name)
        except APIError as error:
            click.echo(daemon_error(error).message, err=True)
            failed = True
    if failed:
        sys.exit(1)


def prune(ctx, all_, filters, force) -> None:
    from pallet.commands.flags import filter_flags
    from pallet.commands.image_format import confirm
    wanted = filter_flags(filters)
    if all_:
        wanted["all"] = ["true"]
    everything = wanted.get("all", [""])[-1].lower() in ("true", "1")
    warning = ("WARNING! This will remove all local volumes not used by at least one container."
               if everything else "WARNING! This will remove anonymous local volumes not used "
               "by at least one container.")
    if not force and not confirm(warning):
        return
    answer = client(ctx).prune_volumes(filters=wanted or None)
    from pallet.format.prune import deleted, reclaimed
    deleted("Deleted Volumes:", answer.get("VolumesDeleted") or [])
    reclaimed(answer.get("SpaceReclaimed") or 0)
