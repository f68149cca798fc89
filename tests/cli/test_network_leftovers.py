"""Nothing of a container's networking outlives it: 50 containers started and removed leave no
veth, namespace, lease, nft element or resolver; a SIGKILLed monitor's leftovers are found and
removed by `system check --repair`, as are veths, bridges and rules nobody owns."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.netutil import free_net, store_bridges, store_veths

pytestmark = [pytest.mark.root, pytest.mark.netns]


def leases(root: Path) -> list[Path]:
    directory = root / "network" / "endpoints"
    return sorted(directory.rglob("*.json")) if directory.exists() else []


def port_elements(root: Path) -> list:
    from pallet.runtime.network.firewall import port_elements as elements
    from pallet.runtime.network.names import nft_table
    return elements(nft_table(root))


def process(pid: int) -> tuple[int, int | None]:
    """(pid, start time): a recycled PID is not the same process."""
    from pallet.runtime.container.state import process_start_time
    return pid, process_start_time(pid)


def alive(processes) -> list[int]:
    from pallet.runtime.container.state import process_start_time
    return [pid for pid, start in processes if start and process_start_time(pid) == start]


def test_fifty_containers_started_and_removed_leave_nothing(root):
    pallet(root, "network", "create", "loop")
    processes, ids = [], []
    for index in range(50):
        args = ["run", "-d", "--name", f"c{index}"]
        if index % 5 == 0:
            args += ["-p", "127.0.0.1::80"]
        if index % 2:
            args += ["--network", "loop"]
        started = pallet(root, *args, "busybox", "sleep", "60")
        assert started.returncode == 0, started.stderr
        container_id = out(started).strip()
        ids.append(container_id)
        state = json.loads((root / "containers" / container_id / "state.json").read_text())
        # the namespace's only holders: the container's processes and its monitor
        processes += [process(state["Pid"]), process(state["MonitorPid"])]
        if index % 10 == 9:  # remove in batches, as a CI loop would
            assert pallet(root, "rm", "-f", *ids).returncode == 0
            ids = []
    deadline = time.monotonic() + 10
    while alive(processes) and time.monotonic() < deadline:
        time.sleep(0.05)  # a monitor records the exit, then exits itself
    assert len(processes) == 100 and alive(processes) == []
    assert leases(root) == [] and store_veths(root) == [] and port_elements(root) == []
    assert out(pallet(root, "system", "check")).count("leftover:") == 0


def test_sigkill_of_a_monitor_then_repair_leaves_nothing(root):
    pallet(root, "network", "create", "killed")
    started = pallet(root, "run", "-d", "--network", "killed", "-p", "127.0.0.1::80", "busybox",
                     "sleep", "60")
    container_id = out(started).strip()
    state = json.loads((root / "containers" / container_id / "state.json").read_text())
    container = process(state["Pid"])
    assert len(leases(root)) == 1 and len(port_elements(root)) == 1 and len(store_veths(root)) == 1
    os.kill(state["MonitorPid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive([container]) and time.monotonic() < deadline:
        time.sleep(0.05)   # PDEATHSIG takes the container down with its monitor
    assert alive([container]) == []  # and with it the last holder of its namespace
    check = pallet(root, "system", "check")
    text = out(check)
    assert "network lease" in text and "nftables element" in text, text
    repaired = pallet(root, "system", "check", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert leases(root) == [] and port_elements(root) == [] and store_veths(root) == []
    assert out(pallet(root, "system", "check")).count("leftover:") == 0
    listed = out(pallet(root, "ps", "-a", "--format", "{{.Status}}"))
    assert listed.startswith("Exited (137)")


def test_repair_removes_veths_bridges_and_rules_nobody_owns(root):
    from pallet.runtime.network import firewall, links, names
    from pallet.runtime.network.model import Endpoint, PortMapping
    assert pallet(root, "run", "--rm", "busybox", "true").returncode == 0
    bridge = store_bridges(root)[0]
    # a veth on our bridge that no endpoint owns
    stray = f"vstray{os.urandom(3).hex()}"
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        ipr.link("add", ifname=stray, kind="veth", peer=f"{stray}p")
        ipr.link("set", index=ipr.link_lookup(ifname=stray)[0],
                 master=ipr.link_lookup(ifname=bridge)[0])
    # a bridge of ours whose network is gone
    orphan = f"pbr-orph{os.urandom(3).hex()}"
    links.ensure_bridge(orphan, address=f"{free_net()}.1", prefixlen=24, mtu=1500,
                        alias=names.bridge_alias(root))
    # a published-port element of a container that never existed
    ghost = Endpoint(network_id="0" * 64, container_id="f" * 64, endpoint_id="", name="ghost",
                     aliases=(), address="172.31.254.2", prefixlen=16, gateway="",
                     mac="", interface="eth0", veth="",
                     ports=(PortMapping("tcp", 80, "127.0.0.1", 1),))
    firewall.add_ports(names.nft_table(root), ghost)
    text = out(pallet(root, "system", "check"))
    assert f"veth {stray}" in text and f"bridge {orphan}" in text and "nftables element" in text
    assert pallet(root, "system", "check", "--repair").returncode == 0
    assert stray not in [link["name"] for link in links.list_links()]
    assert orphan not in store_bridges(root) and bridge in store_bridges(root)
    assert port_elements(root) == []


def test_no_resolver_outlives_its_container(root):
    """The resolver is sockets of the container's monitor inside the container's namespace:
    with the container removed, the monitor, the sockets and the namespace are all gone."""
    pallet(root, "network", "create", "dns")
    started = pallet(root, "run", "-d", "--name", "resolver1", "--network", "dns", "busybox", "sleep", "60")
    assert started.returncode == 0, started.stderr
    state = json.loads((root / "containers" / out(started).strip() / "state.json").read_text())
    monitor, pid = state["MonitorPid"], state["Pid"]
    listening = open(f"/proc/{pid}/net/udp").read() + open(f"/proc/{pid}/net/tcp").read()
    assert listening.count("0B00007F:0035") == 2   # 127.0.0.11:53, UDP and TCP
    resolver_inodes = {line.split()[9] for line in listening.splitlines()
                       if "0B00007F:0035" in line}
    held = {os.readlink(f"/proc/{monitor}/fd/{fd}") for fd in os.listdir(f"/proc/{monitor}/fd")}
    assert {f"socket:[{inode}]" for inode in resolver_inodes} <= held  # the monitor's sockets
    holders = [process(pid), process(monitor)]
    assert pallet(root, "rm", "-f", "resolver1").returncode == 0
    deadline = time.monotonic() + 5
    while alive(holders) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(holders) == []   # no process holds the sockets or the namespace any more


def test_repair_restores_the_table_a_firewall_reload_flushed(root):
    import socket
    import urllib.request
    from pallet.runtime.network.names import nft_table
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = pallet(root, "run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
                     "mkdir -p /w && echo back > /w/index.html && exec httpd -f -p 80 -h /w")
    assert started.returncode == 0, started.stderr
    import subprocess
    subprocess.run(["nft", "delete", "table", "ip", nft_table(root)], check=True)  # "a reload"
    assert "nftables table ip" in out(pallet(root, "system", "check"))
    assert pallet(root, "system", "check", "--repair").returncode == 0
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                assert response.read() == b"back\n"
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert len(port_elements(root)) == 1


def test_a_foreground_run_returns_with_its_veth_and_lease_gone(root):
    # The foreground CLI hands the veth's deletion to a thread while it finishes; its exit
    # waits for that thread, so nothing is left once it has returned.
    for _ in range(5):
        assert pallet(root, "run", "--rm", "busybox", "true").returncode == 0
        assert store_veths(root) == [] and leases(root) == []
    # A namespace another container joined outlives its owner: the veth must still go with
    # the owner (the kernel would remove it only with the namespace).
    import subprocess
    from tests.conftest import PALLET
    owner = subprocess.Popen([str(PALLET), "--root", str(root), "run", "--rm", "--name", "owner",
                              "busybox", "sleep", "2"])
    deadline = time.monotonic() + 10
    while not leases(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    joined = pallet(root, "run", "-d", "--network", "container:owner", "busybox", "sleep", "60")
    assert joined.returncode == 0, joined.stderr
    assert owner.wait(timeout=30) == 0
    assert store_veths(root) == [] and leases(root) == []
    assert pallet(root, "rm", "-f", out(joined).strip()).returncode == 0
