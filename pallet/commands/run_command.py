"""`pallet run`: its flags (pallet.argspec: the fast path and click read the same list), the
command, and the attached foreground run `start -a` shares, click-free so the fast path runs
it without importing click."""

from __future__ import annotations

import os
import signal
import sys

from pallet.argspec import Opt, Spec
from pallet.base.errors import PalletError
from pallet.commands.container_options import CREATE_FLAGS, create_options
from pallet.commands.echo import echo

HELP = "Create and run a new container from an image"

SPEC = Spec([*CREATE_FLAGS,
             Opt("detach_keys", ("--detach-keys",),
                 help="Override the key sequence for detaching a container")],
            interspersed=False)


def run_command(root, *, detach_keys, **params) -> None:
    from pallet.runtime.container.lifecycle import create_container
    from pallet.runtime.container.monitor import start_detached

    options = create_options(params)
    keys = None
    if not params["detach"]:
        # checked before the container is made: docker's attach fails after its create and
        # leaves a Created container behind; the refusal is the same, nothing is half-made
        from pallet.commands.attach_session import detach_sequence
        if params["tty"] and params["interactive"] and not os.isatty(0):
            raise PalletError("the input device is not a TTY", exit_code=1)
        keys = detach_sequence(detach_keys)
    record = create_container(root, options)
    if params["detach"]:
        try:
            start_detached(root, record.id)
        except PalletError as error:
            raise _start_failed(root, record, error) from error
        echo(record.id)
        return
    try:
        code = foreground(root, record, interactive=params["interactive"], detach_keys=keys)
    except PalletError as error:
        if error.exit_code in (125, 126, 127):
            raise _start_failed(root, record, error) from error
        raise
    sys.exit(code)  # click's main(standalone_mode=False) swallows ctx.exit codes


def _write_all(fd: int):
    from pallet.base.fdio import write_all
    return lambda chunk: write_all(fd, chunk, reader_gone=True)


def foreground(root, record, *, interactive: bool, detach_keys: bytes | None = None) -> int:
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
        from pallet.commands.attach_session import DEFAULT_KEYS, detach_sequence, run_attached
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
