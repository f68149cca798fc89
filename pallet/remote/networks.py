"""network commands on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

import sys

import click

from pallet.base.errors import PalletError
from pallet.remote import client
from pallet.remote.errors import daemon_error


def _pairs(items) -> dict:
    pairs = {}
    for item in items:
        key, _, value = item.partition("=")
        pairs[key] = value
    return pairs


def _exit_on(errors: list[str]) -> None:
    for message in errors:
        click.echo(message, err=True)
    if errors:
        sys.exit(1)


def create(ctx, driver, subnet, gateway, ip_range, internal, label, opt, attachable, ipv6,
           name) -> None:
    from docker.types import IPAMConfig, IPAMPool
    for flag, values in (("--subnet", subnet), ("--gateway", gateway), ("--ip-range", ip_range)):
        if len(values) > 1:
            raise PalletError(f"pallet networks have one subnet: give {flag} once")
    ipam = None
    if subnet or gateway or ip_range:
        ipam = IPAMConfig(pool_configs=[IPAMPool(
            subnet=subnet[0] if subnet else None, gateway=gateway[0] if gateway else None,
            iprange=ip_range[0] if ip_range else None)])
    created = client(ctx).create_network(
        name, driver=driver, options=_pairs(opt) or None, ipam=ipam, internal=internal,
        labels=_pairs(label) or None, enable_ipv6=ipv6, attachable=attachable or None)
    click.echo(created["Id"])


def ls(ctx, quiet, no_trunc, filters, format_) -> None:
    from pallet.commands.flags import filter_flags
    from pallet.format.kinds import NETWORKS, listing
    from pallet.remote import light
    networks = sorted(light.listing(ctx, "/networks", {}, filter_flags(filters)),
                      key=lambda n: n.get("Name", ""))
    rows = []
    for network in networks:
        labels = network.get("Labels") or {}
        rows.append({
            "CreatedAt": _created_at(network.get("Created", "")),
            "Driver": network.get("Driver", ""),
            "ID": network["Id"] if no_trunc else network["Id"][:12],
            "IPv4": "true", "IPv6": "true" if network.get("EnableIPv6") else "false",
            "Internal": "true" if network.get("Internal") else "false",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "Name": network.get("Name", ""), "Scope": network.get("Scope", "local"),
            "_labels": labels})
    if quiet and (not format_ or format_ == "table"):
        for row in rows:
            click.echo(row["ID"])
        return
    click.echo(listing(format_, rows, NETWORKS), nl=False)


def _created_at(created: str) -> str:
    """Go's time.Time String() of the API's RFC 3339 time, as network ls prints it."""
    day, _, clock = created.rstrip("Z").partition("T")
    if "." in clock:
        clock = clock.rstrip("0").rstrip(".")
    return f"{day} {clock} +0000 UTC" if day else ""


def inspect(ctx, format_, verbose, names) -> None:
    from docker.errors import NotFound
    from pallet.format.documents import compile_document_template, inspect_output
    if format_ and format_ != "json":
        compile_document_template(format_)
    api = client(ctx)
    documents, errors = [], []
    for name in names:
        try:
            documents.append(api.inspect_network(name, verbose=verbose or None))
        except NotFound as error:
            errors.append(daemon_error(error).message)
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    for message in failures:
        click.echo(message, err=True)
    _exit_on(errors)


def rm(ctx, force, names) -> None:
    from docker.errors import APIError, NotFound
    api = client(ctx)
    errors = []
    for name in names:
        try:
            api.remove_network(name)
            click.echo(name)
        except NotFound as error:
            if not force:
                errors.append(daemon_error(error).message)
        except APIError as error:
            errors.append(daemon_error(error).message)
    _exit_on(errors)


def prune(ctx, force, filters) -> None:
    from pallet.commands.flags import filter_flags
    if not force and not click.confirm("WARNING! This will remove all custom networks not used by "
                                       "at least one container.\nAre you sure you want to "
                                       "continue?", default=False):
        return
    answer = client(ctx).prune_networks(filters=filter_flags(filters) or None)
    removed = answer.get("NetworksDeleted") or []
    if removed:
        click.echo("Deleted Networks:")
        for name in removed:
            click.echo(name)
        click.echo("")


def connect(ctx, ip, alias, network_ref, container) -> None:
    client(ctx).connect_container_to_network(container, network_ref, ipv4_address=ip or None,
                                             aliases=list(alias) or None)


def disconnect(ctx, force, network_ref, container) -> None:
    client(ctx).disconnect_container_from_network(container, network_ref, force=force)
