"""`network` (create, ls, inspect, rm, prune, connect, disconnect) and `port`: Docker's flags,
output and error texts."""

from __future__ import annotations

import sys

import click

from pallet.base.errors import PalletError
from pallet.commands.groups import ManagementGroup


def _root(ctx: click.Context):
    return ctx.find_root().obj["root"]


def _daemon_errors(errors: list[str]) -> None:
    for message in errors:
        click.echo(f"Error response from daemon: {message}", err=True)
    if errors:
        sys.exit(1)


@click.group("network", cls=ManagementGroup)
def network() -> None:
    """Manage networks"""


@network.command("create")
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network")
@click.option("--subnet", multiple=True, help="Subnet in CIDR format that represents a network segment")
@click.option("--gateway", multiple=True, help="IPv4 Gateway for the master subnet")
@click.option("--ip-range", multiple=True, help="Allocate container ip from a sub-range")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--label", multiple=True, help="Set metadata on a network")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking")
@click.argument("name")
@click.pass_context
def create(ctx, driver, subnet, gateway, ip_range, internal, label, opt, attachable, ipv6,
           name) -> None:
    """Create a network"""
    from pallet.runtime.network.networks import CreateRequest, create_network
    if ipv6:
        raise PalletError("pallet networks are IPv4 only", hint="drop --ipv6")
    for flag, values in (("--subnet", subnet), ("--gateway", gateway), ("--ip-range", ip_range)):
        if len(values) > 1:
            raise PalletError(f"pallet networks have one subnet: give {flag} once")
    options = {}
    for item in opt:
        key, _, value = item.partition("=")
        options[key] = value
    labels = {}
    for item in label:
        key, _, value = item.partition("=")
        labels[key] = value
    request = CreateRequest(name=name, driver=driver, subnet=subnet[0] if subnet else "",
                            gateway=gateway[0] if gateway else "",
                            ip_range=ip_range[0] if ip_range else "", internal=internal,
                            labels=labels, options=options)
    created = create_network(_root(ctx), request)
    click.echo(created.id)


@network.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'driver=bridge')")
@click.option("--format", "format_", default=None, help="Format output using a custom template")
@click.pass_context
def ls(ctx, quiet, no_trunc, filters, format_) -> None:
    """List networks"""
    from pallet.runtime.network import views
    from pallet.runtime.network.networks import ensure_predefined
    from pallet.runtime.network.store import NetworkStore
    root = _root(ctx)
    try:
        parsed = views.parse_filters(filters)
    except PalletError as error:
        _daemon_errors([error.message])
    ensure_predefined(root)
    store = NetworkStore(root)
    in_use = {e.network_id for e in store.all_endpoints()} if any(
        k == "dangling" for k, _ in parsed) else set()
    networks = sorted((n for n in store.networks() if views.matches(n, parsed, in_use)),
                      key=lambda n: n.name)
    rows = [views.ls_row(n, no_trunc=no_trunc) for n in networks]
    if quiet and (not format_ or format_ == "table"):
        for row in rows:
            click.echo(row["ID"])
        return
    from pallet.format.kinds import NETWORKS, listing
    click.echo(listing(format_, [{**row, "_labels": labels}
                                 for row, labels in zip(rows, (n.labels for n in networks))],
                       NETWORKS), nl=False)


@network.command("inspect")
@click.option("-f", "--format", "format_", default=None, help="Format output using a custom template")
@click.option("-v", "--verbose", is_flag=True, help="Verbose output for diagnostics")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx, format_, verbose, names) -> None:
    """Display detailed information on one or more networks"""
    from pallet.format.documents import compile_document_template, inspect_output
    from pallet.runtime.network.networks import get_network
    from pallet.runtime.network.views import inspect_document
    if format_ and format_ != "json":
        compile_document_template(format_)  # a bad template fails before any lookup
    root = _root(ctx)
    documents, errors = [], []
    for name in names:
        try:
            documents.append(inspect_document(root, get_network(root, name)))
        except PalletError as error:
            errors.append(error.message)
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    for message in failures:
        click.echo(message, err=True)
    _daemon_errors(errors)


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm(ctx, force, names) -> None:
    """Remove one or more networks"""
    from pallet.runtime.network.networks import NetworkNotFound, remove_network
    errors = []
    for name in names:
        try:
            remove_network(_root(ctx), name)
            click.echo(name)
        except NetworkNotFound as error:
            if not force:
                errors.append(error.message)
        except PalletError as error:
            errors.append(error.message)
    _daemon_errors(errors)


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=<timestamp>')")
@click.pass_context
def prune(ctx, force, filters) -> None:
    """Remove all unused networks"""
    from pallet.runtime.network.networks import prune_networks
    if filters:
        # refused rather than ignored: an ignored until=/label= would remove every unused
        # network (the API refuses them with the same words)
        from pallet.commands.flags import filter_flags
        raise PalletError(f"pallet's network prune takes no filters yet (got "
                          f"{', '.join(sorted(filter_flags(filters)))})",
                          hint="remove the networks one by one with `pallet network rm`")
    if not force and not click.confirm("WARNING! This will remove all custom networks not used by "
                                       "at least one container.\nAre you sure you want to "
                                       "continue?", default=False):
        return
    from pallet.format.prune import deleted
    deleted("Deleted Networks:", prune_networks(_root(ctx)))


@network.command("connect")
@click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container")
@click.argument("network_ref", metavar="NETWORK")
@click.argument("container", metavar="CONTAINER")
@click.pass_context
def connect(ctx, ip, alias, network_ref, container) -> None:
    """Connect a container to a network"""
    from pallet.runtime.container.netconnect import connect as connect_container
    try:
        connect_container(_root(ctx), network_ref, container, address=ip, aliases=tuple(alias))
    except PalletError as error:
        _daemon_errors([error.message])


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network")
@click.argument("network_ref", metavar="NETWORK")
@click.argument("container", metavar="CONTAINER")
@click.pass_context
def disconnect(ctx, force, network_ref, container) -> None:
    """Disconnect a container from a network"""
    from pallet.runtime.container.netconnect import disconnect as disconnect_container
    try:
        disconnect_container(_root(ctx), network_ref, container)
    except PalletError as error:
        _daemon_errors([error.message])




@click.command("port")
@click.argument("container")
@click.argument("private_port", required=False)
@click.pass_context
def port(ctx, container, private_port) -> None:
    """List port mappings or a specific mapping for the container"""
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.networking import published_ports
    from pallet.runtime.network.ports import port_lines, split_proto
    record = get(_root(ctx), container)
    wanted = None
    if private_port is not None:
        number, proto = split_proto(private_port)
        wanted = f"{number}/{proto}"
    lines = port_lines(published_ports(record), wanted)
    if wanted is not None and not lines:
        raise PalletError(f"No public port '{private_port}' published for {container}")
    for line in lines:
        click.echo(line)
