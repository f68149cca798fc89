"""`pallet ps`: its flags (pallet.argspec: the fast path and click read the same list), the
command, and its rows as docker's CLI prints them (the remote ps prints the same), click-free."""

from __future__ import annotations

import time

from pallet.argspec import FLAG, INT, MULTI, Opt, Spec
from pallet.commands.echo import echo
from pallet.base.humanize import human_duration

HELP = "List containers"

SPEC = Spec([
    Opt("show_all", ("-a", "--all"), FLAG, help="Show all containers (default shows just running)"),
    Opt("quiet", ("-q", "--quiet"), FLAG, help="Only display container IDs"),
    Opt("filters", ("-f", "--filter"), MULTI, help="Filter output based on conditions provided"),
    Opt("format_", ("--format",), help="Format output using a custom template or 'json'"),
    Opt("no_trunc", ("--no-trunc",), FLAG, help="Don't truncate output"),
    Opt("latest", ("-l", "--latest"), FLAG, help="Show the latest created container"),
    Opt("last", ("-n", "--last"), INT, -1, help="Show n last created containers"),
])


def ps_command(root, *, show_all, quiet, filters, format_, no_trunc, latest, last) -> None:
    from pallet.commands.flags import filter_flags
    from pallet.runtime.container.views import container_rows
    rows = container_rows(root, filter_flags(filters), all_=show_all,
                          last=1 if latest else last)
    show_containers(rows, quiet=quiet, format_=format_, no_trunc=no_trunc)


def show_containers(rows, *, quiet: bool, format_: str | None, no_trunc: bool) -> None:
    """ps's output for library ContainerRows (the remote ps builds them from the API's list)."""
    if quiet and (not format_ or format_ == "table"):
        for row in rows:
            echo(row.id if no_trunc else row.id[:12])
        return
    shown = [ps_row(row, no_trunc) for row in rows]
    if not format_ or format_ == "table":
        echo(default_table(shown), nl=False)
        return
    from pallet.format.kinds import PS, listing
    echo(listing(format_, shown, PS), nl=False)


# pallet.format.kinds.PS's default table, (field, header) per column: plain `ps` prints these
# without parsing and running the Go template (its modules and one execution per row were ~8 ms
# of `ps -a` with 200 containers). tests/cli/test_ps_table.py holds the two to the same text.
DEFAULT_COLUMNS = (("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Command", "COMMAND"),
                   ("RunningFor", "CREATED"), ("Status", "STATUS"), ("Ports", "PORTS"),
                   ("Names", "NAMES"))


def default_table(rows: list[dict]) -> str:
    """What the default template gives for rows (their fields are text), through tabwriter."""
    from pallet.format.tabwriter import tabwrite
    lines = ["\t".join(header for _, header in DEFAULT_COLUMNS)]
    lines += ["\t".join(row[field] for field, _ in DEFAULT_COLUMNS) for row in rows]
    return tabwrite("\n".join(lines) + "\n")


def ps_row(row, no_trunc: bool) -> dict:
    """A library row as docker's CLI prints it: truncated IDs and command, times for people."""
    from pallet.base.units import parse_rfc3339
    created = parse_rfc3339(row.created)
    command = row.command if no_trunc or len(row.command) <= 20 else row.command[:19] + "…"
    image = row.image_id[7:19] if row.image == row.image_id and not no_trunc else row.image
    return {
        "Command": f'"{command}"',
        "CreatedAt": created.strftime("%Y-%m-%d %H:%M:%S +0000 UTC") if created else "",
        "ID": row.id if no_trunc else row.id[:12],
        "Image": image,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(row.labels.items())),
        "LocalVolumes": str(row.local_volumes),
        "Mounts": ",".join(mount[:15] for mount in row.mounts),
        "Names": row.name,
        "Networks": ",".join(sorted(row.networks)),
        "Ports": _ports(row.ports),
        "RunningFor": human_duration(time.time() - created.timestamp()) + " ago" if created else "",
        "Size": "0B",
        "State": row.state,
        "Status": row.status,
        "_labels": row.labels,
    }


def _ports(ports: dict) -> str:
    if not ports:
        return ""       # without loading the ports module (socket and the network model)
    from pallet.runtime.network.ports import displayable
    return displayable(ports)
