"""`pallet builder prune`: Docker's build-cache management."""

from __future__ import annotations

import click

from pallet.base.errors import PalletError
from pallet.commands.groups import ManagementGroup
from pallet.commands.flags import size_flag
from pallet.base.humanize import human_size


@click.group("builder", cls=ManagementGroup, context_settings={"help_option_names": ["-h", "--help"]})
def builder() -> None:
    """Manage the build cache."""


@builder.command("prune")
@click.option("-a", "--all", "all_records", is_flag=True,
              help="Remove all unused build cache, not just dangling ones")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. until=24h)")
@click.option("--keep-storage", help="Amount of disk space to keep for cache")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_context
def prune(ctx: click.Context, all_records: bool, filters: tuple[str, ...],
          keep_storage: str | None, force: bool) -> None:
    """Remove build cache."""
    from pallet.builder.prune import prune_cache

    import time

    from pallet.base.units import docker_timestamp

    older_than = None
    for value in filters:
        key, _, rest = value.partition("=")
        if key != "until":
            raise PalletError(f"invalid filter {key!r}", hint="supported: until=<duration or time>")
        try:
            now = time.time()
            older_than = now - docker_timestamp(rest, now)
        except ValueError as error:
            raise PalletError(f"invalid filter 'until={rest}': {error}",
                              hint="use a duration such as 24h, or a time") from error
    if not force:
        click.confirm("WARNING! This will remove all dangling build cache. Are you sure you "
                      "want to continue?", abort=True, err=True)
    from pallet.format.progress import working
    with working("Removing build cache"):
        result = prune_cache(ctx.obj["root"], all_records=all_records, older_than_s=older_than,
                             keep_storage=size_flag(keep_storage, "--keep-storage")
                             if keep_storage else None)
    click.echo(f"Total reclaimed space: {human_size(result.reclaimed, 4)}")


@builder.command("du")
@click.pass_context
def du(ctx: click.Context) -> None:
    """Show build cache disk usage."""
    from pallet.builder.prune import cache_usage
    records, size = cache_usage(ctx.obj["root"])
    click.echo(f"Records:\t{records}")
    click.echo(f"Total:\t{human_size(size, 4)}")
