"""Network records under the store: ROOT/network/{networks,endpoints}/, one JSON file each.

    NetworkStore(root).lock()          # flock: every change of records and leases is under it
    .networks() / .find(ref) / .save(network) / .delete(network)
    .endpoints(network_id) / .save_endpoint(ep) / .delete_endpoint(ep) / .container_endpoints(id)

Readers never lock: every file is replaced atomically, so the embedded resolver and `inspect`
read a consistent record without waiting for a writer. The predefined networks (bridge, host,
none) are made on first use, as dockerd makes them when it starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from pathlib import Path
from typing import Iterator

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write
from pallet.base.units import now_rfc3339
from pallet.runtime.network.model import Endpoint, Network

RUN_DIR = Path(os.environ.get("PALLET_RUN_DIR", "/run/pallet"))
ID_RE = re.compile(r"^[0-9a-f]{64}$")


class NetworkNotFound(PalletError):
    pass


def now() -> str:
    return now_rfc3339()


def new_id() -> str:
    return os.urandom(32).hex()


def write_json(path: Path, document: dict) -> None:
    """Atomic replace, not fsynced: leases are re-derived from live processes after a crash."""
    atomic_write(path, json.dumps(document), mode=0o600, durable=False)


def _read_json(path: Path) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Host-wide: subnets and bridge names are shared by every store on this machine."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(RUN_DIR / "network.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class NetworkStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "network"
        self.networks_dir = self.dir / "networks"
        self.endpoints_dir = self.dir / "endpoints"

    def _ensure_dirs(self) -> None:
        for directory in (self.dir, self.networks_dir, self.endpoints_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self._ensure_dirs()
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- networks ---------------------------------------------------------------------------

    def networks(self) -> list[Network]:
        if not self.networks_dir.is_dir():
            return []
        found = []
        for entry in sorted(os.listdir(self.networks_dir)):
            if entry.endswith(".json") and not entry.startswith("."):
                data = _read_json(self.networks_dir / entry)
                if data is not None:
                    found.append(Network.from_json(data))
        return found

    def find(self, reference: str) -> Network:
        """Docker's lookup: full ID, then name, then a unique ID prefix."""
        networks = self.networks()
        for network in networks:
            if network.id == reference:
                return network
        for network in networks:
            if network.name == reference:
                return network
        if reference and re.fullmatch(r"[0-9a-f]+", reference):
            matches = [n for n in networks if n.id.startswith(reference)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise PalletError(f"network {reference} is ambiguous ({len(matches)} matches found "
                                  "based on ID prefix)")
        raise NetworkNotFound(f"network {reference} not found")

    def save(self, network: Network) -> None:
        self._ensure_dirs()
        write_json(self.networks_dir / f"{network.id}.json", network.to_json())

    def delete(self, network: Network) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.networks_dir / f"{network.id}.json")
        directory = self.endpoints_dir / network.id
        if directory.is_dir():
            for entry in os.listdir(directory):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(directory / entry)
            with contextlib.suppress(OSError):
                directory.rmdir()

    # -- endpoints (address leases) ------------------------------------------------------------

    def endpoints(self, network_id: str) -> list[Endpoint]:
        directory = self.endpoints_dir / network_id
        try:
            entries = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            if entry.endswith(".json") and not entry.startswith("."):
                data = _read_json(directory / entry)
                if data is not None:
                    found.append(Endpoint.from_json(data))
        return found

    def endpoint(self, network_id: str, container_id: str) -> Endpoint | None:
        data = _read_json(self.endpoints_dir / network_id / f"{container_id}.json")
        return Endpoint.from_json(data) if data is not None else None

    def save_endpoint(self, endpoint: Endpoint) -> None:
        directory = self.endpoints_dir / endpoint.network_id
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_json(directory / f"{endpoint.container_id}.json", endpoint.to_json())

    def delete_endpoint(self, endpoint: Endpoint) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.endpoints_dir / endpoint.network_id / f"{endpoint.container_id}.json")

    def all_endpoints(self) -> list[Endpoint]:
        if not self.endpoints_dir.is_dir():
            return []
        found = []
        for network_id in sorted(os.listdir(self.endpoints_dir)):
            if ID_RE.match(network_id):
                found += self.endpoints(network_id)
        return found

    def container_endpoints(self, container_id: str) -> list[Endpoint]:
        found = []
        if not self.endpoints_dir.is_dir():
            return found
        for network_id in sorted(os.listdir(self.endpoints_dir)):
            endpoint = self.endpoint(network_id, container_id) if ID_RE.match(network_id) else None
            if endpoint is not None:
                found.append(endpoint)
        return found

    def rename_container(self, container_id: str, name: str) -> None:
        """The container's new name answers in DNS from now on (`rename` of a running one)."""
        import dataclasses
        with self.lock():
            for endpoint in self.container_endpoints(container_id):
                self.save_endpoint(dataclasses.replace(endpoint, name=name))
