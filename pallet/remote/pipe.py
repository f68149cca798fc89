"""A writer's output as an upload body, streamed as it is made (never whole in memory).

    body = Produced(write)     write(sink) runs on a thread, sink.write(bytes) into a pipe;
    for chunk in body: ...     the request body (chunked) reads it; an error in write() is
    body.error                 raised at the end of the iteration, so the upload stops short
    body.sent                  and the caller reports the writer's error, not the HTTP one.
"""

from __future__ import annotations

import os
import threading

CHUNK = 1 << 20


class _Sink:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        return len(data)

    def flush(self) -> None:
        return None


class Produced:
    def __init__(self, write, on_chunk=None) -> None:
        self.write = write
        self.on_chunk = on_chunk
        self.error: BaseException | None = None
        self.sent = 0

    def _run(self, fd: int) -> None:
        try:
            self.write(_Sink(fd))
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread
            self.error = error
        finally:
            os.close(fd)

    def __iter__(self):
        read_fd, write_fd = os.pipe()
        thread = threading.Thread(target=self._run, args=(write_fd,), daemon=True)
        thread.start()
        try:
            with os.fdopen(read_fd, "rb", buffering=0) as reader:
                while chunk := reader.read(CHUNK):
                    self.sent += len(chunk)
                    if self.on_chunk is not None:
                        self.on_chunk(self.sent)
                    yield chunk
        finally:
            thread.join()
        if self.error is not None:
            raise self.error
