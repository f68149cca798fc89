"""Published ports: `-p`/`--expose` parsing (Docker's go-connections rules and texts), host
port reservation, and the PORTS / `port` / inspect views.

A published host port is held, while its container runs, by a socket bound to it and never
listened on (what Docker 28 does without its proxy): the kernel then refuses the port to any
other process, pallet's or not, and a port already taken shows up as EADDRINUSE when we bind.
nftables DNATs the traffic before it could reach that socket. The sockets live in the
container's monitor, so they close when it exits, even by SIGKILL.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket

from pallet.base.errors import PalletError
from pallet.runtime.network.model import PortMapping, PortRequest

PROTOCOLS = ("tcp", "udp", "sctp")


def _port_range(text: str) -> tuple[int, int]:
    if not text:
        raise ValueError("empty string specified for ports")
    start, sep, end = text.partition("-")
    low = int(start) if start.isdigit() else -1
    high = int(end) if sep and end.isdigit() else (low if not sep else -1)
    if not 0 <= low <= 65535 or not 0 <= high <= 65535:
        raise ValueError(f"invalid port: {text}")
    if high < low:
        raise ValueError(f"invalid range specified for port: {text}")
    return low, high


def split_proto(text: str) -> tuple[str, str]:
    port, _, proto = text.partition("/")
    return port, proto or "tcp"


def parse_publish(raw: str) -> list[PortRequest]:
    """One -p value: [IP:][HOST:]CONTAINER[/PROTO], ranges allowed (nat.ParsePortSpec)."""
    parts = raw.split(":")
    container = parts[-1]
    if len(parts) == 1:
        host_ip, host = "", ""
    elif len(parts) == 2:
        host_ip, host = "", parts[0]
    else:
        host_ip, host = ":".join(parts[:-2]), parts[-2]
    container, proto = split_proto(container)
    if host_ip.startswith("[") and host_ip.endswith("]"):
        host_ip = host_ip[1:-1]
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise PalletError(f"invalid IP address: {host_ip}", exit_code=125) from None
    if not container:
        raise PalletError(f"no port specified: {raw}<empty>", exit_code=125)
    try:
        start, end = _port_range(container)
    except ValueError:
        raise PalletError(f"invalid containerPort: {container}", exit_code=125) from None
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = _port_range(host)
        except ValueError:
            raise PalletError(f"invalid hostPort: {host}", exit_code=125) from None
        if end - start != host_end - host_start and end != start:
            raise PalletError(f"invalid ranges specified for container and host Ports: "
                              f"{container} and {host}", exit_code=125)
    if proto.lower() not in PROTOCOLS:
        raise PalletError(f"invalid proto: {proto}", exit_code=125)
    if proto.lower() == "sctp":
        raise PalletError("pallet publishes tcp and udp ports only, not sctp", exit_code=125)
    return [PortRequest(proto=proto.lower(), container_start=start, container_end=end,
                        host_ip=host_ip, host_start=host_start, host_end=host_end)]


def parse_expose(raw: str) -> list[str]:
    """--expose PORT[-PORT][/PROTO] -> port keys ('80/tcp')."""
    port, proto = split_proto(raw)
    try:
        start, end = _port_range(port)
    except ValueError as error:
        raise PalletError(f"invalid range format for --expose: {raw}, error: {error}",
                          exit_code=125) from None
    return [f"{number}/{proto.lower()}" for number in range(start, end + 1)]


def check_exposed_key(key: str) -> None:
    """An ExposedPorts key (PORT[-END][/PROTO]) as the daemon checks it at create; an image's
    config can hold anything there ("a/b/c" was an internal ValueError under -P)."""
    port, proto = split_proto(key)
    try:
        _port_range(port)
    except ValueError:
        raise PalletError(f'invalid port specification: "{port}"', exit_code=125) from None
    if proto.lower() not in PROTOCOLS:
        raise PalletError(f"invalid proto: {proto}", exit_code=125)


def bindings_of(requests: list[PortRequest]) -> dict[str, list[dict]]:
    """Docker's HostConfig.PortBindings for parsed -p values."""
    bindings: dict[str, list[dict]] = {}
    for request in requests:
        for offset in range(request.container_end - request.container_start + 1):
            if not request.host_start:
                host = ""
            elif request.container_start == request.container_end and \
                    request.host_start != request.host_end:
                host = f"{request.host_start}-{request.host_end}"
            else:
                host = str(request.host_start + offset)
            key = f"{request.container_start + offset}/{request.proto}"
            bindings.setdefault(key, []).append({"HostIp": request.host_ip, "HostPort": host})
    return bindings


