"""The monitor's I/O loop while a container runs: its output into the log, the foreground
terminal and the attached clients; the terminal's and the clients' input into its stdin; the
health probes on time.

    pump(pipes, log, attach, hub, pty_master, prober)   returns once every output stream closed
"""

from __future__ import annotations

import os
import selectors

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def pump(pipes: dict[int, str], log, attach, hub, pty_master: int | None, prober=None) -> None:
    """pipes: our read ends of the container's output, named "stdout"/"stderr" (a TTY's
    master counts as stdout). attach: the foreground terminal's sinks and stdin (monitor.Attach)."""
    open_fds = set(pipes)
    terminal_in = attach.stdin if pty_master is not None and attach.stdin is not None else None
    with selectors.DefaultSelector() as selector:
        registered: dict[int, int] = {}

        def forget(fd: int) -> None:
            if registered.pop(fd, None) is not None:
                try:
                    selector.unregister(fd)
                except (KeyError, ValueError, OSError):
                    pass

        hub.closing = forget
        try:
            _loop(selector, registered, open_fds, pipes, log, attach, hub, pty_master,
                  terminal_in, prober)
        finally:
            hub.closing = lambda fd: None


def _loop(selector, registered, open_fds, pipes, log, attach, hub, pty_master, terminal_in,
          prober) -> None:
    while open_fds:
        wanted: dict[int, int] = {}
        if not hub.congested():   # a full client buffer holds the container's output back
            # in the pipes' order (stdout first), never a set's: epoll reports descriptors
            # that are ready at registration in the order they were added
            for fd in pipes:
                if fd in open_fds:
                    wanted[fd] = READ
        if terminal_in is not None:
            wanted[terminal_in] = wanted.get(terminal_in, 0) | READ
        for fd in hub.read_fds():
            wanted[fd] = wanted.get(fd, 0) | READ
        for fd in hub.write_fds():
            wanted[fd] = wanted.get(fd, 0) | WRITE
        _sync(selector, registered, wanted)
        wait = prober.due() if prober is not None else None
        if wait == 0:
            prober.run()
            continue
        for key, mask in selector.select(wait):
            fd = key.fd
            if fd in open_fds and mask & READ:
                if not _output(fd, pipes[fd], log, attach, hub):
                    open_fds.discard(fd)
            elif fd == terminal_in and mask & READ:
                data = os.read(fd, 65536)
                if data:
                    os.write(pty_master, data)
                else:
                    terminal_in = None
                    os.write(pty_master, b"\x04")  # EOF on a terminal is ^D
            elif mask & READ:
                hub.readable(fd)
            if mask & WRITE and fd in registered:
                hub.writable(fd)


def _sync(selector, registered: dict[int, int], wanted: dict[int, int]) -> None:
    for fd in list(registered):
        if fd not in wanted:
            try:
                selector.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass
            del registered[fd]
    for fd, events in wanted.items():
        if registered.get(fd) == events:
            continue
        if fd in registered:
            selector.modify(fd, events)
        else:
            selector.register(fd, events)
        registered[fd] = events


def _output(fd: int, stream: str, log, attach, hub) -> bool:
    """Copy one chunk; False once the stream is closed."""
    try:
        chunk = os.read(fd, 65536)
    except OSError:  # a pty master reads EIO once the last slave closes
        chunk = b""
    if not chunk:
        return False
    try:
        log.write(stream, chunk)
    except OSError as error:
        from pallet.base.diskspace import is_no_space
        if not is_no_space(error):
            raise
        # The disk is full: this output is lost from the log (Docker's json-file logger drops
        # it too) while the container runs on, unblocked.
    sink = attach.stdout if stream == "stdout" else attach.stderr
    if sink is not None:
        sink(chunk)
    hub.output(stream, chunk)
    return True
