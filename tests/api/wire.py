"""A recording Unix-socket proxy between a Docker client and `pallet serve`.

    with WireRecorder(listen_path, target_path) as wire:   # clients use unix://listen_path
        ...
    wire.exchanges   # [Exchange(method, path, status, content_type, body)] as the client got them

Each direction is parsed as HTTP/1.1 (Content-Length, chunked, or to the close) while the raw
bytes are forwarded unchanged, so the client sees exactly what the server sent; after a request
for a hijacked endpoint, or a 101, both directions are piped raw. Bodies are kept up to
BODY_LIMIT bytes (enough for every JSON document and stream a test reads).
"""

from __future__ import annotations

import os
import socket
import threading
from collections import deque
from dataclasses import dataclass

BODY_LIMIT = 4 * 1024 * 1024


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    content_type: str
    body: bytes


class _Reader:
    """Buffered reads from a socket, forwarding everything it consumes to `sink`."""

    def __init__(self, source: socket.socket, sink: socket.socket) -> None:
        self.source, self.sink = source, sink
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.source.recv(65536)
        if not data:
            return False
        self.sink.sendall(data)
        self.buffer += data
        return True

    def line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            if not self._fill():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def exactly(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            if not self._fill():
                return None
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def rest(self) -> bytes:
        while self._fill():
            if len(self.buffer) > BODY_LIMIT:
                self.buffer = self.buffer[:BODY_LIMIT]
        data, self.buffer = self.buffer, b""
        return data

    def raw(self) -> None:
        self.buffer = b""
        while True:
            data = self.source.recv(65536)
            if not data:
                return
            self.sink.sendall(data)


def _head(reader: _Reader) -> tuple[str, dict] | None:
    first = reader.line()
    while first is not None and not first.strip():
        first = reader.line()
    if first is None:
        return None
    headers = {}
    while True:
        line = reader.line()
        if line is None:
            return None
        if not line.strip():
            return first.decode("latin-1").strip(), headers
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()


def _body(reader: _Reader, headers: dict, *, to_close: bool) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts, kept = [], 0
        while True:
            size_line = reader.line()
            if size_line is None:
                break
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := reader.line()) is not None and trailer.strip():
                    pass
                break
            data = reader.exactly(size + 2)
            if data is None:
                break
            if kept < BODY_LIMIT:
                parts.append(data[:-2])
                kept += size
        return b"".join(parts)
    if "content-length" in headers:
        data = reader.exactly(int(headers["content-length"]))
        return (data or b"")[:BODY_LIMIT]
    return reader.rest() if to_close else b""


def _is_hijack(method: str, path: str) -> bool:
    route = path.split("?", 1)[0]
    return method == "POST" and (route.endswith("/attach") or
                                 (route.endswith("/start") and "/exec/" in route))


class WireRecorder:
    def __init__(self, listen_path: str, target_path: str) -> None:
        self.listen_path, self.target_path = listen_path, target_path
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX)
        self.connections: list[socket.socket] = []
        self.thread: threading.Thread | None = None

    def __enter__(self) -> "WireRecorder":
        if os.path.exists(self.listen_path):
            os.unlink(self.listen_path)
        self.listener.bind(self.listen_path)
        self.listener.listen(128)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                try:
                    connection.close()
                except OSError:
                    pass
        if os.path.exists(self.listen_path):
            os.unlink(self.listen_path)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        server = socket.socket(socket.AF_UNIX)
        try:
            server.connect(self.target_path)
        except OSError:
            client.close()
            return
        with self.lock:
            self.connections += [client, server]
        pending: deque = deque()
        ready = threading.Condition()
        upstream = threading.Thread(target=self._requests, args=(client, server, pending, ready),
                                    daemon=True)
        upstream.start()
        try:
            self._responses(server, client, pending, ready)
        finally:
            upstream.join(timeout=600)
            for end in (client, server):
                try:
                    end.close()
                except OSError:
                    pass

    @staticmethod
    def _half_close(end: socket.socket) -> None:
        try:
            end.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _requests(self, client, server, pending: deque, ready: threading.Condition) -> None:
        reader = _Reader(client, server)
        try:
            while True:
                head = _head(reader)
                if head is None:
                    break
                line, headers = head
                method, _, rest = line.partition(" ")
                path = rest.rsplit(" ", 1)[0]
                with ready:
                    pending.append((method, path))
                    ready.notify_all()
                if _is_hijack(method, path) or headers.get("upgrade"):
                    _body(reader, headers, to_close=False)
                    reader.raw()
                    break
                _body(reader, headers, to_close=False)
        except OSError:
            pass
        finally:
            self._half_close(server)

    def _responses(self, server, client, pending: deque, ready: threading.Condition) -> None:
        reader = _Reader(server, client)
        try:
            while True:
                head = _head(reader)
                if head is None:
                    break
                line, headers = head
                status = int(line.split(" ")[1])
                with ready:
                    ready.wait_for(lambda: pending, timeout=30)
                    method, path = pending.popleft() if pending else ("?", "?")
                content_type = headers.get("content-type", "")
                if status == 101 or (_is_hijack(method, path) and status == 200):
                    self._record(method, path, status, content_type, b"")
                    reader.raw()
                    break
                if method == "HEAD" or status in (204, 304):
                    body = b""
                else:
                    body = _body(reader, headers, to_close=True)
                self._record(method, path, status, content_type, body)
        except OSError:
            pass
        finally:
            self._half_close(client)

    def _record(self, method, path, status, content_type, body) -> None:
        with self.lock:
            self.exchanges.append(Exchange(method, path, status, content_type, body))
