"""The local volume driver: create, get, list, remove and prune volumes under ROOT/volumes.

    create_volume(root, name=None, labels=None, driver="local", options=None, anonymous=False)
    get_volume(root, name) -> Volume            VolumeNotFound ("get NAME: no such volume")
    list_volumes(root) -> list[Volume]          sorted by name
    volume_users(root, name) -> list[str]       IDs of the containers whose Mounts name it
    remove_volume(root, name, force=False)      refused while a container uses it
    prune_volumes(root, all_=False, labels=()) -> (names, reclaimed bytes)

A volume appears whole or not at all: it is made in a temporary directory and renamed into
place. Removal happens under the container store's lock (the one container creation holds while
it resolves its mounts), so a volume cannot vanish between a container choosing it and the
container's config naming it. Parents are 0700: volume data is not the world's to read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from pallet.base.errors import PalletError
from pallet.base.files import remove_tree

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
OPTION_KEYS = ("type", "device", "o", "size")


class VolumeNotFound(PalletError):
    """No volume has that name."""


@dataclass(frozen=True)
class Volume:
    """A named volume: its directory under the store, creation time, labels, options."""

    name: str
    directory: Path
    created_at: str
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.directory / "_data"

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def document(self) -> dict:
        """docker volume inspect's object."""
        return {"CreatedAt": self.created_at, "Driver": "local", "Labels": self.labels or None,
                "Mountpoint": str(self.data), "Name": self.name,
                "Options": self.options or None, "Scope": "local"}


def volumes_dir(root: Path) -> Path:
    from pallet.runtime.store.content import private_dir
    return private_dir(Path(root) / "volumes")


