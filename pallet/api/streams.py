"""A container's streams: attach (hijacked), logs, resize, and the monitor link waits.py uses.

Attach and wait go through the container's monitor (runtime/container/attach.py). Made
before `start` (as `docker run` does: create, attach, wait, start), they are socket pairs kept
here until this server starts the container and hands them to the new monitor, so the
monitor serves them from its first byte; the 101 and the wait's headers go out at once.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

from pallet.api.protocol import ApiError, Reply

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
STDCOPY = struct.Struct(">BxxxI")


class PendingAttaches:
    """Monitor-side sockets of attaches and waits made before the container started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: dict[str, list[socket.socket]] = {}

    def add(self, container_id: str, sock: socket.socket) -> None:
        with self.lock:
            self.by_id.setdefault(container_id, []).append(sock)

    def take(self, container_id: str) -> list[socket.socket]:
        with self.lock:
            return self.by_id.pop(container_id, [])

    def withdraw(self, container_id: str, sock: socket.socket) -> bool:
        """True if sock was still waiting (and is now ours to close)."""
        with self.lock:
            waiting = self.by_id.get(container_id, [])
            if sock in waiting:
                waiting.remove(sock)
                if not waiting:
                    self.by_id.pop(container_id, None)
                return True
            return False


def client_gone(sock) -> bool:
    """Whether the peer of a streaming answer went away (it sends nothing more: any EOF or
    hang-up means it left)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLRDHUP)
    for _, event in poller.poll(0):
        if event & (select.POLLHUP | select.POLLERR | select.POLLRDHUP | select.POLLNVAL):
            return True
        if event & select.POLLIN:
            try:
                return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True
    return False


def pending_attaches(server) -> PendingAttaches:
    return server.registry("pending_attaches", PendingAttaches)


class MonitorLink:
    """Our connection to a container's monitor, made now or handed over at its start."""

    def __init__(self, server, record, greeting: bytes) -> None:
        from pallet.runtime.container.attach import connect
        self.server = server
        self.record = record
        self.greeting = greeting
        self.pending: socket.socket | None = None
        self.sock = connect(record.directory) if record.state.get("Running") else None
        if self.sock is not None:
            self.sock.sendall(greeting)
        else:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            ours.sendall(greeting)
            pending_attaches(server).add(record.id, theirs)
            self.sock, self.pending = ours, theirs

    def check(self) -> bool:
        """While still pending: was the container started by someone else (the CLI)? Then
        connect to its monitor instead. False once the container is gone."""
        from pallet.base.errors import PalletError
        from pallet.runtime.container.attach import connect
        from pallet.runtime.container.lifecycle import get
        if self.pending is None:
            return True
        try:
            record = get(self.server.root, self.record.id)
        except PalletError:
            self._withdraw()
            return False
        if not record.state.get("Running"):
            return True
        direct = connect(record.directory)
        if direct is None or not self._withdraw():
            if direct is not None:
                direct.close()
            return True
        direct.sendall(self.greeting)
        self.sock.close()
        self.sock = direct
        return True

    def _withdraw(self) -> bool:
        if self.pending is not None and pending_attaches(self.server).withdraw(
                self.record.id, self.pending):
            self.pending.close()
            self.pending = None
            return True
        self.pending = None   # taken by a start: the monitor has it
        return False

    def close(self) -> None:
        self._withdraw()
        try:
            self.sock.close()
        except OSError:
            pass


def monitor_frames(link: MonitorLink, *, client=None, watch_eof: bool = False):
    """(kind, payload) frames from the monitor until its EXIT frame or its end. `client`: a
    socket whose hang-up ends the wait early (kind None when the peer left); watch_eof: the
    client sends nothing more, so its EOF too means it left (not so for an attach's stdin)."""
    from pallet.runtime.container.attach import FrameReader
    reader = FrameReader()
    poller = select.poll()
    poller.register(link.sock, select.POLLIN)
    if client is not None:
        poller.register(client, 0)   # POLLHUP/POLLERR only: the client went away entirely
    while True:
        events = poller.poll(500)
        if not events:
            if not link.check():
                # the EXIT may have landed after the poll gave up and before the check found
                # the container gone (a --rm container removes itself at once): read it
                yield from _already_sent(link.sock, reader)
                return
            if client is not None and watch_eof and client_gone(client):
                yield None, b""
                return
            poller = select.poll()
            poller.register(link.sock, select.POLLIN)
            if client is not None:
                poller.register(client, 0)
            continue
        for fd, event in events:
            if client is not None and fd == client.fileno():
                if event & (select.POLLHUP | select.POLLERR):
                    yield None, b""
                    return
                continue
            try:
                data = link.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return
            for kind, payload in reader.feed(data):
                yield kind, payload


def _already_sent(sock, reader):
    """The frames waiting in sock now, without blocking."""
    while True:
        try:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
        except OSError:   # BlockingIOError included: nothing more is there
            return
        if not data:
            return
        yield from reader.feed(data)


