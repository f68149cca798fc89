"""`network connect` / `network disconnect` of a container: recorded in its config, and made
live in its namespace when it runs (the endpoint then belongs to its monitor)."""

from __future__ import annotations

from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.container import state as cs
from pallet.runtime.container.networking import endpoint_entry


def connect(root: Path, network_ref: str, container_ref: str, *, address: str = "",
            aliases: tuple[str, ...] = ()) -> None:
    """`network connect`: recorded in the container's config; live when it runs."""
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.network.model import Attachment
    from pallet.runtime.network.networks import get_network
    from pallet.runtime.network.session import attach_live
    store = cs.ContainerStore(root)
    record = get(root, container_ref)
    network = get_network(root, network_ref)
    mode = record.config["HostConfig"]["NetworkMode"]
    if network.driver in ("host", "null") or mode in ("host", "none") or \
            mode.startswith("container:"):
        raise PalletError("container cannot be disconnected from host network or connected to "
                          "host network" if "host" in (network.name, mode) else
                          "container sharing network namespace with another container or host "
                          "cannot be connected to any other network")
    networks = record.config.setdefault("NetworkSettings", {}).setdefault("Networks", {})
    if network.name in networks:
        raise PalletError(f"endpoint with name {record.name} already exists in network "
                          f"{network.name}")
    if address:
        from pallet.runtime.network import ipam
        ipam.parse_ip(address, "--ip")
        if not network.user_defined:
            raise PalletError("user specified IP address is supported on user defined networks "
                              "only")
    if aliases and not network.user_defined:
        raise PalletError("network-scoped aliases are only supported for user-defined networks")
    if record.state.get("Running"):
        attach_live(root, network, Attachment(network=network.name, aliases=aliases,
                                              address=address),
                    container_id=record.id, name=record.name, pid=record.state["Pid"],
                    owner=(record.state.get("MonitorPid") or 0, record.state.get("MonitorStart")))
        if network.user_defined:
            # its monitor's resolver (standby on the default bridge) answers from now on
            from pallet.runtime.isolation.etcfiles import use_embedded_resolver
            host = record.config["HostConfig"]
            use_embedded_resolver(record.directory / "resolv.conf",
                                  tuple(host.get("DnsSearch") or ()),
                                  tuple(host.get("DnsOptions") or ()))
    config = store.load(record.id).config
    config.setdefault("NetworkSettings", {}).setdefault("Networks", {})[network.name] = \
        endpoint_entry(network, address, aliases)
    store.save_config(record.id, config)


def disconnect(root: Path, network_ref: str, container_ref: str) -> None:
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.network.networks import get_network
    from pallet.runtime.network.session import detach_live
    from pallet.runtime.network.store import NetworkStore
    store = cs.ContainerStore(root)
    record = get(root, container_ref)
    network = get_network(root, network_ref)
    networks = record.config.get("NetworkSettings", {}).get("Networks") or {}
    if network.name not in networks:
        raise PalletError(f"container {record.id} is not connected to network {network.name}")
    if network.driver == "host":
        raise PalletError("container cannot be disconnected from host network or connected to "
                          "host network")
    endpoint = NetworkStore(root).endpoint(network.id, record.id)
    if endpoint is not None:
        detach_live(root, endpoint, record.state.get("Pid") or 0)
    config = store.load(record.id).config
    config["NetworkSettings"]["Networks"].pop(network.name, None)
    store.save_config(record.id, config)
