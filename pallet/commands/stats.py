"""`stats`: live resource use of containers, docker's columns and --format."""

from __future__ import annotations

import sys
import time

import click

from pallet.base.errors import PalletError

# Seconds between the two readings a CPU percentage needs. A container with a CPU quota
# (--cpus) runs in bursts: the kernel hands out its quota per 100 ms period (cpu.max), and on a
# loaded host a 0.1 s window saw 0% or 120% of a 50% container; over Docker's 1 s (its collector
# reads every second) the bursts average out. Without a quota nothing is paced by periods, and
# 0.1 s reads the same as 1 s (`stats --no-stream` of 20 containers: ~0.35 s, docker's ~2 s).
WINDOW = 0.1
QUOTA_WINDOW = 1.0


def window(records) -> float:
    """The sampling window for these containers: QUOTA_WINDOW when any has a CPU quota."""
    for record in records:
        host = record.config.get("HostConfig") or {}
        if host.get("NanoCpus") or (host.get("CpuQuota") or 0) > 0:
            return QUOTA_WINDOW
    return WINDOW


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
        pause = window(record for _, record in chosen)
        before = sampler.take([record for _, record in chosen])
        time.sleep(pause)
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
        time.sleep(max(0.0, 1.0 - pause))
        still = []
        for name, record in chosen:
            try:
                still.append((name, store.load(record.id)))
            except ContainerNotFound:
                continue  # removed meanwhile (rm, or a dead --rm container's clean-up)
        chosen = still