def _scratch(root: Path) -> Path:
    from pallet.runtime.store.content import scratch_dir
    return scratch_dir(root)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    fd = os.open(volumes_dir(root) / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def check_name(name: str, short_ok: bool = False) -> None:
    """Docker's local-driver name rules and words (`volume create` refuses one character,
    `run -v x:/d` takes it)."""
    if not NAME.match(name):
        raise PalletError(f'create {name}: "{name}" includes invalid characters for a local '
                          'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you '
                          "intended to pass a host directory, use absolute path")
    if len(name) < 2 and not short_ok:
        raise PalletError(f"create {name}: volume name is too short, names should be at least "
                          "two alphanumeric characters")


def check_options(name: str, options: dict) -> None:
    for key in options:
        if key not in OPTION_KEYS:
            raise PalletError(f'create {name}: invalid option: "{key}"')
    if ("type" in options or "o" in options) and not options.get("device"):
        raise PalletError(f'create {name}: missing required option: "device"')


def _load(directory: Path) -> Volume:
    try:
        with open(directory / "volume.json") as handle:
            meta = json.load(handle)
    except (OSError, ValueError) as error:
        raise VolumeNotFound(f"get {directory.name}: no such volume") from error
    return Volume(name=directory.name, directory=directory, created_at=meta.get("CreatedAt", ""),
                  labels=meta.get("Labels") or {}, options=meta.get("Options") or {})


def create_volume(root: Path, name: str | None = None, labels: dict | None = None,
                  driver: str = "local", options: dict | None = None,
                  anonymous: bool = False, short_ok: bool = False) -> Volume:
    """Create a volume, or return the one of that name (Docker keeps the existing one as is)."""
    name = name or os.urandom(32).hex()
    check_name(name, short_ok)
    if driver != "local":
        raise PalletError(f'create {name}: error looking up volume plugin {driver}: plugin '
                          f'"{driver}" not found')
    options = dict(options or {})
    check_options(name, options)
    labels = dict(labels or {})
    if anonymous:
        labels[ANONYMOUS_LABEL] = ""
    parent = volumes_dir(root)
    target = parent / name
    with _lock(root):
        if (target / "volume.json").exists():
            return _load(target)
        # made in this process's scratch directory (swept if we are killed), renamed in whole
        temp = _scratch(root) / f"volume-{uuid.uuid4().hex}"
        temp.mkdir(mode=0o700)
        try:
            os.chmod(temp, 0o700)                  # whatever the umask
            (temp / "_data").mkdir()
            os.chmod(temp / "_data", 0o755)        # Docker's mode for a new volume's data
            meta = {"CreatedAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Labels": labels, "Options": options}
            with open(temp / "volume.json", "w") as handle:
                json.dump(meta, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temp, target)
        except BaseException:
            remove_tree(temp, ignore_errors=True)
            raise
    from pallet.runtime.store.events import record_event
    record_event(root, "volume", "create", name, {"driver": "local"})
    return _load(target)


def get_volume(root: Path, name: str) -> Volume:
    if not NAME.match(name):
        raise VolumeNotFound(f"get {name}: no such volume")
    directory = Path(root) / "volumes" / name
    if not (directory / "volume.json").exists():
        raise VolumeNotFound(f"get {name}: no such volume")
    return _load(directory)


def list_volumes(root: Path) -> list[Volume]:
    directory = Path(root) / "volumes"
    if not directory.is_dir():
        return []
    found = []
    for entry in sorted(os.listdir(directory)):
        if NAME.match(entry) and (directory / entry / "volume.json").exists():
            with contextlib.suppress(VolumeNotFound):
                found.append(_load(directory / entry))
    return found


def volume_users(root: Path) -> dict[str, list[str]]:
    """Volume name -> IDs of the containers (any state) whose Mounts name it."""
    users: dict[str, list[str]] = {}
    containers = Path(root) / "containers"
    if not containers.is_dir():
        return users
    for entry in sorted(os.listdir(containers)):
        if len(entry) != 64:  # .lock, a container being removed
            continue
        try:
            with open(containers / entry / "config.json") as handle:
                mounts = json.load(handle).get("Mounts") or []
        except (OSError, ValueError):
            continue
        for mount in mounts:
            if mount.get("Type") == "volume" and mount.get("Name"):
                users.setdefault(mount["Name"], []).append(entry)
    return users


@contextlib.contextmanager
def _containers_locked(root: Path) -> Iterator[None]:
    from pallet.runtime.store.content import private_dir
    private_dir(root)
    directory = private_dir(Path(root) / "containers")
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def mount_container_volumes(root: Path, mounts: list[dict]) -> None:
    """Before a start: the devices of the container's option volumes are mounted."""
    from pallet.runtime.volume.mounting import mount_volume
    for mount in mounts:
        if mount.get("Type") == "volume" and mount.get("Name"):
            try:
                volume = get_volume(root, mount["Name"])
            except VolumeNotFound as error:
                raise PalletError(error.message, exit_code=125) from error
            mount_volume(volume)


def _delete(root: Path, volume: Volume) -> int:
    """Unmount (an options volume), rename out of sight, then delete; returns bytes freed."""
    from pallet.runtime.volume.mounting import unmount_volume
    unmount_volume(volume)
    size = _tree_size(volume.data)
    trash = _scratch(root) / f"removing-{uuid.uuid4().hex}"
    os.rename(volume.directory, trash)
    remove_tree(trash, ignore_errors=True)
    from pallet.runtime.store.events import record_event
    record_event(root, "volume", "destroy", volume.name, {"driver": "local"})
    return size


def _tree_size(path: Path) -> int:
    from pallet.base.files import walk_tree
    total = 0
    for _rel, entries in walk_tree(path):
        total += sum(info.st_blocks * 512 for _name, info in entries
                     if not stat.S_ISDIR(info.st_mode))
    return total


def remove_volume(root: Path, name: str, force: bool = False) -> None:
    with _containers_locked(root), _lock(root):
        try:
            volume = get_volume(root, name)
        except VolumeNotFound:
            if force:
                return
            raise
        users = volume_users(root).get(name)
        if users:
            raise PalletError(f"remove {name}: volume is in use - [{', '.join(users)}]")
        _delete(root, volume)


def prune_volumes(root: Path, all_: bool = False, labels: tuple = (),
                  not_labels: tuple = ()) -> tuple[list[str], int]:
    """Remove unused volumes: anonymous ones only unless all_ (API 1.42+). Label filters as
    Docker's: label=KEY or KEY=VALUE must match, label!=... must not."""
    removed, reclaimed = [], 0
    with _containers_locked(root), _lock(root):
        users = volume_users(root)
        for volume in list_volumes(root):
            if volume.name in users or (not all_ and not volume.anonymous):
                continue
            if not all(_label_matches(volume.labels, item) for item in labels):
                continue
            if any(_label_matches(volume.labels, item) for item in not_labels):
                continue
            reclaimed += _delete(root, volume)
            removed.append(volume.name)
    return removed, reclaimed


def _label_matches(labels: dict, item: str) -> bool:
    key, sep, value = item.partition("=")
    return key in labels and (not sep or labels[key] == value)
