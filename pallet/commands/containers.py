"""Container commands: run, create, start, stop, kill, restart, rm, ps, logs, exec, wait,
export, cp, pause, unpause, top, rename, container -- Docker's flags, output and exit codes."""

from __future__ import annotations

import sys

import click

from pallet.argspec import Spec
from pallet.base.errors import PalletError
from pallet.commands.clickspec import command
from pallet.commands.container_options import CREATE_FLAGS, create_options
from pallet.commands.run_command import HELP as RUN_HELP, SPEC as RUN, foreground, run_command

CREATE = Spec(CREATE_FLAGS, interspersed=False)

NO_INTERSPERSE = {"allow_interspersed_args": False}


def _root(ctx: click.Context):
    return ctx.obj["root"]


def _collect(errors: list[PalletError], ctx: click.Context) -> None:
    """Docker runs every target, prints each failure, and exits 1 if any failed."""
    for error in errors:
        click.echo(f"Error response from daemon: {error.message}", err=True)
    if errors:
        sys.exit(1)


def _for_each(ctx: click.Context, names, action, *, echo_result: bool = False) -> None:
    """Docker's multi-target shape: run ``action(name)`` for every target and echo the name (or
    what the action returned, with ``echo_result``), then report every failure, exit 1 if any."""
    errors = []
    for name in names:
        try:
            result = action(name)
            click.echo(result if echo_result else name)
        except PalletError as error:
            errors.append(error)
    _collect(errors, ctx)


run = command("run", RUN, run_command, RUN_HELP)


def _create(root, **params) -> None:
    from pallet.runtime.container.lifecycle import create_container
    from pallet.commands.flags import create_exit_codes
    if params["detach"]:
        raise click.UsageError("unknown shorthand flag: 'd' in -d")
    with create_exit_codes():
        record = create_container(root, create_options(params))
    click.echo(record.id)


create = command("create", CREATE, _create, "Create a new container")


@click.command("start")
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def start(ctx: click.Context, attach: bool, interactive: bool, detach_keys, containers) -> None:
    """Start one or more stopped containers"""
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.monitor import start_detached
    root = _root(ctx)
    if attach or interactive:
        if len(containers) > 1:
            raise PalletError("you cannot start and attach multiple containers at once")
        record = get(root, containers[0])
        if record.state.get("Running"):
            raise PalletError(f"container {record.id} is already running")
        from pallet.commands.attach import detach_sequence
        keys = detach_sequence(detach_keys)
        sys.exit(foreground(root, record, interactive=interactive, detach_keys=keys))
    _for_each(ctx, containers, lambda name: start_detached(root, name))


@click.command("stop")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing the container")
@click.option("-s", "--signal", "sig", default=None, help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def stop(ctx: click.Context, timeout, sig, containers) -> None:
    """Stop one or more running containers"""
    from pallet.runtime.container.lifecycle import parse_signal, stop_container
    if sig is not None:
        parse_signal(sig)   # a bad signal fails before any container is touched
    _for_each(ctx, containers, lambda name: stop_container(_root(ctx), name, timeout, sig))


@click.command("kill")
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def kill(ctx: click.Context, sig: str, containers) -> None:
    """Kill one or more running containers"""
    from pallet.runtime.container.lifecycle import kill_container, parse_signal
    parse_signal(sig)
    _for_each(ctx, containers, lambda name: kill_container(_root(ctx), name, sig))


@click.command("restart")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing the container")
@click.option("-s", "--signal", "sig", default=None, help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def restart(ctx: click.Context, timeout, sig, containers) -> None:
    """Restart one or more containers"""
    from pallet.runtime.container.lifecycle import parse_signal, stop_container
    from pallet.runtime.container.monitor import start_detached
    if sig is not None:
        parse_signal(sig)

    def _one(name):
        stop_container(_root(ctx), name, timeout, sig)
        start_detached(_root(ctx), name)

    _for_each(ctx, containers, _one)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL)")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, volumes: bool, containers) -> None:
    """Remove one or more containers"""
    from pallet.runtime.container import state as cs
    from pallet.runtime.container.lifecycle import remove_container
    store = cs.ContainerStore(_root(ctx))

    def _one(name):
        remove_container(store, store.resolve(name).id, force=force, volumes=volumes)

    _for_each(ctx, containers, _one)


@click.command("wait")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait(ctx: click.Context, containers) -> None:
    """Block until one or more containers stop, then print their exit codes"""
    from pallet.runtime.container.lifecycle import wait_container
    _for_each(ctx, containers, lambda name: wait_container(_root(ctx), name), echo_result=True)


def _pause_command(name: str, paused: bool, doc: str):
    @click.command(name, help=doc)
    @click.argument("containers", nargs=-1, required=True)
    @click.pass_context
    def command(ctx: click.Context, containers) -> None:
        from pallet.runtime.container.lifecycle import set_paused
        _for_each(ctx, containers, lambda ref: set_paused(_root(ctx), ref, paused))
    return command


pause = _pause_command("pause", True, "Pause all processes within one or more containers")
unpause = _pause_command("unpause", False, "Unpause all processes within one or more containers")


@click.command("rename")
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename(ctx: click.Context, container: str, new_name: str) -> None:
    """Rename a container"""
    from pallet.runtime.container.lifecycle import rename_container
    try:
        rename_container(_root(ctx), container, new_name)
    except PalletError as error:
        raise PalletError(error.message, hint=error.hint, exit_code=1) from error


from pallet.commands.container_views import (cp, exec_, export, logs, prune, ps,  # noqa: E402
                                             top)
from pallet.commands.inspect import container_inspect  # noqa: E402


from pallet.commands.groups import ManagementGroup  # noqa: E402


@click.group("container", cls=ManagementGroup)
def container() -> None:
    """Manage containers"""


for _command, _name in ((run, "run"), (create, "create"), (start, "start"), (stop, "stop"),
                        (kill, "kill"), (restart, "restart"), (rm, "rm"), (ps, "ls"),
                        (logs, "logs"), (exec_, "exec"), (wait, "wait"), (export, "export"),
                        (cp, "cp"), (pause, "pause"), (unpause, "unpause"), (top, "top"),
                        (rename, "rename"), (prune, "prune")):
    container.add_command(_command, _name)
container.add_command(container_inspect, "inspect")

