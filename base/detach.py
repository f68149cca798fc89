"""Processes of ours that outlive the command that starts them.

    detach(work, keep=(fd, ...)) -> bytes   work(report_fd) runs in a detached grandchild;
                                             returns what it wrote to report_fd

A container's monitor (`run -d`), the watcher of an `exec -d`, the drain of a detached exec's
pty and the remover of a large scratch tree all need the same thing: a process in a session of
its own, re-parented to init (a double fork, so nobody has to wait for it), holding none of the
caller's descriptors (store locks, a pipe the caller's own caller reads to EOF, a server's
listening sockets), deaf to the terminal's signals, that tells its starter once it has taken
over. One implementation, so a fix to any of those rules reaches all four.
"""

from __future__ import annotations

import os
import signal
from typing import Callable, Iterable


def _release_all_but(keep: set[int], null: int) -> None:
    """Let go of every inherited descriptor but keep's by pointing its number at /dev/null,
    not by closing it. The caller's Python objects (a server's other connections, its listening
    socket, open files) live on in this process and close their numbers when collected; a
    closed number would meanwhile be reused by this process's own pipes, which such a late
    close would then take away (a container's monitor forked from `pallet serve` failed with
    EBADF closing its own pipe). /dev/null under the old number releases the connection all
    the same, and a late close of it harms nothing."""
    with os.scandir("/proc/self/fd") as entries:
        numbers = [int(entry.name) for entry in entries]
    for fd in numbers:
        if fd > 2 and fd not in keep and fd != null:
            try:
                os.dup2(null, fd, inheritable=False)
            except OSError:
                pass   # the listing's own descriptor, closed by now


def detach(work: Callable[[int], None], *, keep: Iterable[int] = ()) -> bytes:
    """Run work(report) in a detached grandchild and return what it wrote to report before
    closing it (or ending). Only report and the descriptors in keep stay open in it; its stdio
    is /dev/null. A server forked us: its SIGTERM handler is put back to the default."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    keep = {write_fd, *keep}
    first = os.fork()
    if first == 0:  # pragma: no cover - runs in the forked process
        try:
            os.close(read_fd)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            _release_all_but(keep, null)
            for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGWINCH, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_IGN)   # an EPIPE is an error to handle, not death
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            work(write_fd)
        finally:
            os._exit(0)   # no atexit handlers: they are the caller's (work cleans up its own)
    os.close(write_fd)
    try:
        os.waitpid(first, 0)
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    return b"".join(chunks)
