"""`attach`: the terminal joined to a running container's streams through its monitor's
attach socket (runtime/container/attach.py), as docker attach: --detach-keys (Ctrl-P Ctrl-Q by
default), --no-stdin, --sig-proxy, the container's exit code as ours."""

from __future__ import annotations

import json
import os
import selectors
import signal
import sys

import click

from pallet.base.errors import PalletError

DEFAULT_KEYS = "ctrl-p,ctrl-q"


class BareError(PalletError):
    bare = True


def detach_sequence(text: str) -> bytes:
    from pallet.runtime.container.attach import InvalidDetachKeys, detach_keys
    try:
        return detach_keys(text)
    except InvalidDetachKeys as error:
        raise BareError(error.message) from None


def _window(fd: int) -> bytes | None:
    import fcntl
    import struct
    import termios
    try:
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    except OSError:
        return None
    return f"{rows} {cols}".encode()


@click.command("attach")
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--sig-proxy", type=click.BOOL, default=True, show_default=True,
              help="Proxy all received signals to the process")
@click.argument("container_ref", metavar="CONTAINER")
@click.pass_context
def attach(ctx, detach_keys, no_stdin, sig_proxy, container_ref) -> None:
    """Attach local standard input, output, and error streams to a running container"""
    from pallet.runtime.container.attach import (EXIT, RESIZE, STDERR, STDIN, STDOUT,
                                                 FrameReader, connect, frame, hello)
    from pallet.runtime.container.lifecycle import get
    try:
        record = get(ctx.obj["root"], container_ref)
    except PalletError as error:
        raise BareError(f"Error response from daemon: {error.message}") from None
    if record.state.get("Paused"):
        raise BareError("You cannot attach to a paused container, unpause it first")
    keys = detach_sequence(detach_keys or DEFAULT_KEYS)
    sock = connect(record.directory) if record.state.get("Running") else None
    if sock is None:
        raise BareError("You cannot attach to a stopped container, start it first")
    config = record.config["Config"]
    tty = bool(config.get("Tty"))
    send_stdin = not no_stdin and bool(config.get("OpenStdin"))
    sock.sendall(hello(stdin=send_stdin, stdout=True, stderr=True))
    saved = None
    if tty and send_stdin and os.isatty(0):
        import termios
        import tty as tty_module
        saved = termios.tcgetattr(0)
        tty_module.setraw(0)
    if tty and os.isatty(0) and (size := _window(0)) is not None:
        sock.sendall(frame(RESIZE, size))
    previous: dict[int, object] = {}
    if sig_proxy and not tty:
        pid = record.state.get("Pid")
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                       signal.SIGUSR1, signal.SIGUSR2):
            previous[number] = signal.signal(number, lambda n, _f: _forward(pid, n))
    code = None
    try:
        code = _pump(sock, send_stdin, keys, tty, FrameReader(), (STDIN, STDOUT, STDERR, EXIT))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sock.close()
    if code is None:        # detached, or the monitor went away without an exit
        return
    sys.exit(code)


def _forward(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def _pump(sock, send_stdin: bool, keys: bytes, tty: bool, reader, kinds) -> int | None:
    """Copy until the container exits (its code), the user detaches or the socket closes
    (None)."""
    from pallet.runtime.container.attach import frame
    stdin_kind, stdout_kind, stderr_kind, exit_kind = kinds
    matched = 0
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        if send_stdin:
            selector.register(0, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fd == 0:
                    data = os.read(0, 65536)
                    if not data:
                        selector.unregister(0)
                        sock.sendall(frame(stdin_kind, b""))     # EOF
                        continue
                    passed = bytearray()
                    for byte in data:
                        if byte == keys[matched]:
                            matched += 1
                            if matched == len(keys):
                                return None                       # Ctrl-P Ctrl-Q: detach
                            continue
                        passed += keys[:matched] + bytes([byte])
                        matched = 0
                    if passed:
                        sock.sendall(frame(stdin_kind, bytes(passed)))
                    continue
                data = sock.recv(65536)
                if not data:
                    return None
                for kind, payload in reader.feed(data):
                    if kind == stdout_kind:
                        os.write(1, payload)
                    elif kind == stderr_kind:
                        os.write(2, payload)
                    elif kind == exit_kind:
                        return int(json.loads(payload or b"{}").get("code", 0))
