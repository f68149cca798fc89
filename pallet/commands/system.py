"""`system`: df, prune, check [--repair]. Other parts add their subcommands to this group."""

from __future__ import annotations

import click

from pallet.base.errors import PalletError


def _store(ctx: click.Context):
    from pallet.runtime.store.content import Store
    return Store.open(ctx.find_root().obj["root"])


@click.group("system")
def system():
    """Manage pallet (df, prune, check)"""


@system.command("df")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage")
@click.option("--format", "format_", default=None, help="Pretty-print images using a Go template")
@click.pass_context
def df(ctx, verbose, format_):
    """Show pallet disk usage"""
    from pallet.builder.usage import system_usage
    from pallet.format import disk_usage
    usage = system_usage(ctx.find_root().obj["root"])
    if verbose:
        from pallet.commands.container_views import ps_row
        click.echo(disk_usage.verbose(usage, format_, ps_row), nl=False)
    else:
        click.echo(disk_usage.summary(usage, format_), nl=False)


@system.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images not just dangling ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_context
def prune(ctx, all_, force):
    """Remove unused data"""
    from pallet.commands.image_format import confirm
    from pallet.runtime.store.check import prune_images
    warning = ("WARNING! This will remove:\n  - all stopped containers\n"
               "  - all networks not used by at least one container\n"
               f"  - all {'images without at least one container associated to them' if all_ else 'dangling images'}\n"
               f"  - all {'' if all_ else 'dangling '}build cache\n")
    if not force and not confirm(warning):
        return
    # Docker's order: containers first, so the networks and images they held become prunable.
    from pallet.base.progress import State
    from pallet.builder.prune import prune_cache
    from pallet.format import prune as report
    from pallet.format.progress import working
    from pallet.runtime.container.lifecycle import prune_containers
    from pallet.runtime.network.networks import prune_networks
    with working("Removing stopped containers") as shown:
        removed_containers = prune_containers(ctx.obj["root"])
        shown.emit(State("", "Removing unused networks"))
        removed_networks = prune_networks(ctx.obj["root"])
        shown.emit(State("", "Removing unused images and their layers"))
        removed_images, reclaimed = prune_images(_store(ctx), all_images=all_)
        shown.emit(State("", "Removing build cache"))
        # Like `docker system prune`: dangling build cache only, all of it with -a.
        cache = prune_cache(ctx.obj["root"], all_records=all_, older_than_s=None,
                            keep_storage=None)
    report.deleted("Deleted Containers:", removed_containers)
    report.deleted("Deleted Networks:", removed_networks)
    report.deleted("Deleted Images:", report.image_lines(removed_images))
    report.reclaimed(reclaimed + cache.reclaimed)


@system.command("check")
@click.option("--repair", is_flag=True, help="Drop broken references and blobs, remove leftovers")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems")
@click.pass_context
def check(ctx, repair, quiet):
    """Verify every blob's digest and every reference in the store"""
    from pallet.format.progress import working
    from pallet.runtime.store.check import check_store
    with working("Verifying every blob and reference in the store"):
        report = check_store(_store(ctx), repair=repair)
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    if not quiet:
        for item in report.garbage:
            click.echo(f"leftover: {item}")
        for item in report.repaired:
            click.echo(f"repaired: {item}")
        click.echo(f"checked {report.blobs} blobs and {report.images} references: "
                   f"{len(report.problems)} problem(s), {len(report.garbage)} leftover(s)")
    if report.problems and not repair:
        raise PalletError(f"the store has {len(report.problems)} problem(s)",
                          hint="run `pallet system check --repair` to drop what is broken")


@system.command("dial-stdio")
@click.pass_context
def dial_stdio(ctx):
    """Proxy the stdio stream to the local pallet serve socket (the host side of ssh://)"""
    from pallet.remote.dialstdio import dial_stdio as run, socket_path
    run(socket_path(tuple(ctx.find_root().params.get("hosts") or ())))
