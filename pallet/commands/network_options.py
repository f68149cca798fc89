"""The networking flags of `run`/`create` and their parsing (Docker's spellings and errors).

Kept apart from container_options.py so the two sets of flags can change independently:
RUN_FLAGS (container_options) includes NETWORK_FLAGS, create_options merges
network_fields(params).
"""

from __future__ import annotations

from pallet.argspec import FLAG, MULTI, Opt
from pallet.base.errors import PalletError

NETWORK_FLAGS = [
    Opt("network", ("--network", "--net"), default="default",
        help="Connect a container to a network (bridge, none, host, container:NAME, "
             "or a network's name)"),
    Opt("publish", ("-p", "--publish"), MULTI,
        help="Publish a container's port(s) to the host ([IP:][HOST:]CONTAINER[/PROTO])"),
    Opt("publish_all", ("-P", "--publish-all"), FLAG,
        help="Publish all exposed ports to random ports"),
    Opt("expose", ("--expose",), MULTI, help="Expose a port or a range of ports"),
    Opt("ip", ("--ip",), help="IPv4 address (e.g., 172.30.100.104)"),
    Opt("network_alias", ("--network-alias",), MULTI,
        help="Add network-scoped alias for the container"),
    Opt("mac_address", ("--mac-address",), help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Opt("add_host", ("--add-host",), MULTI, help="Add a custom host-to-IP mapping (host:ip)"),
    Opt("dns", ("--dns",), MULTI, help="Set custom DNS servers"),
    Opt("dns_search", ("--dns-search",), MULTI, help="Set custom DNS search domains"),
    Opt("dns_option", ("--dns-option",), MULTI, help="Set DNS options"),
]


def network_fields(params: dict) -> dict:
    """CreateRequest fields from the parsed flags; Docker's client-side errors (exit 125).
    --add-host and --dns are checked with the other address flags in container_options."""
    network = params["network"] or "default"
    if network == "container:" or network.startswith("container:") and not network[10:]:
        raise PalletError("--network: container name or ID is missing", exit_code=125)
    publish, expose = [], []
    if params["publish"] or params["expose"]:
        from pallet.runtime.network.ports import parse_expose, parse_publish
        publish = [request for raw in params["publish"] for request in parse_publish(raw)]
        expose = [key for raw in params["expose"] for key in parse_expose(raw)]
    if network == "host" and (publish or params["publish_all"]):
        from pallet.commands.echo import echo
        echo("WARNING: Published ports are discarded when using host network mode", err=True)
        publish = []
    if params["ip"] or params["mac_address"]:
        from pallet.runtime.network import ipam
    if params["ip"]:
        try:
            ipam.parse_ip(params["ip"], "--ip")
        except PalletError as error:
            raise PalletError(error.message, exit_code=125) from None
    mac = ipam.parse_mac(params["mac_address"]) if params["mac_address"] else ""
    return {"network": network, "publish": tuple(publish), "publish_all": params["publish_all"],
            "expose": tuple(expose), "ip": params["ip"] or "",
            "aliases": tuple(params["network_alias"]), "mac_address": mac,
            "dns_search": tuple(params["dns_search"]), "dns_options": tuple(params["dns_option"])}
