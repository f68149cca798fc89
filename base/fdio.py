"""Writing a whole buffer to a raw descriptor (a pipe, a pty, a socket given as an fd).

    write_all(fd, data)                     every byte, or OSError
    write_all(fd, data, reader_gone=True)   stops quietly when the reader has gone (EPIPE)

os.write may take part of a buffer (pipes, ptys, non-blocking sockets); the streams of
attach, exec, logs and dial-stdio, and the layer extractor, all need every byte.
"""

from __future__ import annotations

import os


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
