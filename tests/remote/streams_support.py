"""Helpers for the remote streaming tests: the CLI against `pallet serve` (the tests/api
fixture's server) and against the same store locally, and a terminal the test holds.

    remote(api, *args, input=None) -> CompletedProcess      pallet -H unix://... ARGS
    local(api, *args, input=None) -> CompletedProcess       pallet --root STORE ARGS
    Terminal(argv, rows, columns)                           the command on a pty of ours, as
        .send(bytes) .read_until(bytes) .resize(r, c) .wait() its controlling terminal
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time

from tests.conftest import PALLET


def remote_env(api) -> dict:
    env = dict(os.environ)
    # the client's own store is never the subject: keep it away from /var/lib/pallet
    env["PALLET_ROOT"] = str(api.directory / "client-root")
    env.pop("DOCKER_HOST", None)
    env.pop("PALLET_HOST", None)
    return env


def remote_argv(api, *args: str) -> list[str]:
    return [str(PALLET), "-H", api.host, *args]


def remote(api, *args: str, input: bytes | None = None, timeout: float = 120,
           **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(remote_argv(api, *args), input=input, capture_output=True,
                          env=remote_env(api), timeout=timeout, **kwargs)


def local(api, *args: str, input: bytes | None = None, timeout: float = 120,
          **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PALLET_ROOT", None)
    return subprocess.run([str(PALLET), "--root", str(api.root), *args], input=input,
                          capture_output=True, env=env, timeout=timeout, **kwargs)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout.decode()


class Terminal:
    """argv with a pty of ours as its controlling terminal (stdin, stdout and stderr)."""

    def __init__(self, argv: list[str], *, env: dict, rows: int = 24, columns: int = 80) -> None:
        self.pid, self.master = pty.fork()
        if self.pid == 0:    # the child: pty.fork made the pty its controlling terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = b""
        self.status: int | None = None

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, wanted: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        while wanted not in self.seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.seen += chunk
        assert wanted in self.seen, f"{wanted!r} never shown; the terminal shows:\n" \
                                    f"{self.seen.decode(errors='replace')}"
        return self.seen

    def ask_until(self, command: bytes, wanted: bytes, timeout: float = 20) -> None:
        """Type command until its output shows wanted: for what is set shortly after a start
        (the window size is one more HTTP request, slower over ssh on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while True:
            self.send(command)
            try:
                self.read_until(wanted, timeout=min(2.0, max(deadline - time.monotonic(), 0.1)))
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def resize(self, rows: int, columns: int) -> None:
        """As a terminal window does: the kernel sends SIGWINCH to the foreground group."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                self._drain()
                os.close(self.master)
                return self.status
            self._drain(0.1)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.master)
        raise AssertionError(f"the command did not end; the terminal shows:\n"
                             f"{self.seen.decode(errors='replace')}")

    def _drain(self, wait: float = 0) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], wait)
            if not ready:
                return
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.seen += chunk


def read_exactly(stream, wanted: bytes, timeout: float = 30) -> None:
    """Read a child's pipe until it has given wanted (and assert that it does)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while len(seen) < len(wanted) and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            chunk = os.read(stream.fileno(), len(wanted) - len(seen))
            if not chunk:
                break
            seen += chunk
    assert seen == wanted, (seen, wanted)
