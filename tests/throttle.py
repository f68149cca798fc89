"""A throttling TCP proxy on 127.0.0.1, to make a loopback registry as slow as a real link.

    with throttled_proxy(target_port, rate=8 << 20) as proxy:
        proxy.host          "127.0.0.1:PORT" (loopback: pallet and dockerd use plain HTTP)
        proxy.down          bytes passed from the server to the clients so far (a pull)
        proxy.up            bytes passed from the clients to the server so far (a push)

Each direction is paced to `rate` bytes a second over all connections (one token bucket per
direction). Each connection has two pump threads; on exit the listener and every connection
are shut down and the threads joined.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

PIECE = 32 * 1024


class Proxy:
    def __init__(self, target_port: int, rate: int) -> None:
        self.target_port = target_port
        self.rate = rate
        self.down = 0
        self.up = 0
        self._lock = threading.Lock()
        self._next_free = {"down": time.monotonic(), "up": time.monotonic()}
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.host = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        acceptor = threading.Thread(target=self._accept, daemon=True)
        acceptor.start()
        self._threads.append(acceptor)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            for source, target, direction in ((client, server, "up"), (server, client, "down")):
                thread = threading.Thread(target=self._pump, args=(source, target, direction),
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pace(self, direction: str, count: int) -> None:
        with self._lock:
            start = max(self._next_free[direction], time.monotonic())
            self._next_free[direction] = start + count / self.rate
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _pump(self, source: socket.socket, target: socket.socket, direction: str) -> None:
        try:
            while True:
                data = source.recv(PIECE)
                if not data:
                    break
                self._pace(direction, len(data))
                target.sendall(data)
                with self._lock:
                    setattr(self, direction, getattr(self, direction) + len(data))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        # shutdown wakes the threads blocked in accept()/recv(); close alone would not
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@contextlib.contextmanager
def throttled_proxy(target_port: int, rate: int) -> Iterator[Proxy]:
    proxy = Proxy(target_port, rate)
    try:
        yield proxy
    finally:
        proxy.close()
