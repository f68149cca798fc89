"""Container commands that read or reach into containers: ps, logs, exec, export, cp, top, prune."""

from __future__ import annotations

import contextlib
import os
import sys
import time

import click

from pallet.commands.clickspec import command
from pallet.commands.exec_command import HELP as EXEC_HELP, SPEC as EXEC, exec_command
from pallet.commands.image_format import human_size
from pallet.commands.ps_command import (HELP as PS_HELP, SPEC as PS, ps_command,  # noqa: F401
                                        ps_row, show_containers)
from pallet.base.errors import PalletError


class _BareError(PalletError):
    bare = True

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message, exit_code=exit_code)


def _root(ctx: click.Context):
    return ctx.obj["root"]


ps = command("ps", PS, ps_command, PS_HELP)


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


exec_ = command("exec", EXEC, exec_command, EXEC_HELP)


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
