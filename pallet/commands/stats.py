"""`stats`: live resource use of containers, docker's columns and --format."""

from __future__ import annotations

import sys
import time

import click

from pallet.base.errors import PalletError

# Seconds between the two readings a CPU percentage needs: Docker's (its collector reads every
# second). A shorter window misreads a --cpus container: the kernel hands out its quota per
# 100 ms period (cpu.max), so a 0.1 s window saw 0% or 120% of a 50% container.
WINDOW = 1.0


@click.command("stats")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("--format", "format_", default=None, help="Format output using a custom template")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.argument("containers", nargs=-1)
@click.pass_context
def stats(ctx, all_, format_, no_stream, no_trunc, containers) -> None:
    """Display a live stream of container(s) resource usage statistics"""
    from pallet.format.kinds import STATS, listing
    from pallet.format.listing import compile_listing
    # a view: the records are read, not corrected (lifecycle.refresh is for commands that
    # change state, and importing it is a third of this command's start-up)
    from pallet.runtime.container import state as cs
    from pallet.runtime.container.state import ContainerNotFound
    from pallet.runtime.container.stats import Sampler, running_now, stats_row
    root = ctx.obj["root"]
    compile_listing(format_, STATS)          # a bad template fails before anything is read
    store = cs.ContainerStore(root)
    if containers:
        chosen, failed = [], []
        for name in containers:
            try:
                chosen.append((name, store.resolve(name)))
            except PalletError as error:
                failed.append(f"Error response from daemon: {error.message}")
        if failed:
            click.echo("\n".join(failed), err=True)
            sys.exit(1)
    else:
        newest_first = sorted(store.listing(), key=lambda r: r.config.get("Created", ""),
                              reverse=True)   # docker's order (its container list's)
        chosen = [(None, r) for r in newest_first if all_ or running_now(r)]
    sampler = Sampler()
    while True:
        before = sampler.take([record for _, record in chosen])
        time.sleep(WINDOW)
        after = sampler.take([record for _, record in chosen])
        rows = []
        for (name, record), first, second in zip(chosen, before, after):
            row = stats_row(record, first, second, name)
            if no_trunc:
                row["ID"] = record.id
            rows.append(row)
        text = listing(format_, rows, STATS)
        if no_stream:
            click.echo(text, nl=False)
            return
        sys.stdout.write("\033[2J\033[H" + text)
        sys.stdout.flush()
        time.sleep(max(0.0, 1.0 - WINDOW))
        still = []
        for name, record in chosen:
            try:
                still.append((name, store.load(record.id)))
            except ContainerNotFound:
                continue  # removed meanwhile (rm, or a dead --rm container's clean-up)
        chosen = still
