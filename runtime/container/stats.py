"""A container's resource use, read from its cgroups (v1 or v2) and its network namespace.

    Sampler().take(records) -> list[Sample]  one reading each (zeros for one not running)
    stats_row(record, before, after) -> dict docker stats' columns, CPU % over the two samples

Every cgroup directory the container has is searched for each file (a controller lives on a v1
hierarchy, or in the unified tree, and the container joins every hierarchy), so the same code
reads a hybrid machine like this one and a pure v2 one. Memory usage is Docker's: usage minus
the inactive file cache (total_inactive_file on v1, inactive_file on v2); the limit is the
cgroup's, or the machine's memory when the cgroup has none.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from pallet.base.humanize import human_size, human_size_binary

UNLIMITED = 1 << 62


@dataclass(frozen=True)
class Sample:
    when_ns: int = 0
    cpu_ns: int = 0           # the container's CPU time
    system_ns: int = 0        # the machine's CPU time (all CPUs), as /proc/stat counts it
    memory: int = 0
    memory_limit: int = 0
    pids: int = 0
    block_read: int = 0
    block_write: int = 0
    net_rx: int = 0
    net_tx: int = 0
    online_cpus: int = 1


class _Files:
    """One container's cgroup directories, asked for a file the likely one first (the
    controller its name starts with, then the unified tree), remembering where each was found:
    the second reading of a round opens only files that exist."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self.found: dict[str, str | None] = {}

    def _candidates(self, name: str) -> list[Path]:
        prefix = name.split(".", 1)[0]
        first = [self.dirs.get(key) for key in (prefix, f"ns:{prefix}", "unified")]
        ordered = [d for d in first if d is not None]
        return list(dict.fromkeys(ordered + list(self.dirs.values())))

    def read(self, name: str) -> str | None:
        if name in self.found:
            path = self.found[name]
            if path is None:
                return None
            try:
                with open(path) as handle:
                    return handle.read()
            except OSError:
                pass    # moved meanwhile: search again
        for directory in self._candidates(name):
            path = f"{directory}/{name}"
            try:
                with open(path) as handle:
                    text = handle.read()
            except OSError:
                continue
            self.found[name] = path
            return text
        self.found[name] = None
        return None


def _read(files: _Files, name: str) -> str | None:
    return files.read(name)


def _keyed(text: str | None) -> dict[str, int]:
    found = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            found[parts[0]] = int(parts[1])
    return found


def _system_ns() -> int:
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:8]
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(v) for v in fields) * 1_000_000_000 // ticks


def _machine_memory() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _block_io(dirs: _Files) -> tuple[int, int]:
    read = write = 0
    text = _read(dirs, "blkio.throttle.io_service_bytes_recursive") or \
        _read(dirs, "blkio.throttle.io_service_bytes")
    if text is not None:
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in ("Read", "Write"):
                if parts[1] == "Read":
                    read += int(parts[2])
                else:
                    write += int(parts[2])
        return read, write
    for line in (_read(dirs, "io.stat") or "").splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                write += int(value)
    return read, write


def _network(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as handle:
            lines = handle.readlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, data = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = data.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


class Sampler:
    """Readings of many containers: the cgroup layout, their directories and the machine's
    memory are looked up once, /proc/stat once per round."""

    def __init__(self) -> None:
        from pallet.runtime.isolation.cgroup_layout import discover
        self.layout = discover()
        self.machine = _machine_memory()
        self.dirs: dict[str, _Files] = {}

    def _dirs(self, record) -> _Files:
        from pallet.runtime.isolation.cgroups import Cgroup
        if record.id not in self.dirs:
            cgroup = Cgroup.attach(f"pallet-{record.id[:16]}", self.layout)
            self.dirs[record.id] = _Files(cgroup.dirs)
        return self.dirs[record.id]

    def take(self, records) -> list[Sample]:
        system = _system_ns()
        return [self._one(record, system) for record in records]

    def _one(self, record, system_ns: int) -> Sample:
        if not running_now(record):
            return Sample()
        dirs = self._dirs(record)
        cpu = _read(dirs, "cpuacct.usage")
        cpu_ns = int(cpu) if cpu and cpu.strip().isdigit() else \
            _keyed(_read(dirs, "cpu.stat")).get("usage_usec", 0) * 1000
        usage_text = _read(dirs, "memory.usage_in_bytes") or _read(dirs, "memory.current") or "0"
        memory_stat = _keyed(_read(dirs, "memory.stat"))
        usage = int(usage_text)
        inactive = memory_stat.get("total_inactive_file", memory_stat.get("inactive_file", 0))
        if inactive < usage:
            usage -= inactive
        limit_text = (_read(dirs, "memory.limit_in_bytes") or _read(dirs, "memory.max")
                      or "max").strip()
        limit = int(limit_text) if limit_text.isdigit() else UNLIMITED
        pids = _read(dirs, "pids.current")
        read, write = _block_io(dirs)
        rx, tx = (0, 0) if record.config["HostConfig"].get("NetworkMode") == "host" else \
            _network(record.state.get("Pid") or 0)
        return Sample(when_ns=time.monotonic_ns(), cpu_ns=cpu_ns, system_ns=system_ns,
                      memory=usage,
                      memory_limit=min(limit, self.machine) if self.machine else limit,
                      pids=int(pids) if pids and pids.strip().isdigit() else 0,
                      block_read=read, block_write=write, net_rx=rx, net_tx=tx,
                      online_cpus=os.cpu_count() or 1)


def running_now(record) -> bool:
    """A view's question, answered without correcting the record (any command that changes
    state does that, lifecycle.refresh): does its process still run?"""
    from pallet.runtime.container.state import alive
    state = record.state
    return bool(state.get("Running")) and alive(state.get("Pid", 0), state.get("PidStart"))


def stats_row(record, before: Sample, after: Sample, reference: str | None = None) -> dict:
    """docker stats' columns (formatter statsContext fields) for one container."""
    cpu_percent = 0.0
    system_delta = after.system_ns - before.system_ns
    cpu_delta = after.cpu_ns - before.cpu_ns
    if system_delta > 0 and cpu_delta > 0:
        cpu_percent = cpu_delta / system_delta * after.online_cpus * 100.0
    memory_percent = after.memory / after.memory_limit * 100.0 if after.memory_limit else 0.0
    return {
        "Container": reference or record.id[:12], "ID": record.id[:12], "Name": record.name,
        "CPUPerc": f"{cpu_percent:.2f}%",
        "MemUsage": f"{human_size_binary(after.memory)} / {human_size_binary(after.memory_limit)}",
        "MemPerc": f"{memory_percent:.2f}%",
        "NetIO": f"{human_size(after.net_rx)} / {human_size(after.net_tx)}",
        "BlockIO": f"{human_size(after.block_read)} / {human_size(after.block_write)}",
        "PIDs": str(after.pids),
    }
