"""`pallet system dial-stdio`, the host side of ssh:// (docker's `docker system dial-stdio`):
this process's stdin and stdout joined to the local `pallet serve` socket, byte for byte.

Half-close both ways, as docker's: EOF on stdin shuts the socket's write side (the server sees
the request body end; a hijacked stream sees the client's half-close) while output keeps
flowing; EOF from the server closes stdout and ends the process at once, without waiting for
stdin (which, under a TTY, never ends).

Imports nothing beyond the standard library: ssh starts one of these per HTTP connection.
"""

from __future__ import annotations

import os
import socket
import threading

from pallet.base.errors import PalletError
from pallet.base.fdio import write_all

DEFAULT_SOCKET = "/run/pallet/pallet.sock"    # pallet serve's default listener
CHUNK = 1 << 16


def socket_path(hosts: tuple[str, ...]) -> str:
    """-H if it names a unix socket, else PALLET_HOST, else DOCKER_HOST (unix:// ones only:
    the host side dials a local socket), else pallet serve's default."""
    for candidate in (*hosts, os.environ.get("PALLET_HOST"), os.environ.get("DOCKER_HOST")):
        if candidate and candidate.startswith("unix://"):
            return candidate[len("unix://"):]
        if candidate and hosts and candidate == hosts[0]:
            raise PalletError(f"dial-stdio dials a local socket: -H {candidate} is not "
                              "unix:///PATH")
    return DEFAULT_SOCKET


def dial_stdio(path: str) -> None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError as error:
        connection.close()
        raise PalletError(f"Cannot connect to the pallet engine at unix://{path}: "
                          f"{(error.strerror or str(error)).lower()}. Is `pallet serve` running "
                          "on this host?") from error
    upstream = threading.Thread(target=_stdin_to_socket, args=(connection,), daemon=True)
    upstream.start()
    try:
        while True:
            data = connection.recv(CHUNK)
            if not data:
                break
            write_all(1, data)
    except (BrokenPipeError, ConnectionResetError):
        pass       # the client went away: nothing left to deliver
    finally:
        os.close(1)


def _stdin_to_socket(connection: socket.socket) -> None:
    try:
        while True:
            data = os.read(0, CHUNK)
            if not data:
                break
            connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass       # the server closed first; the main thread ends the process


