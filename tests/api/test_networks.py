"""Networks through the stock docker CLI and the SDK: create, run on it, name resolution, a
published port on 127.0.0.1, inspect, connect/disconnect, rm refused while in use, prune."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root, pytest.mark.netns]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_user_network_names_ports_connect_and_rm(api):
    name = f"apinet{time.time_ns() % 100000}"
    api.docker("network", "create", "--label", "team=api", name, check=True)
    listed = api.docker("network", "ls", "--format", "{{.Name}}", check=True).stdout.decode()
    assert name in listed.split() and "bridge" in listed.split()
    port = _free_port()
    api.docker("run", "-d", "--name", "srv", "--network", name, "--network-alias", "web",
               "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
               "mkdir /www && echo served > /www/index.html && exec httpd -f -p 80 -h /www",
               check=True)
    deadline, page = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            break
        except OSError:
            time.sleep(0.2)
    assert page == b"served\n"
    ports = api.docker("port", "srv", "80/tcp", check=True).stdout.decode().split()
    assert f"127.0.0.1:{port}" in ports
    by_alias = api.docker("run", "--rm", "--network", name, "busybox", "wget", "-qO-",
                          "http://web/", check=True)
    assert by_alias.stdout == b"served\n"
    document = json.loads(api.docker("network", "inspect", name, check=True).stdout)[0]
    assert document["Labels"] == {"team": "api"}
    assert [c["Name"] for c in document["Containers"].values()] == ["srv"]
    api.docker("run", "-d", "--name", "other", "busybox", "sleep", "300", check=True)
    api.docker("network", "connect", "--alias", "second", name, "other", check=True)
    joined = json.loads(api.docker("inspect", "other", check=True).stdout)[0]
    assert "second" in joined["NetworkSettings"]["Networks"][name]["Aliases"]
    address = joined["NetworkSettings"]["Networks"][name]["IPAddress"]
    assert address and api.docker("exec", "other", "ip", "-4", "addr", check=True) \
        .stdout.decode().count(address) == 1
    api.docker("network", "disconnect", name, "other", check=True)
    refused = api.docker("network", "rm", name)
    assert refused.returncode == 1 and b"has active endpoints" in refused.stderr
    api.docker("rm", "-f", "srv", "other", check=True)
    api.docker("network", "rm", name, check=True)
    assert name not in api.docker("network", "ls").stdout.decode()
    missing = api.docker("run", "--rm", "--network", "no-such-net", "busybox", "true")
    assert missing.returncode == 125 and b"network no-such-net not found" in missing.stderr


def test_sdk_networks(api):
    client = api.client(version="auto")
    network = client.networks.create(f"sdknet{time.time_ns() % 100000}",
                                      labels={"k": "v"})
    assert network.attrs["Labels"] == {"k": "v"}
    container = client.containers.run("busybox", ["sleep", "300"], detach=True,
                                      network=network.name)
    network.reload()
    assert [c.id for c in network.containers] == [container.id]
    container.remove(force=True)
    pruned = client.networks.prune()
    assert network.name in (pruned.get("NetworksDeleted") or [])
