"""Test helpers for what a store's networking creates on the host: listing it, removing it.

Tests make many stores; each store's bridges (aliased "pallet:<store path>") and nftables table
are host-wide objects, so every test removes its own (pallet_root's teardown, and a session
sweep for stores under this worker's pytest temp dir). Nothing here touches another store's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _links() -> list[dict]:
    from pallet.runtime.network.links import list_links
    return list_links()


def store_bridges(root: Path) -> list[str]:
    from pallet.runtime.network.names import bridge_alias
    alias = bridge_alias(root)
    return [link["name"] for link in _links() if link["kind"] == "bridge" and link["alias"] == alias]


def store_veths(root: Path) -> list[str]:
    bridges = set(store_bridges(root))
    return [link["name"] for link in _links() if link["kind"] == "veth" and link["master"] in bridges]


def nft_table_exists(table: str) -> bool:
    return subprocess.run(["nft", "list", "table", "ip", table], capture_output=True).returncode == 0


def remove_store_network(root: Path) -> None:
    """Delete the store's bridges (their veths go with them) and its nftables table."""
    from pallet.runtime.network.links import delete_link
    from pallet.runtime.network.names import nft_table
    for name in store_veths(root) + store_bridges(root):
        delete_link(name)
    subprocess.run(["nft", "delete", "table", "ip", nft_table(Path(root))], capture_output=True)


def bridges_under(prefix: Path) -> dict[str, str]:
    """pallet bridges whose store lies under prefix: name -> store path (read from sysfs, no
    netlink: cheap enough to run around every test)."""
    from pallet.runtime.network.names import ALIAS_PREFIX
    wanted = ALIAS_PREFIX + os.path.abspath(prefix) + "/"
    found = {}
    for name in os.listdir("/sys/class/net"):
        try:
            alias = Path(f"/sys/class/net/{name}/ifalias").read_text().strip()
        except OSError:
            continue
        if alias.startswith(wanted):
            found[name] = alias[len(ALIAS_PREFIX):]
    return found


def remove_networks_under(prefix: Path) -> None:
    """Every store's networking whose store path lies under prefix (a pytest temp dir)."""
    from pallet.runtime.network.names import ALIAS_PREFIX
    wanted = ALIAS_PREFIX + os.path.abspath(prefix)
    roots = {link["alias"][len(ALIAS_PREFIX):] for link in _links()
             if link["kind"] == "bridge" and link["alias"].startswith(wanted)}
    for root in roots:
        remove_store_network(Path(root))


UDP_ECHO_C = r"""
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {0};
    me.sin_family = AF_INET;
    me.sin_port = htons(atoi(argv[1]));
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) return 1;
    for (;;) {
        char buffer[2048];
        struct sockaddr_in peer;
        socklen_t length = sizeof peer;
        ssize_t n = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *)&peer, &length);
        if (n > 0) sendto(fd, buffer, n, 0, (struct sockaddr *)&peer, length);
    }
}
"""


def udp_echo_binary(directory: Path) -> Path:
    """A static UDP echo server (busybox has no UDP server): `udp-echo PORT`."""
    source = directory / "udp-echo.c"
    binary = directory / "udp-echo"
    if not binary.exists():
        source.write_text(UDP_ECHO_C)
        subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def free_net() -> str:
    """'10.A.B': a /24 (10.A.B.0/24) no route of this host covers, chosen at random so tests
    (and other test sessions on the host) that make networks with a --subnet never collide."""
    import ipaddress
    import random
    from pallet.runtime.network.ipam import host_routes
    taken = host_routes()
    for _ in range(500):
        prefix = f"10.{random.randrange(100, 250)}.{random.randrange(0, 256)}"
        if not any(ipaddress.ip_network(f"{prefix}.0/24").overlaps(r) for r in taken):
            return prefix
    raise RuntimeError("no free 10.x.y.0/24 on this host")
