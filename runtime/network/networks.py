"""Networks of a store: the predefined three, `network create/rm/prune`, bringing one up.

    ensure_predefined(root)            # bridge (with its host bridge), host, none
    create_network(root, request) -> Network
    remove_network(root, ref) -> Network, prune_networks(root) -> [names]
    bring_up(root, network)            # the host bridge and the network's nftables part

A bridge network's host bridge and firewall part are made when the network is made (as
dockerd does), so the subnet it took is visible to the next store choosing one; the choice and
the creation happen under the host-wide lock. After a reboot bring_up makes them again.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.network import firewall, ipam, names
from pallet.runtime.network.model import PREDEFINED, Network
from pallet.runtime.network.store import NetworkNotFound, NetworkStore, host_lock, new_id, now

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"


@dataclass(frozen=True)
class CreateRequest:
    """`network create`'s options, typed."""

    name: str
    driver: str = "bridge"
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


def reclaim_orphans() -> None:
    """Bridges (and nftables tables) of stores that no longer exist: a store's directory
    deleted with its bridges still up (a killed test session, `rm -rf` of a --root) would hold
    their subnets for good. The alias names the store; no store, no owner."""
    import os
    from pallet.runtime.network import links
    try:
        entries = os.listdir("/sys/class/net")
    except OSError:
        return
    for name in entries:
        try:
            with open(f"/sys/class/net/{name}/ifalias") as handle:
                alias = handle.read().strip()
        except OSError:
            continue
        if not alias.startswith(names.ALIAS_PREFIX):
            continue
        store = Path(alias[len(names.ALIAS_PREFIX):])
        if store.is_absolute() and not (store / "network").exists():
            links.delete_link(name)
            firewall.delete_table(names.nft_table(store))


def _taken_subnets(store: NetworkStore) -> list:
    reclaim_orphans()
    taken = ipam.host_routes()
    taken += [ipaddress.ip_network(n.subnet) for n in store.networks() if n.subnet]
    return taken


def ensure_predefined(root: Path) -> None:
    """Make bridge, host and none on first use of the store's networks."""
    store = NetworkStore(root)
    present = {n.name for n in store.networks() if n.predefined}
    if present == set(PREDEFINED):
        return
    with host_lock(), store.lock():
        present = {n.name for n in store.networks() if n.predefined}
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            if name in present:
                continue
            network = Network(id=new_id(), name=name, driver=driver, created=now())
            if driver == "bridge":
                network = _default_bridge(root, store, network)
                bring_up(root, network)
            store.save(network)


def _default_bridge(root: Path, store: NetworkStore, network: Network) -> Network:
    subnet = ipam.pick_subnet(_taken_subnets(store), small=bool(names.store_tag(root)))
    gateway = str(subnet.network_address + 1)
    bridge = names.default_bridge(root)
    return Network(
        id=network.id, name="bridge", driver="bridge", created=network.created,
        subnet=str(subnet), gateway=gateway, ipam_config=({"Subnet": str(subnet),
                                                           "Gateway": gateway},),
        ipam_options=None, bridge=bridge, options={
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            BRIDGE_NAME_OPTION: bridge,
            MTU_OPTION: "1500"})


def bring_up(root: Path, network: Network) -> None:
    """The host bridge with its gateway address, and the network's firewall part."""
    if not network.bridged:
        return
    from pallet.runtime.network import links
    links.prepare_host()
    subnet = ipaddress.ip_network(network.subnet)
    for route, device in ipam.routes_by_device():
        if device != network.bridge and route.overlaps(subnet):
            # the bridge went (reboot, `ip link del`) and something else took its addresses
            raise PalletError(f"cannot bring network {network.name} up: its subnet {subnet} "
                              f"overlaps the host's route to {route} on {device}",
                              hint="remove that route, or remove and recreate this network")
    prefixlen = subnet.prefixlen
    links.ensure_bridge(network.bridge, address=network.gateway, prefixlen=prefixlen,
                        mtu=network.mtu, alias=names.bridge_alias(root))
    table = names.nft_table(root)
    firewall.ensure_table(table)
    firewall.add_network(table, network)


def get_network(root: Path, reference: str) -> Network:
    ensure_predefined(root)
    return NetworkStore(root).find(reference)


