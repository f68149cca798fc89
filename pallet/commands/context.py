"""`pallet context create/ls/use/inspect/rm/show`: Docker's contexts, in Docker's own store
(pallet/remote/contexts.py), with the docker CLI's output and messages. The "default" context is
the local store (or PALLET_HOST/DOCKER_HOST when set, as docker's default is DOCKER_HOST)."""

from __future__ import annotations

import os

import click

from pallet.remote.contexts import ContextError

_ENDPOINT_KEYS = ("host", "ca", "cert", "key", "skip-tls-verify")


def _environment_host() -> str | None:
    return os.environ.get("PALLET_HOST") or os.environ.get("DOCKER_HOST") or None


def _current() -> str:
    from pallet.remote.select import current_context_name
    if _environment_host():
        return "default"        # docker: DOCKER_HOST overrides the active context
    return os.environ.get("DOCKER_CONTEXT") or current_context_name()


def _default_row() -> dict:
    host = _environment_host()
    return {"Name": "default", "Description": "Current DOCKER_HOST based configuration" if host
            else "pallet's local store (no daemon)", "DockerEndpoint": host or "", "Error": ""}


def _parse_endpoint(text: str) -> dict:
    """--docker's key=value list (docker's csv: a value may be quoted)."""
    import csv
    try:
        fields = next(csv.reader([text]))
    except (csv.Error, StopIteration) as error:
        raise ContextError(f"unable to parse docker endpoint config: {error}") from error
    values = {}
    for item in fields:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _ENDPOINT_KEYS:
            raise ContextError(f"unable to create docker endpoint config: unrecognized config "
                               f"key: {key}" if sep else
                               f'unable to parse docker endpoint config: "{item}" is not '
                               "key=value")
        values[key] = value
    return values


@click.group("context")
def context() -> None:
    """Manage contexts"""


@context.command("create")
@click.argument("name")
@click.option("--description", default="", help="Description of the context")
@click.option("--docker", "docker_", default=None, metavar="host=URL[,ca=,cert=,key=,skip-tls-verify=]",
              help="set the docker endpoint")
def create(name: str, description: str, docker_: str | None) -> None:
    """Create a context"""
    from pallet.remote.contexts import check_name, create as store
    from pallet.remote.hosts import parse_host
    check_name(name)
    if not docker_:
        raise ContextError("pallet context create needs --docker host=URL (the local store "
                           'is the "default" context)')
    endpoint = _parse_endpoint(docker_)
    if not endpoint.get("host"):
        raise ContextError("unable to create docker endpoint config: no host= in --docker")
    parse_host(endpoint["host"])   # refuse what no command could use (an ssh:// path, ...)
    skip = endpoint.get("skip-tls-verify", "false").lower()
    if skip not in ("true", "false", "1", "0", "t", "f"):
        raise ContextError(f'unable to create docker endpoint config: skip-tls-verify: '
                           f'invalid boolean "{skip}"')
    sources = {f"{key}.pem": os.path.expanduser(endpoint[key]) for key in ("ca", "cert", "key")
               if endpoint.get(key)}
    store(name, endpoint["host"], description=description,
          skip_tls_verify=skip in ("true", "1", "t"), tls_sources=sources)
    click.echo(name)
    click.echo(f'Successfully created context "{name}"', err=True)


@context.command("ls")
@click.option("--format", "format_", default=None, help="Format output using a custom template")
@click.option("-q", "--quiet", is_flag=True, help="Only show context names")
def ls(format_: str | None, quiet: bool) -> None:
    """List contexts"""
    from pallet.remote.contexts import all_contexts
    current = _current()
    rows = [_default_row()] + [{"Name": c.name, "Description": c.description,
                                "DockerEndpoint": c.docker_host, "Error": ""}
                               for c in all_contexts()]
    rows.sort(key=lambda row: row["Name"])
    for row in rows:
        row["Current"] = row["Name"] == current
    if quiet:
        for row in rows:
            click.echo(row["Name"])
        return
    from pallet.format.kinds import CONTEXTS, listing
    click.echo(listing(format_, rows, CONTEXTS), nl=False)
    if _environment_host():
        click.echo("Warning: DOCKER_HOST environment variable overrides the active context. To "
                   "use a context, either set the global --context flag, or unset DOCKER_HOST "
                   "environment variable.", err=True)


context.add_command(ls, "list")


@context.command("use")
@click.argument("name")
def use(name: str) -> None:
    """Set the current context"""
    from pallet.remote.contexts import load, set_current
    if name != "default":
        load(name)
    set_current(name)
    click.echo(name)
    click.echo(f'Current context is now "{name}"', err=True)
    if _environment_host():
        click.echo("Warning: DOCKER_HOST environment variable overrides the active context. To "
                   "use a context, either set the global --context flag, or unset DOCKER_HOST "
                   "environment variable.", err=True)


@context.command("show")
def show() -> None:
    """Print the name of the current context"""
    click.echo(_current())


def _document(name: str) -> dict:
    if name == "default":
        return {"Name": "default", "Metadata": {},
                "Endpoints": {"docker": {"Host": _environment_host() or "",
                                         "SkipTLSVerify": False}},
                "TLSMaterial": {},
                "Storage": {"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"}}
    from pallet.remote.contexts import load
    found = load(name)
    metadata = dict(found.extra_metadata)
    if found.description:
        metadata["Description"] = found.description
    return {"Name": found.name, "Metadata": metadata,
            "Endpoints": {"docker": {"Host": found.docker_host,
                                     "SkipTLSVerify": found.skip_tls_verify}},
            "TLSMaterial": {"docker": list(found.tls_files)} if found.tls_files else {},
            "Storage": {"MetadataPath": str(found.meta_path), "TLSPath": str(found.tls_path)}}


@context.command("inspect")
@click.argument("names", nargs=-1)
@click.option("-f", "--format", "format_", default=None, help="Format the output using the given Go template")
def inspect(names, format_: str | None) -> None:
    """Display detailed information on one or more contexts"""
    from pallet.format.documents import inspect_output
    documents, missing = [], None
    for name in names or (_current(),):
        try:
            documents.append(_document(name))
        except ContextError as error:
            missing = error
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    for message in failures:
        click.echo(message, err=True)
    if missing is not None:
        raise missing


@context.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force the removal of a context in use")
def rm(names, force: bool) -> None:
    """Remove one or more contexts"""
    import sys

    from pallet.remote.contexts import remove, set_current
    from pallet.remote.select import current_context_name
    failed = False
    for name in names:
        try:
            if name != "default" and name == current_context_name():
                if not force:
                    raise ContextError(f'context "{name}" is in use, set -f flag to force remove')
                set_current("default")
            remove(name)
        except ContextError as error:
            click.echo(error.message, err=True)
            failed = True
            continue
        click.echo(name)
    if failed:
        sys.exit(1)


context.add_command(rm, "remove")
