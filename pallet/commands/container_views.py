"""Container commands that read or reach into containers: ps, logs, exec, export, cp, top, prune."""

from __future__ import annotations

import contextlib
import os
import sys
import time

import click

from pallet.commands.image_format import human_duration, human_size
from pallet.base.errors import PalletError


class _BareError(PalletError):
    bare = True

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message, exit_code=exit_code)


def _root(ctx: click.Context):
    return ctx.obj["root"]


@click.command("ps")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all containers (default shows just running)")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "format_", default=None, help="Format output using a custom template or 'json'")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers")
@click.pass_context
def ps(ctx, show_all, quiet, filters, format_, no_trunc, latest, last) -> None:
    """List containers"""
    from pallet.commands.flags import filter_flags
    from pallet.runtime.container.views import container_rows
    rows = container_rows(_root(ctx), filter_flags(filters), all_=show_all,
                          last=1 if latest else last)
    show_containers(rows, quiet=quiet, format_=format_, no_trunc=no_trunc)


def show_containers(rows, *, quiet: bool, format_: str | None, no_trunc: bool) -> None:
    """ps's output for library ContainerRows (the remote ps builds them from the API's list)."""
    if quiet and (not format_ or format_ == "table"):
        for row in rows:
            click.echo(row.id if no_trunc else row.id[:12])
        return
    from pallet.format.kinds import PS, listing
    click.echo(listing(format_, [ps_row(row, no_trunc) for row in rows], PS), nl=False)


def ps_row(row, no_trunc: bool) -> dict:
    """A library row as docker's CLI prints it: truncated IDs and command, times for people."""
    from pallet.base.units import parse_rfc3339
    from pallet.runtime.network.ports import displayable
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
        "Ports": displayable(row.ports),
        "RunningFor": human_duration(time.time() - created.timestamp()) + " ago" if created else "",
        "Size": "0B",
        "State": row.state,
        "Status": row.status,
        "_labels": row.labels,
    }


def log_time(value: str, flag: str = "since") -> int:
    """--since/--until as nanoseconds since the epoch (Docker's GetTimestamp forms)."""
    from pallet.base.units import docker_timestamp, rfc3339_nanos
    try:
        if "T" in value and value[:4].isdigit():
            return rfc3339_nanos(value)      # exact to the nanosecond (a float is not)
    except ValueError:
        pass
    try:
        return round(docker_timestamp(value, time.time()) * 1e9)
    except ValueError as error:
        raise _BareError(f'invalid value for "{flag}": {error}', 1) from error


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help='Number of lines to show from the end of the logs')
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--since", default=None, help="Show logs since timestamp or relative (e.g. 42m)")
@click.option("--until", default=None, help="Show logs before a timestamp or relative (e.g. 42m)")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.argument("container_ref", metavar="CONTAINER")
@click.pass_context
def logs(ctx, follow, tail, timestamps, since, until, details, container_ref) -> None:
    """Fetch the logs of a container"""
    from pallet.runtime.container import state as cs
    from pallet.runtime.container.lifecycle import get
    from pallet.base.units import rfc3339_nanos
    from pallet.runtime.container.logs import read_entries
    record = get(_root(ctx), container_ref)
    path = record.directory / f"{record.id}-json.log"
    since_time = log_time(since) if since else None
    until_time = log_time(until, "until") if until else None
    emit = (lambda entry: _emit(entry, timestamps, details))
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise PalletError(f'invalid value for "tail": "{tail}"')
    # One read serves the backlog and the follow position: counting again later would skip
    # lines written in between (the container may write right after we print the backlog).
    everything = list(read_entries(path))
    entries = [e for e in everything
               if (since_time is None or rfc3339_nanos(e["time"]) >= since_time)
               and (until_time is None or rfc3339_nanos(e["time"]) <= until_time)]
    if tail != "all" and int(tail) >= 0:
        entries = entries[len(entries) - int(tail):] if int(tail) else []
    for entry in entries:
        emit(entry)
    if not follow or (until_time is not None and time.time_ns() > until_time):
        return
    seen = len(everything)
    store = cs.ContainerStore(_root(ctx))
    while True:
        fresh = list(read_entries(path))
        for entry in fresh[seen:]:
            if until_time is not None and rfc3339_nanos(entry["time"]) > until_time:
                return
            emit(entry)
        seen = len(fresh)
        try:
            from pallet.runtime.container.lifecycle import refresh
            if not refresh(store, store.load(record.id)).state.get("Running"):
                for entry in list(read_entries(path))[seen:]:
                    if until_time is None or rfc3339_nanos(entry["time"]) <= until_time:
                        emit(entry)
                return
        except PalletError:
            return
        time.sleep(0.1)


