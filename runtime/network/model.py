"""The data of networking, as frozen dataclasses: networks, endpoints, published ports.

A Network is one record of the store (ROOT/network/networks/<id>.json). An Endpoint is one
container's attachment to one network while the container runs (ROOT/network/endpoints/<network
id>/<container id>.json): it holds the address lease, the host end of the veth pair, the
published ports and the process that owns it (the container's monitor), so a lease whose owner
died can be told from a live one. Both round-trip through plain JSON documents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PREDEFINED = ("bridge", "host", "none")


@dataclass(frozen=True)
class Network:
    """A network as the store records it (inspect's document is drawn from it)."""

    id: str
    name: str
    driver: str                      # bridge | host | null
    created: str
    subnet: str = ""                 # the pool addresses come from (canonical CIDR)
    gateway: str = ""                # the bridge's own address
    ip_range: str = ""               # sub-pool for dynamic addresses ('' = the whole subnet)
    internal: bool = False
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    ipam_config: tuple = ()          # what `network inspect` shows under IPAM.Config
    ipam_options: dict | None = None
    bridge: str = ""                 # the host bridge device
    mtu: int = 1500

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def bridged(self) -> bool:
        return self.driver == "bridge"

    @property
    def user_defined(self) -> bool:
        """Docker's rule: names resolve, aliases and static addresses work only on these."""
        return self.bridged and not self.predefined

    def to_json(self) -> dict:
        data = asdict(self)
        data["ipam_config"] = list(self.ipam_config)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Network":
        data = dict(data)
        data["ipam_config"] = tuple(data.get("ipam_config") or ())
        return cls(**data)


@dataclass(frozen=True)
class PortMapping:
    """One published port: host_ip:host_port -> the container's port (per protocol)."""

    proto: str            # tcp | udp
    container_port: int
    host_ip: str          # '' = every host address (Docker shows 0.0.0.0)
    host_port: int

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"

    def to_json(self) -> list:
        return [self.proto, self.container_port, self.host_ip, self.host_port]

    @classmethod
    def from_json(cls, data: list) -> "PortMapping":
        return cls(str(data[0]), int(data[1]), str(data[2]), int(data[3]))


@dataclass(frozen=True)
class Endpoint:
    """A container's attachment to a network: its names, address and interface."""

    network_id: str
    container_id: str
    endpoint_id: str
    name: str                        # the container's name (DNS)
    aliases: tuple[str, ...]         # further DNS names on this network
    address: str
    prefixlen: int
    gateway: str
    mac: str
    interface: str                   # eth0, eth1, ... inside the container
    veth: str                        # the host end of the pair
    ports: tuple[PortMapping, ...] = ()
    static_address: str = ""         # --ip / connect --ip as asked
    owner_pid: int = 0               # the process that tears this endpoint down
    owner_start: int | None = None   # its start time (a recycled PID is not the owner)

    def to_json(self) -> dict:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["ports"] = [p.to_json() for p in self.ports]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Endpoint":
        data = dict(data)
        data["aliases"] = tuple(data.get("aliases") or ())
        data["ports"] = tuple(PortMapping.from_json(p) for p in data.get("ports") or ())
        return cls(**data)


@dataclass(frozen=True)
class Attachment:
    """What a container asks of one network (from its config): aliases, a static address."""

    network: str                     # name or ID as given
    aliases: tuple[str, ...] = ()
    address: str = ""
    mac: str = ""


@dataclass(frozen=True)
class PortRequest:
    """One `-p` item after parsing: a host port range onto a container port range."""

    proto: str
    container_start: int
    container_end: int
    host_ip: str = ""
    host_start: int = 0              # 0 = a free port chosen at start
    host_end: int = 0
