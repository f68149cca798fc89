"""A "remote host" for tests: OpenSSH's sshd in a network namespace of its own.

    from tests.sshhost import ssh_host
    with ssh_host() as host:                       # or the `sshhost` fixture below
        host.run("uname -s")                       # as root, over ssh, across the veth
        host.url()                                 # 'ssh://root@10.A.B.2'
        host.ssh_config()                          # a client config (alias "sshhost")
        bin_dir = host.client_bin()                # an `ssh` wrapper using that config

The namespace has only a network of its own: a veth pair joins it to this host (10.A.B.1/30 here,
10.A.B.2/30 there, from a /24 no route covers: tests/netutil.free_net), and the sshd in it
(Debian's openssh-server, started by the test with temporary host and user keys, `UsePAM no`,
its own config and pidfile in a temp dir) listens on the namespace's address only. It also gets
a mount namespace of its own (a slave of this host's), where /sys/class/net and
/sys/devices/virtual/net come from a sysfs mounted in the network namespace, so they list its own
interfaces, as on a real remote (pallet reads them); the rest of /sys, cgroups included, stays
(`ip netns exec` remounts all of /sys and loses the cgroup mounts). Files are shared with this
machine: whatever is installed "on the remote" lands here too, so tests point installs at a
directory they own and remove. Mounts made there (containers' roots) stay there: read them in
/proc/<host.sshd_pid>/mountinfo.

Teardown stops sshd by its PID, stops any process still in the namespace (what ssh sessions
started and left behind; `processes()` lists them so a test can assert there are none), and
removes the namespace, the veth pair, the temporary users and the temp dir.

Options: `set_env` becomes sshd's SetEnv (e.g. PATH with a prefix's bin first: the shared
filesystem already has a `docker` in /usr/local/bin); `log_commands=True` runs every session
through a wrapper that appends $SSH_ORIGINAL_COMMAND to `host.command_log` (read `commands()`).
`add_user()` makes a temporary non-root account that can log in (for "no root" tests).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)


@dataclass
class SshHost:
    netns: str              # the namespace's name (ip netns)
    address: str            # the namespace's address, where sshd listens
    host_address: str       # this host's end of the veth pair
    port: int
    directory: Path         # keys, configs, logs (removed at teardown)
    key: Path               # root's private key (its public half is authorized)
    known_hosts: Path       # the sshd's host key, for `address`
    command_log: Path
    users: dict[str, Path] = field(default_factory=dict)   # login -> private key
    sshd_pid: int = 0
    _made_users: list[str] = field(default_factory=list)

    def url(self, user: str = "root") -> str:
        port = "" if self.port == 22 else f":{self.port}"
        return f"ssh://{user}@{self.address}{port}"

    def ssh_options(self, key: Path | None = None) -> list[str]:
        return ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", str(key or self.key),
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=10", "-p", str(self.port)]

    def ssh_argv(self, user: str = "root", key: Path | None = None) -> list[str]:
        """`ssh ... user@address` (append the remote command)."""
        key = key or self.users.get(user, self.key)
        return ["ssh", *self.ssh_options(key), "-T", f"{user}@{self.address}", "--"]

    def run(self, command: str, user: str = "root", check: bool = True,
            timeout: float = 60, input: bytes | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(self.ssh_argv(user) + [command], capture_output=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"ssh {user}@{self.address} {command!r} exited "
                                 f"{result.returncode}: {result.stderr.decode(errors='replace')}")
        return result

    def ssh_config(self, path: Path | None = None, alias: str = "sshhost",
                   user: str = "root") -> Path:
        """A client config: `ssh -F PATH ALIAS` (and the address itself) reach the host as
        `user` with its key, checking the host key."""
        path = path or self.directory / "ssh_config"
        key = self.users.get(user, self.key)
        path.write_text(
            f"Host {alias} {self.address}\n"
            f"  HostName {self.address}\n  Port {self.port}\n  User {user}\n"
            f"  IdentityFile {key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n")
        path.chmod(0o600)
        return path

    def client_bin(self, user: str = "root") -> Path:
        """A directory holding an `ssh` that uses ssh_config(): put it first on PATH for
        clients that run plain `ssh` (the docker CLI, docker-py's ssh client mode), since
        ssh reads ~/.ssh of the passwd entry, not $HOME."""
        directory = self.directory / f"bin-{user}"
        directory.mkdir(exist_ok=True)
        config = self.ssh_config(self.directory / f"ssh_config-{user}", user=user)
        wrapper = directory / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {config} "$@"\n')
        wrapper.chmod(0o755)
        return directory

    def add_user(self, login: str | None = None) -> tuple[str, Path]:
        """A temporary non-root account (no sudo) that can log in with its own key."""
        login = login or f"pmu{os.urandom(3).hex()}"
        home = self.directory / f"home-{login}"
        subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", login],
                       check=True, capture_output=True)
        self._made_users.append(login)
        # "*" rather than useradd's "!": with UsePAM no, sshd refuses a locked ("!") account
        # even for key logins
        subprocess.run(["usermod", "-p", "*", login], check=True, capture_output=True)
        home.mkdir(mode=0o755)
        shutil.chown(home, login, login)
        key = self.directory / f"id_{login}"
        _keygen(key, login)
        self._authorize(login, key)
        self.users[login] = key
        return login, key

    def _authorize(self, login: str, key: Path) -> None:
        public = (key.with_suffix(".pub") if key.suffix else Path(f"{key}.pub")).read_text()
        prefix = f'command="{self.directory / "logcmd.sh"}" ' if (self.directory / "logcmd.sh").exists() else ""
        path = self.directory / "authorized_keys" / login
        path.write_text(prefix + public)
        path.chmod(0o644)   # sshd reads it as the user

    def commands(self) -> list[str]:
        """The remote commands sessions asked for (with log_commands=True)."""
        if not self.command_log.exists():
            return []
        return self.command_log.read_text().splitlines()

    def _inode(self) -> int:
        return os.stat(f"/run/netns/{self.netns}").st_ino

    def processes(self, exclude: tuple[int, ...] = ()) -> list[int]:
        """PIDs of processes in the namespace, sshd's listener and `exclude` left out."""
        inode, found = self._inode(), []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in exclude or int(entry) == self.sshd_pid:
                continue
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                    found.append(int(entry))
        return found


def _free_port_ready(address: str, port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited {process.returncode}: "
                               f"{log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError):
            socket.create_connection((address, port), timeout=1).close()
            return
        time.sleep(0.05)
    raise RuntimeError("sshd never listened")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stop(pid: int, timeout: float = 10) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def ssh_host(*, set_env: dict[str, str] | None = None, log_commands: bool = False,
             port: int = 22):
    """An sshd in a fresh network namespace; see the module's docstring."""
    from tests.netutil import free_net
    tag = os.urandom(3).hex()
    netns, host_end, far_end = f"pm-{tag}", f"vpm{tag}h", f"vpm{tag}r"
    net = free_net()
    host_address, address = f"{net}.1", f"{net}.2"
    directory = Path(tempfile.mkdtemp(prefix=f"sshhost-{tag}-"))
    directory.chmod(0o755)   # sshd reads a user's authorized_keys as that user
    host = SshHost(netns=netns, address=address, host_address=host_address, port=port,
                   directory=directory, key=directory / "id_root",
                   known_hosts=directory / "known_hosts", command_log=directory / "commands.log")
    process = None
    made_netns = made_veth = False
    try:
        _ip("netns", "add", netns)
        made_netns = True
        _ip("link", "add", host_end, "type", "veth", "peer", "name", far_end, "netns", netns)
        made_veth = True
        _ip("addr", "add", f"{host_address}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("-n", netns, "addr", "add", f"{address}/30", "dev", far_end)
        _ip("-n", netns, "link", "set", far_end, "up")
        _ip("-n", netns, "link", "set", "lo", "up")

        _keygen(directory / "ssh_host_ed25519_key", "sshhost")
        _keygen(host.key, "root")
        host_public = (directory / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        prefix = address if port == 22 else f"[{address}]:{port}"
        host.known_hosts.write_text(f"{prefix} {' '.join(host_public)}\n")
        (directory / "authorized_keys").mkdir(mode=0o755)
        if log_commands:
            wrapper = directory / "logcmd.sh"
            wrapper.write_text(
                "#!/bin/sh\n"
                f"printf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" >> {host.command_log}\n"
                'if [ -z "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/sh -l; fi\n'
                'exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n')
            wrapper.chmod(0o755)
        host._authorize("root", host.key)
        env_line = ""
        if set_env:
            env_line = "SetEnv " + " ".join(f'{k}="{v}"' for k, v in set_env.items()) + "\n"
        config = directory / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress {address}\n"
            f"HostKey {directory / 'ssh_host_ed25519_key'}\n"
            f"PidFile {directory / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {directory / 'authorized_keys'}/%u\n"
            "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nX11Forwarding no\nPrintMotd no\n"
            # many clients at once (the docker CLI opens one session per HTTP connection)
            "MaxStartups 100\nMaxSessions 100\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\nLogLevel VERBOSE\n" + env_line)
        # sshd's privilege separation directory (the package's tmpfiles.d makes it at boot)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        log = directory / "sshd.log"
        sysfs = directory / "sys"
        sysfs.mkdir()
        start = (f"mount -t sysfs sysfs {sysfs} && "
                 f"mount --bind {sysfs}/class/net /sys/class/net && "
                 f"mount --bind {sysfs}/devices/virtual/net /sys/devices/virtual/net && "
                 f'exec {SSHD} -D -f {config} -E {log}')
        process = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", "unshare",
                                    "--mount", "--propagation", "slave", "sh", "-c", start],
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        host.sshd_pid = process.pid
        _free_port_ready(address, port, process, log)
        yield host
    finally:
        if process is not None:
            _stop(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if made_netns:
            host.sshd_pid = 0
            for pid in host.processes():
                _stop(pid, timeout=5)
        if made_veth:
            subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        if made_netns:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        for login in host._made_users:
            subprocess.run(["userdel", login], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def sshhost():
    """An ssh-reachable "remote host" for one test (import this fixture into a test module
    or conftest: `from tests.sshhost import sshhost`)."""
    with ssh_host() as host:
        yield host
