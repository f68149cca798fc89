"""`pallet builder prune`: Docker's build-cache management."""

from __future__ import annotations

import re

import click

from pallet.base.errors import PalletError

UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
         "gb": 1000**3, "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2,
         "gi": 1024**3, "gib": 1024**3}
DURATION = {"s": 1, "m": 60, "h": 3600}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in UNITS:
        raise PalletError(f"invalid size: {text!r}", hint="use e.g. 512MB or 2GB")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def parse_until(text: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise PalletError(f"invalid duration in filter until={text}", hint="use e.g. 24h or 90m")
    return sum(float(a) * DURATION[b] for a, b in parts)


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.4g}{unit}"
        size /= 1000
    return f"{size}B"


@click.group("builder", context_settings={"help_option_names": ["-h", "--help"]})
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

    older_than = None
    for value in filters:
        key, _, rest = value.partition("=")
        if key != "until":
            raise PalletError(f"invalid filter {key!r}", hint="supported: until=<duration>")
        older_than = parse_until(rest)
    if not force:
        click.confirm("WARNING! This will remove all dangling build cache. Are you sure you "
                      "want to continue?", abort=True, err=True)
    result = prune_cache(ctx.obj["root"], all_records=all_records, older_than_s=older_than,
                         keep_storage=parse_size(keep_storage) if keep_storage else None)
    click.echo(f"Total reclaimed space: {human_size(result.reclaimed)}")


@builder.command("du")
@click.pass_context
def du(ctx: click.Context) -> None:
    """Show build cache disk usage."""
    from pallet.builder.prune import cache_usage
    records, size = cache_usage(ctx.obj["root"])
    click.echo(f"Records:\t{records}")
    click.echo(f"Total:\t{human_size(size)}")
