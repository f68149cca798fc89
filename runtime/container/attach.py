"""Attaching to a container's streams through its monitor: `docker attach`, `docker run`
through the API, `wait`, `resize`.

The monitor owns the container's stdio (pipes, or the pty master with a TTY); it listens on
ROOT/containers/<id>/attach.sock (0600) and also takes clients handed to it at start, so an
attach made before `start` misses no byte. The wire, both directions after the client's hello:

    client -> monitor:  {"stdin": bool, "stdout": bool, "stderr": bool}\\n   (the hello)
                        frames: STDIN data (an empty one is EOF), RESIZE b"rows cols"
    monitor -> client:  frames: STDOUT / STDERR data (a TTY's output is STDOUT), EXIT b'{"code": n}'
                        after EXIT the monitor closes the client

A frame is Docker's stdcopy header (kind, three zero bytes, big-endian uint32 length) and the
payload. The monitor never blocks on a client: each has a bounded buffer; while one is full
the monitor stops reading the container's output (as a slow attached terminal would).

    connect(record) -> socket | None          to a running container's monitor
    AttachHub(directory, clients)             the monitor's side (monitor.py drives it)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import struct
import termios


STDIN, STDOUT, STDERR, EXIT, RESIZE = 0, 1, 2, 3, 4
HEADER = struct.Struct(">BxxxI")
SOCKET_NAME = "attach.sock"
HIGH_WATER = 1 << 20
MAX_FRAME = 1 << 20


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def hello(*, stdin: bool = False, stdout: bool = False, stderr: bool = False,
          console_size: tuple[int, int] | None = None) -> bytes:
    """console_size (rows, columns): a client attached before the start sizes the container's
    TTY from its first byte (docker run sends HostConfig.ConsoleSize for the same reason)."""
    fields = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
    if console_size:
        fields["console_size"] = list(console_size)
    return json.dumps(fields).encode() + b"\n"


def _socket_path(directory_fd: int) -> str:
    # Through the directory's descriptor: a store root deep in /tmp would make the full path
    # longer than the 108 bytes a Unix socket address holds.
    return f"/proc/self/fd/{directory_fd}/{SOCKET_NAME}"


def connect(directory) -> socket.socket | None:
    """A connection to the monitor of the container in `directory`, or None when no monitor
    listens there (not running, or gone)."""
    try:
        directory_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(_socket_path(directory_fd))
    except OSError:
        client.close()
        return None
    finally:
        os.close(directory_fd)
    return client


class FrameReader:
    """Splits a byte stream into (kind, payload) frames."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buffer)
            if size > MAX_FRAME:
                raise ValueError("attach frame too large")
            if len(self.buffer) < HEADER.size + size:
                break
            frames.append((kind, bytes(self.buffer[HEADER.size:HEADER.size + size])))
            del self.buffer[:HEADER.size + size]
        return frames


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.hello: dict | None = None
        self.pending = bytearray()      # hello bytes until its newline
        self.reader = FrameReader()
        self.out = bytearray()
        self.stdin_open = False