def port_sort_key(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    return (int(number) if number.isdigit() else 0, proto)


# -- reservation --------------------------------------------------------------------------

def ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            low, high = (int(v) for v in handle.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def _bind(proto: str, host_ip: str, port: int) -> socket.socket:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((host_ip or "0.0.0.0", port))
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(proto: str, host_ip: str, host_spec: str, taken: set[tuple[str, int]],
            *, describe: str) -> tuple[int, socket.socket]:
    """Bind the host port (a number, a range to pick from, or '' for any free ephemeral port);
    returns the port and the socket that now holds it. taken: (proto, port) pallet already
    publishes in this store, which Docker reports as 'already allocated'."""
    if host_spec and "-" not in host_spec:
        port = int(host_spec)
        address = f"{host_ip or '0.0.0.0'}:{port}"
        if (proto, port) in taken:
            raise PalletError(f"{describe}: Bind for {address} failed: port is already allocated",
                              exit_code=125)
        try:
            return port, _bind(proto, host_ip, port)
        except OSError as error:
            raise PalletError(f"{describe}: Error starting userland proxy: listen {proto}4 "
                              f"{address}: bind: {_reason(error)}", exit_code=125) from None
    low, high = _port_range(host_spec) if host_spec else ephemeral_range()
    for port in range(low, high + 1):
        if (proto, port) in taken:
            continue
        try:
            return port, _bind(proto, host_ip, port)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                continue
            raise PalletError(f"{describe}: Error starting userland proxy: listen {proto}4 "
                              f"{host_ip or '0.0.0.0'}:{port}: bind: {_reason(error)}",
                              exit_code=125) from None
    raise PalletError(f"{describe}: Bind for {host_ip or '0.0.0.0'}:{host_spec or 'any port'} "
                      "failed: port is already allocated", exit_code=125)


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


# -- views --------------------------------------------------------------------------------

def inspect_ports(exposed: list[str], mappings: list[PortMapping]) -> dict:
    """NetworkSettings.Ports of a running container: every exposed port, null when unbound."""
    ports: dict[str, list | None] = {key: None for key in exposed}
    for mapping in mappings:
        entry = {"HostIp": mapping.host_ip or "0.0.0.0", "HostPort": str(mapping.host_port)}
        current = ports.get(mapping.key)
        ports[mapping.key] = (current or []) + [entry]
    return dict(sorted(ports.items(), key=lambda item: port_sort_key(item[0])))


def api_ports(ports: dict) -> list[dict]:
    """The Engine API's ContainerSummary.Ports: one entry per exposed port or binding."""
    entries = []
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        if not bindings:
            entries.append({"PrivatePort": int(number), "Type": proto})
        for binding in bindings or ():
            entries.append({"IP": binding["HostIp"], "PrivatePort": int(number),
                            "PublicPort": int(binding["HostPort"]), "Type": proto})
    return entries


def displayable(ports: dict) -> str:
    """The PORTS column of `ps`: docker/cli's DisplayablePorts over the API's port list."""
    entries = []  # (private, ip, public, type)
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        if not bindings:
            entries.append((int(number), "", 0, proto))
        for binding in bindings or ():
            entries.append((int(number), binding["HostIp"], int(binding["HostPort"]), proto))
    entries.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for private, ip, public, proto in entries:
        key = proto
        if ip:
            if public != private:
                mappings.append(f"{_host_port(ip, public)}->{private}/{proto}")
                continue
            key = f"{ip}/{proto}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_form_group(key, *group))
            groups[key] = [private, private]
    result += [_form_group(key, *groups[key]) for key in order]
    return ", ".join(result + mappings)


def _host_port(ip: str, port: int | str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _form_group(key: str, first: int, last: int) -> str:
    ip, _, proto = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{_host_port(ip, group)}->{group}"
    return f"{group}/{proto}"


def natural_key(text: str) -> list:
    """sortorder.NaturalLess as a key: digit runs compare as numbers."""
    return [(0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk)
            for chunk in re.findall(r"\d+|\D+", text)]


def port_lines(ports: dict, wanted: str | None) -> list[str]:
    """`port CONTAINER [PORT]` lines, naturally sorted as docker/cli prints them."""
    lines = []
    for key, bindings in ports.items():
        if wanted is not None and key != wanted:
            continue
        for binding in bindings or ():
            address = _host_port(binding["HostIp"], binding["HostPort"])
            lines.append(address if wanted is not None else f"{key} -> {address}")
    return sorted(lines, key=natural_key)
