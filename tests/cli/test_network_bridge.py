"""The default bridge network: a veth per container, Docker's /etc files, addresses leased and
freed, the other network modes, and nothing left behind (real namespaces, bridges, nftables)."""

from __future__ import annotations

import ipaddress
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.netutil import nft_table_exists, store_bridges, store_veths

pytestmark = [pytest.mark.root, pytest.mark.netns]


def bridge_network(root: Path) -> dict:
    result = pallet(root, "network", "inspect", "bridge")
    assert result.returncode == 0, result.stderr
    return json.loads(out(result))[0]


def leases(root: Path) -> list[Path]:
    directory = root / "network" / "endpoints"
    return sorted(directory.rglob("*.json")) if directory.exists() else []


def port_elements(root: Path) -> list:
    from pallet.runtime.network.firewall import port_elements as elements
    from pallet.runtime.network.names import nft_table
    return elements(nft_table(root))


def test_a_bridged_container_gets_eth0_its_address_route_and_docker_etc_files(root):
    script = ("ip -o -4 addr show eth0; ip link show eth0; ip route; ip -o addr show lo; "
              "echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; hostname")
    result = pallet(root, "run", "--rm", "busybox", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    network = bridge_network(root)
    subnet = ipaddress.ip_network(network["IPAM"]["Config"][0]["Subnet"])
    gateway = network["IPAM"]["Config"][0]["Gateway"]
    addresses, hosts, resolv, hostname = out(result).split("---\n")
    address = addresses.split()[3].split("/")[0]
    assert ipaddress.ip_address(address) in subnet and address != gateway
    assert f"{address}/{subnet.prefixlen}" in addresses
    mac = "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)
    assert f"link/ether {mac}" in addresses and "mtu 1500" in addresses
    assert f"default via {gateway} dev eth0" in addresses
    assert "inet 127.0.0.1/8" in addresses and "inet6" not in addresses  # IPv6 off, as Docker
    assert hosts.splitlines()[-1] == f"{address}\t{hostname.strip()}"
    assert hosts.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert "nameserver 127." not in resolv and "nameserver" in resolv
    assert network["Options"]["com.docker.network.bridge.name"] in store_bridges(root)


def test_the_bridge_and_nft_table_are_named_per_store(root, pallet_root):
    from pallet.runtime.network.names import default_bridge, nft_table, store_tag
    assert pallet(root, "run", "--rm", "busybox", "true").returncode == 0
    tag = store_tag(root)
    assert len(tag) == 6 and default_bridge(root) == f"pallet-{tag}"
    assert store_bridges(root) == [f"pallet-{tag}"]
    assert nft_table_exists(nft_table(root))
    assert store_tag(Path("/var/lib/pallet")) == "" and default_bridge(Path("/var/lib/pallet")) == "pallet0"


def test_two_stores_get_their_own_bridges_and_subnets_that_do_not_overlap(root, tmp_path):
    from tests.images import make_busybox_image
    from tests.netutil import remove_store_network
    other = tmp_path / "other-store"
    make_busybox_image(other)
    try:
        assert pallet(root, "network", "ls", "-q").returncode == 0
        assert pallet(other, "network", "ls", "-q").returncode == 0
        mine, theirs = bridge_network(root), bridge_network(other)
        assert mine["Options"]["com.docker.network.bridge.name"] != \
            theirs["Options"]["com.docker.network.bridge.name"]
        a = ipaddress.ip_network(mine["IPAM"]["Config"][0]["Subnet"])
        b = ipaddress.ip_network(theirs["IPAM"]["Config"][0]["Subnet"])
        assert not a.overlaps(b)
    finally:
        remove_store_network(other)


def test_concurrent_runs_never_share_an_address_and_rm_frees_them(root):
    def start(index: int) -> str:
        result = pallet(root, "run", "-d", "--name", f"c{index}", "busybox", "sleep", "60")
        assert result.returncode == 0, result.stderr
        return out(result).strip()

    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(start, range(6)))
    addresses = [out(pallet(root, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid)).strip()
                 for cid in ids]
    assert len(set(addresses)) == 6 and all(addresses), addresses
    assert len(leases(root)) == 6 and len(store_veths(root)) == 6
    assert pallet(root, "rm", "-f", *ids).returncode == 0
    assert leases(root) == [] and store_veths(root) == []
    again = pallet(root, "run", "-d", "busybox", "sleep", "60")
    first = out(pallet(root, "inspect", "-f", "{{.NetworkSettings.IPAddress}}",
                       out(again).strip())).strip()
    assert first == min(addresses, key=ipaddress.ip_address)  # lowest free address again