class AttachHub:
    """The monitor's side. The monitor registers `fds()` for reading (and `writers()` for
    writing) in its selector and calls the matching handlers."""

    def __init__(self, directory, clients=(), on_attach=lambda: None) -> None:
        self.on_attach = on_attach   # each attaching client's hello: dockerd's "attach" event
        self.directory_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        path = _socket_path(self.directory_fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old_umask = os.umask(0o177)
        try:
            self.listener.bind(path)
        finally:
            os.umask(old_umask)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.clients: dict[int, _Client] = {}
        self.stdin_fd: int | None = None     # where client stdin goes (pipe or pty master)
        self.stdin_is_tty = False
        self.stdin_once = False
        # what clients typed before the container started (docker run -i sends it at once)
        self.stdin_buffer = bytearray()
        self.stdin_closed = False
        self.console: int | None = None
        self.console_size: tuple[int, int] | None = None   # asked by a client before the start
        # set by the monitor's loop: told before a client's descriptor closes, so a selector
        # never keeps a registration for a number the next accepted client may reuse
        self.closing = lambda fd: None
        for sock in clients:
            self._add_waiting(sock)

    # -- what the monitor's selector watches ---------------------------------------------
    def read_fds(self) -> list[int]:
        fds = [self.listener.fileno()]
        if len(self.stdin_buffer) < HIGH_WATER:
            fds += list(self.clients)
        return fds

    def write_fds(self) -> list[int]:
        fds = [fd for fd, client in self.clients.items() if client.out]
        if self.stdin_buffer and self.stdin_fd is not None:
            fds.append(self.stdin_fd)
        return fds

    def congested(self) -> bool:
        return any(len(client.out) > HIGH_WATER for client in self.clients.values())

    # -- the container's side ------------------------------------------------------------
    def started(self, stdin_fd: int | None, *, tty: bool, stdin_once: bool,
                console: int | None) -> None:
        if stdin_fd is not None:
            os.set_blocking(stdin_fd, False)
        self.stdin_fd, self.stdin_is_tty, self.stdin_once = stdin_fd, tty, stdin_once
        self.console = console
        if stdin_fd is None:
            self.stdin_buffer.clear()
        elif self.stdin_closed:
            self.stdin_closed = False
            self._stdin_eof()   # a client closed its stdin before the start
        self._flush_stdin()

    def output(self, stream: str, data: bytes) -> None:
        kind = STDERR if stream == "stderr" else STDOUT
        name = "stderr" if kind == STDERR else "stdout"
        for fd, client in list(self.clients.items()):
            if client.hello and client.hello.get(name):
                client.out += frame(kind, data)
                self._flush(fd)

    def exited(self, code: int) -> None:
        """The container's process is gone and its output drained: tell every client, then
        close them (each run of a restarting container ends its attaches, as in Docker)."""
        message = frame(EXIT, json.dumps({"code": code}).encode())
        for fd, client in list(self.clients.items()):
            client.out += message
            with contextlib.suppress(OSError):
                client.sock.setblocking(True)
                client.sock.settimeout(5)
                client.sock.sendall(client.out)
            self._drop(fd)
        self.exited_quietly()

    def exited_quietly(self) -> None:
        """The run is over (or never began): the container's stdin is no longer ours."""
        self._close_stdin()
        self.stdin_fd = None
        self.console = None
        self.stdin_buffer.clear()
        self.stdin_closed = False

    # -- events --------------------------------------------------------------------------
    def readable(self, fd: int) -> None:
        if fd == self.listener.fileno():
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while True:
                    sock, _ = self.listener.accept()
                    self._add(sock)
            return
        client = self.clients.get(fd)
        if client is None:
            return
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._client_gone(fd, client)
            return
        try:
            self._received(client, data)
        except ValueError:
            self._client_gone(fd, client)

    def writable(self, fd: int) -> None:
        if fd == self.stdin_fd:
            self._flush_stdin()
        elif fd in self.clients:
            self._flush(fd)

    def close(self) -> None:
        for fd in list(self.clients):
            self._drop(fd)
        with contextlib.suppress(OSError):
            os.unlink(_socket_path(self.directory_fd))
        self.listener.close()
        os.close(self.directory_fd)

    # -- internals -----------------------------------------------------------------------
    def _add(self, sock: socket.socket) -> _Client:
        client = _Client(sock)
        self.clients[sock.fileno()] = client
        return client

    def _add_waiting(self, sock: socket.socket) -> None:
        """A client handed over at start: its hello is already written; read it now, before
        the container's first byte of output, which it must not miss."""
        sock.settimeout(2)
        data = b""
        try:
            while b"\n" not in data and len(data) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        client = self._add(sock)
        try:
            self._received(client, data)
        except ValueError:
            self._drop(sock.fileno())

    def _received(self, client: _Client, data: bytes) -> None:
        if client.hello is None:
            client.pending += data
            if b"\n" not in client.pending:
                if len(client.pending) > 4096:
                    raise ValueError("no hello")
                return
            line, _, rest = bytes(client.pending).partition(b"\n")
            client.hello = json.loads(line)
            if any(client.hello.get(name) for name in ("stdin", "stdout", "stderr")):
                self.on_attach()   # not for a wait's or a resize's stream-less hello
            size = client.hello.get("console_size") if self.console is None else None
            if isinstance(size, list) and len(size) == 2 and all(
                    isinstance(n, int) and 0 < n < 65536 for n in size):
                self.console_size = (size[0], size[1])
            client.stdin_open = bool(client.hello.get("stdin"))
            client.pending.clear()
            data = rest
        for kind, payload in client.reader.feed(data):
            if kind == STDIN and client.stdin_open:
                if payload:
                    self._to_stdin(payload)
                else:
                    client.stdin_open = False
                    self._stdin_eof()
            elif kind == RESIZE:
                self._resize(payload)

    def _to_stdin(self, data: bytes) -> None:
        if self.stdin_closed:
            return
        self.stdin_buffer += data   # kept until the container runs, when none runs yet
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        while self.stdin_buffer and self.stdin_fd is not None:
            try:
                written = os.write(self.stdin_fd, self.stdin_buffer)
            except BlockingIOError:
                return
            except OSError:
                self.stdin_buffer.clear()   # the container closed its stdin
                return
            del self.stdin_buffer[:written]
        if self.stdin_closed and not self.stdin_buffer:
            self._close_stdin()

    def _stdin_eof(self) -> None:
        """A client closed its stdin: with StdinOnce the container's stdin closes too."""
        if self.stdin_fd is None:
            self.stdin_closed = True   # before the start: applied once it runs (non-TTY)
            return
        # moby (container/stream/attach.go): only a non-TTY stdin is closed when the attached
        # client's ends; a terminal stays open (a detached `run -it` shell runs on)
        if not self.stdin_once or self.stdin_is_tty:
            return
        self.stdin_closed = True
        if not self.stdin_buffer:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None and not self.stdin_is_tty:
            with contextlib.suppress(OSError):
                os.close(self.stdin_fd)
            self.stdin_fd = None

    def _resize(self, payload: bytes) -> None:
        if self.console is None:
            return
        try:
            rows, columns = (int(part) for part in payload.split())
        except ValueError:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.console, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def _flush(self, fd: int) -> None:
        client = self.clients.get(fd)
        if client is None:
            return
        while client.out:
            try:
                sent = client.sock.send(client.out, socket.MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(fd)
                return
            del client.out[:sent]

    def _client_gone(self, fd: int, client: _Client) -> None:
        if client.stdin_open:
            client.stdin_open = False
            self._stdin_eof()
        self._drop(fd)

    def _drop(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is not None:
            self.closing(fd)
            with contextlib.suppress(OSError):
                client.sock.close()
