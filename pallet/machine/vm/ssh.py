"""ssh into a pallet VM: the machine's own key, one multiplexed connection (ControlMaster), so
the many short commands of provisioning and of the tests pay the key exchange once (seconds
under TCG each otherwise).

    ensure_key(directory)                 <directory>/id_ed25519(.pub), made once
    Client(directory, port).run(argv)     a command in the guest as root
    Client.put(local, remote)             a file into the guest (scp over the same connection)
    Client.close()                        ends the master connection (the one process it keeps)
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from pallet.base.errors import PalletError


def ensure_key(directory: Path) -> Path:
    key = directory / "id_ed25519"
    if not key.exists():
        tool = shutil.which("ssh-keygen")
        if tool is None:
            raise PalletError("ssh-keygen is not installed on this host: a qemu machine needs "
                              "it (apt-get install openssh-client)")
        subprocess.run([tool, "-q", "-t", "ed25519", "-N", "", "-C", f"pallet@{directory.name}",
                        "-f", str(key)], check=True, stdin=subprocess.DEVNULL)
    return key


def control_path(directory: Path) -> Path:
    """The master connection's socket: in a short private directory, not in the VM's own (ssh
    adds 17 characters to it while binding, and a socket path must stay under 108 bytes, which
    a machine directory under a test's temp dir already nears)."""
    private = Path(tempfile.gettempdir()) / f"pallet-ssh-{os.geteuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    if private.stat().st_uid != os.geteuid() or private.stat().st_mode & 0o077:
        raise PalletError(f"{private} is not a private directory of this user: remove it")
    return private / hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]


class Client:
    def __init__(self, directory: Path, port: int, user: str = "root") -> None:
        self.directory = directory
        self.port = port
        self.user = user
        self.control = control_path(directory)

    def options(self) -> list[str]:
        return ["-i", str(self.directory / "id_ed25519"), "-o", "IdentitiesOnly=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
                "-o", "ServerAliveInterval=15",
                "-o", "ControlMaster=auto", "-o", f"ControlPath={self.control}",
                "-o", "ControlPersist=300"]

    def banner(self) -> bool:
        """Whether sshd answers (qemu's forwarder accepts the TCP connection before the guest
        listens: only the SSH banner tells)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
                conn.settimeout(5)
                return conn.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def argv(self, command: list[str] | str) -> list[str]:
        text = command if isinstance(command, str) else shlex.join(command)
        return ["ssh", *self.options(), "-p", str(self.port), f"{self.user}@127.0.0.1", text]

    def run(self, command: list[str] | str, *, check: bool = True, timeout: float = 600,
            input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run in the guest; stdout/stderr captured as text."""
        try:
            result = subprocess.run(self.argv(command), input=input, capture_output=True,
                                    timeout=timeout,
                                    stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            raise PalletError(f"the command timed out in the VM after {timeout:.0f} s: "
                              f"{command}") from error
        result = subprocess.CompletedProcess(result.args, result.returncode,
                                             result.stdout.decode(errors="replace"),
                                             result.stderr.decode(errors="replace"))
        if check and result.returncode != 0:
            raise PalletError(f"the command failed in the VM (exit {result.returncode}): "
                              f"{command}\n{result.stderr.strip()}")
        return result

    def put(self, local: Path, remote: str) -> None:
        result = subprocess.run(["scp", "-q", *self.options(), "-P", str(self.port), "-r",
                                 str(local), f"{self.user}@127.0.0.1:{remote}"],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise PalletError(f"could not copy {local} into the VM: {result.stderr.strip()}")

    def close(self) -> None:
        """Stop the master connection, if one is up."""
        if self.control.exists():
            subprocess.run(["ssh", *self.options(), "-p", str(self.port), "-O", "exit",
                            f"{self.user}@127.0.0.1"], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=30)
