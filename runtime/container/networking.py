"""A container's networking, between its record and runtime/network.

    networks_at_create(root, options) -> (NetworkSettings.Networks, hostname or None)
    open_network(root, record) -> Session     # before start; session.config goes in the spec
    network_settings(record) -> dict          # inspect's NetworkSettings, live
    published_ports(record) -> dict           # NetworkSettings.Ports of a running container
    network_names(record) -> list[str]        # ps's NETWORKS

The container's config keeps what was asked (HostConfig.NetworkMode/PortBindings/
PublishAllPorts, Config.ExposedPorts, NetworkSettings.Networks with aliases and --ip); what was
given (addresses, MACs, host ports) lives in the endpoint records while the container runs, as
Docker shows it only then.
"""

from __future__ import annotations

import os
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.container import state as cs

EMPTY_ENDPOINT = {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "",
                  "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                  "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                  "MacAddress": "", "DriverOpts": None}


def _root(record: cs.ContainerRecord) -> Path:
    return record.directory.parent.parent


def networks_at_create(root: Path, options, container_id: str) -> tuple[dict, str | None]:
    """Validate --network and its companions as dockerd does at create; returns the
    NetworkSettings.Networks to record and, for container:NAME, the hostname to take."""
    networks, hostname = _primary_at_create(root, options, container_id)
    if options.more_networks:
        if not networks or any(n in ("host", "none", "bridge") for n in networks):
            raise PalletError("Container cannot be connected to network endpoints: only "
                              "user-defined networks can be joined together", exit_code=125)
        from pallet.runtime.network.networks import get_network
        for attachment in options.more_networks:
            try:
                network = get_network(root, attachment.network)
            except PalletError as error:
                raise PalletError(error.message, exit_code=125) from error
            if not network.user_defined or not network.bridged:
                raise PalletError("Container cannot be connected to network endpoints: only "
                                  "user-defined networks can be joined together", exit_code=125)
            if network.name in networks:
                raise PalletError(f"endpoint with name {options.name or container_id[:12]} "
                                  f"already exists in network {network.name}", exit_code=125)
            if attachment.address:
                from pallet.runtime.network import ipam
                ipam.parse_ip(attachment.address, "--ip")
            networks[network.name] = endpoint_entry(network, attachment.address, attachment.aliases)
    return networks, hostname


def endpoint_entry(network, address: str, aliases) -> dict:
    entry = dict(EMPTY_ENDPOINT)
    entry["IPAMConfig"] = {"IPv4Address": address} if address else None
    entry["Aliases"] = list(aliases) or None
    entry["NetworkID"] = network.id
    return entry


def _primary_at_create(root: Path, options, container_id: str) -> tuple[dict, str | None]:
    mode = options.network
    if mode in ("none", "host") or mode.startswith("container:"):
        if options.ip:
            raise PalletError("user specified IP address is supported on user defined networks "
                              "only", exit_code=125)
        if options.aliases:
            raise PalletError("network-scoped aliases are only supported for user-defined "
                              "networks", exit_code=125)
    if mode in ("none", "host"):
        return {mode: dict(EMPTY_ENDPOINT)}, None
    if mode.startswith("container:"):
        if options.publish or options.publish_all:
            raise PalletError("conflicting options: port publishing and the container type "
                              "network mode", exit_code=125)
        if options.hostname:
            raise PalletError("conflicting options: hostname and the network mode",
                              exit_code=125)
        try:
            target = cs.ContainerStore(root).resolve(mode.split(":", 1)[1])
        except PalletError as error:
            raise PalletError(error.message, exit_code=125) from error
        if target.id == container_id:
            raise PalletError("cannot join own network", exit_code=125)
        return {}, target.config["Config"]["Hostname"]
    from pallet.runtime.network.networks import get_network
    try:
        network = get_network(root, "bridge" if mode == "default" else mode)
    except PalletError as error:
        raise PalletError(error.message, exit_code=125) from error
    if network.driver == "host" or network.driver == "null":
        return {network.name: dict(EMPTY_ENDPOINT)}, None
    if options.ip and not network.user_defined:
        raise PalletError("user specified IP address is supported on user defined networks only",
                          exit_code=125)
    if options.aliases and not network.user_defined:
        raise PalletError("network-scoped aliases are only supported for user-defined networks",
                          exit_code=125)
    if options.ip:
        from pallet.runtime.network import ipam
        ipam.parse_ip(options.ip, "--ip")
    return {network.name: endpoint_entry(network, options.ip, options.aliases)}, None


