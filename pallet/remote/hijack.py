"""A hijacked Engine API connection (attach, exec start) joined to this terminal.

    connection = upgrade(client, "POST", path, params=..., json=...)   101 UPGRADED, raw bytes
    code = pump(connection, tty=..., stdin=..., detach_keys=..., on_resize=..., on_signal=...)

After the server answers `101 UPGRADED` the socket carries raw bytes: stdin unframed towards
the server, and towards us either the TTY's bytes as they are or stdcopy frames (an 8-byte
header: stream 0/1/2, three zero bytes, a big-endian uint32 length, then the payload). The
docker SDK opens the connection (so every transport the client was made with works: unix,
tcp+TLS, ssh); the socket is then ours. http.client may have read bytes past the headers
into its buffer while parsing them (a process that writes at once after an exec start): they
are taken out of that buffer first, never lost.

The pump is the docker CLI's hijack loop: output until the server closes its side; stdin
copied until its EOF, then our side half-closed (so `echo hi | ... run -i IMAGE cat` ends);
with a TTY and a terminal on stdin, the terminal in raw mode, its size sent at the start and
on every SIGWINCH, and the detach keys (Ctrl-P Ctrl-Q) recognised here, as the CLI's escape
proxy does: the connection is dropped and the container keeps running.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
from dataclasses import dataclass

from pallet.base.errors import PalletError
from pallet.base.fdio import write_all

STDIN, STDOUT, STDERR = 0, 1, 2
PROXIED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                   signal.SIGUSR1, signal.SIGUSR2)


class Detached(Exception):
    """The user typed the detach keys: the container goes on without us."""


@dataclass
class Connection:
    """The upgraded socket, with what the HTTP parser had already read past the headers."""

    sock: object          # a socket.socket, ssl.SSLSocket or the ssh transport's channel
    pending: bytes
    response: object      # kept alive: dropping it closes a TLS socket under us

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, size: int = 65536) -> bytes | None:
        """Bytes from the server, b"" at its end, None when none are here yet (the socket is
        non-blocking while the pump runs)."""
        import ssl
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        try:
            return self.sock.recv(size)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except (ConnectionResetError, ssl.SSLEOFError):
            return b""

    def readable_now(self) -> bool:
        """Bytes are here without waiting on the descriptor (ours, or TLS-decrypted ones)."""
        return bool(self.pending) or bool(getattr(self.sock, "pending", lambda: 0)())

    def send(self, data: bytes) -> int:
        """As much of data as the socket takes now (0: try again when it is writable). A TLS
        write that could not finish must be retried with the same leading bytes: the caller
        only ever drops what was sent from the front of its buffer."""
        import ssl
        try:
            return self.sock.send(data)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return 0

    def close_write(self) -> None:
        """Tell the server stdin ended. Over TLS as the docker CLI does (its tlsClientCon's
        CloseWrite): the TCP connection underneath is half-closed and the TLS state kept for
        the output still coming. SSLSocket.shutdown would drop that state (and unwrap() waits
        for the server's own close_notify), so the plain socket's shutdown is called on it."""
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_WR) if isinstance(
                self.sock, socket.socket) else self.sock.shutdown(socket.SHUT_WR)
        except (OSError, AttributeError):
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            self.response.close()


def _real_socket(sock):
    """docker's SDK hands a SocketIO for plain sockets; its socket is what we select on."""
    return getattr(sock, "_sock", sock) if isinstance(sock, socket.SocketIO) else sock


def _drain_buffer(response) -> bytes:
    """What http.client's buffered reader holds beyond the response headers, without
    blocking: a non-blocking peek returns the buffer, or nothing when it is empty."""
    reader = getattr(getattr(response.raw, "_fp", None), "fp", None)
    raw = getattr(reader, "raw", None)
    real = getattr(raw, "_sock", None)
    if reader is None or real is None or not hasattr(reader, "peek"):
        return b""
    import ssl
    timeout = real.gettimeout()
    real.setblocking(False)
    try:
        data = reader.peek(65536)
    except (BlockingIOError, ssl.SSLWantReadError):
        data = b""
    finally:
        real.settimeout(timeout)
    return reader.read(len(data)) if data else b""


def upgrade(client, path: str, *, params: dict | None = None, body: dict | None = None) -> Connection:
    """POST path (a `client._url` path) with `Upgrade: tcp`; the hijacked connection."""
    from pallet.remote.calls import api_call
    headers = {"Connection": "Upgrade", "Upgrade": "tcp"}
    with api_call():
        if body is not None:
            response = client.post(path, params=params, json=body, headers=headers, stream=True)
        else:
            response = client.post(path, params=params, headers=headers, stream=True)
        client._raise_for_status(response)
        pending = _drain_buffer(response)
        sock = _real_socket(client._get_raw_response_socket(response))
    if hasattr(sock, "settimeout"):
        sock.settimeout(None)   # a session may be quiet for hours (the client's is 60 s)
    return Connection(sock=sock, pending=pending, response=response)


class Demux:
    """stdcopy frames -> (stream, payload), fed in whatever pieces the socket gives."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes):
        self.buffer += data
        while len(self.buffer) >= 8:
            kind = self.buffer[0]
            length = struct.unpack(">I", self.buffer[4:8])[0]
            if len(self.buffer) < 8 + length:
                return
            payload = bytes(self.buffer[8:8 + length])
            del self.buffer[:8 + length]
            if kind not in (STDIN, STDOUT, STDERR, 3):
                raise PalletError(f"Unrecognized input header: {kind}")
            yield kind, payload


def terminal_size(fd: int = 1) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on fd, or None."""
    import fcntl
    import termios
    for candidate in (fd, 0):
        try:
            rows, columns = struct.unpack("HHHH", fcntl.ioctl(candidate, termios.TIOCGWINSZ,
                                                              b"\0" * 8))[:2]
        except OSError:
            continue
        if rows and columns:
            return rows, columns
    return None


class _Keys:
    """The CLI's escape proxy: bytes pass until the whole detach sequence is typed."""

    def __init__(self, keys: bytes | None) -> None:
        self.keys = keys
        self.matched = 0

    def filter(self, data: bytes) -> bytes:
        if not self.keys:
            return data
        passed = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    raise Detached()
                continue
            passed += self.keys[:self.matched]
            self.matched = 0
            if byte == self.keys[0]:
                self.matched = 1
            else:
                passed.append(byte)
        return bytes(passed)


def pump(connection: Connection, *, tty: bool, stdin: bool, detach_keys: bytes | None = None,
         on_resize=None, on_signal=None) -> None:
    """Copy until the server ends the output. Raises Detached when the user detaches.

    on_resize(rows, columns) -> bool (done): at the start and on SIGWINCH (TTY on a terminal);
    on_signal(number): signals we receive while the output flows (the CLI's --sig-proxy)."""
    raw_terminal = tty and stdin and os.isatty(0)
    saved = None
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    received: list[int] = []
    previous: dict[int, object] = {}

    def note(number, _frame) -> None:
        received.append(number)
        try:
            os.write(wake_write, b"\0")
        except BlockingIOError:
            pass

    watched = []
    if on_resize is not None and tty:
        watched.append(signal.SIGWINCH)
    if on_signal is not None:
        watched += PROXIED_SIGNALS
    for number in watched:
        previous[number] = signal.signal(number, note)
    if raw_terminal:
        import termios
        import tty as tty_module
        saved = termios.tcgetattr(0)
        tty_module.setraw(0, termios.TCSANOW)   # keep what was typed ahead (no flush)
    try:
        if on_resize is not None and tty and (size := terminal_size()) is not None:
            import threading
            threading.Thread(target=_first_size, args=(on_resize, size), daemon=True).start()
        _loop(connection, tty=tty, stdin=stdin, keys=_Keys(detach_keys if raw_terminal else None),
              wake=wake_read, received=received, on_resize=on_resize, on_signal=on_signal)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(wake_read)
        os.close(wake_write)


def _first_size(on_resize, size: tuple[int, int]) -> None:
    """The CLI's initTtySize: the process may not have its terminal yet when the stream
    opens (an exec's starts with it): asked again, a little later each time (the CLI gives
    up after ten tries in half a second; a loaded host may need more)."""
    import time
    for attempt in range(25):
        if on_resize(*size):
            return
        time.sleep(min(0.01 * (attempt + 1), 0.25))


# One TLS record at most: a write the socket could not take is retried with these same bytes.
_SEND_CHUNK = 16384


def _loop(connection: Connection, *, tty: bool, stdin: bool, keys: _Keys, wake: int,
          received: list[int], on_resize, on_signal) -> None:
    """One thread, non-blocking socket: output is read whenever it comes, while stdin waits
    for the server to take what was already read of it (the CLI copies each direction in its
    own goroutine; a container that never reads stdin must not stop its output reaching us).
    A poll selector, not epoll: stdin may be a regular file or /dev/null, which epoll refuses."""
    demux = None if tty else Demux()
    outgoing = bytearray()
    stdin_state = "open" if stdin else "done"    # open -> eof (buffer draining) -> done
    connection.sock.setblocking(False)
    with selectors.PollSelector() as selector:
        selector.register(connection.fileno(), selectors.EVENT_READ, "socket")
        selector.register(wake, selectors.EVENT_READ, "wake")
        reading_stdin = False
        while True:
            want_stdin = stdin_state == "open" and not outgoing
            if want_stdin != reading_stdin:
                (selector.register(0, selectors.EVENT_READ, "stdin") if want_stdin
                 else selector.unregister(0))
                reading_stdin = want_stdin
            selector.modify(connection.fileno(), selectors.EVENT_READ |
                            (selectors.EVENT_WRITE if outgoing else 0), "socket")
            events = [("socket", selectors.EVENT_READ)] if connection.readable_now() else \
                [(key.data, mask) for key, mask in selector.select()]
            for what, mask in events:
                if what == "wake":
                    _signals(wake, received, on_resize, on_signal)
                elif what == "stdin":
                    try:
                        data = os.read(0, 65536)
                    except BlockingIOError:   # a terminal another process made non-blocking
                        continue
                    if not data:
                        stdin_state = "eof"
                    else:
                        outgoing += keys.filter(data)
                else:
                    if mask & selectors.EVENT_WRITE and outgoing:
                        try:
                            del outgoing[:connection.send(bytes(outgoing[:_SEND_CHUNK]))]
                        except OSError:
                            # the server stopped reading (the process ended): stdin is
                            # dropped, as the CLI's copy goroutine gives up; output goes on
                            outgoing.clear()
                            stdin_state = "done"
                    if mask & selectors.EVENT_READ:
                        data = connection.recv(65536)
                        if data == b"":
                            return
                        if data:
                            _output(data, demux)
            if stdin_state == "eof" and not outgoing:
                stdin_state = "done"
                connection.close_write()


def _output(data: bytes, demux: "Demux | None") -> None:
    if demux is None:
        write_all(1, data, reader_gone=True)
        return
    for kind, payload in demux.feed(data):
        write_all(2 if kind == STDERR else 1, payload, reader_gone=True)


def _signals(wake: int, received: list[int], on_resize, on_signal) -> None:
    try:
        while os.read(wake, 256):
            pass
    except BlockingIOError:
        pass
    while received:
        number = received.pop(0)
        if number == signal.SIGWINCH:
            if on_resize is not None and (size := terminal_size()) is not None:
                on_resize(*size)
        elif on_signal is not None:
            on_signal(number)
