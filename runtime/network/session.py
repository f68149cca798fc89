"""One container's networking while it runs: set up before it starts, torn down after.

    session = open_session(root, request)      # NetworkRequest: what the container config asks
    spec = replace(spec, net=session.config)   # the isolation core joins session's namespace
    ...                                        # the container runs
    session.close()                            # ports, resolver, veths, leases: all gone

For bridged containers: under the store's network lock, stale leases are swept and an address
is taken per network (and host ports reserved); then, outside the lock, a fresh network
namespace gets one veth per network (eth0 first, the default route on it), the published ports
become nftables elements, and on user-defined networks the embedded resolver starts. Any
failure undoes everything done so far, so a failed start leaves no lease, veth or rule. The
session's process owns the endpoints; close() (or, if this process is killed, the next sweep)
releases them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.container.state import process_start_time
from pallet.runtime.isolation.spec import NetworkConfig
from pallet.runtime.network import firewall, ipam, names, ports
from pallet.runtime.network.model import Attachment, Endpoint, Network, PortMapping
from pallet.runtime.network.store import NetworkStore, new_id


@dataclass(frozen=True)
class NetworkRequest:
    """How a container asks to be networked: its mode, networks, ports and DNS."""

    container_id: str
    name: str
    mode: str                                  # bridge | <network> | none | host | container:...
    attachments: tuple[Attachment, ...] = ()   # the networks, the primary first
    bindings: dict = field(default_factory=dict)   # HostConfig.PortBindings
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    joined_netns: str = ""                     # container:NAME: the other's namespace
    standby_dns: bool = True                   # no user network: a resolver for a late connect


@dataclass
class Session:
    """A container's networking while it is set up and runs; close() undoes it."""

    root: Path
    request: NetworkRequest
    config: NetworkConfig | None = None
    endpoints: list[Endpoint] = field(default_factory=list)
    netns_fd: int | None = None
    reservations: list[socket.socket] = field(default_factory=list)
    resolver: object = None
    _closed: bool = False

    def close(self, *, exiting: bool = False) -> None:
        """Undo everything (idempotent): resolver, rules, reserved ports, veths, leases.
        exiting: this process ends soon after (a foreground `run`); the veths then go on a
        thread its exit waits for (links.delete_links_in_background) instead of in line."""
        if self._closed:
            return
        self._closed = True
        from pallet.runtime.network.cleanup import release_endpoint
        if self.resolver is not None:
            self.resolver.stop()
        store = NetworkStore(self.root)
        mine = {(e.network_id, e.container_id) for e in self.endpoints}
        pid = os.getpid()
        owned = [e for e in store.container_endpoints(self.request.container_id)
                 if e.owner_pid == pid or (e.network_id, e.container_id) in mine]
        if exiting:
            from pallet.runtime.network import links
            links.delete_links_in_background([e.veth for e in owned if e.veth])
            owned = [dataclasses.replace(e, veth="") for e in owned]
        for endpoint in owned:
            release_endpoint(self.root, endpoint)
        for sock in self.reservations:
            sock.close()
        if self.netns_fd is not None:
            os.close(self.netns_fd)


def open_session(root: Path, request: NetworkRequest) -> Session:
    session = Session(root=Path(root), request=request)
    if request.mode in ("none", "host"):
        session.config = None
        return session
    if request.mode.startswith("container:"):
        session.config = NetworkConfig(netns=request.joined_netns)
        return session
    try:
        _attach(session)
    except BaseException:
        session.close()
        raise
    return session


def resolve_networks(root: Path, request: NetworkRequest) -> list[tuple[Network, Attachment]]:
    from pallet.runtime.network.networks import get_network
    resolved = []
    for attachment in request.attachments:
        network = get_network(root, attachment.network)
        if not network.bridged:
            raise PalletError("container cannot be disconnected from host network or connected "
                              "to host network" if network.driver == "host" else
                              f"container cannot be connected to network {network.name}",
                              exit_code=125)
        resolved.append((network, attachment))
    return resolved


def _attach(session: Session) -> None:
    from pallet.runtime.network import links
    from pallet.runtime.network.networks import bring_up
    root, request = session.root, session.request
    resolved = resolve_networks(root, request)
    store = NetworkStore(root)
    me, started = os.getpid(), process_start_time(os.getpid())
    with store.lock():
        for index, (network, attachment) in enumerate(resolved):
            endpoint = _lease(root, network, attachment, container_id=request.container_id,
                              name=request.name, interface=f"eth{index}", owner=(me, started))
            if index == 0 and request.bindings:
                endpoint = _publish(session, store, endpoint)
            store.save_endpoint(endpoint)
            session.endpoints.append(endpoint)
    session.netns_fd = links.new_netns()
    for index, ((network, _), endpoint) in enumerate(zip(resolved, session.endpoints)):
        try:
            _plug(session, network, endpoint, default_route=index == 0)
        except PalletError as error:
            if "is gone" not in error.message:
                raise
            bring_up(root, network)  # the host lost the bridge (reboot, someone's `ip link del`)
            _plug(session, network, endpoint, default_route=index == 0)
    primary = session.endpoints[0]
    firewall.add_ports(names.nft_table(root), primary)
    user_defined = [n for n, _ in resolved if n.user_defined]
    if user_defined:
        from pallet.runtime.isolation.etcfiles import host_nameservers
        from pallet.runtime.network.dns import EmbeddedResolver
        upstreams = list(request.dns) or host_nameservers()
        session.resolver = EmbeddedResolver(root, request.container_id, session.netns_fd,
                                            upstreams)
    elif request.standby_dns:
        from pallet.runtime.isolation.etcfiles import host_nameservers
        from pallet.runtime.network.standby import StandbyResolver
        upstreams = list(request.dns) or host_nameservers()

        def start(sockets):
            from pallet.runtime.network.dns import EmbeddedResolver  # on the first query only
            return EmbeddedResolver(root, request.container_id, None, upstreams,
                                    sockets=sockets)
        session.resolver = StandbyResolver(session.netns_fd, start)
    session.config = NetworkConfig(
        netns=f"/proc/{me}/fd/{session.netns_fd}", addresses=(primary.address,),
        embedded_dns=resolved[0][0].user_defined, dns_search=request.dns_search,
        dns_options=request.dns_options)


