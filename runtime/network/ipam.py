"""Address management: which subnet a new network gets, which address a container gets.

Subnets come from Docker's default pools (172.17-31.0.0/16, then 192.168.0.0/16 in /20s; in
/24s for stores other than the default one), the first that overlaps no route of this host and
no network of this store, so a new bridge never shadows a route the host already has. Addresses are handed out lowest-first from the network's
--ip-range (or its whole subnet), never the subnet's own network and broadcast addresses, the
gateway, or an address another live endpoint holds; the caller holds the store's network lock
so no address is given twice. Errors are Docker's texts.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from pallet.base.errors import PalletError

DEFAULT_POOLS = tuple(ipaddress.ip_network(f"172.{n}.0.0/16") for n in range(17, 32)) + \
    tuple(ipaddress.ip_network(f"192.168.{n}.0/20") for n in range(0, 256, 16))


def _small_pools():
    """The same ranges in /24s, for stores other than the default one: many stores on one host
    (tests, CI jobs, each with its own --root) would exhaust the 31 Docker-sized pools."""
    for pool in DEFAULT_POOLS:
        yield from pool.subnets(new_prefix=24)


def host_routes() -> list[ipaddress.IPv4Network]:
    """Destinations of the host's IPv4 routes (main table), the default route excepted."""
    return [network for network, _ in routes_by_device()]


def routes_by_device() -> list[tuple[ipaddress.IPv4Network, str]]:
    routes = []
    try:
        with open("/proc/net/route") as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        destination = socket.inet_ntoa(struct.pack("<I", int(fields[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<I", int(fields[7], 16)))
        network = ipaddress.ip_network(f"{destination}/{mask}", strict=False)
        if network.prefixlen:
            routes.append((network, fields[0]))
    return routes


def pick_subnet(taken: list, *, small: bool = False) -> ipaddress.IPv4Network:
    for pool in (_small_pools() if small else DEFAULT_POOLS):
        if not any(pool.overlaps(other) for other in taken):
            return pool
    raise PalletError("could not find an available, non-overlapping IPv4 address pool among the "
                      "defaults to assign to the network")


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PalletError(f"Invalid subnet {text} : invalid CIDR address: {text}") from None
    if network.version != 4 or "/" not in text:
        raise PalletError(f"Invalid subnet {text} : invalid CIDR address: {text}")
    return network


def parse_ip(text: str, flag: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise PalletError(f'invalid argument "{text}" for "{flag}" flag: invalid string being '
                          f"converted to IP address: {text}") from None
    if address.version != 4:
        raise PalletError(f"{text}: pallet networks are IPv4 only")
    return address


def plan_user_subnet(subnet: str | None, gateway: str | None, ip_range: str | None
                     ) -> tuple[ipaddress.IPv4Network | None, str, str, list[dict]]:
    """Validate `network create`'s --subnet/--gateway/--ip-range (the CLI's checks first, as
    Docker's client makes them); returns (subnet or None for a pool pick, gateway, range,
    the IPAM.Config entries `network inspect` shows)."""
    if (gateway or ip_range) and not subnet:
        raise PalletError("every ip-range or gateway must have a corresponding subnet")
    if not subnet:
        return None, "", "", []
    if gateway:
        parse_ip(gateway, "--gateway")
    network = parse_subnet(subnet)
    config: dict = {"Subnet": subnet}
    range_network = None
    if ip_range:
        try:
            range_network = ipaddress.ip_network(ip_range, strict=False)
        except ValueError:
            raise PalletError(f"invalid CIDR address: {ip_range}") from None
        if not range_network.subnet_of(network):
            raise PalletError(f"no matching subnet for range {ip_range}")
        config["IPRange"] = ip_range
    if gateway:
        if ipaddress.ip_address(gateway) not in network:
            raise PalletError(f"no matching subnet for gateway {gateway}")
        config["Gateway"] = gateway
    else:
        gateway = str(_first_usable(network, range_network or network))
    return network, gateway, str(range_network) if range_network else "", [config]


def _first_usable(subnet, pool) -> ipaddress.IPv4Address:
    """Docker's gateway when none is given: the first address of the pool (the range, if
    any) that is not the subnet's network address."""
    for address in (pool.network_address, pool.network_address + 1):
        if address != subnet.network_address:
            return address
    raise PalletError(f"no available IPv4 addresses in {pool}")


def check_overlap(subnet: ipaddress.IPv4Network, others: list) -> None:
    for other in others:
        if subnet.overlaps(other):
            raise PalletError("Pool overlaps with other one on this address space")


def allocate(subnet: str, gateway: str, ip_range: str, used: set[str], *, static: str = "",
             label: str = "") -> str:
    """An address for a new endpoint; static is --ip (checked, not chosen)."""
    network = ipaddress.ip_network(subnet)
    if static:
        if ipaddress.ip_address(static) not in network:
            raise PalletError(f"Invalid address {static}: It does not belong to any of this "
                              "network's subnets")
        if static in used or static == gateway:
            raise PalletError("Address already in use")
        return static
    reserved = {str(network.network_address), str(network.broadcast_address), gateway}
    pool = ipaddress.ip_network(ip_range) if ip_range else network
    for address in pool:
        text = str(address)
        if text not in used and text not in reserved:
            return text
    raise PalletError(f"no available IPv4 addresses on this network's address pools: {label}")


def mac_for(address: str) -> str:
    """Docker's generated MAC: 02:42 then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)


def parse_mac(text: str) -> str:
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                  for p in parts):
        raise PalletError(f"{text} is not a valid mac address", exit_code=125)
    return text.lower()