def _emit(entry: dict, timestamps: bool, details: bool = False) -> None:
    from pallet.runtime.container.logs import format_entry
    stream = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    if details:
        # docker's --details: the log driver's extra attributes (none here), then a space
        attrs = ",".join(f"{k}={v}" for k, v in sorted((entry.get("attrs") or {}).items()))
        entry = {**entry, "log": f"{attrs} {entry['log']}"}
    stream.write(format_entry(entry, timestamps=timestamps))
    stream.flush()


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("-u", "--user", default=None, help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.option("-w", "--workdir", default=None, help="Working directory inside the container")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.argument("container_ref", metavar="CONTAINER")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_(ctx, detach, interactive, tty, env, env_file, user, workdir, privileged, detach_keys,
          container_ref, command) -> None:
    """Execute a command in a running container"""
    from pallet.commands.env_flags import expand_env, read_env_file
    given = []
    try:
        for path in env_file:
            given += read_env_file(path)
        given += expand_env(env)
        # -e NAME without a value in our environment unsets NAME in the process (docker
        # hands the bare name to the daemon, whose merge drops it)
        given += [name for name in env if "=" not in name and name not in os.environ]
    except PalletError as error:
        raise _BareError(error.message, 1) from None
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.execute import exec_spec
    from pallet.commands.attach import detach_sequence
    record = get(_root(ctx), container_ref)
    if tty and interactive and not detach and not os.isatty(0):
        raise _BareError("the input device is not a TTY", 1)
    if not record.state.get("Running"):
        raise PalletError(f"container {record.id} is not running")
    if record.state.get("Paused"):
        raise PalletError(f"container {record.id} is paused, unpause the container before exec")
    keys = detach_sequence(detach_keys, exec_=True)
    if workdir is not None and not workdir.startswith("/"):   # runc's check, after the lookup
        click.echo("OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown")
        sys.exit(126)
    spec, base = exec_spec(record, command, env=given, user=user, workdir=workdir, tty=tty,
                           privileged=privileged)
    from pallet.commands.exec_streams import run_exec
    code = run_exec(_root(ctx), record, spec, base, detach=detach, interactive=interactive,
                    keys=keys)
    if code:
        sys.exit(code)


@click.command("export")
@click.option("-o", "--output", default=None, help="Write to a file, instead of STDOUT")
@click.argument("container_ref", metavar="CONTAINER")
@click.pass_context
def export(ctx, output, container_ref) -> None:
    """Export a container's filesystem as a tar archive"""
    from pallet.format.progress import counting
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.access import export_rootfs
    record = get(_root(ctx), container_ref)
    if output is None and sys.stdout.isatty():
        raise PalletError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    try:
        out = open(output, "wb") if output else os.fdopen(1, "wb", closefd=False)
    except OSError as error:
        raise PalletError(f"cannot write {output}: {error.strerror}") from error
    with out, counting("Preparing to export") as progress:
        export_rootfs(record, out, progress=progress)


@click.command("cp")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy. "
              "Progress output is automatically suppressed if no terminal is attached")
@click.argument("source")
@click.argument("destination")
@click.pass_context
def cp(ctx, archive, follow_link, quiet, source, destination) -> None:
    """Copy files/folders between a container and the local filesystem"""
    from pallet.base.progress import NULL
    from pallet.format.progress import counting
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.access import copy_in, copy_out
    src_ctr, _, src_path = source.partition(":") if _is_container_path(source) else ("", "", source)
    dst_ctr, _, dst_path = destination.partition(":") if _is_container_path(destination) else ("", "", destination)
    if bool(src_ctr) == bool(dst_ctr):
        raise PalletError("copying between containers is not supported" if src_ctr else
                          "must specify at least one container source")
    record = get(_root(ctx), src_ctr or dst_ctr)
    shown = not quiet and sys.stderr.isatty()
    with counting("Preparing to copy") if shown else contextlib.nullcontext(NULL) as progress:
        if src_ctr:
            size = copy_out(record, src_path, dst_path, archive=archive,
                            follow_link=follow_link, progress=progress)
        else:
            size = copy_in(record, os.path.abspath(src_path), dst_path, archive=archive,
                           follow_link=follow_link, progress=progress)
    if shown:    # as docker's CLI, on a terminal only
        click.echo(f"Successfully copied {human_size(size, 4)} to {destination}", err=True)


def _is_container_path(text: str) -> bool:
    head, sep, _ = text.partition(":")
    return bool(sep) and "/" not in head and bool(head)


@click.command("top")
@click.argument("container_ref", metavar="CONTAINER")
@click.argument("ps_args", nargs=-1)
@click.pass_context
def top(ctx, container_ref, ps_args) -> None:
    """Display the running processes of a container"""
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.views import top_processes
    record = get(_root(ctx), container_ref)
    if not record.state.get("Running"):
        raise PalletError(f"container {record.id} is not running")
    titles, processes = top_processes(record, list(ps_args))
    click.echo(top_table(titles, processes), nl=False)


def top_table(titles: list[str], processes: list[list[str]]) -> str:
    """docker top's tabwriter: minimum width 20, padding 3 (a remote host's answer too)."""
    widths = [max([len(titles[i])] + [len(row[i]) for row in processes if i < len(row)]) + 3
              for i in range(len(titles))]
    lines = []
    for row in [titles] + processes:
        cells = [cell.ljust(max(widths[i], 20)) if i < len(row) - 1 else cell
                 for i, cell in enumerate(row)]
        lines.append("".join(cells).rstrip() + "\n")
    return "".join(lines)


@click.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_context
def prune(ctx, force) -> None:
    """Remove all stopped containers"""
    from pallet.runtime.container.lifecycle import prune_containers
    if not force and not click.confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?", default=False):
        return
    from pallet.format.prune import deleted, reclaimed
    deleted("Deleted Containers:", prune_containers(_root(ctx)))
    reclaimed(0)
