"""Container networking through the Engine API: create/start use the same networking as the
CLI (runtime/network/): the default bridge, user networks, host, none, container:NAME,
PortBindings (a random host port on 127.0.0.1), PublishAllPorts + ExposedPorts, endpoint
aliases and IPAMConfig addresses, ExtraHosts, Dns/DnsSearch/DnsOptions, Hostname, connect and
disconnect of created and running containers, inspect's NetworkSettings and `docker port`.
Driven by the stock docker CLI and docker-py; every response is checked against the spec.
Traffic goes only to 127.0.0.1 and to containers these tests start."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from tests.api.conftest import DOCKER_CLI
from tests.netutil import free_net, store_veths

pytestmark = [pytest.mark.server, pytest.mark.root, pytest.mark.netns]

HTTPD = ["sh", "-c", "mkdir /www && echo \"$0\" > /www/index.html && exec httpd -f -p 80 -h /www"]


def _page(port: int, deadline: float = 30) -> bytes | None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
        except OSError:
            time.sleep(0.2)
    return None


def _inspect(api, name: str) -> dict:
    return json.loads(api.docker("inspect", name, check=True).stdout)[0]


def test_default_bridge_random_port_inspect_and_port(api, pallet_root):
    started = api.docker("run", "-d", "--name", "web", "-p", "127.0.0.1::80", "busybox",
                         *HTTPD, "on-bridge", check=True)
    cid = started.stdout.decode().strip()
    mapped = api.docker("port", "web", check=True).stdout.decode().split("\n")[0]
    assert mapped.startswith("80/tcp -> 127.0.0.1:"), mapped
    port = int(mapped.rsplit(":", 1)[1])
    assert _page(port) == b"on-bridge\n"
    settings = _inspect(api, "web")["NetworkSettings"]
    bridge = settings["Networks"]["bridge"]
    assert settings["IPAddress"] == bridge["IPAddress"] != ""
    assert settings["Gateway"] == bridge["Gateway"] != ""
    assert settings["MacAddress"] == bridge["MacAddress"] != ""
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    # the container really has that address on eth0
    addresses = api.docker("exec", "web", "ip", "-4", "addr", "show", "eth0",
                           check=True).stdout.decode()
    assert f"inet {bridge['IPAddress']}/" in addresses
    assert len(store_veths(pallet_root)) == 1
    # -P publishes every exposed port (the image's and --expose's) on a random port
    api.docker("run", "-d", "--name", "all", "--expose", "80", "-P", "busybox", *HTTPD,
               "published-all", check=True)
    lines = api.docker("port", "all", "80/tcp", check=True).stdout.decode().split()
    port_all = int(next(line for line in lines if line.startswith("0.0.0.0:")).rsplit(":", 1)[1])
    assert _page(port_all) == b"published-all\n"
    # container:NAME shares web's namespace: its loopback serves web's page
    shared = api.docker("run", "--rm", "--network", "container:web", "busybox", "wget",
                        "-qO-", "http://127.0.0.1/", check=True)
    assert shared.stdout == b"on-bridge\n"
    only_lo = api.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link",
                         check=True).stdout.decode()
    assert [line.split(":")[1].strip() for line in only_lo.splitlines()] == ["lo"]
    api.docker("rm", "-f", "web", "all", check=True)
    assert store_veths(pallet_root) == []
    assert cid not in api.docker("ps", "-aq", "--no-trunc").stdout.decode()


def test_etc_files_from_host_config(api):
    result = api.docker("run", "--rm", "--hostname", "hosty", "--add-host", "extra:10.1.2.3",
                        "--dns", "192.0.2.53", "--dns-search", "example.test",
                        "--dns-option", "ndots:2", "busybox", "cat", "/etc/hostname",
                        "/etc/hosts", "/etc/resolv.conf", check=True).stdout.decode()
    assert result.splitlines()[0] == "hosty"
    assert "10.1.2.3\textra" in result
    assert "nameserver 192.0.2.53" in result
    assert "search example.test" in result and "options ndots:2" in result
    created = api.docker("create", "--add-host", "h:10.9.9.9", "--dns", "192.0.2.1",
                         "busybox", check=True).stdout.decode().strip()
    recorded = _inspect(api, created)["HostConfig"]
    assert recorded["ExtraHosts"] == ["h:10.9.9.9"] and recorded["Dns"] == ["192.0.2.1"]


def test_user_networks_names_static_address_connect(api):
    suffix = time.time_ns() % 100000
    first, second = f"ua{suffix}", f"ub{suffix}"
    prefix = free_net()
    api.docker("network", "create", "--subnet", f"{prefix}.0/24", first, check=True)
    api.docker("network", "create", second, check=True)
    address = f"{prefix}.77"
    api.docker("run", "-d", "--name", "db", "--network", first, "--ip", address,
               "--network-alias", "database", "busybox", *HTTPD, "from-db", check=True)
    db = _inspect(api, "db")["NetworkSettings"]["Networks"][first]
    assert db["IPAddress"] == address and db["IPAMConfig"] == {"IPv4Address": address}
    assert "database" in db["Aliases"]
    for name in ("db", "database"):
        reached = api.docker("run", "--rm", "--network", first, "busybox", "wget", "-qO-",
                             f"http://{name}/", check=True)
        assert reached.stdout == b"from-db\n"
    # created (not started) on the second network, connected to the first, then started:
    # both endpoints live, db reachable by name, and it by its alias
    api.docker("create", "--name", "late", "--network", second, "busybox", "sleep", "300",
               check=True)
    api.docker("network", "connect", "--alias", "latecomer", first, "late", check=True)
    api.docker("start", "late", check=True)
    networks = _inspect(api, "late")["NetworkSettings"]["Networks"]
    assert set(networks) == {first, second}
    assert all(entry["IPAddress"] for entry in networks.values())
    assert api.docker("exec", "late", "wget", "-qO-", "http://db/", check=True).stdout \
        == b"from-db\n"
    assert api.docker("exec", "db", "nslookup", "latecomer", "127.0.0.11",
                      check=True).stdout.decode().count(networks[first]["IPAddress"]) == 1
    # disconnected while running: the interface and the name go
    api.docker("network", "disconnect", first, "late", check=True)
    links = api.docker("exec", "late", "ip", "-o", "-4", "addr", check=True).stdout.decode()
    assert networks[first]["IPAddress"] not in links and networks[second]["IPAddress"] in links
    gone = api.docker("exec", "db", "nslookup", "latecomer", "127.0.0.11")
    assert gone.returncode != 0
    api.docker("rm", "-f", "db", "late", check=True)
    api.docker("network", "rm", first, second, check=True)


def test_sdk_ports_endpoints_and_host_config(api):
    client = api.client(version="auto")
    low = client.api
    network = client.networks.create(f"sdk{time.time_ns() % 100000}")
    container = client.containers.run("busybox", HTTPD + ["from-sdk"], detach=True,
                                      ports={"80/tcp": ("127.0.0.1", None)},
                                      network=network.name, hostname="sdkhost")
    container.reload()
    port = int(container.ports["80/tcp"][0]["HostPort"])
    assert container.ports["80/tcp"][0]["HostIp"] == "127.0.0.1"
    assert _page(port) == b"from-sdk\n"
    assert container.attrs["Config"]["Hostname"] == "sdkhost"
    created = low.create_container(
        "busybox", ["sleep", "300"], name="peer",
        host_config=low.create_host_config(extra_hosts={"gw": "10.0.0.9"}, dns=["192.0.2.7"],
                                           network_mode=network.name),
        networking_config=low.create_networking_config({network.name: low.create_endpoint_config(
            aliases=["buddy"])}))
    low.start(created["Id"])
    peer = client.containers.get(created["Id"])
    assert "buddy" in peer.attrs["NetworkSettings"]["Networks"][network.name]["Aliases"]
    hosts = peer.exec_run(["cat", "/etc/hosts"]).output.decode()
    assert "10.0.0.9\tgw" in hosts
    fetched = peer.exec_run(["wget", "-qO-", f"http://{container.name}/"])
    assert fetched.output == b"from-sdk\n"
    network.disconnect(peer)
    peer.reload()
    assert network.name not in peer.attrs["NetworkSettings"]["Networks"]
    network.connect(peer, aliases=["again"])
    peer.reload()
    assert "again" in peer.attrs["NetworkSettings"]["Networks"][network.name]["Aliases"]
    for item in (container, peer):
        item.remove(force=True)
    network.remove()


def test_create_with_two_endpoints_joins_both_networks(api):
    # API 1.44's EndpointsConfig may name several networks: the container joins all at start
    suffix = time.time_ns() % 100000
    first, second = f"ea{suffix}", f"eb{suffix}"
    prefix = free_net()
    api.docker("network", "create", first, check=True)
    api.docker("network", "create", "--subnet", f"{prefix}.0/24", second, check=True)
    body = {"Image": "busybox", "Cmd": ["sleep", "300"],
            "HostConfig": {"NetworkMode": first},
            "NetworkingConfig": {"EndpointsConfig": {
                first: {"Aliases": ["one"]},
                second: {"Aliases": ["two"], "IPAMConfig": {"IPv4Address": f"{prefix}.9"}}}}}
    status, _, answer = api.request("POST", "/v1.44/containers/create?name=both",
                                    body=json.dumps(body),
                                    headers={"Content-Type": "application/json"})
    assert status == 201, answer
    api.docker("start", "both", check=True)
    networks = _inspect(api, "both")["NetworkSettings"]["Networks"]
    assert list(networks) == [first, second]
    assert networks[second]["IPAddress"] == f"{prefix}.9" and "two" in networks[second]["Aliases"]
    listed = api.docker("exec", "both", "ip", "-o", "-4", "addr", check=True).stdout.decode()
    addresses = {line.split()[1]: line.split()[3] for line in listed.splitlines()}
    assert addresses["eth0"].startswith(networks[first]["IPAddress"] + "/")
    assert addresses["eth1"] == f"{prefix}.9/24"
    for network, alias in ((first, "one"), (second, "two")):
        answered = api.docker("run", "--rm", "--network", network, "busybox", "nslookup", alias,
                              check=True).stdout.decode()
        assert networks[network]["IPAddress"] in answered
    # the default bridge cannot be joined with others, as in Docker; nothing is created
    body["HostConfig"]["NetworkMode"] = "bridge"
    body["NetworkingConfig"]["EndpointsConfig"] = {"bridge": {}, second: {}}
    status, _, answer = api.request("POST", "/v1.44/containers/create?name=refused",
                                    body=json.dumps(body),
                                    headers={"Content-Type": "application/json"})
    assert status == 400 and b"cannot be connected to network endpoints" in answer
    assert api.docker("inspect", "refused").returncode != 0
    api.docker("rm", "-f", "both", check=True)
    api.docker("network", "rm", first, second, check=True)


def test_many_parallel_requests_are_all_accepted(api):
    # `docker rm -f` of many containers sends one request per container at once; the server's
    # listen backlog was socketserver's 5, and the CLI's non-blocking connects beyond it failed
    # with "Cannot connect to the Docker daemon".
    ids = [api.docker("create", "busybox", "true", check=True).stdout.decode().strip()
           for _ in range(40)]
    # straight to the server's socket: the recording proxy in front of it has its own backlog
    removed = subprocess.run([DOCKER_CLI, "rm", "-f", *ids], capture_output=True, timeout=120,
                             env=api.env(DOCKER_HOST=f"unix://{api.server_socket}"))
    assert removed.returncode == 0 and b"Cannot connect" not in removed.stderr, removed.stderr
    assert sorted(removed.stdout.decode().split()) == sorted(ids)
    assert api.docker("ps", "-aq").stdout.strip() == b""
