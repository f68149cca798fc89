"""save, load and export on a remote host (contract: pallet/remote/__init__.py): archives
streamed through the Engine API, never whole in memory.

    save   GET /images/get?names=...         the host's docker-archive -> -o FILE or stdout
    load   POST /images/load (chunked body)  -i FILE or stdin -> the host's "Loaded image" lines
    export GET /containers/{id}/export       the container's filesystem -> -o FILE or stdout

A file given with -o appears only complete: the archive goes to a temporary name beside it and
is renamed at the end (a refusal or a dropped connection leaves nothing), and a directory that
does not exist is refused before anything is asked of the host.
"""

from __future__ import annotations

import os
import sys

import click

from pallet.base.errors import PalletError
from pallet.remote import client

CHUNK = 1 << 16


def _refuse_terminal(output: str | None) -> None:
    if output is None and sys.stdout.isatty():
        raise PalletError("cowardly refusing to save to a terminal. Use the -o flag or redirect")


def _check_destination(output: str) -> None:
    """The local commands' refusals, before the host is asked for anything."""
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise PalletError(f"cannot write {output}: No such file or directory")
    if os.path.isdir(output):
        raise PalletError(f"cannot write {output}: Is a directory")


def _write(chunks, output: str | None) -> None:
    """chunks (the SDK's generator: it raises the host's refusal on the first next()) to
    output, or to stdout."""
    if output is None:
        from pallet.base.fdio import write_all
        for chunk in chunks:
            write_all(1, chunk, reader_gone=True)
        return
    import tempfile
    directory, name = os.path.split(os.path.abspath(output))
    try:
        handle = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{name}.", delete=False)
    except OSError as error:
        raise PalletError(f"cannot write {output}: {error.strerror}") from error
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, output)
    except BaseException:
        os.unlink(handle.name)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(ctx, names, output, format_) -> None:
    if format_ != "docker-archive":
        raise PalletError(f"--format {format_} is not supported on a remote host",
                          hint="the Engine API saves docker-archive only; omit --format")
    _refuse_terminal(output)
    if output is not None:
        _check_destination(output)
    api = client(ctx)
    response = api._get(api._url("/images/get"), params={"names": list(names)}, stream=True)
    _write(api._stream_raw_result(response, CHUNK, False), output)


def export(ctx, output, container_ref) -> None:
    api = client(ctx)
    api.inspect_container(container_ref)     # a missing container: the host's 404 first
    _refuse_terminal(output)
    if output is not None:
        _check_destination(output)
    _write(api.export(container_ref, CHUNK), output)


def _chunks(handle):
    while chunk := handle.read(CHUNK):
        yield chunk


def load(ctx, input_, quiet, platform) -> None:
    if platform:
        raise PalletError("--platform is not supported on a remote host",
                          hint="the Engine API's load takes the archive's own platform")
    if input_ is None and sys.stdin.isatty():
        raise PalletError("requested load from stdin, but stdin is empty",
                          hint="use -i FILE or pipe an archive in")
    if input_ is not None and os.path.isdir(input_):
        raise PalletError(f"cannot load {input_}: an OCI layout directory cannot be sent to a "
                          "remote host", hint="pack it as an oci-archive (tar) first")
    try:
        handle = open(input_, "rb") if input_ is not None else os.fdopen(0, "rb", closefd=False)
    except OSError as error:
        raise PalletError(f"cannot load {input_}: {error.strerror}") from error
    with handle:
        # quiet=True: the host sends only the result lines, which -q prints too (it hides
        # the bars, which the local load draws only on a terminal)
        for message in client(ctx).load_image(_chunks(handle), quiet=True):
            if message.get("error"):
                raise PalletError(message["error"])
            if message.get("stream"):
                click.echo(message["stream"], nl=False)