def test_inspect_shows_network_settings_while_running_and_clears_them_after(root):
    started = pallet(root, "run", "-d", "--name", "netset", "busybox", "sleep", "60")
    assert started.returncode == 0, started.stderr
    settings = json.loads(out(pallet(root, "inspect", "-f", "{{json .NetworkSettings}}", "netset")))
    network = bridge_network(root)
    bridge = settings["Networks"]["bridge"]
    assert bridge["NetworkID"] == network["Id"] and bridge["IPAddress"] == settings["IPAddress"]
    assert settings["Gateway"] == network["IPAM"]["Config"][0]["Gateway"]
    prefix = int(network["IPAM"]["Config"][0]["Subnet"].split("/")[1])
    assert settings["IPPrefixLen"] == prefix and settings["MacAddress"].startswith("02:42:")
    assert settings["SandboxKey"].startswith("/proc/") and bridge["EndpointID"]
    container_id = out(pallet(root, "inspect", "-f", "{{.Id}}", "netset")).strip()
    listed = bridge_network(root)["Containers"]
    assert listed[container_id]["IPv4Address"] == f"{settings['IPAddress']}/{prefix}"
    mode = out(pallet(root, "inspect", "-f", "{{.HostConfig.NetworkMode}}", "netset")).strip()
    assert mode == "default"
    assert pallet(root, "stop", "-t", "0", "netset").returncode == 0
    stopped = json.loads(out(pallet(root, "inspect", "-f", "{{json .NetworkSettings}}", "netset")))
    assert stopped["IPAddress"] == "" and stopped["Networks"]["bridge"]["IPAddress"] == ""
    assert stopped["Ports"] == {} and leases(root) == []


def test_network_modes_none_host_and_container(root):
    none = pallet(root, "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert out(none).split() == ["lo"]
    host = pallet(root, "run", "--rm", "--network", "host", "busybox", "readlink",
                  "/proc/self/ns/net")
    assert out(host).strip() == os.readlink("/proc/self/ns/net")
    assert pallet(root, "run", "-d", "--name", "target", "busybox", "sleep", "60").returncode == 0
    pid = out(pallet(root, "inspect", "-f", "{{.State.Pid}}", "target")).strip()
    joined = pallet(root, "run", "--rm", "--network", "container:target", "busybox", "sh", "-c",
                    "readlink /proc/self/ns/net; hostname; cat /etc/hosts")
    assert joined.returncode == 0, joined.stderr
    lines = out(joined).splitlines()
    assert lines[0] == os.readlink(f"/proc/{pid}/ns/net")
    target_id = out(pallet(root, "inspect", "-f", "{{.Id}}", "target")).strip()
    assert lines[1] == target_id[:12] and lines[-1].endswith(f"\t{target_id[:12]}")
    conflict = pallet(root, "run", "--rm", "--network", "container:target", "-p", "80:80",
                      "busybox", "true")
    assert conflict.returncode == 125
    assert "conflicting options: port publishing and the container type network mode" in \
        conflict.stderr.decode()
    missing = pallet(root, "run", "--rm", "--network", "container:nosuch", "busybox", "true")
    assert missing.returncode == 125 and "No such container: nosuch" in missing.stderr.decode()
    assert pallet(root, "stop", "-t", "0", "target").returncode == 0
    dead = pallet(root, "run", "--rm", "--network", "container:target", "busybox", "true")
    assert dead.returncode == 125
    assert "cannot join network of a non running container" in dead.stderr.decode()


def test_an_unknown_network_is_refused_and_leaves_no_container(root):
    result = pallet(root, "run", "--rm", "--network", "nosuch", "busybox", "true")
    assert result.returncode == 125 and "network nosuch not found" in result.stderr.decode()
    assert out(pallet(root, "ps", "-aq")) == ""


def test_a_failed_start_leaves_no_lease_veth_or_rule(root):
    with __import__("socket").socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = pallet(root, "run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert result.returncode == 125
    assert f"listen tcp4 127.0.0.1:{port}: bind: address already in use" in result.stderr.decode()
    assert leases(root) == [] and store_veths(root) == [] and port_elements(root) == []
    assert out(pallet(root, "ps", "-aq")) == ""


def test_sigkill_of_the_monitor_then_ps_releases_the_lease(root):
    import signal
    import time
    started = pallet(root, "run", "-d", "-p", "127.0.0.1::80", "busybox", "sleep", "60")
    container_id = out(started).strip()
    monitor = json.loads((root / "containers" / container_id / "state.json").read_text())["MonitorPid"]
    assert len(leases(root)) == 1 and len(port_elements(root)) == 1
    os.kill(monitor, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while "Exited" not in out(pallet(root, "ps", "-a")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leases(root) == [] and port_elements(root) == [] and store_veths(root) == []


def test_exec_sees_the_same_network(root):
    assert pallet(root, "run", "-d", "--name", "ex", "busybox", "sleep", "60").returncode == 0
    address = out(pallet(root, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "ex")).strip()
    seen = pallet(root, "exec", "ex", "ip", "-o", "-4", "addr", "show", "eth0")
    assert f"inet {address}/" in out(seen)


def test_a_container_reaches_a_server_on_the_gateway(root):
    import socket
    import threading
    gateway = bridge_network(root)["IPAM"]["Config"][0]["Gateway"]
    with socket.socket() as server:
        server.bind((gateway, 0))
        server.listen()
        port = server.getsockname()[1]

        def answer():
            connection, _ = server.accept()
            with connection:
                connection.sendall(b"from-the-host\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        result = pallet(root, "run", "--rm", "busybox", "nc", gateway, str(port))
        thread.join(5)
    assert out(result) == "from-the-host\n", result.stderr