def create_network(root: Path, request: CreateRequest) -> Network:
    if request.driver != "bridge":
        if request.driver in ("host", "null"):
            raise PalletError(f"only one instance of \"{request.driver}\" network is allowed")
        raise PalletError(f"plugin \"{request.driver}\" not found",
                          hint="pallet makes bridge networks only")
    if request.name in PREDEFINED:
        raise PalletError("operation is not permitted on predefined " f"{request.name} network")
    if not NAME_RE.match(request.name):
        raise PalletError(f'invalid network name "{request.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] '
                          "are allowed")
    subnet, gateway, ip_range, config = ipam.plan_user_subnet(
        request.subnet or None, request.gateway or None, request.ip_range or None)
    mtu = _mtu(request.options)
    ensure_predefined(root)
    store = NetworkStore(root)
    with host_lock(), store.lock():
        if any(n.name == request.name for n in store.networks()):
            raise PalletError(f"network with name {request.name} already exists")
        network_id = new_id()
        bridge = request.options.get(BRIDGE_NAME_OPTION) or names.user_bridge(network_id)
        if not names.valid_interface_name(bridge):
            raise PalletError(f"invalid bridge name {bridge!r}: at most 15 characters, no '/' "
                              "or white space")
        if any(n.bridge == bridge for n in store.networks()):
            raise PalletError(f"bridge name {bridge} is already used by another network")
        ours = [ipaddress.ip_network(n.subnet) for n in store.networks() if n.subnet]
        if subnet is None:
            subnet = ipam.pick_subnet(_taken_subnets(store), small=bool(names.store_tag(root)))
            gateway = str(subnet.network_address + 1)
            config = [{"Subnet": str(subnet), "Gateway": gateway}]
        else:
            ipam.check_overlap(subnet, ours)
        network = Network(
            id=network_id, name=request.name, driver="bridge", created=now(),
            subnet=str(subnet), gateway=gateway, ip_range=ip_range, internal=request.internal,
            labels=dict(request.labels), options=dict(request.options),
            ipam_config=tuple(config), ipam_options={}, bridge=bridge, mtu=mtu)
        try:
            bring_up(root, network)
            store.save(network)
        except BaseException:
            _take_down(root, network)
            raise
    return network


def _mtu(options: dict) -> int:
    text = options.get(MTU_OPTION)
    if text is None:
        return 1500
    if not text.isdigit() or not 68 <= int(text) <= 65535:
        raise PalletError(f"invalid MTU number: {text}")
    return int(text)


def _take_down(root: Path, network: Network) -> None:
    from pallet.runtime.network import links
    firewall.remove_network(names.nft_table(root), network)
    links.delete_link(network.bridge)


def remove_network(root: Path, reference: str) -> Network:
    from pallet.runtime.network.cleanup import live_endpoints
    ensure_predefined(root)
    store = NetworkStore(root)
    network = store.find(reference)
    if network.predefined:
        raise PalletError(f"{network.name} is a pre-defined network and cannot be removed")
    with store.lock():
        if live_endpoints(root, network):
            raise PalletError(f"error while removing network: network {network.name} id "
                              f"{network.id} has active endpoints")
        _take_down(root, network)
        store.delete(network)
    return network


def prune_networks(root: Path) -> list[str]:
    """Remove every user network no running container uses; returns their names."""
    from pallet.runtime.network.cleanup import live_endpoints
    ensure_predefined(root)
    store = NetworkStore(root)
    removed = []
    with store.lock():
        for network in store.networks():
            if network.predefined or live_endpoints(root, network):
                continue
            _take_down(root, network)
            store.delete(network)
            removed.append(network.name)
    return removed


def resolve_host_gateway(root: Path, entries: tuple[str, ...]) -> tuple[str, ...]:
    """--add-host NAME:host-gateway names the default bridge's gateway, as in Docker."""
    if not any(entry.endswith(":host-gateway") for entry in entries):
        return entries
    gateway = get_network(root, "bridge").gateway
    return tuple(f"{entry.rsplit(':', 1)[0]}:{gateway}" if entry.endswith(":host-gateway")
                 else entry for entry in entries)


__all__ = ["CreateRequest", "NetworkNotFound", "bring_up", "create_network", "ensure_predefined",
           "get_network", "prune_networks", "remove_network", "resolve_host_gateway"]
