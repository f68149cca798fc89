"""HTTP over ssh, as the docker CLI does it: each HTTP connection is one
`ssh -T [-l user] [-p port] -- HOST pallet system dial-stdio` whose stdin and stdout are one end
of a socketpair, so the HTTP client (and a hijacked attach/exec stream) holds a real socket:
timeouts, shutdown(SHUT_WR) for a half-close, and select() work unchanged.

Unlike the docker CLI (one ssh session per HTTP connection, 3 for a `docker run`), the sessions
share one ssh connection: ControlMaster=auto with ControlPersist, the control sockets in a
private directory (0700, ours), so the second HTTP connection of a command, and the next
command, skip the TCP and key exchange. BatchMode: a missing key is an error, never a prompt.

docker-py's own ssh transports are not used: its shell-out runs `docker system dial-stdio` with
no way to pass ssh options, and its paramiko mode cannot multiplex through ssh's master.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

import requests.adapters
import urllib3.connection
import urllib3.connectionpool

from pallet.base.errors import PalletError
from pallet.remote.hosts import Host

REMOTE_COMMAND = ("pallet", "system", "dial-stdio")
CONTROL_PERSIST = "60"     # seconds an idle master connection waits for the next command


def control_dir() -> Path:
    """Where the master connections' sockets live: private to this user."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    directory = Path(runtime) / "pallet-ssh" if runtime else None
    # ssh binds ControlPath plus a 17-character temporary suffix: a Unix socket path stays
    # under 108 bytes, and %C is 40 hex digits
    if directory is None or len(str(directory)) + 1 + 40 + 17 >= 108:
        directory = Path(f"/tmp/pallet-ssh-{os.getuid()}")
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError as error:
        raise PalletError(f"cannot make the ssh control directory {directory}: "
                          f"{error.strerror}") from error
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        # another user's directory would let them speak through our ssh connections
        raise PalletError(f"the ssh control directory {directory} is not a private directory "
                          "of this user (it must be ours and mode 0700)",
                          hint="remove it, or set XDG_RUNTIME_DIR to a private directory")
    return directory


def ssh_argv(host: Host, directory: Path) -> list[str]:
    argv = ["ssh", "-o", "ConnectTimeout=30", "-o", "BatchMode=yes",
            "-o", "ControlMaster=auto", "-o", f"ControlPath={directory}/%C",
            "-o", f"ControlPersist={CONTROL_PERSIST}", "-T"]
    if host.user:
        argv += ["-l", host.user]
    if host.port:
        argv += ["-p", str(host.port)]
    return argv + ["--", host.address, *REMOTE_COMMAND]


class SshDialer:
    """Starts one ssh session per connection and remembers why the last one failed."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.argv = ssh_argv(host, control_dir())
        self._sessions: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    def dial(self, timeout: float | None) -> socket.socket:
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(self.argv, stdin=theirs, stdout=theirs,
                                       stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError as error:
            ours.close()
            raise PalletError("cannot reach an ssh:// host: no `ssh` command on PATH",
                              hint="install the OpenSSH client (apt-get install "
                                   "openssh-client)") from error
        finally:
            theirs.close()
        with self._lock:
            self._sessions.append(process)
        ours.settimeout(timeout)
        return ours

    def failure(self, wait: float = 2.0) -> str | None:
        """ssh's own account of a session that ended with an error (its stderr), if any."""
        with self._lock:
            sessions = list(self._sessions)
        for process in reversed(sessions):
            try:
                code = process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if code:
                text = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
                return f"ssh exited with status {code}" + (f": {text}" if text else "")
        return None

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for process in sessions:
            if process.stderr:
                process.stderr.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _SshConnection(urllib3.connection.HTTPConnection):
    def __init__(self, dialer: SshDialer, timeout) -> None:
        super().__init__("localhost", timeout=timeout)
        self.dialer = dialer

    def connect(self) -> None:
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
        self.sock = self.dialer.dial(timeout)


class _SshPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, dialer: SshDialer, timeout, maxsize: int) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self.dialer = dialer

    def _new_conn(self) -> _SshConnection:
        return _SshConnection(self.dialer, self.timeout)


class SshAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter whose every connection is an ssh session (see the module doc)."""

    def __init__(self, dialer: SshDialer, timeout: float, max_pool_size: int = 10) -> None:
        self.dialer = dialer
        self._pool = _SshPool(dialer, timeout, max_pool_size)
        super().__init__()

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self._pool

    def get_connection(self, url, proxies=None):
        return self._pool

    def request_url(self, request, proxies):
        return request.path_url

    def close(self) -> None:
        super().close()
        self._pool.close()
        self.dialer.close()