def attach(request):
    from pallet.runtime.container.attach import EXIT, STDIN, frame, hello
    from pallet.runtime.container.detachkeys import DEFAULT_DETACH_KEYS, DetachScanner, detach_keys
    from pallet.runtime.container.logs import read_logs
    record = request.container()
    tty = bool(record.config["Config"].get("Tty"))
    wants = {name: request.flag(name) for name in ("stdin", "stdout", "stderr")}
    # moby's copyEscapable: with a TTY the detach keys end the attach, the container runs on
    keys = detach_keys(request.arg("detachKeys") or DEFAULT_DETACH_KEYS)   # a 400 if bad
    content_type = RAW if tty or request.version < (1, 42) else MULTIPLEXED
    # Registered before the 101 goes out: the client starts the container as soon as it
    # reads it, and the start must find this attach waiting.
    link = MonitorLink(request.server, record, hello(**wants)) if request.flag("stream") \
        else None
    connection = request.hijack(content_type)
    handler = request.handler

    def send(stream: int, data: bytes) -> None:
        connection.sendall(data if tty else STDCOPY.pack(stream, len(data)) + data)

    try:
        if request.flag("logs"):
            for entry in read_logs(record.directory / f"{record.id}-json.log"):
                stream = 2 if entry.get("stream") == "stderr" else 1
                if wants["stderr" if stream == 2 else "stdout"]:
                    send(stream, entry["log"].encode())
    except OSError:
        if link is not None:
            link.close()
        return
    if link is None:
        return

    scanner = DetachScanner(keys) if tty else None

    def pump_stdin() -> None:
        # The client's half-close ends its stdin, never its output.
        try:
            while data := handler.rfile.read1(65536):
                if scanner is not None:
                    data, detached = scanner.feed(data)
                    if data:
                        link.sock.sendall(frame(STDIN, data))
                    if detached:
                        connection.shutdown(socket.SHUT_RDWR)   # ends the output side too
                        return
                    continue
                link.sock.sendall(frame(STDIN, data))
            link.sock.sendall(frame(STDIN, b""))
        except (OSError, ValueError):
            pass

    if wants["stdin"]:
        threading.Thread(target=pump_stdin, daemon=True).start()
    try:
        for kind, payload in monitor_frames(link, client=connection):
            if kind is None or kind == EXIT:
                break
            if kind in (1, 2):
                send(kind, payload)
    except OSError:
        pass   # the client went away: the monitor drops us, nothing else to undo
    finally:
        link.close()
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def logs(request):
    from pallet.base.errors import PalletError
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.logs import read_logs
    record = request.container()
    stdout, stderr = request.flag("stdout"), request.flag("stderr")
    if not (stdout or stderr):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    tail_text = request.arg("tail") or "all"
    if tail_text != "all" and not tail_text.lstrip("-").isdigit():
        raise ApiError(400, f'invalid value for "tail": "{tail_text}"')
    tail = None if tail_text == "all" or int(tail_text) < 0 else int(tail_text)
    since = _time_arg(request, "since")
    until = _time_arg(request, "until")
    timestamps = request.flag("timestamps")
    tty = bool(record.config["Config"].get("Tty"))
    root = request.server.root

    connection = request.handler.connection

    def running() -> bool:
        # also "no" once the client left: a follow must not outlive its reader
        if client_gone(connection):
            return False
        try:
            return bool(get(root, record.id).state.get("Running"))
        except PalletError:
            return False

    writer = request.stream(RAW if tty or request.version < (1, 42) else MULTIPLEXED)
    for entry in read_logs(record.directory / f"{record.id}-json.log", since=since,
                           until=until, tail=tail, follow=request.flag("follow"),
                           running=running):
        stream = 2 if entry.get("stream") == "stderr" else 1
        if not (stdout if stream == 1 else stderr):
            continue
        data = entry["log"].encode()
        if timestamps:
            data = entry["time"].encode() + b" " + data
        writer.write(data if tty else STDCOPY.pack(stream, len(data)) + data)
    writer.close()


def _time_arg(request, name: str) -> float | None:
    text = request.arg(name)
    if not text or text == "0":
        return None
    try:
        return float(text)
    except ValueError:
        raise ApiError(400, f"invalid {name}: {text!r} (Unix seconds expected)") from None


def resize(request) -> Reply:
    from pallet.runtime.container.attach import RESIZE, connect, frame, hello
    record = request.container()
    height, width = request.int_arg("h", 0), request.int_arg("w", 0)
    if not record.state.get("Running"):
        # dockerd answers 409; the spec lists 200, 404 and 500 here
        raise ApiError(500, f"Container {record.id} is not running")
    link = connect(record.directory)
    if link is None:
        raise ApiError(500, f"Container {record.id} is not running")
    with link:
        link.sendall(hello() + frame(RESIZE, f"{height} {width}".encode()))
    return Reply(200)
