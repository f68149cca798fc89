"""The `docker` a pallet host answers with when Docker itself is absent.

Docker's ssh:// clients (the docker CLI, docker-py, docker-compose) run `docker system
dial-stdio` on the host (the CLI, for ssh://host/SOCK, `docker --host unix:///SOCK system
dial-stdio`). This stand-in answers exactly that with pallet's dial-stdio; anything else is a
clear error, never a half-working docker.

    docker_shim(python, socket) -> str   the script `pallet machine` installs as `docker`
    python -m pallet.remote.shim ARGS    what that script runs (stdlib only: fast to start)
"""

from __future__ import annotations

import os
import shlex
import sys


def docker_shim(python: str, socket: str) -> str:
    """A /bin/sh script: ``python`` is the interpreter of pallet's venv on the host, ``socket``
    the host's `pallet serve` socket (dialled unless the client names another with --host)."""
    return ("#!/bin/sh\n"
            "# Installed by pallet: this host runs pallet, not Docker. `docker system dial-stdio`\n"
            "# (what Docker's ssh:// clients run) reaches pallet serve; nothing else is served.\n"
            f"PALLET_HOST={shlex.quote('unix://' + socket)}\nexport PALLET_HOST\n"
            f'exec {shlex.quote(python)} -m pallet.remote.shim "$@"\n')


def dial_target(args: list[str]) -> tuple[str, ...] | None:
    """The -H/--host values before `system dial-stdio`, or None when the command is not that."""
    hosts: list[str] = []
    words = list(args)
    while words and words[0].startswith("-"):
        word = words.pop(0)
        if word in ("-H", "--host") and words:
            hosts.append(words.pop(0))
        elif word.startswith("--host="):
            hosts.append(word[len("--host="):])
        elif word in ("--debug", "-D", "--tls", "--tlsverify"):
            continue
        else:
            return None
    return tuple(hosts) if words == ["system", "dial-stdio"] else None


def main(args: list[str] | None = None) -> int:
    from pallet.base.errors import PalletError
    from pallet.remote.dialstdio import dial_stdio, socket_path
    words = sys.argv[1:] if args is None else args
    hosts = dial_target(words)
    if hosts is None:
        sys.stderr.write(
            f"docker {' '.join(words)}: this host runs pallet, not Docker; its `docker` only "
            "answers `docker system dial-stdio` (for Docker's ssh:// clients). Use `pallet` "
            "here, or point a docker client at this host with DOCKER_HOST=ssh://...\n")
        return 1
    try:
        dial_stdio(socket_path(hosts))
    except PalletError as error:
        sys.stderr.write(f"{error.render()}\n")
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)     # stdout is already closed by dial_stdio; skip the interpreter's flush
