"""A private Docker engine for interop tests (docker.io 20.10 on Debian 12, cgroups v1).

    with private_dockerd() as engine:          # or the `dockerd` pytest fixture below
        engine.docker("load", "-i", path)      # runs the docker CLI against it; CompletedProcess
        engine.host                            # "unix:///tmp/pd-xxxx/docker.sock" for DOCKER_HOST

What it starts, and why each flag:
    dockerd --data-root D/data --exec-root D/exec --pidfile D/docker.pid -H unix://D/docker.sock
            --bridge none --iptables=false --ip-masq=false --userland-proxy=false
            --storage-driver overlay2 --cgroup-parent <our own cgroup>/pallet-dockerd-<n>
  - D is a short directory under /tmp: unix socket paths (ours and the containerd socket dockerd
    creates under exec-root) must stay under 108 bytes, which pytest's tmp_path can exceed.
  - dockerd starts its own managed containerd under exec-root/data-root (no system containerd
    runs here), so two engines (pytest -n 2) never share state.
  - no bridge/iptables: no network set-up on the host; run containers with --network none.
    With networking=True (network tests) it gets a bridge of its own instead, which the helper
    creates (a unique name, a free 10.x.y.0/24 no host route covers) and deletes afterwards,
    and user networks from a private 10.x.0.0/16 pool; still --iptables=false (dockerd never
    touches the host's firewall; published ports go through its docker-proxy processes), and
    every network it made is removed before it stops, every bridge of them after.
  - --cgroup-parent: containers' cgroups are created beneath the cgroup this process is in (the
    machine rule), not at /docker in each hierarchy.
It waits for GET /_ping, and on exit stops dockerd by its PID (SIGTERM, then SIGKILL), lazily
unmounts anything still mounted under D, removes the cgroups it made, and deletes D.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

DOCKER = shutil.which("docker") or "docker"
DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
_counter = itertools.count()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self._path)


def _ping(sock_path: str) -> bool:
    try:
        connection = _UnixConnection(sock_path)
        connection.request("GET", "/_ping")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def _own_cgroup() -> str:
    """The deepest cgroup path this process is in (any v1 hierarchy), e.g. /process_api/abc."""
    deepest = "/"
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        path = line.split(":", 2)[2]
        if len(path) > len(deepest):
            deepest = path
    return deepest


def _mounts_under(prefix: str) -> list[str]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            mounts.append(point)
    return sorted(mounts, key=len, reverse=True)


def _remove_cgroups(relative: str) -> None:
    base = Path("/sys/fs/cgroup")
    for hierarchy in base.iterdir():
        target = hierarchy / relative.lstrip("/")
        if target.is_dir() and not target.is_symlink():
            for directory in sorted((p for p in target.rglob("*") if p.is_dir()),
                                    key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                target.rmdir()


@dataclass
class DockerEngine:
    directory: Path
    socket: Path
    pid: int

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["DOCKER_BUILDKIT"] = "0"     # no buildx plugin here: the classic builder
        env["DOCKER_CONFIG"] = str(self.directory / "client")
        return env

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 120,
               check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([DOCKER, *args], input=input, capture_output=True,
                                env=self.env(), timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout.decode()}\n{result.stderr.decode()}")
        return result


def _free_private_net(prefix_len: int) -> str:
    """A random 10.x.0.0/16 (or 10.x.y.0/24) that no route of this host overlaps."""
    import ipaddress
    import random
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                            text=True).stdout.splitlines()
    used = []
    for line in routes:
        for word in line.split()[:2]:  # "10.1.0.0/16 dev ..." or "local 10.1.0.1 dev ..."
            with contextlib.suppress(ValueError):
                used.append(ipaddress.ip_network(word, strict=False))
                break
    for _ in range(200):
        if prefix_len == 16:
            candidate = ipaddress.ip_network(f"10.{random.randrange(64, 250)}.0.0/16")
        else:
            candidate = ipaddress.ip_network(
                f"10.{random.randrange(64, 250)}.{random.randrange(1, 255)}.0/24")
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise RuntimeError("no free 10.x network for a private dockerd")


def _delete_link(name: str) -> None:
    subprocess.run(["ip", "link", "delete", name], capture_output=True)


@contextlib.contextmanager
def private_dockerd(start_timeout: float = 60, *, networking: bool = False) -> Iterator[DockerEngine]:
    if not os.path.exists(DOCKERD):
        raise RuntimeError("dockerd is not installed (package docker.io): run ./scripts/setup")
    directory = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))
    sock = directory / "docker.sock"
    cgroup_parent = f"{_own_cgroup().rstrip('/')}/pallet-dockerd-{os.getpid()}-{next(_counter)}"
    network_flags = ["--bridge", "none", "--userland-proxy=false"]
    bridge = None
    if networking:
        bridge = f"pdbr{os.urandom(3).hex()}"
        subnet = _free_private_net(24)
        gateway = subnet.rsplit(".", 1)[0] + ".1/24"
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", gateway, "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        network_flags = ["--bridge", bridge, "--userland-proxy=true",
                         "--default-address-pool", f"base={_free_private_net(16)},size=24"]
    log = open(directory / "dockerd.log", "wb")
    process = subprocess.Popen(
        [DOCKERD, "--data-root", str(directory / "data"), "--exec-root", str(directory / "exec"),
         "--pidfile", str(directory / "docker.pid"), "-H", f"unix://{sock}",
         *network_flags, "--iptables=false", "--ip-masq=false",
         "--storage-driver", "overlay2", "--cgroup-parent", cgroup_parent],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    engine = None
    try:
        deadline = time.monotonic() + start_timeout
        while not _ping(str(sock)):
            if process.poll() is not None:
                raise RuntimeError(f"dockerd exited with {process.returncode}:\n"
                                   + (directory / "dockerd.log").read_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError("dockerd did not answer /_ping in time:\n"
                                   + (directory / "dockerd.log").read_text()[-3000:])
            time.sleep(0.1)
        engine = DockerEngine(directory=directory, socket=sock, pid=process.pid)
        yield engine
    finally:
        networks = _remove_networks(engine) if networking and engine is not None else []
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        # The managed containerd is dockerd's child in the session we created for it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        libc = ctypes.CDLL(None, use_errno=True)
        for point in _mounts_under(str(directory)):
            libc.umount2(point.encode(), 2)  # MNT_DETACH
        _remove_cgroups(cgroup_parent)
        for network_id in networks:
            _delete_link(f"br-{network_id[:12]}")
        if bridge is not None:
            _delete_link(bridge)
        shutil.rmtree(directory, ignore_errors=True)


def _remove_networks(engine: DockerEngine) -> list[str]:
    """Remove every container and user network of the engine; returns the networks' IDs (their
    bridges, br-<id>, are deleted once the engine has stopped, should any remain)."""
    containers = engine.docker("ps", "-aq", check=False).stdout.decode().split()
    if containers:
        engine.docker("rm", "-f", *containers, check=False)
    listed = engine.docker("network", "ls", "-q", "--no-trunc", "--filter", "type=custom",
                           check=False).stdout.decode().split()
    for network_id in listed:
        engine.docker("network", "rm", network_id, check=False)
    return listed


@pytest.fixture(scope="module")
def dockerd() -> Iterator[DockerEngine]:
    """One private engine per test module (starting one costs ~2 s)."""
    with private_dockerd() as engine:
        yield engine


@pytest.fixture(scope="module")
def networked_dockerd() -> Iterator[DockerEngine]:
    """A private engine with a bridge of its own (see the module docstring)."""
    with private_dockerd(networking=True) as engine:
        yield engine
