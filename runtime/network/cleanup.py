"""Taking endpoints down, and finding what a dead process left: leases, rules, veths, bridges.

An endpoint belongs to the process that set it up (the container's monitor); while that
process lives it is the one that tears the endpoint down. When it died without doing so
(SIGKILL), the endpoint is stale: the next allocation on the network, the next `ps`/`inspect`
that notices the dead monitor, and `system check --repair` (repair.py) release it. Releasing
is idempotent.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from pallet.runtime.container.state import process_start_time
from pallet.runtime.network import firewall, names
from pallet.runtime.network.model import Endpoint, Network
from pallet.runtime.network.store import NetworkStore


def owner_alive(endpoint: Endpoint) -> bool:
    return bool(endpoint.owner_pid) and endpoint.owner_start is not None and \
        process_start_time(endpoint.owner_pid) == endpoint.owner_start


def release_endpoint(root: Path, endpoint: Endpoint) -> None:
    """Its published ports, its veth (when its namespace outlived it) and its lease."""
    firewall.remove_ports(names.nft_table(root), endpoint)
    if endpoint.veth:
        from pallet.runtime.network import links
        with contextlib.suppress(Exception):  # noqa: BLE001 - gone with its namespace
            links.delete_link(endpoint.veth)
    NetworkStore(root).delete_endpoint(endpoint)


def live_endpoints(root: Path, network: Network) -> list[Endpoint]:
    """The network's endpoints whose owner lives; stale ones are released on the way."""
    live = []
    for endpoint in NetworkStore(root).endpoints(network.id):
        if owner_alive(endpoint):
            live.append(endpoint)
        else:
            release_endpoint(root, endpoint)
    return live


def release_container(root: Path, container_id: str) -> list[Endpoint]:
    """Every endpoint of a container whose monitor is gone (refresh, rm, repair)."""
    released = []
    for endpoint in NetworkStore(root).container_endpoints(container_id):
        if not owner_alive(endpoint):
            release_endpoint(root, endpoint)
            released.append(endpoint)
    return released
