"""Container commands: run, create, start, stop, kill, restart, rm, ps, logs, exec, wait,
export, cp, pause, unpause, top, rename, container -- Docker's flags, output and exit codes."""

from __future__ import annotations

import os
import signal
import sys

import click

from pallet.commands.container_options import create_options, run_options
from pallet.base.errors import PalletError

NO_INTERSPERSE = {"allow_interspersed_args": False}


def _root(ctx: click.Context):
    return ctx.obj["root"]


def _write_all(fd: int):
    from pallet.base.fdio import write_all
    return lambda chunk: write_all(fd, chunk, reader_gone=True)


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


def _foreground(root, record, *, interactive: bool, detach_keys: bytes | None = None) -> int:
    """Run (already created) record attached to our terminal; return its exit code."""
    from pallet.runtime.container import state as cs
    from pallet.runtime.container.monitor import Attach, supervise

    store = cs.ContainerStore(root)
    tty = record.config["Config"]["Tty"]
    stdin = 0 if interactive else None
    if tty and interactive and not os.isatty(0):
        raise PalletError("the input device is not a TTY", exit_code=1)
    if tty and interactive:
        # the detach keys can leave it running: the monitor must not be this process
        from pallet.commands.attach import DEFAULT_KEYS, detach_sequence, run_attached
        return run_attached(root, record, detach_keys or detach_sequence(DEFAULT_KEYS))
    attach = Attach(stdin=stdin, stdout=_write_all(1), stderr=_write_all(2))
    from pallet.runtime.store.events import container_event
    container_event(root, record, "attach")   # docker run attaches before it starts
    saved_terminal = None
    proxied: dict[int, object] = {}

    def started(pid: int) -> None:
        # Docker's --sig-proxy: signals we receive go to the container's PID 1.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                    signal.SIGUSR2):
            proxied[sig] = signal.signal(sig, lambda number, _frame: _forward(pid, number))

    if tty and interactive:
        import termios
        import tty as tty_module
        saved_terminal = termios.tcgetattr(0)
        tty_module.setraw(0)
    try:
        status = supervise(store, record.id, attach=attach, on_started=started, exits_after=True)
    finally:
        for sig, handler in proxied.items():
            signal.signal(sig, handler)
        if saved_terminal is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved_terminal)
    return status.code


def _forward(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def _start_failed(root, record, error: PalletError) -> PalletError:
    """A failed start leaves the container Created (or removes it with --rm)."""
    from pallet.runtime.container import state as cs
    from pallet.runtime.container.lifecycle import remove_container
    if record.config["HostConfig"]["AutoRemove"]:
        try:   # the monitor removes it when the process failed to start; not before that
            remove_container(cs.ContainerStore(root), record.id, force=True, volumes=True)
        except cs.ContainerNotFound:
            pass
    return PalletError(error.message, hint=error.hint, exit_code=error.exit_code)


@click.command("run", context_settings=NO_INTERSPERSE)
@run_options
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.pass_context
def run(ctx: click.Context, detach_keys, **params) -> None:
    """Create and run a new container from an image"""
    from pallet.runtime.container.lifecycle import create_container
    from pallet.runtime.container.monitor import start_detached

    root = _root(ctx)
    options = create_options(params)
    keys = None
    if not params["detach"]:
        # checked before the container is made: docker's attach fails after its create and
        # leaves a Created container behind; the refusal is the same, nothing is half-made
        from pallet.commands.attach import detach_sequence
        if params["tty"] and params["interactive"] and not os.isatty(0):
            raise PalletError("the input device is not a TTY", exit_code=1)
        keys = detach_sequence(detach_keys)
    record = create_container(root, options)
    if params["detach"]:
        try:
            start_detached(root, record.id)
        except PalletError as error:
            raise _start_failed(root, record, error) from error
        click.echo(record.id)
        return
    try:
        code = _foreground(root, record, interactive=params["interactive"], detach_keys=keys)
    except PalletError as error:
        if error.exit_code in (125, 126, 127):
            raise _start_failed(root, record, error) from error
        raise
    sys.exit(code)  # click's main(standalone_mode=False) swallows ctx.exit codes


@click.command("create", context_settings=NO_INTERSPERSE)
@run_options
@click.pass_context
def create(ctx: click.Context, **params) -> None:
    """Create a new container"""
    from pallet.runtime.container.lifecycle import create_container
    from pallet.commands.flags import create_exit_codes
    if params["detach"]:
        raise click.UsageError("unknown shorthand flag: 'd' in -d")
    with create_exit_codes():
        record = create_container(_root(ctx), create_options(params))
    click.echo(record.id)


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
        sys.exit(_foreground(root, record, interactive=interactive, detach_keys=keys))
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

