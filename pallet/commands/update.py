"""`update`: change a container's resource limits and restart policy, as docker update."""

from __future__ import annotations

import os
import sys

import click

from pallet.base.errors import PalletError


class BareError(PalletError):
    bare = True


@click.command("update")
@click.option("-m", "--memory", default=None, help="Memory limit")
@click.option("--memory-swap", default=None, help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
@click.option("--cpus", default=None, help="Number of CPUs")
@click.option("--pids-limit", default=None, help="Tune container pids limit (set -1 for unlimited)")
@click.option("--restart", default=None, help="Restart policy to apply when a container exits")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def update(ctx, memory, memory_swap, cpus, pids_limit, restart, containers) -> None:
    """Update configuration of one or more containers"""
    from pallet.base.units import parse_size
    from pallet.runtime.container.update import update_container
    if all(v is None for v in (memory, memory_swap, cpus, pids_limit, restart)):
        raise BareError("you must provide one or more flags when using this command")

    def size(text, flag):
        if text is None:
            return None
        if text == "-1":
            return -1
        try:
            return parse_size(text)
        except ValueError:
            raise PalletError(f'invalid argument "{text}" for "{flag}" flag: invalid size: '
                              f"'{text}'") from None

    memory_bytes = size(memory, "-m, --memory")
    swap_bytes = size(memory_swap, "--memory-swap")
    if memory_bytes is not None and 0 < memory_bytes < 6 * 1024 * 1024:
        raise BareError("Error response from daemon: Minimum memory limit allowed is 6MB")
    cpu_count = None
    if cpus is not None:
        try:
            cpu_count = float(cpus)
        except ValueError:
            raise PalletError(f'invalid argument "{cpus}" for "--cpus" flag: failed to parse '
                              f"{cpus} as a rational number") from None
        available = os.cpu_count() or 1
        if cpu_count < 0 or cpu_count > available:
            raise BareError(f"Error response from daemon: Range of CPUs is from 0.01 to "
                            f"{available:.2f}, as there are only {available} CPUs available")
    pids = None
    if pids_limit is not None:
        try:
            pids = int(pids_limit, 0)
        except ValueError:
            raise PalletError(f'invalid argument "{pids_limit}" for "--pids-limit" flag: '
                              f'strconv.ParseInt: parsing "{pids_limit}": invalid syntax') from None
    failed = False
    for name in containers:
        try:
            update_container(ctx.obj["root"], name, memory=memory_bytes, memory_swap=swap_bytes,
                             cpus=cpu_count, pids=pids, restart=restart)
            click.echo(name)
        except PalletError as error:
            click.echo(f"Error response from daemon: {error.message}", err=True)
            failed = True
    if failed:
        sys.exit(1)