def _lease(root: Path, network: Network, attachment: Attachment, *, container_id: str, name: str,
           interface: str, owner: tuple[int, int | None]) -> Endpoint:
    """An address on network for the container (caller holds the store's network lock)."""
    from pallet.runtime.network.cleanup import live_endpoints
    existing = live_endpoints(root, network)
    if any(e.container_id == container_id for e in existing):
        raise PalletError(f"endpoint with name {name} already exists in network {network.name}",
                          exit_code=125)
    address = ipam.allocate(network.subnet, network.gateway, network.ip_range,
                            {e.address for e in existing}, static=attachment.address,
                            label=f"{network.name} ({network.id})")
    return Endpoint(
        network_id=network.id, container_id=container_id, endpoint_id=new_id(), name=name,
        aliases=tuple(attachment.aliases), address=address,
        prefixlen=int(network.subnet.split("/")[1]), gateway=network.gateway,
        mac=attachment.mac or ipam.mac_for(address), interface=interface,
        veth=names.new_veth_name(), static_address=attachment.address,
        owner_pid=owner[0], owner_start=owner[1])


def attach_live(root: Path, network: Network, attachment: Attachment, *, container_id: str,
                name: str, pid: int, owner: tuple[int, int | None]) -> Endpoint:
    """`network connect` of a running container: one more interface in its namespace, owned
    by its monitor (which releases it when the container stops)."""
    from pallet.runtime.network import links
    from pallet.runtime.network.cleanup import release_endpoint
    from pallet.runtime.network.networks import bring_up
    store = NetworkStore(root)
    with store.lock():
        used = {e.interface for e in store.container_endpoints(container_id)}
        interface = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        endpoint = _lease(root, network, attachment, container_id=container_id, name=name,
                          interface=interface, owner=owner)
        store.save_endpoint(endpoint)
    fd = os.open(joined_namespace(pid), os.O_RDONLY | os.O_CLOEXEC)
    try:
        bring_up(root, network)
        links.add_interface(fd, bridge=network.bridge, veth=endpoint.veth,
                            interface=endpoint.interface, address=endpoint.address,
                            prefixlen=endpoint.prefixlen, gateway=endpoint.gateway,
                            mac=endpoint.mac, mtu=network.mtu, default_route=not used)
    except BaseException:
        release_endpoint(root, endpoint)
        raise
    finally:
        os.close(fd)
    return endpoint


def detach_live(root: Path, endpoint: Endpoint, pid: int) -> None:
    from pallet.runtime.network import links
    from pallet.runtime.network.cleanup import release_endpoint
    try:
        fd = os.open(joined_namespace(pid), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        fd = None  # the container just exited: its namespace and interface are gone
    if fd is not None:
        try:
            links.remove_interface(fd, endpoint.interface)
        finally:
            os.close(fd)
    release_endpoint(root, endpoint)


def _plug(session: Session, network: Network, endpoint: Endpoint, *, default_route: bool) -> None:
    from pallet.runtime.network import links
    links.add_interface(session.netns_fd, bridge=network.bridge, veth=endpoint.veth,
                        interface=endpoint.interface, address=endpoint.address,
                        prefixlen=endpoint.prefixlen, gateway=endpoint.gateway, mac=endpoint.mac,
                        mtu=network.mtu, default_route=default_route)


def _publish(session: Session, store: NetworkStore, endpoint: Endpoint) -> Endpoint:
    """Reserve every bound host port (under the network lock: two starts never pick one)."""
    from pallet.runtime.network.cleanup import owner_alive
    taken = {(p.proto, p.host_port) for e in store.all_endpoints() if owner_alive(e)
             for p in e.ports}
    describe = (f"driver failed programming external connectivity on endpoint "
                f"{session.request.name} ({endpoint.endpoint_id})")
    mappings = []
    for key in sorted(session.request.bindings, key=ports.port_sort_key):
        number, _, proto = key.partition("/")
        for binding in session.request.bindings[key] or ():
            host_ip = binding.get("HostIp") or ""
            port, sock = ports.reserve(proto, host_ip, binding.get("HostPort") or "", taken,
                                       describe=describe)
            session.reservations.append(sock)
            taken.add((proto, port))
            mappings.append(PortMapping(proto=proto, container_port=int(number),
                                        host_ip=host_ip, host_port=port))
    return dataclasses.replace(endpoint, ports=tuple(mappings))


def open_build_sandbox(root: Path) -> Session:
    """A build step's network (BuildKit's sandbox): a fresh namespace on the store's default
    bridge with outbound access, owned by the building process and closed after the step."""
    return open_session(root, NetworkRequest(
        container_id=new_id(), name="buildkitsandbox", mode="bridge",
        attachments=(Attachment(network="bridge"),), standby_dns=False))


def joined_namespace(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


__all__ = ["NetworkRequest", "Session", "attach_live", "detach_live", "joined_namespace",
           "open_build_sandbox", "open_session"]
