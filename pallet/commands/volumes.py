"""`volume create/ls/inspect/rm/prune`: Docker's flags, output, messages and exit codes."""

from __future__ import annotations

import sys

import click

from pallet.base.errors import PalletError
from pallet.commands.groups import ManagementGroup


class DaemonError(PalletError):
    """Printed as docker prints the daemon's refusals: "Error response from daemon: ..."."""

    bare = True

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(f"Error response from daemon: {message}", exit_code=exit_code)


def _root(ctx: click.Context):
    return ctx.obj["root"]


def _pairs(items, flag: str) -> dict:
    found = {}
    for item in items:
        key, _, value = item.partition("=")
        found[key] = value
    return found


@click.group("volume", cls=ManagementGroup)
def volume() -> None:
    """Manage volumes"""


@volume.command("create")
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option("--label", "labels", multiple=True, help="Set metadata for a volume")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options")
@click.option("--name", default=None, help="Specify volume name")
@click.argument("name_arg", metavar="[VOLUME]", required=False)
@click.pass_context
def create(ctx, driver, labels, opts, name, name_arg) -> None:
    """Create a volume"""
    from pallet.runtime.volume.store import create_volume
    if name and name_arg:
        raise PalletError("conflicting options: cannot specify a volume-name through both "
                          "--name and as a positional arg")
    try:
        made = create_volume(_root(ctx), name or name_arg, labels=_pairs(labels, "--label"),
                             driver=driver, options=_pairs(opts, "--opt"))
    except PalletError as error:
        raise DaemonError(error.message) from error
    click.echo(made.name)


def _filters(items) -> dict[str, list[str]]:
    from pallet.runtime.volume.views import InvalidFilter, check_filters
    parsed: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PalletError(f"bad format of filter (expected name=value): {item}")
        parsed.setdefault(key, []).append(value)
    try:
        return check_filters(parsed)
    except InvalidFilter as error:
        raise DaemonError(error.message) from error


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true')")
@click.option("--format", "format_", default=None, help="Format output using a custom template")
@click.pass_context
def ls(ctx, quiet, filters, format_) -> None:
    """List volumes"""
    from pallet.format.kinds import VOLUMES, listing
    from pallet.runtime.volume.store import list_volumes, volume_users
    from pallet.runtime.volume.views import matches
    wanted = _filters(filters)
    users = volume_users(_root(ctx))
    found = [v for v in list_volumes(_root(ctx)) if matches(v, users, wanted)]
    if quiet and (not format_ or format_ == "table"):
        for item in found:
            click.echo(item.name)
        return
    rows = [{"Name": v.name, "Driver": "local", "Scope": "local", "Mountpoint": str(v.data),
             "Labels": ",".join(f"{k}={val}" for k, val in sorted(v.labels.items())),
             "Links": "N/A", "Size": "N/A", "Group": "N/A", "Availability": "N/A",
             "Status": "N/A", "_labels": v.labels} for v in found]
    click.echo(listing(format_, rows, VOLUMES), nl=False)


@volume.command("inspect")
@click.option("-f", "--format", "format_", default=None, help="Format output using a custom template")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx, format_, names) -> None:
    """Display detailed information on one or more volumes"""
    from pallet.format.documents import compile_document_template, inspect_output
    from pallet.runtime.volume.store import get_volume
    if format_ and format_ != "json":
        compile_document_template(format_)
    documents, errors = [], []
    for name in names:
        try:
            documents.append(get_volume(_root(ctx), name).document())
        except PalletError as error:
            errors.append(f"Error response from daemon: {error.message}")
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    for message in errors + failures:
        click.echo(message, err=True)
    if errors or failures:
        sys.exit(1)


@volume.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm(ctx, force, names) -> None:
    """Remove one or more volumes"""
    from pallet.runtime.volume.store import remove_volume
    failed = False
    for name in names:
        try:
            remove_volume(_root(ctx), name, force=force)
            click.echo(name)
        except PalletError as error:
            click.echo(f"Error response from daemon: {error.message}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@volume.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<label>')")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_context
def prune(ctx, all_, filters, force) -> None:
    """Remove unused local volumes"""
    from pallet.commands.image_format import confirm
    from pallet.runtime.volume.store import prune_volumes
    labels, not_labels = [], []
    for item in filters:
        key, sep, value = item.partition("=")
        if key == "label":
            labels.append(value)
        elif key == "label!":
            not_labels.append(value)
        elif key == "all" and value.lower() in ("true", "1"):
            all_ = True
        else:
            raise DaemonError(f"Invalid filter '{key}'")
    warning = ("WARNING! This will remove all local volumes not used by at least one container."
               if all_ else "WARNING! This will remove anonymous local volumes not used by at "
               "least one container.")
    if not force and not confirm(warning):
        return
    removed, reclaimed = prune_volumes(_root(ctx), all_=all_, labels=tuple(labels),
                                       not_labels=tuple(not_labels))
    from pallet.format.prune import deleted, reclaimed as report_reclaimed
    deleted("Deleted Volumes:", removed)
    report_reclaimed(reclaimed)
