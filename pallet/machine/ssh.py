"""The OpenSSH client, run as a subprocess, for provisioning and `machine ssh`.

    Ssh(address, known_hosts).run("uname -s", input=b"") -> CompletedProcess
    Ssh(...).check(command, what="...")  -> stdout bytes, or PalletError naming what failed
    Ssh(...).interactive(argv) -> exit status (a tty when ours is one)

OpenSSH rather than paramiko: it is what docker-machine's "external" client and Docker's ssh://
use, it honours the user's agent and ~/.ssh/config, and it costs no import. BatchMode (never a
prompt: a missing key is an error, not a hang) and a known_hosts file of the machine's own,
filled on first contact (accept-new) and checked on every later one, so a changed host key is
refused instead of silently trusted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.machine.drivers import SshAddress

CONNECT_TIMEOUT = 10


class Ssh:
    def __init__(self, address: SshAddress, known_hosts: Path) -> None:
        self.address = address
        self.known_hosts = known_hosts

    def options(self) -> list[str]:
        options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
                   "-o", "StrictHostKeyChecking=accept-new",
                   "-o", f"UserKnownHostsFile={self.known_hosts}",
                   "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=15",
                   "-p", str(self.address.port), "-l", self.address.user]
        if self.address.key:
            options += ["-o", "IdentitiesOnly=yes", "-i", self.address.key]
        return options

    def argv(self, command: str | None = None, tty: bool = False) -> list[str]:
        argv = ["ssh", *self.options(), "-t" if tty else "-T", self.address.host]
        if command is not None:
            argv += ["--", command]
        return argv

    def run(self, command: str, *, input: bytes | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(self.argv(command), input=input, capture_output=True,
                                  timeout=timeout, stdin=None if input is not None
                                  else subprocess.DEVNULL)
        except FileNotFoundError as error:
            raise PalletError("ssh: the OpenSSH client is not installed",
                              hint="install it (Debian: apt-get install openssh-client)") from error
        except subprocess.TimeoutExpired as error:
            raise PalletError(f"ssh {self.where()}: `{_short(command)}` did not finish within "
                              f"{timeout:.0f} seconds") from error

    def check(self, command: str, *, what: str, input: bytes | None = None,
              timeout: float = 600) -> bytes:
        result = self.run(command, input=input, timeout=timeout)
        if result.returncode == 255:
            raise connection_error(self, result.stderr)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise PalletError(f"{what} on {self.where()} failed (exit status "
                              f"{result.returncode}): {_tail(detail)}")
        return result.stdout

    def interactive(self, argv: list[str]) -> int:
        # joined as ssh itself joins its command words (and docker-machine ssh): the remote
        # shell parses the line
        command = " ".join(argv) if argv else None
        tty = os.isatty(0) and os.isatty(1)
        try:
            return subprocess.call(self.argv(command, tty=tty))
        except FileNotFoundError as error:
            raise PalletError("ssh: the OpenSSH client is not installed") from error

    def where(self) -> str:
        port = "" if self.address.port == 22 else f":{self.address.port}"
        return f"{self.address.user}@{self.address.host}{port}"


def connection_error(ssh: Ssh, stderr: bytes) -> PalletError:
    """ssh's exit status 255 (it could not connect or log in) as one clear paragraph."""
    text = stderr.decode(errors="replace").strip()
    where = ssh.where()
    if "Permission denied" in text:
        return PalletError(
            f"ssh {where}: permission denied: the host refused the key "
            f"{ssh.address.key or '(ssh defaults)'} for user {ssh.address.user}",
            hint="check --generic-ssh-key and --generic-ssh-user")
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION" in text:
        return PalletError(
            f"ssh {where}: the host key differs from the one recorded in {ssh.known_hosts}: "
            "the host was reinstalled, or someone is in between", hint="if the host was "
            f"reinstalled, remove its line from {ssh.known_hosts}")
    return PalletError(f"could not reach {where} over ssh: {_tail(text) or 'connection failed'}",
                       hint="check the address and port, and that sshd runs there")


def _short(command: str) -> str:
    return command if len(command) < 60 else command[:57] + "..."


def _tail(text: str, lines: int = 6) -> str:
    return " / ".join(text.splitlines()[-lines:])
