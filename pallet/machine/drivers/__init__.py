"""Machine drivers: what makes a host exist and reach it over ssh. Provisioning (pallet, its
certificates, the service) is common code on top of any driver (pallet.machine.provision).

The interface a driver implements (a subclass of Driver, registered in DRIVERS below):

    class QemuDriver(Driver):
        name = "qemu"

        @classmethod
        def options(cls) -> list[click.Option]:
            # the flags it adds to `machine create`, named --<driver>-..., e.g. --qemu-memory
        def create(self, name: str, flags: dict) -> None:
            # make the host (or check it is reachable); flags are this driver's options by
            # their click parameter names (e.g. flags["qemu_memory"]). Keep what later calls
            # need in self.state (a JSON-able dict, saved in the machine's config.json and
            # handed back to __init__ on every later command). On failure raise PalletError
            # (one paragraph, Docker's wording where it has one) after undoing what it made.
        def ssh_address(self) -> SshAddress:       # how provisioning and `machine ssh` get in
        def engine_address(self) -> tuple[str, int]:
            # where clients reach `pallet serve` over TLS: the host's IP and 2376 for generic;
            # ("127.0.0.1", forwarded port) for a VM behind user-mode networking. The server
            # certificate carries this host as its SAN.
        def listen_address(self) -> str:
            # where `pallet serve` binds its TCP listener on the host: the host's IP for
            # generic, "0.0.0.0" inside a VM whose port is forwarded
        def power_state(self) -> str:   # the host's power state: one of STATES ("Running", ...)
        def start(self) -> None:   # power on and wait for ssh (generic: check it answers)
        def stop(self) -> None:    # power off (generic: nothing; the service is stopped first
                                   # by the common code)
        def remove(self) -> None:  # destroy what create made (generic: nothing); must work
                                   # on a half-made machine

`self.directory` is the machine's local directory (private, 0700: disks, keys and sockets of a
VM go there); `self.state` the driver's saved state. A driver never touches the certificates,
the context or the service: the common code does that for every driver.
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

RUNNING, STOPPED, ERROR, TIMEOUT, STARTING, STOPPING = (
    "Running", "Stopped", "Error", "Timeout", "Starting", "Stopping")
STATES = (RUNNING, STOPPED, ERROR, TIMEOUT, STARTING, STOPPING)

# name -> "module:Class", imported only when that driver is used
DRIVERS = {
    "generic": "pallet.machine.drivers.generic:GenericDriver",
    "qemu": "pallet.machine.drivers.qemu:QemuDriver",
}


@dataclass(frozen=True)
class SshAddress:
    host: str
    port: int = 22
    user: str = "root"
    key: str | None = None     # a private key file; None: the ssh client's own defaults


class Driver(abc.ABC):
    name: ClassVar[str]
    # remove() destroys the host itself (a VM and its disk): nothing on it is uninstalled
    # first, so `machine rm` of a stopped VM needs no ssh
    owns_host: ClassVar[bool] = False

    def __init__(self, directory: Path, state: dict | None = None) -> None:
        self.directory = directory
        self.state: dict = dict(state or {})

    @classmethod
    def options(cls) -> list:
        return []

    @abc.abstractmethod
    def create(self, name: str, flags: dict) -> None: ...

    @abc.abstractmethod
    def ssh_address(self) -> SshAddress: ...

    @abc.abstractmethod
    def engine_address(self) -> tuple[str, int]: ...

    def listen_address(self) -> str:
        return self.engine_address()[0]

    @abc.abstractmethod
    def power_state(self) -> str: ...

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def remove(self) -> None:
        return None


def available() -> list[str]:
    """Drivers whose module is installed."""
    return [name for name, target in DRIVERS.items()
            if importlib.util.find_spec(target.partition(":")[0]) is not None]


def driver_class(name: str) -> type[Driver]:
    from pallet.base.errors import PalletError
    target = DRIVERS.get(name)
    if target is None or name not in available():
        raise PalletError(f'Driver "{name}" not found. Do you have the plugin binary accessible '
                          f"in your PATH?", hint=f"drivers: {', '.join(available())}")
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
