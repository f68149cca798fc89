"""Where a machine's install lives on its host: everything under one prefix, so `machine rm`
removes exactly what create put there (plus the links and the systemd unit it records).

    PREFIX/venv/            pallet in a venv of its own
    PREFIX/bin/pallet       the venv's pallet with this machine's store (PALLET_ROOT)
    PREFIX/bin/docker       the dial-stdio stand-in for Docker's ssh:// clients
    PREFIX/root/            the store
    PREFIX/certs/           ca.pem server.pem server-key.pem
    PREFIX/run/             pallet.sock, pallet.pid, supervisor.pid
    PREFIX/log/pallet.log   the service's output (without systemd)
    PREFIX/wheels/          what the venv was installed from
    PREFIX/machine.json     the host side's record (service kind, links made)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

DEFAULT_PREFIX = "/opt/pallet-machine/{name}"
SOCKET_MAX = 107   # sun_path


@dataclass(frozen=True)
class HostLayout:
    prefix: PurePosixPath

    @property
    def venv(self) -> PurePosixPath:
        return self.prefix / "venv"

    @property
    def python(self) -> PurePosixPath:
        return self.venv / "bin" / "python"

    @property
    def bin(self) -> PurePosixPath:
        return self.prefix / "bin"

    @property
    def root(self) -> PurePosixPath:
        return self.prefix / "root"

    @property
    def certs(self) -> PurePosixPath:
        return self.prefix / "certs"

    @property
    def socket(self) -> PurePosixPath:
        return self.prefix / "run" / "pallet.sock"

    @property
    def pidfile(self) -> PurePosixPath:
        return self.prefix / "run" / "pallet.pid"

    @property
    def supervisor_pidfile(self) -> PurePosixPath:
        return self.prefix / "run" / "supervisor.pid"

    @property
    def log(self) -> PurePosixPath:
        return self.prefix / "log" / "pallet.log"

    @property
    def wheels(self) -> PurePosixPath:
        return self.prefix / "wheels"

    @property
    def record(self) -> PurePosixPath:
        return self.prefix / "machine.json"


def unit_name(machine: str) -> str:
    return f"pallet-machine-{machine}.service"
