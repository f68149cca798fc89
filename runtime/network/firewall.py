"""nftables rules through `nft`, in the store's own table (names.nft_table), nothing else.

One `ip` table per store holds everything: sets of the store's bridges and subnets, a verdict
map sending each bridge's forwarded traffic to that network's chain (isolation; --internal
networks get no way out), masquerade for outbound traffic, and four maps of published ports
((address .) port -> container address . port, per protocol) that a DNAT rule consults in
prerouting (traffic from outside and from containers: hairpin) and in output (the host's own
traffic, 127.0.0.1 included). A container's ports are elements of those maps, each with the
container's ID as comment, added in one transaction when it starts and deleted when it stops.
The base chains are rewritten by `flush chain` + `add rule` in one transaction, so setting the
table up again is idempotent and never touches another table.

Published ports on 127.0.0.1 are DNATed in the kernel (route_localnet on pallet's bridges, the
loopback source masqueraded), not proxied in user space like Docker's docker-proxy: the bulk
transfer then runs at kernel speed with no process per port. route_localnet would let a
container send to the host's 127.0.0.0/8 through its bridge; the raw prerouting rule drops
exactly that.
"""

from __future__ import annotations

from pallet.base.errors import PalletError
from pallet.runtime.network.model import Endpoint, Network

MAPS = {("tcp", False): "tcp_wild", ("tcp", True): "tcp_host",
        ("udp", False): "udp_wild", ("udp", True): "udp_host"}


def nft(script: str = "", *, args: tuple[str, ...] = ()) -> str:
    """Run one nft transaction (script on stdin) or, with args, one command line."""
    import shutil
    import subprocess  # imported here: a container without published ports never runs nft
    binary = shutil.which("nft") or "/usr/sbin/nft"
    argv = [binary, *args] if args else [binary, "-f", "-"]
    try:
        result = subprocess.run(argv, input=script.encode(), capture_output=True)
    except FileNotFoundError:
        raise PalletError("nft is not installed: pallet programs published ports and network "
                          "isolation with nftables", hint="apt-get install nftables") from None
    if result.returncode != 0:
        raise NftError(result.stderr.decode(errors="replace").strip() or "nft failed")
    return result.stdout.decode()


class NftError(PalletError):
    pass


def _base_script(table: str) -> str:
    t = f"ip {table}"
    lines = [f"add table {t}",
             f"add set {t} bridge_ifs {{ type ifname; }}",
             f"add set {t} all_nets {{ type ipv4_addr; flags interval; }}",
             f"add set {t} masq_nets {{ type ipv4_addr; flags interval; }}",
             f"add map {t} netfwd {{ type ifname : verdict; }}",
             f"add map {t} netfwd_in {{ type ifname : verdict; }}"]
    for (proto, specific), name in MAPS.items():
        key = "ipv4_addr . inet_service" if specific else "inet_service"
        lines.append(f"add map {t} {name} {{ type {key} : ipv4_addr . inet_service; }}")
    chains = {
        "guard": ("type filter hook prerouting priority raw; policy accept;",
                  ["iifname @bridge_ifs ip daddr 127.0.0.0/8 drop"]),
        "published": ("", [f"dnat ip to ip daddr . {p} dport map @{p}_host" for p in ("tcp", "udp")]
                      + [f"dnat ip to {p} dport map @{p}_wild" for p in ("tcp", "udp")]),
        "prerouting": ("type nat hook prerouting priority dstnat; policy accept;",
                       ["fib daddr type local jump published"]),
        "output": ("type nat hook output priority -100; policy accept;",
                   ["fib daddr type local jump published"]),
        "postrouting": ("type nat hook postrouting priority srcnat; policy accept;",
                        ["ip saddr 127.0.0.0/8 oifname @bridge_ifs masquerade",
                         "ct status dnat ip saddr @all_nets oifname @bridge_ifs masquerade",
                         "ip saddr @masq_nets oifname != @bridge_ifs masquerade"]),
        "forward": ("type filter hook forward priority filter; policy accept;",
                    ["iifname vmap @netfwd", "oifname vmap @netfwd_in"]),
    }
    for name, (hook, rules) in chains.items():
        lines.append(f"add chain {t} {name} {{ {hook} }}" if hook else f"add chain {t} {name}")
        lines.append(f"flush chain {t} {name}")
        lines += [f"add rule {t} {name} {rule}" for rule in rules]
    return "\n".join(lines) + "\n"


def ensure_table(table: str) -> None:
    nft(_base_script(table))


def delete_table(table: str) -> bool:
    try:
        nft(f"delete table ip {table}\n")
    except NftError:
        return False
    return True


