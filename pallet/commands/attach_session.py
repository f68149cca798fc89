"""The attached session, click-free (`run -it` and `exec -t` start without importing click):
the terminal joined to a running container's streams through its monitor's attach socket
(runtime/container/attach.py), --detach-keys (Ctrl-P Ctrl-Q by default; only with a TTY, as
docker), raw mode, and the errors docker prints bare. `pallet attach` (attach.py) and
`start -ai` use the same session.

`run -it` does not keep the monitor in the CLI process: the container's parent must outlive a
CLI that detaches, so the monitor is forked as for `run -d` and the CLI attaches to it as a
client handed over before the start (no output byte is missed).
"""

from __future__ import annotations

import json
import os
import selectors
import signal

from pallet.base.errors import PalletError
from pallet.base.fdio import write_all

DEFAULT_KEYS = "ctrl-p,ctrl-q"
DETACHED = "detached"


class BareError(PalletError):
    bare = True


def detach_sequence(text: str | None, *, exec_: bool = False) -> bytes:
    """--detach-keys as docker parses them (an empty value is the default). A bad value is
    refused in docker's words: exec's comes from the daemon's exec create; attach, run and
    start -a get only the failed attach upgrade's status from the docker CLI."""
    from pallet.runtime.container.detachkeys import InvalidDetachKeys, detach_keys
    try:
        return detach_keys(text or DEFAULT_KEYS, word="escape")
    except InvalidDetachKeys:
        if exec_:
            raise BareError(f"Error response from daemon: Invalid escape keys ({text}) provided",
                            exit_code=1) from None
        raise BareError("unable to upgrade to tcp, received 400", exit_code=1) from None


def _window(fd: int) -> bytes | None:
    import fcntl
    import struct
    import termios
    try:
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    except OSError:
        return None
    return f"{rows} {cols}".encode()


def run_attached(root, record, keys: bytes) -> int:
    """`run -it` / `start -ai`: start the container under a forked monitor with our terminal
    attached from its first byte; return its exit code, or 0 when the user detaches (docker
    run prints nothing then: the container runs on)."""
    import socket
    from pallet.runtime.container.attach import hello
    from pallet.runtime.container.monitor import start_detached

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    size = _window(0)
    ours.sendall(hello(stdin=True, stdout=True, stderr=True,
                       console_size=tuple(map(int, size.split())) if size else None))
    saved = raw_terminal()
    try:
        try:
            started = start_detached(root, record.id, clients=[theirs])
        finally:
            theirs.close()
        monitor = _pidfd(started.state.get("MonitorPid"))
        result = session(ours, tty=True, send_stdin=True, keys=keys, proxy_pid=None,
                         raw_already=True)
    finally:
        restore_terminal(saved)
    if result == DETACHED:
        return 0
    if monitor is not None:
        # --rm: the monitor removes the container after telling us its exit; docker run
        # returns once it is gone, so a following `ps -a` never sees it
        if started.config["HostConfig"].get("AutoRemove"):
            _wait_readable(monitor, 60)
        os.close(monitor)
    if result is None:   # the monitor went away without an exit: what the record says
        from pallet.runtime.container.lifecycle import get
        try:
            return int(get(root, record.id).state.get("ExitCode") or 0)
        except PalletError:
            return 0
    return result


def _pidfd(pid) -> int | None:
    if not pid:
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def _wait_readable(fd: int, timeout: float) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        selector.select(timeout)


def raw_terminal():
    if not os.isatty(0):
        return None
    import termios
    import tty as tty_module
    saved = termios.tcgetattr(0)
    tty_module.setraw(0)
    return saved


def restore_terminal(saved) -> None:
    if saved is not None:
        import termios
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


def session(sock, *, tty: bool, send_stdin: bool, keys: bytes, proxy_pid: int | None,
            raw_already: bool = False):
    """Copy between our stdio and an attach socket whose hello is sent: the container's exit
    code, DETACHED when the user typed the detach keys, None when the socket closed."""
    from pallet.runtime.container.attach import RESIZE, frame
    saved = raw_terminal() if tty and send_stdin and not raw_already else None
    previous: dict[int, object] = {}
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    if proxy_pid:
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                       signal.SIGUSR1, signal.SIGUSR2):
            previous[number] = signal.signal(number, lambda n, _f: _forward(proxy_pid, n))
    if tty and os.isatty(0):
        # the handler only wakes the loop: a frame written from a handler could land in the
        # middle of one the loop is writing
        previous[signal.SIGWINCH] = signal.signal(
            signal.SIGWINCH, lambda *_: os.write(wake_w, b"w"))
        if (size := _window(0)) is not None:
            sock.sendall(frame(RESIZE, size))
    try:
        return _pump(sock, send_stdin, keys if tty else b"", wake_r)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        restore_terminal(saved)
        os.close(wake_r)
        os.close(wake_w)
        sock.close()


def _forward(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def _pump(sock, send_stdin: bool, keys: bytes, wake: int):
    from pallet.runtime.container.attach import (EXIT, RESIZE, STDERR, STDIN, STDOUT,
                                                 FrameReader, frame)
    from pallet.runtime.container.detachkeys import DetachScanner
    scanner = DetachScanner(keys)
    reader = FrameReader()
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        if send_stdin:
            selector.register(0, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fd == wake:
                    os.read(wake, 64)
                    if (size := _window(0)) is not None:
                        sock.sendall(frame(RESIZE, size))
                    continue
                if key.fd == 0:
                    data = os.read(0, 65536)
                    if not data:
                        selector.unregister(0)
                        sock.sendall(frame(STDIN, b""))     # EOF
                        continue
                    passed, detached = scanner.feed(data)
                    if passed:
                        sock.sendall(frame(STDIN, passed))
                    if detached:
                        return DETACHED
                    continue
                data = sock.recv(65536)
                if not data:
                    return None
                for kind, payload in reader.feed(data):
                    if kind == STDOUT:
                        write_all(1, payload)
                    elif kind == STDERR:
                        write_all(2, payload)
                    elif kind == EXIT:
                        return int(json.loads(payload or b"{}").get("code", 0))



