"""On-disk container records: ROOT/containers/<id>/{config.json,state.json,...}.

config.json is the container's Docker-inspect document without "State" (written once at
create, rewritten by rename); state.json is the live "State" plus our supervision fields
(MonitorPid and the start times of both PIDs, so a recycled PID is never mistaken for ours).
Every write is atomic (temp file + rename); name changes happen under one flock so two pallet
processes cannot both take a name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write
from pallet.base.units import ZERO_TIME

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_PLAIN_NAME = re.compile(r"[a-zA-Z0-9_.-]+")


class ContainerNotFound(PalletError):
    """No container has that ID, ID prefix or name."""


class NameConflict(PalletError):
    """The name belongs to another container."""


def write_json(path: Path, document: dict) -> None:
    """Atomic replace (not durable: state is re-derived from live processes after a crash).

    On a full disk the replacement cannot be made; the document is then written over the
    old one in the blocks that file already has, so `ps`, `rm -f` and a container's monitor
    keep recording state until space is freed (a reader may, for that instant, see a torn
    file; readers treat that as unreadable state, not as a crash)."""
    data = json.dumps(document).encode()
    try:
        atomic_write(path, data, durable=False)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT) or not _rewrite_in_place(path, data):
            raise


def _rewrite_in_place(path: Path, data: bytes) -> bool:
    """Overwrite path within its allocated blocks; False when data does not fit them."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_blocks * 512 < len(data):
            return False
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def read_json(path: Path) -> dict:
    with open(path) as handle:
        return json.load(handle)


# Parsed records by path, for listings in a long-lived process (the API server answering
# /containers/json): a file is parsed again only when its inode, mtime or size changed, and
# every write replaces the file (or, on a full disk, rewrites it with a new mtime). The dicts
# are shared between calls, so only readers that never change them use this.
_SNAPSHOTS: dict[str, tuple[tuple[int, int, int], dict]] = {}


def _read_shared(path: str) -> dict:
    status = os.stat(path)
    key = (status.st_ino, status.st_mtime_ns, status.st_size)
    hit = _SNAPSHOTS.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    with open(path, "rb") as handle:
        value = json.loads(handle.read())
    # a file replaced between the stat and the open is cached under the old key: the next
    # stat differs, so it is read again
    _SNAPSHOTS[path] = (key, value)
    return value


