"""The local record of machines: $MACHINE_STORAGE_PATH/machines/NAME/ (docker-machine's
variable), by default $DOCKER_CONFIG/machine (~/.docker/machine, docker-machine's place).

docker-machine's layout rather than an XDG directory: DOCKER_CERT_PATH then reads as it does
for docker-machine (~/.docker/machine/machines/NAME), the machine sits beside the contexts it
makes (~/.docker/contexts), and one DOCKER_CONFIG moves or isolates all of it. A directory
made by docker-machine itself (no "Pallet" key in its config.json) is listed with an error and
never changed.

Each machine's directory is 0700 and every file in it 0600: config.json (this record), the
certificates (certs.py) and known_hosts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9.-]*$")
ENGINE_PORT = 2376


@dataclass(frozen=True)
class MachineRecord:
    name: str
    driver: str
    driver_state: dict = field(default_factory=dict)
    prefix: str = ""            # the directory on the host that holds everything create put
    link_dir: str = ""          # where `pallet`/`docker` links went on the host ("": none)
    engine_port: int = ENGINE_PORT
    created: str = ""
    pallet_version: str = ""    # what the last create/upgrade installed
    provisioned: bool = False   # False: create stopped part way (rm still undoes it)
    sudo: bool = False          # the ssh user is not root: commands run through `sudo -n`


def storage_path() -> Path:
    explicit = os.environ.get("MACHINE_STORAGE_PATH")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "machine"


def directory(name: str) -> Path:
    return storage_path() / "machines" / name


def check_name(name: str) -> None:
    if not NAME_RE.match(name) or len(name) > 63:
        raise PalletError(f'Error creating machine: Invalid hostname specified. Allowed '
                          f'hostname chars are: 0-9a-zA-Z . - (got "{name}")')


def exists(name: str) -> bool:
    return (directory(name) / "config.json").exists()


def make_directory(name: str) -> Path:
    check_name(name)
    path = directory(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        raise PalletError(f'Error creating machine: Host already exists: "{name}"',
                          hint=f"choose another name, or `pallet machine rm {name}` first") from None
    return path


def load(name: str) -> MachineRecord:
    path = directory(name) / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PalletError(f'Host does not exist: "{name}"', exit_code=1) from None
    except (OSError, ValueError) as error:
        raise PalletError(f"machine {name}: cannot read {path}: {error}") from error
    if not isinstance(data, dict) or "Pallet" not in data:
        raise PalletError(f"machine {name}: {path} is not a pallet machine (docker-machine's?)")
    fields = data["Pallet"]
    try:
        return MachineRecord(**{key: fields[key] for key in MachineRecord.__dataclass_fields__
                                if key in fields})
    except TypeError as error:
        raise PalletError(f"machine {name}: {path} is damaged: {error}") from error


def save(record: MachineRecord) -> None:
    path = directory(record.name) / "config.json"
    data = {"Name": record.name, "DriverName": record.driver, "Pallet": asdict(record)}
    temporary = path.with_name(".config.json.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.rename(temporary, path)


def names() -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(storage_path() / "machines")
                      if entry.is_dir() and NAME_RE.match(entry.name))
    except FileNotFoundError:
        return []


def remove(name: str) -> None:
    shutil.rmtree(directory(name), ignore_errors=True)