def _attachments(config: dict):
    from pallet.runtime.network.model import Attachment
    attachments = []
    short = config["Id"][:12]
    for name, entry in (config.get("NetworkSettings", {}).get("Networks") or {}).items():
        if name in ("host", "none"):
            continue
        aliases = [a for a in entry.get("Aliases") or [] if a != short]
        address = (entry.get("IPAMConfig") or {}).get("IPv4Address") or ""
        attachments.append(Attachment(network=name,
                                      aliases=tuple(aliases), address=address,
                                      mac=entry.get("MacAddress") or ""))
    mac = config["Config"].get("MacAddress") or ""
    if attachments and mac:
        from dataclasses import replace
        attachments[0] = replace(attachments[0], mac=mac)
    return tuple(attachments)


def _bindings(config: dict) -> dict:
    """PortBindings plus, with -P, a random host port for every exposed port left unbound."""
    host = config["HostConfig"]
    bindings = {key: list(value or []) for key, value in (host.get("PortBindings") or {}).items()}
    if host.get("PublishAllPorts"):
        for key in config["Config"].get("ExposedPorts") or {}:
            bindings.setdefault(key, [{"HostIp": "", "HostPort": ""}])
    return bindings


class _Unnetworked:
    """--network none/host: nothing to set up or tear down (and no networking code loaded)."""

    config = None

    def close(self, *, exiting: bool = False) -> None:
        pass


def open_network(root: Path, record: cs.ContainerRecord):
    """Set up the container's networking for one run (see runtime/network/session.py)."""
    config = record.config
    mode = config["HostConfig"]["NetworkMode"]
    if mode in ("none", "host"):
        return _Unnetworked()
    from pallet.runtime.network.session import NetworkRequest, joined_namespace, open_session
    host = config["HostConfig"]
    joined = ""
    if mode.startswith("container:"):
        try:
            target = cs.ContainerStore(root).resolve(mode.split(":", 1)[1])
        except PalletError as error:
            raise PalletError(error.message, exit_code=125) from error
        state = target.state
        if not (state.get("Running") and cs.alive(state.get("Pid", 0), state.get("PidStart"))):
            raise PalletError(f"cannot join network of a non running container: {target.id}",
                              exit_code=125)
        joined = joined_namespace(target.state["Pid"])
        for name in ("hosts", "resolv.conf"):
            import shutil  # here only: exec and run import this module, rarely this path
            shutil.copyfile(target.directory / name, record.directory / f".{name}.joined")
            os.replace(record.directory / f".{name}.joined", record.directory / name)
    request = NetworkRequest(
        container_id=record.id, name=record.name, mode="bridge" if mode == "default" else mode,
        attachments=_attachments(config), bindings=_bindings(config),
        dns=tuple(host.get("Dns") or ()), dns_search=tuple(host.get("DnsSearch") or ()),
        dns_options=tuple(host.get("DnsOptions") or ()), joined_netns=joined)
    if request.mode not in ("none", "host") and not joined and not request.attachments:
        raise PalletError(f"network {mode} not found", exit_code=125)
    return open_session(root, request)


def _endpoints(record: cs.ContainerRecord) -> dict:
    """network ID -> live endpoint of this (running) container."""
    if not record.state.get("Running"):
        return {}
    from pallet.runtime.network.store import NetworkStore
    return {e.network_id: e for e in NetworkStore(_root(record)).container_endpoints(record.id)}


def published_ports(record: cs.ContainerRecord) -> dict:
    """NetworkSettings.Ports: every exposed port of a running bridged container, with the host
    ports it got (null when unbound); {} otherwise, as Docker shows stopped containers."""
    mode = record.config["HostConfig"]["NetworkMode"]
    if not record.state.get("Running") or mode in ("host", "none") or \
            mode.startswith("container:"):
        return {}
    from pallet.runtime.network.ports import inspect_ports
    mappings = [p for e in _endpoints(record).values() for p in e.ports]
    return inspect_ports(list(record.config["Config"].get("ExposedPorts") or {}), mappings)


