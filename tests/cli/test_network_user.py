"""User-defined networks: create/ls/inspect/rm/connect/disconnect/prune, names that resolve
(name, alias, short ID) through the embedded resolver and disappear with their container,
isolation from other networks, upstream forwarding to a stand-in resolver on loopback, and
Docker's errors for bad input."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.netutil import free_net, store_bridges

pytestmark = [pytest.mark.root, pytest.mark.netns]


def net(root: Path, *args: str):
    return pallet(root, "network", *args)


def create(root: Path, *args: str) -> str:
    result = net(root, "create", *args)
    assert result.returncode == 0, result.stderr
    return out(result).strip()


def fetch_script(host: str) -> str:
    """An HTTP GET with busybox nc (its static wget crashes resolving names, in Docker too),
    retried for up to 10 s: a server just started with `run -d` may not listen yet; prints
    the body."""
    return (f"i=0; until printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80 > /tmp/r "
            "&& grep -q '200 OK' /tmp/r; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; "
            "done; sed '1,/^\\r$/d' /tmp/r")


def sh(root: Path, network: str, script: str, *extra: str):
    return pallet(root, "run", "--rm", "--network", network, *extra, "busybox", "sh", "-c", script)


def test_containers_reach_each_other_by_name_alias_and_short_id(root):
    create(root, "app")
    server = pallet(root, "run", "-d", "--name", "db", "--network", "app", "--network-alias",
                    "database", "busybox", "sh", "-c",
                    "mkdir -p /w && echo db-answers > /w/index.html && exec httpd -f -p 80 -h /w")
    short = out(server).strip()[:12]
    for name in ("db", "database", short, "db.app"):
        result = sh(root, "app", fetch_script(name))
        assert out(result) == "db-answers\n", (name, result.stderr)
    listed = json.loads(out(pallet(root, "inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                   "db")))
    assert listed["app"]["Aliases"] == ["database", short]
    resolv = out(sh(root, "app", "cat /etc/resolv.conf"))
    assert resolv == "nameserver 127.0.0.11\noptions ndots:0\n"


def test_another_network_cannot_reach_them_and_the_default_bridge_has_no_names(root):
    create(root, "front")
    create(root, "back")
    pallet(root, "run", "-d", "--name", "api", "--network", "back", "busybox", "sh", "-c",
           "mkdir -p /w && echo api > /w/index.html && exec httpd -f -p 80 -h /w")
    address = out(pallet(root, "inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}",
                         "api")).strip()
    assert out(sh(root, "back", fetch_script(address))) == "api\n"
    blocked = sh(root, "front", f"wget -q -T 2 -O - http://{address}/")
    assert blocked.returncode != 0 and out(blocked) == ""
    assert sh(root, "front", "nslookup api").returncode != 0
    assert sh(root, "bridge", "nslookup api").returncode != 0


def test_a_name_disappears_when_its_container_is_removed(root):
    create(root, "live")
    pallet(root, "run", "-d", "--name", "short-lived", "--network", "live", "busybox",
           "sleep", "60")
    pallet(root, "run", "-d", "--name", "asker", "--network", "live", "busybox", "sleep", "60")
    assert pallet(root, "exec", "asker", "nslookup", "short-lived").returncode == 0
    assert pallet(root, "rm", "-f", "short-lived").returncode == 0
    gone = pallet(root, "exec", "asker", "nslookup", "short-lived")
    assert gone.returncode != 0


class StandInResolver:
    """An upstream DNS server on a loopback address of its own (127.53.x.y:53) that answers
    every A query with 10.9.8.7: what the embedded resolver forwards to in the tests."""

    def __init__(self) -> None:
        from dnslib import RR, A, DNSError, DNSRecord
        self.address = f"127.53.{os.getpid() % 250}.{1 + int.from_bytes(os.urandom(1), 'big') % 250}"
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((self.address, 53))
        self.asked: list[str] = []

        def serve():
            while True:
                try:
                    data, peer = self.socket.recvfrom(4096)
                except OSError:
                    return
                try:
                    request = DNSRecord.parse(data)
                except DNSError:
                    continue   # an empty or torn datagram (seen in CI): not a question
                self.asked.append(str(request.q.qname))
                reply = request.reply()
                reply.add_answer(RR(request.q.qname, rdata=A("10.9.8.7"), ttl=60))
                self.socket.sendto(reply.pack(), peer)

        threading.Thread(target=serve, daemon=True).start()

    def close(self) -> None:
        self.socket.close()


def test_other_names_go_to_the_hosts_resolvers(root, tmp_path):
    upstream = StandInResolver()
    try:
        resolv = tmp_path / "host-resolv.conf"
        resolv.write_text(f"nameserver {upstream.address}\n")
        create(root, "out")
        from tests.conftest import run_pallet
        result = run_pallet("run", "--rm", "--network", "out", "busybox", "nslookup",
                            "example.test", root=root,
                            env={"PALLET_HOST_RESOLV_CONF": str(resolv)})
        assert "10.9.8.7" in out(result), result.stderr
        assert "example.test." in upstream.asked
    finally:
        upstream.close()


def test_network_rm_is_refused_while_in_use_then_works(root):
    network_id = create(root, "busy")
    pallet(root, "run", "-d", "--name", "user", "--network", "busy", "busybox", "sleep", "60")
    refused = net(root, "rm", "busy")
    assert refused.returncode == 1
    assert (f"Error response from daemon: error while removing network: network busy id "
            f"{network_id} has active endpoints") in refused.stderr.decode()
    assert pallet(root, "rm", "-f", "user").returncode == 0
    removed = net(root, "rm", "busy")
    assert removed.returncode == 0 and out(removed) == "busy\n"
    assert f"pbr-{network_id[:11]}" not in store_bridges(root)


def test_create_ls_inspect_and_options(root):
    n = free_net()
    network_id = create(root, "--subnet", f"{n}.0/24", "--gateway", f"{n}.254",
                        "--ip-range", f"{n}.128/25", "--label", "team=a", "--label", "x",
                        "-o", "com.docker.network.bridge.name=plt-test-br", "--internal", "opts")
    document = json.loads(out(net(root, "inspect", "opts")))[0]
    assert document["Id"] == network_id and document["Driver"] == "bridge"
    assert document["IPAM"] == {"Driver": "default", "Options": {}, "Config": [
        {"Subnet": f"{n}.0/24", "IPRange": f"{n}.128/25", "Gateway": f"{n}.254"}]}
    assert document["Internal"] is True and document["Labels"] == {"team": "a", "x": ""}
    assert document["Options"] == {"com.docker.network.bridge.name": "plt-test-br"}
    assert "plt-test-br" in store_bridges(root)
    ip = out(sh(root, "opts", "ip -o -4 addr show eth0")).split()[3]
    assert ip == f"{n}.128/24"
    listing = out(net(root, "ls")).splitlines()
    assert listing[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [line.split()[1] for line in listing[1:]] == ["bridge", "host", "none", "opts"]
    assert out(net(root, "ls", "-q", "--filter", "label=team=a")).strip() == network_id[:12]
    assert out(net(root, "ls", "--filter", "type=custom", "--format", "{{.Name}} {{.Internal}}"
                   " {{.Labels}}")) == "opts true team=a,x=\n"
    assert out(net(root, "ls", "--filter", "driver=null", "--format", "{{.Name}}")) == "none\n"
    bad = net(root, "ls", "--filter", "bogus=1")
    assert bad.returncode == 1 and "Invalid filter 'bogus'" in bad.stderr.decode()


def test_connect_and_disconnect_a_running_container(root):
    create(root, "first")
    n = free_net()
    create(root, "second", "--subnet", f"{n}.0/24")
    pallet(root, "run", "-d", "--name", "roamer", "--network", "first", "busybox", "sleep", "60")
    connected = net(root, "connect", "--ip", f"{n}.50", "--alias", "wanderer", "second",
                    "roamer")
    assert connected.returncode == 0, connected.stderr
    addresses = out(pallet(root, "exec", "roamer", "ip", "-o", "-4", "addr"))
    assert "eth1" in addresses and f"{n}.50/24" in addresses
    assert out(sh(root, "second", "nslookup wanderer")).count(f"{n}.50") == 1
    twice = net(root, "connect", "second", "roamer")
    assert twice.returncode == 1
    assert "endpoint with name roamer already exists in network second" in twice.stderr.decode()
    assert net(root, "disconnect", "second", "roamer").returncode == 0
    assert "eth1" not in out(pallet(root, "exec", "roamer", "ip", "-o", "-4", "addr"))
    again = net(root, "disconnect", "second", "roamer")
    assert again.returncode == 1 and "is not connected to network second" in again.stderr.decode()


def test_a_container_connected_after_start_on_the_default_bridge_gets_names(root, tmp_path):
    # Started on the default bridge (no resolver, the host's servers in resolv.conf), then
    # connected to a user network: as Docker, its resolv.conf now names the embedded resolver,
    # it resolves the network's containers, they resolve it, and other names still go upstream
    # (its --dns server).
    upstream = StandInResolver()
    try:
        resolv = tmp_path / "host-resolv.conf"
        resolv.write_text(f"nameserver {upstream.address}\n")
        env = {"PALLET_HOST_RESOLV_CONF": str(resolv)}
        from tests.conftest import run_pallet
        create(root, "lateral")
        pallet(root, "run", "-d", "--name", "settled", "--network", "lateral", "busybox",
               "sleep", "60")
        # --dns: the stand-in (on the host's loopback, so unreachable from inside before the
        # connect: no query leaves this host) is the resolver's upstream after it
        started = run_pallet("run", "-d", "--name", "newcomer", "--dns", upstream.address,
                             "busybox", "sleep", "60", root=root, env=env)
        assert started.returncode == 0, started.stderr
        assert pallet(root, "exec", "newcomer", "nslookup", "settled").returncode != 0
        connected = net(root, "connect", "--alias", "nc-alias", "lateral", "newcomer")
        assert connected.returncode == 0, connected.stderr
        resolv_conf = out(pallet(root, "exec", "newcomer", "cat", "/etc/resolv.conf"))
        assert resolv_conf == "nameserver 127.0.0.11\noptions ndots:0\n"
        settled = out(pallet(root, "inspect", "-f",
                             "{{.NetworkSettings.Networks.lateral.IPAddress}}", "settled"))
        newcomer = out(pallet(root, "inspect", "-f",
                              "{{.NetworkSettings.Networks.lateral.IPAddress}}", "newcomer"))
        asked = pallet(root, "exec", "newcomer", "nslookup", "settled")
        assert asked.returncode == 0 and out(asked).count(settled.strip()) == 1
        for name in ("newcomer", "nc-alias"):
            answered = pallet(root, "exec", "settled", "nslookup", name)
            assert answered.returncode == 0 and out(answered).count(newcomer.strip()) == 1
        outside = pallet(root, "exec", "newcomer", "nslookup", "example.test")
        assert "10.9.8.7" in out(outside) and "example.test." in upstream.asked
        assert pallet(root, "rm", "-f", "newcomer", "settled").returncode == 0
    finally:
        upstream.close()


def test_prune_removes_unused_networks_only(root):
    create(root, "unused")
    create(root, "used")
    pallet(root, "run", "-d", "--network", "used", "busybox", "sleep", "60")
    pruned = net(root, "prune", "-f")
    assert out(pruned) == "Deleted Networks:\nunused\n\n"
    assert out(net(root, "ls", "--format", "{{.Name}}")).split() == ["bridge", "host", "none",
                                                                      "used"]


def test_static_addresses_hostname_dns_options_and_mac(root):
    n = free_net()
    create(root, "fixed", "--subnet", f"{n}.0/24")
    result = sh(root, "fixed", "ip -o -4 addr show eth0; ip link show eth0; hostname; "
                "cat /etc/resolv.conf", "--ip", f"{n}.77", "--hostname", "myhost",
                "--mac-address", "02:42:aa:bb:cc:dd", "--dns-search", "example.com",
                "--dns-option", "ndots:2")
    text = out(result)
    assert f"{n}.77/24" in text and "link/ether 02:42:aa:bb:cc:dd" in text, result.stderr
    assert "\nmyhost\n" in text
    assert text.endswith("search example.com\nnameserver 127.0.0.11\noptions ndots:2\n")
    bridged = pallet(root, "run", "--rm", "--dns", "10.0.0.53", "--dns-search", "corp",
                     "busybox", "cat", "/etc/resolv.conf")
    assert out(bridged) == "search corp\nnameserver 10.0.0.53\n"


@pytest.mark.parametrize("args, message", [
    (("--subnet", "10.234.0.0/33", "bad1"), "Invalid subnet 10.234.0.0/33 : invalid CIDR address: 10.234.0.0/33"),
    (("--subnet", "banana", "bad2"), "Invalid subnet banana : invalid CIDR address: banana"),
    (("--subnet", "10.234.1.0/24", "--gateway", "10.99.0.1", "bad3"), "no matching subnet for gateway 10.99.0.1"),
    (("--gateway", "10.99.0.1", "bad4"), "every ip-range or gateway must have a corresponding subnet"),
    (("--subnet", "10.234.1.0/24", "--ip-range", "10.234.2.0/28", "bad5"), "no matching subnet for range 10.234.2.0/28"),
    (("bridge",), "operation is not permitted on predefined bridge network"),
])
def test_bad_network_create_is_a_docker_error_and_leaves_nothing(root, args, message):
    before = store_bridges(root) if (root / "network").exists() else []
    result = net(root, "create", *args)
    assert result.returncode == 1 and message in result.stderr.decode()
    assert store_bridges(root) == before or store_bridges(root) == [
        b for b in store_bridges(root) if not b.startswith("pbr-")]


def test_overlapping_subnets_duplicates_and_unknown_networks(root):
    n = free_net()
    create(root, "--subnet", f"{n}.0/24", "one")
    overlap = net(root, "create", "--subnet", f"{n}.128/25", "two")
    assert overlap.returncode == 1
    assert "Pool overlaps with other one on this address space" in overlap.stderr.decode()
    dup = net(root, "create", "one")
    assert dup.returncode == 1 and "network with name one already exists" in dup.stderr.decode()
    missing = net(root, "inspect", "nosuch")
    assert missing.returncode == 1 and out(missing) == "[]\n"
    assert "network nosuch not found" in missing.stderr.decode()
    assert net(root, "rm", "bridge").returncode == 1
    assert "bridge is a pre-defined network and cannot be removed" in \
        net(root, "rm", "bridge").stderr.decode()


def test_address_exhaustion_and_taken_static_addresses(root):
    n, m = free_net(), free_net()
    network_id = create(root, "--subnet", f"{n}.0/30", "tiny")
    pallet(root, "run", "-d", "--name", "only", "--network", "tiny", "busybox", "sleep", "60")
    full = pallet(root, "run", "-d", "--network", "tiny", "busybox", "sleep", "60")
    assert full.returncode == 125
    assert (f"no available IPv4 addresses on this network's address pools: tiny "
            f"({network_id})") in full.stderr.decode()
    create(root, "--subnet", f"{m}.0/24", "pinned")
    pallet(root, "run", "-d", "--network", "pinned", "--ip", f"{m}.9", "busybox", "sleep", "60")
    taken = pallet(root, "run", "--rm", "--network", "pinned", "--ip", f"{m}.9", "busybox", "true")
    assert taken.returncode == 125 and "Address already in use" in taken.stderr.decode()
    outside = pallet(root, "run", "--rm", "--network", "pinned", "--ip", "10.9.9.9", "busybox",
                     "true")
    assert "Invalid address 10.9.9.9: It does not belong to any of this network's subnets" in \
        outside.stderr.decode()
    default = pallet(root, "run", "--rm", "--ip", f"{m}.10", "busybox", "true")
    assert "user specified IP address is supported on user defined networks only" in \
        default.stderr.decode()
    alias = pallet(root, "run", "--rm", "--network-alias", "x", "busybox", "true")
    assert "network-scoped aliases are only supported for user-defined networks" in \
        alias.stderr.decode()
    time.sleep(0)


def test_a_renamed_container_answers_to_its_new_name(root):
    create(root, "renames")
    pallet(root, "run", "-d", "--name", "before", "--network", "renames", "busybox", "sleep", "60")
    pallet(root, "run", "-d", "--name", "asker2", "--network", "renames", "busybox", "sleep", "60")
    assert pallet(root, "rename", "before", "after").returncode == 0
    assert pallet(root, "exec", "asker2", "nslookup", "after").returncode == 0
    assert pallet(root, "exec", "asker2", "nslookup", "before").returncode != 0


def test_network_inspect_templates_see_the_network_document(root):
    n = free_net()
    create(root, "--subnet", f"{n}.0/24", "tmpl")
    shown = out(net(root, "inspect", "tmpl", "-f",
                    "{{json .IPAM.Config}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Driver}}"))
    assert shown == f'[{{"Subnet":"{n}.0/24"}}] {n}.0/24 bridge\n'
