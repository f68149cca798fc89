"""A soak: 200 create/start/wait/rm cycles from 4 concurrent SDK clients. No cycle fails,
nothing is left behind (containers, their monitors, their cgroups), and the server's memory
stays flat (what it holds after the second half is what it held after the first)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]

CYCLES, CLIENTS = 200, 4


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


CREATED: list[str] = []


def _cycles(api, count: int, failures: list) -> None:
    import docker
    low = docker.APIClient(base_url=api.host, version="1.44")
    for number in range(count):
        try:
            # no network: the soak is the API's and the lifecycle's (networking has its own)
            created = low.create_container("busybox", ["sh", "-c", f"echo {number}"],
                                           host_config=low.create_host_config(
                                               network_mode="none"))
            CREATED.append(created["Id"])
            low.start(created["Id"])
            code = low.wait(created["Id"])["StatusCode"]
            output = low.logs(created["Id"])
            low.remove_container(created["Id"])
            if code != 0 or output != f"{number}\n".encode():
                failures.append((number, code, output))
        except Exception as error:  # noqa: BLE001 - collected, the test fails on any
            failures.append((number, repr(error)))


def _round(api, cycles: int) -> list:
    failures: list = []
    threads = [threading.Thread(target=_cycles, args=(api, cycles // CLIENTS, failures))
               for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    return failures


def _monitors_of(root: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if str(root).encode() in command and b"serve" not in command:
            found.append(int(entry))
    return found


@pytest.mark.timeout(1200)   # 200 containers on a machine shared by parallel suites
def test_200_cycles_from_4_clients_leave_nothing_and_keep_memory_flat(api):
    server_pid = api.process.pid
    assert _round(api, CYCLES // 2) == []
    after_first = _rss_kib(server_pid)
    assert _round(api, CYCLES // 2) == []
    after_second = _rss_kib(server_pid)
    assert after_second - after_first < 8 * 1024, (after_first, after_second)
    assert api.docker("ps", "-aq").stdout.strip() == b""
    containers = api.root / "containers"
    assert not [e for e in os.listdir(containers) if len(e) == 64]
    assert _monitors_of(api.root) == []
    assert len(CREATED) == CYCLES
    assert _container_cgroups(server_pid, {f"pallet-{cid[:16]}" for cid in CREATED}) == []


def _container_cgroups(pid: int, names: set[str]) -> list[str]:
    """The containers' cgroups (pallet-<id16>) left beneath the server's own cgroup, where
    their monitors made them, in every hierarchy."""
    left = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        name = controllers.split(",")[0].removeprefix("name=") if controllers else "unified"
        for base in (Path("/sys/fs/cgroup") / name, Path("/sys/fs/cgroup") / controllers):
            directory = base / path.lstrip("/")
            if directory.is_dir():
                left += [str(child) for child in directory.iterdir()
                         if child.is_dir() and child.name in names]
    return sorted(set(left))