def network_settings(record: cs.ContainerRecord) -> dict:
    """Docker 20.10's NetworkSettings: the default bridge's fields also at the top level (only
    that network's, as Docker: a container on user networks alone shows them empty there)."""
    endpoints = _endpoints(record)
    networks = {}
    primary = None
    short = record.id[:12]
    for name, entry in (record.config.get("NetworkSettings", {}).get("Networks") or {}).items():
        view = dict(EMPTY_ENDPOINT, **{k: v for k, v in entry.items() if k in EMPTY_ENDPOINT})
        endpoint = endpoints.get(entry.get("NetworkID", ""))
        if endpoint is not None:
            view.update(EndpointID=endpoint.endpoint_id, Gateway=endpoint.gateway,
                        IPAddress=endpoint.address, IPPrefixLen=endpoint.prefixlen,
                        MacAddress=endpoint.mac)
            if endpoint.aliases or _user_defined(record, entry):
                view["Aliases"] = list(endpoint.aliases) + [short]
            if name == "bridge":
                primary = endpoint
        elif _user_defined(record, entry):
            view["Aliases"] = (entry.get("Aliases") or []) + [short]
        networks[name] = view
    pid = record.state.get("Pid") if record.state.get("Running") else 0
    return {
        "Bridge": "", "SandboxID": record.id if pid else "", "HairpinMode": False,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": published_ports(record), "SandboxKey": f"/proc/{pid}/ns/net" if pid else "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": primary.endpoint_id if primary else "",
        "Gateway": primary.gateway if primary else "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": primary.address if primary else "",
        "IPPrefixLen": primary.prefixlen if primary else 0, "IPv6Gateway": "",
        "MacAddress": primary.mac if primary else "", "Networks": networks}


def _user_defined(record: cs.ContainerRecord, entry: dict) -> bool:
    """Networks other than bridge/host/none: Docker adds the short ID to their aliases."""
    names = [n for n, e in (record.config.get("NetworkSettings", {}).get("Networks") or {}).items()
             if e is entry]
    return bool(names) and names[0] not in ("bridge", "host", "none")


def network_names(record: cs.ContainerRecord) -> list[str]:
    return sorted((record.config.get("NetworkSettings", {}).get("Networks") or {}))


def rename_endpoints(root: Path, container_id: str, name: str) -> None:
    if (Path(root) / "network" / "endpoints").is_dir():
        from pallet.runtime.network.store import NetworkStore
        NetworkStore(root).rename_container(container_id, name)


def release(root: Path, container_id: str) -> None:
    """The leases and rules a container whose monitor died still holds (looked for without
    loading the networking code: most containers hold none)."""
    endpoints = Path(root) / "network" / "endpoints"
    try:
        held = any((Path(entry.path) / f"{container_id}.json").exists()
                   for entry in os.scandir(endpoints))
    except FileNotFoundError:
        return
    if held:
        from pallet.runtime.network.cleanup import release_container
        release_container(root, container_id)


class RunningNetwork:
    """The spec to start with and the session to close after the container exited."""

    def __init__(self, spec, session) -> None:
        self.spec = spec
        self.session = session

    def close(self, *, exiting: bool = False) -> None:
        self.session.close(exiting=exiting)


def start_network(root: Path, record: cs.ContainerRecord, spec) -> RunningNetwork:
    """Network the container for one run and rewrite its /etc files to match; errors are
    StartErrors (125), recorded on the container like any failed start."""
    from dataclasses import replace
    from pallet.runtime.isolation.core import StartError
    from pallet.runtime.isolation.etcfiles import write_etc_files
    try:
        session = open_network(root, record)
    except PalletError as error:
        raise StartError(error.message, hint=error.hint, exit_code=125) from error
    try:
        if session.config is not None:
            spec = replace(spec, net=session.config)
        if any(entry.endswith(":host-gateway") for entry in spec.extra_hosts):
            # (the networks module, and ipaddress with it, only when a name needs it)
            from pallet.runtime.network.networks import resolve_host_gateway
            spec = replace(spec, extra_hosts=resolve_host_gateway(root, spec.extra_hosts))
        if not record.config["HostConfig"]["NetworkMode"].startswith("container:"):
            write_etc_files(spec, record.directory)
    except BaseException:
        session.close()
        raise
    return RunningNetwork(spec, session)
