"""`pallet attach`: Docker's flags over the session in attach_session.py (--detach-keys,
--no-stdin, --sig-proxy, the container's exit code as ours)."""

from __future__ import annotations

import os
import sys

import click

from pallet.base.errors import PalletError
from pallet.commands.attach_session import (DEFAULT_KEYS, DETACHED, BareError,  # noqa: F401
                                            detach_sequence, raw_terminal, restore_terminal,
                                            run_attached, session)


@click.command("attach")
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--sig-proxy", type=click.BOOL, default=True, show_default=True,
              help="Proxy all received signals to the process")
@click.argument("container_ref", metavar="CONTAINER")
@click.pass_context
def attach(ctx, detach_keys, no_stdin, sig_proxy, container_ref) -> None:
    """Attach local standard input, output, and error streams to a running container"""
    from pallet.runtime.container.attach import connect, hello
    from pallet.runtime.container.lifecycle import get
    try:
        record = get(ctx.obj["root"], container_ref)
    except PalletError as error:
        raise BareError(f"Error response from daemon: {error.message}") from None
    if record.state.get("Paused"):
        raise BareError("You cannot attach to a paused container, unpause it first")
    if not record.state.get("Running"):
        raise BareError("You cannot attach to a stopped container, start it first")
    config = record.config["Config"]
    tty = bool(config.get("Tty"))
    send_stdin = not no_stdin and bool(config.get("OpenStdin"))
    if tty and send_stdin and not os.isatty(0):
        raise BareError("the input device is not a TTY")
    keys = detach_sequence(detach_keys)
    sock = connect(record.directory)
    if sock is None:
        raise BareError("You cannot attach to a stopped container, start it first")
    sock.sendall(hello(stdin=send_stdin, stdout=True, stderr=True))
    proxy_pid = record.state.get("Pid") if sig_proxy and not tty else None
    result = session(sock, tty=tty, send_stdin=send_stdin, keys=keys, proxy_pid=proxy_pid)
    if result == DETACHED:
        # docker's CLI returns the term.EscapeError it read: its text, exit 1
        raise BareError("read escape sequence")
    if result is not None:
        sys.exit(result)
