"""The engine's event log: what happened to containers, images, volumes and networks.

    record_event(root, type_, action, actor_id, attributes=None)     append one event
    container_event(root, record, action, **extra)                   with Docker's attributes
    read_events(root) -> list[dict]                                  every kept event, oldest first
    matches(event, filters) -> bool                                  Docker's events filters

Events are Docker's events.Message documents, one JSON line each in ROOT/events.log, written
with a single O_APPEND write so concurrent pallet processes never interleave a line. The CLI's
`events` and the Engine API's GET /events read the same file. The log is bounded: past 4 MiB
it is rewritten (under a lock, atomically) keeping its newer half; Docker keeps events in memory
only, so keeping a bounded history is already more than it offers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

LOG = "events.log"
LIMIT = 4 * 1024 * 1024
LEGACY_TYPES = ("container", "image")   # Docker still fills status/id/from for these


def record_event(root: Path, type_: str, action: str, actor_id: str,
                 attributes: dict | None = None, from_: str | None = None) -> None:
    """Append one event. Never fails the operation it reports: a store that cannot take the
    line (full disk, read-only) loses the event, not the user's command."""
    now = time.time_ns()
    event: dict = {}
    if type_ in LEGACY_TYPES:
        event["status"] = action
        event["id"] = actor_id
        if from_:
            event["from"] = from_
    event.update({"Type": type_, "Action": action,
                  "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
                  "scope": "local", "time": now // 1_000_000_000, "timeNano": now})
    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    path = Path(root) / LOG
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line)
        size = os.fstat(fd).st_size
    except OSError:
        return
    finally:
        os.close(fd)
    if size > LIMIT:
        _compact(path)


def _compact(path: Path) -> None:
    with _locked(path):
        try:
            data = path.read_bytes()
        except OSError:
            return
        if len(data) <= LIMIT:
            return
        keep = data[len(data) // 2:]
        keep = keep[keep.find(b"\n") + 1:]
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        temp.write_bytes(keep)
        os.chmod(temp, 0o600)
        os.replace(temp, path)


@contextlib.contextmanager
def _locked(path: Path):
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def container_event(root: Path, record, action: str, **extra) -> None:
    """A container event with Docker's attributes: its labels, image and name (and extra)."""
    config = record.config
    attributes = dict(config.get("Config", {}).get("Labels") or {})
    attributes["image"] = config.get("Config", {}).get("Image", "")
    attributes["name"] = config.get("Name", "").lstrip("/")
    attributes.update({k: str(v) for k, v in extra.items()})
    record_event(root, "container", action, record.id, attributes,
                 from_=attributes["image"])


def exec_event(root: Path, record, action: str, exec_id: str, command=(), **extra) -> None:
    """exec_create / exec_start carry the command in the action ("exec_create: cat " for
    ["cat"]: dockerd joins Entrypoint, a space, then the arguments), exec_die the exit code."""
    if action != "exec_die":
        action = f"{action}: {command[0] if command else ''} {' '.join(command[1:])}"
    container_event(root, record, action, execID=exec_id, **extra)


def volume_events(root: Path, container_id: str, mounts: list[dict], action: str) -> None:
    """mount (at each start) / unmount (at each exit) of the container's volumes, as dockerd
    logs them; bind mounts have none."""
    for mount in mounts:
        if mount.get("Type") != "volume" or not mount.get("Name"):
            continue
        attributes = {"container": container_id, "driver": mount.get("Driver") or "local"}
        if action == "mount":
            attributes.update({"destination": mount.get("Destination", ""),
                               "propagation": mount.get("Propagation", ""),
                               "read/write": "true" if mount.get("RW", True) else "false"})
        record_event(root, "volume", action, mount["Name"], attributes)


def read_events(root: Path) -> list[dict]:
    try:
        with open(Path(root) / LOG, "rb") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue   # a line cut by a crash: skipped, the rest is good
        if isinstance(event, dict) and isinstance(event.get("timeNano"), int):
            events.append(event)
    return events


def matches(event: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's events filters: values of one key are alternatives, keys must all hold."""
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    kind = event.get("Type", "")

    def named(values: list[str], wanted_type: str) -> bool:
        if kind != wanted_type:
            return False
        return any(actor.get("ID", "").startswith(v) or attributes.get("name") == v
                   for v in values)

    for key, values in filters.items():
        if key == "type" and kind not in values:
            return False
        if key == "event" and event.get("Action", "").split(":")[0] not in values:
            return False
        if key in ("container", "volume", "network") and not named(values, key):
            return False
        if key == "image":
            image = attributes.get("image", "") if kind == "container" else actor.get("ID", "")
            if not any(image == v or image.startswith(v) or attributes.get("name") == v
                       for v in values):
                return False
        if key == "label":
            for value in values:
                name, sep, wanted = value.partition("=")
                if name not in attributes or (sep and attributes[name] != wanted):
                    return False
        if key == "scope" and event.get("scope") not in values:
            return False
    return True


def follow_events(root: Path, *, since_ns: int | None = None, until_ns: int | None = None,
                  filters: dict[str, list[str]] | None = None, stop=None,
                  poll: float = 0.1):
    """The events after since (from now when None) that match filters, as they are written,
    until until passes (forever when None, or until stop() says so). Reads only what was
    appended since the last look; a compaction (a new file) is read again from its start."""
    filters = filters or {}
    # Appended lines are new whatever their stamp (processes race to append); only the
    # first read (since) and a re-read after a compaction skip by time.
    floor = since_ns if since_ns is not None else time.time_ns()
    newest = floor - 1
    path = Path(root) / LOG
    inode, offset, pending = None, 0, b""
    while True:
        try:
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())
                if info.st_ino != inode or info.st_size < offset:
                    if inode is not None:
                        floor = newest + 1   # compacted: what we saw is in the new file too
                    inode, offset, pending = info.st_ino, 0, b""
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        offset += len(data)
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict) or not isinstance(event.get("timeNano"), int):
                continue
            stamp = event["timeNano"]
            if stamp < floor or (until_ns is not None and stamp > until_ns):
                continue
            newest = max(newest, stamp)
            if matches(event, filters):
                yield event
        if until_ns is not None and time.time_ns() > until_ns:
            return
        if stop is not None and stop():
            return
        time.sleep(poll)
