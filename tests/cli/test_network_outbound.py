"""Outbound traffic leaves through the host, masqueraded; --internal networks have no way out.
"Outside" is a network namespace this test makes, joined to the host by a veth pair with a
route to it: no packet goes anywhere else."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from tests.cli.ctr_helpers import out, pallet

pytestmark = [pytest.mark.root, pytest.mark.netns]


@pytest.fixture
def outside():
    """(server address, port, peers seen): a TCP server in a namespace of its own behind
    a veth pair whose host end is 10.A.B.1/30 (a /24 no route covers)."""
    from pyroute2 import IPRoute
    from pallet.runtime.network import links
    tag = os.urandom(3).hex()  # interface names are host-wide: unique per run
    host_end, far_end = f"vout{tag}h", f"vout{tag}o"
    from tests.netutil import free_net
    net = free_net()
    host_ip, far_ip = f"{net}.1", f"{net}.2"
    netns = links.new_netns()
    with IPRoute() as ipr:
        ipr.link("add", ifname=host_end, kind="veth", peer={"ifname": far_end, "net_ns_fd": netns})
        index = ipr.link_lookup(ifname=host_end)[0]
        ipr.addr("add", index=index, address=host_ip, prefixlen=30)
        ipr.link("set", index=index, state="up")
    peers: list[str] = []
    with links.entered(netns):
        with IPRoute() as inside:
            far = inside.link_lookup(ifname=far_end)[0]
            inside.addr("add", index=far, address=far_ip, prefixlen=30)
            inside.link("set", index=far, state="up")
        server = socket.socket()
        server.bind((far_ip, 0))
        server.listen()

    def serve():
        while True:
            try:
                connection, peer = server.accept()
            except OSError:
                return
            with connection:
                peers.append(peer[0])
                connection.sendall(b"outside\n")

    threading.Thread(target=serve, daemon=True).start()
    yield far_ip, server.getsockname()[1], peers, host_ip
    server.close()
    links.delete_link(host_end)
    os.close(netns)


def test_a_bridged_container_reaches_outside_masqueraded_as_the_host(root, outside):
    address, port, peers, host_ip = outside
    result = pallet(root, "run", "--rm", "busybox", "nc", "-w", "3", address, str(port))
    assert out(result) == "outside\n", result.stderr
    assert peers == [host_ip]  # the container's address never left the host


def test_a_user_network_container_goes_out_too_but_an_internal_one_cannot(root, outside):
    address, port, peers, host_ip = outside
    pallet(root, "network", "create", "open")
    pallet(root, "network", "create", "--internal", "closed")
    opened = pallet(root, "run", "--rm", "--network", "open", "busybox", "nc", "-w", "3",
                    address, str(port))
    assert out(opened) == "outside\n", opened.stderr
    closed = pallet(root, "run", "--rm", "--network", "closed", "busybox", "nc", "-w", "2",
                    address, str(port))
    assert closed.returncode != 0 and out(closed) == ""
    assert peers == [host_ip]