def process_start_time(pid: int) -> int | None:
    """The kernel start time of pid (clock ticks since boot), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int, start_time: int | None) -> bool:
    return bool(pid) and start_time is not None and process_start_time(pid) == start_time


def initial_state() -> dict:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
            "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME,
            "PidStart": None, "MonitorPid": 0, "MonitorStart": None}


@dataclass(frozen=True)
class ContainerRecord:
    """One container as its files say: config.json (the inspect document) and state.json."""

    id: str
    directory: Path
    config: dict
    state: dict

    @property
    def name(self) -> str:
        return self.config["Name"].lstrip("/")

    @property
    def running(self) -> bool:
        return self.state.get("Running", False)


class ContainerStore:
    """All containers under one store root."""

    def __init__(self, root: Path) -> None:
        from pallet.runtime.store.scratch import adopt_temp_home

        self.root = Path(root)
        self.dir = self.root / "containers"
        adopt_temp_home(self.root)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        from pallet.runtime.store.content import private_dir

        private_dir(self.dir)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def scratch(self) -> Path:
        """This process's scratch directory in the store (swept once the process is gone)."""
        from pallet.runtime.store.content import scratch_dir
        return scratch_dir(self.root)

    def ids(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return [e for e in os.listdir(self.dir)
                if len(e) == 64 and (self.dir / e / "config.json").exists()]

    def load(self, container_id: str) -> ContainerRecord:
        directory = self.dir / container_id
        try:
            config = read_json(directory / "config.json")
        except (OSError, ValueError) as error:
            raise ContainerNotFound(f"No such container: {container_id}") from error
        try:
            state = read_json(directory / "state.json")
        except (OSError, ValueError):
            state = initial_state()
        return ContainerRecord(container_id, directory, config, state)

    def all(self) -> list[ContainerRecord]:
        records = []
        for container_id in self.ids():
            try:
                records.append(self.load(container_id))
            except PalletError:
                continue  # removed while we listed
        return records

    def listing(self) -> list[ContainerRecord]:
        """Every container, for reading only: the records' dicts are shared snapshots
        (unchanged files are not parsed again in this process); never modify them."""
        try:
            entries = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        base = f"{self.dir}/"
        records, seen = [], set()
        for entry in entries:
            if len(entry) != 64:
                continue
            directory = base + entry
            try:
                config = _read_shared(directory + "/config.json")
            except (OSError, ValueError):
                continue   # removed while we listed, or not a container (system check's)
            try:
                state = _read_shared(directory + "/state.json")
            except (OSError, ValueError):
                state = initial_state()
            seen.add(directory)
            records.append(ContainerRecord(entry, self.dir / entry, config, state))
        for path in [p for p in _SNAPSHOTS if p.startswith(base)]:
            if path.rsplit("/", 1)[0] not in seen:
                _SNAPSHOTS.pop(path, None)   # removed containers are forgotten
        return records

    def resolve(self, reference: str) -> ContainerRecord:
        """By full ID, unique ID prefix, or name (Docker's lookup order)."""
        ref = reference.strip()
        entries = self._entries()
        if ref in entries and os.path.exists(f"{self.dir}/{ref}/config.json"):
            return self.load(ref)
        for record in self._named_records(ref, self._configs(entries)):
            return record        # the first: reading the rest would cost as much again
        if ref and re.fullmatch(r"[0-9a-f]+", ref):
            matches = [i for i in entries
                       if i.startswith(ref) and os.path.exists(f"{self.dir}/{i}/config.json")]
            if len(matches) == 1:
                return self.load(matches[0])
            if len(matches) > 1:
                raise PalletError(f"multiple IDs found with provided prefix: {ref}")
        raise ContainerNotFound(f"No such container: {reference}")

    def with_name(self, name: str) -> list[ContainerRecord]:
        """The containers named name (a leading "/" ignored): at most one, unless the store
        was edited by hand.

        A name is looked for in the bytes of each config.json, and only a file holding it is
        parsed: a name is [a-zA-Z0-9][a-zA-Z0-9_.-]+, which JSON writes as it is, so the
        document with "Name": "/NAME" holds the bytes NAME". Parsing every record instead cost
        `exec NAME` ~20 ms of its ~95 with 200 containers in the store, and `run` twice that."""
        return list(self._named_records(name, self._configs(None)))

    def _named_records(self, name: str, configs) -> Iterator[ContainerRecord]:
        """The records named name among configs ((ID, config.json's bytes) pairs)."""
        name = name.lstrip("/")
        needle = f'{name}"'.encode() if _PLAIN_NAME.fullmatch(name) else None
        for container_id, data in configs:
            if needle is None or needle in data:
                yield from self._named(container_id, data, name)

    def _entries(self) -> list[str]:
        try:
            return [e for e in os.listdir(self.dir) if len(e) == 64]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _configs(self, entries: list[str] | None) -> Iterator[tuple[str, bytes]]:
        """(ID, config.json's bytes) of every container whose config can be read."""
        for container_id in self._entries() if entries is None else entries:
            try:
                with open(f"{self.dir}/{container_id}/config.json", "rb") as handle:
                    yield container_id, handle.read()
            except OSError:
                continue  # removed while we listed: as all() skips it

    def _named(self, container_id: str, data: bytes, name: str) -> list[ContainerRecord]:
        try:
            config = json.loads(data)
        except ValueError:
            return []    # unreadable: not a container (all() skips it too)
        if config.get("Name", "").lstrip("/") != name:
            return []
        directory = self.dir / container_id
        try:
            state = read_json(directory / "state.json")
        except (OSError, ValueError):
            state = initial_state()
        return [ContainerRecord(container_id, directory, config, state)]

    def new_id(self) -> str:
        return os.urandom(32).hex()

    def check_name_free(self, name: str, *, ignore_id: str | None = None) -> None:
        if not NAME_RE.match(name):
            raise PalletError(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] '
                              "are allowed", exit_code=125)
        for record in self.with_name(name):
            if record.id != ignore_id:
                raise NameConflict(
                    f'Conflict. The container name "/{name.lstrip("/")}" is already in use by '
                    f'container "{record.id}". You have to remove (or rename) that container to '
                    "be able to reuse that name.", exit_code=125)

    def save_config(self, record_id: str, config: dict) -> None:
        write_json(self.dir / record_id / "config.json", config)

    def save_state(self, record_id: str, state: dict) -> None:
        directory = self.dir / record_id
        if directory.is_dir():
            write_json(directory / "state.json", state)

    def update_state(self, record_id: str, **changes) -> dict:
        """Read-modify-write under the container's own lock (monitor and CLI both write)."""
        directory = self.dir / record_id
        try:
            fd = os.open(directory / ".state.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            return dict(initial_state(), **changes)  # removed meanwhile: nothing to record
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state = read_json(directory / "state.json")
            except (OSError, ValueError):
                state = initial_state()
            state.update(changes)
            self.save_state(record_id, state)
            return state
        finally:
            os.close(fd)


ADJECTIVES = ("admiring", "brave", "clever", "dazzling", "eager", "focused", "gallant", "happy",
              "jolly", "keen", "lucid", "modest", "nifty", "optimistic", "peaceful", "quirky",
              "relaxed", "serene", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zen")
SURNAMES = ("albattani", "bohr", "curie", "darwin", "euclid", "feynman", "galileo", "hopper",
            "hypatia", "johnson", "kepler", "lovelace", "meitner", "newton", "noether", "pascal",
            "ritchie", "shannon", "tesla", "turing", "volta", "wozniak", "yalow", "zhukovsky")


def _pick(words: tuple[str, ...]) -> str:
    return words[int.from_bytes(os.urandom(2), "big") % len(words)]


def generate_name(store: ContainerStore) -> str:
    """Docker's adjective_surname; a number is appended once the plain names run short."""
    configs = list(store._configs(None))     # one read of the store for every draw

    def taken(name: str) -> bool:
        return next(store._named_records(name, configs), None) is not None

    for attempt in range(200):
        name = f"{_pick(ADJECTIVES)}_{_pick(SURNAMES)}"
        if attempt >= 100:
            name += str(int.from_bytes(os.urandom(2), "big") % 1000)
        if not taken(name):
            return name
    return f"{_pick(ADJECTIVES)}_{_pick(SURNAMES)}_{os.urandom(4).hex()}"
