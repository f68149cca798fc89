"""What `system check` finds of a store's networking, and with --repair removes: leases whose
owner died, published-port rules of no running container, veths on pallet's bridges no live
endpoint owns, bridges of removed networks; a network whose bridge is missing, or a table a
firewall reload flushed, is made again."""

from __future__ import annotations

from pathlib import Path

from pallet.runtime.network import firewall, names
from pallet.runtime.network.cleanup import owner_alive, release_endpoint
from pallet.runtime.network.model import Endpoint
from pallet.runtime.network.store import NetworkStore


def sweep(root: Path, *, repair: bool) -> list[str]:
    """What `system check` reports (and with repair removes): stale leases, published-port
    rules of no live endpoint, veths on our bridges no live endpoint owns, bridges of ours
    whose network is gone, and networks whose bridge is missing (made again)."""
    store = NetworkStore(root)
    if not store.networks_dir.is_dir():
        return []
    found: list[str] = []
    live: list[Endpoint] = []
    for endpoint in store.all_endpoints():
        if owner_alive(endpoint):
            live.append(endpoint)
            continue
        found.append(f"network lease {endpoint.address} of container {endpoint.container_id[:12]}"
                     f" (owner pid {endpoint.owner_pid} is gone)")
        if repair:
            release_endpoint(root, endpoint)
    table = names.nft_table(root)
    bridged = [n for n in store.networks() if n.bridged]
    if bridged and not firewall.table_exists(table):
        # `nft flush ruleset` or a firewall reload took it: made again, running containers'
        # published ports included (their endpoints say which)
        found.append(f"nftables table ip {table} is missing")
        if repair:
            from pallet.runtime.network.networks import bring_up
            for network in bridged:
                bring_up(root, network)
            for endpoint in live:
                firewall.add_ports(table, endpoint)
    live_ids = {e.container_id for e in live}
    orphans = [(name, key) for name, key, comment in firewall.port_elements(table)
               if comment not in live_ids]
    for name, key in orphans:
        found.append(f"nftables element {key} in {table} {name} of no running container")
    if repair and orphans:
        firewall.delete_elements(table, orphans)
    found += _sweep_links(root, store, live, repair=repair)
    return found


def _sweep_links(root: Path, store: NetworkStore, live: list[Endpoint], *,
                 repair: bool) -> list[str]:
    from pallet.runtime.network import links
    from pallet.runtime.network.networks import bring_up
    found = []
    alias = names.bridge_alias(root)
    networks = [n for n in store.networks() if n.bridged]
    bridges = {n.bridge for n in networks}
    host_links = links.list_links()
    ours = {link["name"] for link in host_links if link["kind"] == "bridge" and
            link["alias"] == alias}
    live_veths = {e.veth for e in live}
    for link in host_links:
        if link["kind"] == "veth" and link["master"] in ours and link["name"] not in live_veths:
            found.append(f"veth {link['name']} on bridge {link['master']} of no running container")
            if repair:
                links.delete_link(link["name"])
    for bridge in sorted(ours - bridges):
        found.append(f"bridge {bridge} of a removed network")
        if repair:
            links.delete_link(bridge)
    present = {link["name"] for link in host_links}
    for network in networks:
        if network.bridge not in present:
            found.append(f"network {network.name}: its bridge {network.bridge} is missing")
            if repair:
                bring_up(root, network)
    return found
