"""A pallet host reachable over ssh for tests: tests/sshhost.py's sshd in a network namespace,
whose sessions find this venv's `pallet` and a `docker` stand-in (pallet.remote.shim) first on
PATH, and PALLET_HOST pointing at the test's `pallet serve` (the `api` fixture's recording
proxy, so every response is checked against the spec). The filesystem is shared, so "the
host's" pallet is this checkout.

    with ssh_remote(api, client_env) as remote:
        remote.url, remote.env (the client's: an `ssh` on PATH that knows the host and key),
        remote.host (the SshHost), remote.masters() (ssh ControlMaster sockets left)
Teardown ends every ssh master connection the client left (ssh -O exit), then the sshd.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pallet.remote.shim import docker_shim
from tests.sshhost import SshHost, ssh_host

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class SshRemote:
    host: SshHost
    url: str
    env: dict

    def control_dir(self) -> Path:
        return Path(self.env["XDG_RUNTIME_DIR"]) / "pallet-ssh"

    def masters(self) -> list[Path]:
        directory = self.control_dir()
        return sorted(directory.iterdir()) if directory.exists() else []

    def logins(self) -> int:
        """ssh connections the host authenticated (sessions multiplexed on one count once)."""
        log = self.host.directory / "sshd.log"
        return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0

    def end_masters(self) -> None:
        for socket_path in self.masters():
            subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "x"],
                           capture_output=True, timeout=20)


@contextlib.contextmanager
def ssh_remote(api, client_env: dict, *, log_commands: bool = True):
    shim_dir = api.directory / "host-bin"
    shim_dir.mkdir(exist_ok=True)
    shim = shim_dir / "docker"
    shim.write_text(docker_shim(sys.executable, api.proxy_socket))
    shim.chmod(0o755)
    host_path = f"{shim_dir}:{Path(sys.executable).parent}:{SYSTEM_PATH}"
    with ssh_host(set_env={"PATH": host_path, "PALLET_HOST": f"unix://{api.proxy_socket}"},
                  log_commands=log_commands) as host:
        env = dict(client_env)
        env["PATH"] = f"{host.client_bin()}:{os.environ.get('PATH', SYSTEM_PATH)}"
        remote = SshRemote(host=host, url=host.url(), env=env)
        try:
            yield remote
        finally:
            remote.end_masters()
