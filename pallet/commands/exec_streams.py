"""`exec` once its arguments are checked: the exec's events (exec_create, exec_start,
exec_die as dockerd logs them), the terminal joined to an exec -t's pty (raw with -i, sized,
the detach keys), and the processes that stand in for dockerd's copy when nobody is attached:
a detached exec (-d) is watched by one of ours that records its exit, and the pty of an exec
the user detached from is drained by another until the exec's side closes.

    run_exec(root, record, spec, container_spec, detach=, interactive=, keys=) -> exit code
"""

from __future__ import annotations

import json
import os
import selectors
import signal

from pallet.base.errors import PalletError
from pallet.base.fdio import write_all
from pallet.commands.attach_session import BareError, raw_terminal, restore_terminal
from pallet.commands.echo import echo


def run_exec(root, record, spec, container_spec, *, detach: bool, interactive: bool,
             keys: bytes) -> int:
    from pallet.runtime.container.execute import exec_in_container
    from pallet.runtime.store.events import exec_event
    exec_id = os.urandom(32).hex()
    exec_event(root, record, "exec_create", exec_id, spec.argv)
    exec_event(root, record, "exec_start", exec_id, spec.argv)
    if detach:
        return _detached(root, record, spec, container_spec, exec_id)
    try:
        running = exec_in_container(record.state["Pid"], spec, f"pallet-{record.id[:16]}",
                                    stdin=0 if interactive and not spec.tty else None,
                                    container_spec=container_spec)
    except PalletError as error:
        # docker prints the runtime's refusal as the exec's output (stdout), alone; dockerd
        # logs no exec_die for an exec that never ran
        echo(error.message)
        return error.exit_code
    if running.console is not None:
        exec_session(running.console, interactive, keys)   # raises on a detach
    status = running.wait()
    exec_event(root, record, "exec_die", exec_id, exitCode=status.code)
    return status.code


def _detached(root, record, spec, container_spec, exec_id: str) -> int:
    """exec -d: a watcher of ours (its own session, outliving us) starts the process as its
    child, reports the start to us, then waits for the exit and records exec_die."""
    from pallet.runtime.container.execute import exec_in_container
    from pallet.runtime.store.events import exec_event
    from pallet.base.detach import detach

    def watch(report: int) -> None:
        try:
            running = exec_in_container(record.state["Pid"], spec, f"pallet-{record.id[:16]}",
                                        container_spec=container_spec)
        except PalletError as error:
            os.write(report, json.dumps({"error": error.message,
                                         "code": error.exit_code}).encode())
            return
        os.close(report)
        if running.console is not None:
            _drain(running.console)
        exec_event(root, record, "exec_die", exec_id, exitCode=running.wait().code)

    answer = detach(watch)
    if answer:
        message = json.loads(answer)
        echo(message["error"])
        return message["code"]
    return 0


def _drain(master: int) -> None:
    """Read a pty master until its other side is gone (EIO), discarding the output."""
    while True:
        try:
            if not os.read(master, 65536):
                break
        except OSError:
            break
    os.close(master)


def exec_session(master: int, interactive: bool, keys: bytes) -> None:
    """`exec -t`: our terminal joined to the exec's pty master until the process closes it.
    With -i the terminal is raw and the detach keys leave the process running (its output is
    drained by a keeper that holds the master, as dockerd's copy does after a detach), and we
    fail with docker's "read escape sequence"."""
    from pallet.runtime.container.detachkeys import DetachScanner
    import fcntl
    import termios
    saved = raw_terminal() if interactive else None
    scanner = DetachScanner(keys)
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def resize() -> None:
        if os.isatty(0):
            fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))

    previous = signal.signal(signal.SIGWINCH, lambda *_: os.write(wake_w, b"w"))
    detached = False
    try:
        resize()
        with selectors.DefaultSelector() as selector:
            selector.register(master, selectors.EVENT_READ)
            selector.register(wake_r, selectors.EVENT_READ)
            if interactive:
                selector.register(0, selectors.EVENT_READ)
            while not detached:
                for key, _ in selector.select():
                    if key.fd == wake_r:
                        os.read(wake_r, 64)
                        resize()
                    elif key.fd == 0:
                        data = os.read(0, 65536)
                        if not data:
                            selector.unregister(0)
                            continue
                        passed, detached = scanner.feed(data)
                        if passed:
                            write_all(master, passed)
                        if detached:
                            break
                    else:
                        try:
                            chunk = os.read(master, 65536)
                        except OSError:   # EIO: the last holder of the pty's slave is gone
                            chunk = b""
                        if not chunk:
                            return
                        write_all(1, chunk)
        _keep_draining(master)
    finally:
        signal.signal(signal.SIGWINCH, previous)
        restore_terminal(saved)
        os.close(wake_r)
        os.close(wake_w)
        os.close(master)
    raise BareError("read escape sequence")


def _keep_draining(master: int) -> None:
    """A detached exec runs on: a process of its own (re-parented, in its own session) holds
    the pty master and discards the output until the exec's side is closed."""
    from pallet.base.detach import detach
    detach(lambda report: (os.close(report), _drain(master)), keep=[master])