def _chain(network: Network, direction: str = "net") -> str:
    return f"{direction}-{network.id[:12]}"


def add_network(table: str, network: Network) -> None:
    """The network's bridge, subnet and isolation chain (idempotent)."""
    t, bridge = f"ip {table}", network.bridge
    out, inbound = _chain(network), _chain(network, "in")
    lines = [f'add element {t} bridge_ifs {{ "{bridge}" }}',
             f"add element {t} all_nets {{ {network.subnet} }}"]
    if not network.internal:
        lines.append(f"add element {t} masq_nets {{ {network.subnet} }}")
    lines += [f"add chain {t} {out}", f"flush chain {t} {out}",
              f'add rule {t} {out} oifname "{bridge}" accept']
    lines.append(f"add rule {t} {out} drop" if network.internal
                 else f"add rule {t} {out} oifname @bridge_ifs drop")
    lines.append(f'add element {t} netfwd {{ "{bridge}" : jump {out} }}')
    if network.internal:
        lines += [f"add chain {t} {inbound}", f"flush chain {t} {inbound}",
                  f'add rule {t} {inbound} iifname != "{bridge}" drop',
                  f'add element {t} netfwd_in {{ "{bridge}" : jump {inbound} }}']
    try:
        nft("\n".join(lines) + "\n")
    except NftError:
        # An element left by an earlier set-up with other data: rebuild this network's part.
        remove_network(table, network)
        nft("\n".join(lines) + "\n")


def remove_network(table: str, network: Network) -> None:
    """Undo add_network, whatever part of it exists."""
    t, bridge = f"ip {table}", network.bridge
    steps = [f'delete element {t} netfwd {{ "{bridge}" }}',
             f'delete element {t} netfwd_in {{ "{bridge}" }}',
             f"delete chain {t} {_chain(network)}", f"delete chain {t} {_chain(network, 'in')}",
             f'delete element {t} bridge_ifs {{ "{bridge}" }}',
             f"delete element {t} masq_nets {{ {network.subnet} }}",
             f"delete element {t} all_nets {{ {network.subnet} }}"]
    _each(steps)


def _each(steps: list[str]) -> None:
    """Run each statement alone, ignoring what is already gone (one transaction would fail as
    a whole on the first missing element)."""
    try:
        nft("\n".join(steps) + "\n")
        return
    except NftError:
        pass
    for step in steps:
        try:
            nft(step + "\n")
        except NftError:
            continue


def _port_elements(endpoint: Endpoint) -> list[tuple[str, str, str]]:
    """(map, key, value) per published port of the endpoint."""
    elements = []
    for port in endpoint.ports:
        specific = bool(port.host_ip) and port.host_ip != "0.0.0.0"
        key = f"{port.host_ip} . {port.host_port}" if specific else str(port.host_port)
        elements.append((MAPS[(port.proto, specific)], key,
                         f"{endpoint.address} . {port.container_port}"))
    return elements


def add_ports(table: str, endpoint: Endpoint) -> None:
    elements = _port_elements(endpoint)
    if elements:
        nft("".join(f'add element ip {table} {name} {{ {key} comment "{endpoint.container_id}" : '
                    f"{value} }}\n" for name, key, value in elements))


def remove_ports(table: str, endpoint: Endpoint) -> None:
    elements = _port_elements(endpoint)
    if elements:
        _each([f"delete element ip {table} {name} {{ {key} }}" for name, key, _ in elements])


def port_elements(table: str) -> list[tuple[str, str, str]]:
    """(map, key text, comment) of every published-port element in the table (for repair)."""
    import json
    try:
        listed = json.loads(nft(args=("-j", "list", "table", "ip", table)))
    except (NftError, ValueError):
        return []
    found = []
    for item in listed.get("nftables", []):
        element_map = item.get("map")
        if not element_map or element_map.get("name") not in MAPS.values():
            continue
        for pair in element_map.get("elem", []):
            key = pair[0]
            comment = key.get("elem", {}).get("comment", "") if isinstance(key, dict) else ""
            value = key.get("elem", {}).get("val") if isinstance(key, dict) else key
            if isinstance(value, dict) and "concat" in value:
                value = " . ".join(str(v) for v in value["concat"])
            found.append((element_map["name"], str(value), comment))
    return found


def delete_elements(table: str, elements: list[tuple[str, str]]) -> None:
    _each([f"delete element ip {table} {name} {{ {key} }}" for name, key in elements])


def table_exists(table: str) -> bool:
    try:
        nft(args=("list", "table", "ip", table))
    except NftError:
        return False
    return True
