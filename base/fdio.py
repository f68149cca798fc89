"""Writing a whole buffer to a raw descriptor (a pipe, a pty, a socket given as an fd).

    write_all(fd, data)                     every byte, or OSError
    write_all(fd, data, reader_gone=True)   stops quietly when the reader has gone (EPIPE)
    pump_until_eof({fd: feed, ...})         each descriptor's bytes to its feed until every EOF

os.write may take part of a buffer (pipes, ptys, non-blocking sockets); the streams of
attach, exec, logs and dial-stdio, and the layer extractor, all need every byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def write_all(fd: int, data: bytes, *, reader_gone: bool = False) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            if reader_gone:
                return   # `pallet logs | head`: the reader's end is not our error
            raise
        view = view[written:]


def pump_until_eof(pumps: dict[int, Callable[[bytes], object]]) -> None:
    """Feed what each descriptor gives to its callable, as it comes, until every one reaches
    EOF (a build step's pipes, an exec's output). A pty master reads EIO once the last slave
    closes: that is its EOF."""
    if not pumps:
        return
    import selectors
    with selectors.DefaultSelector() as selector:
        for fd in pumps:
            selector.register(fd, selectors.EVENT_READ)
        open_fds = set(pumps)
        while open_fds:
            for key, _ in selector.select():
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:
                    chunk = b""
                if chunk:
                    pumps[key.fd](chunk)
                else:
                    selector.unregister(key.fd)
                    open_fds.discard(key.fd)
