"""Per-container cgroups on cgroup v2, v1 or a hybrid of both.

Every container cgroup is created *beneath* the cgroup this process already sits in, per
controller, as read from /proc/self/cgroup; nothing is ever moved out of its cgroup and only
the container's own processes are moved in (they join themselves by writing "0").

A Cgroup is a set of directories, one per controller we use (memory, cpu, pids, freezer), each
on whichever hierarchy carries that controller here: a v1 hierarchy when one is mounted for it,
else the v2 unified hierarchy when the controller is enabled for our subtree. On a pure v2
machine that is one directory; on this hybrid machine it is one per v1 hierarchy.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from pallet.runtime.isolation import linux
from pallet.runtime.isolation.cgroup_layout import (WANTED, Layout, discover,  # noqa: F401
                                                   find_unified, own_cgroup_dirs, read_text)

# runc's default device rules for Docker containers (libcontainer/specconv AllowedDevices):
# mknod of anything, read/write only of the standard nodes, ptys and tun.
DEFAULT_DEVICE_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",
                        "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",
                        "c 136:* rwm", "c 10:200 rwm")
UNIFIED = "unified"
NAMESPACE_ONLY = "ns:"  # key prefix of directories that only root the cgroup namespace
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    """Resource limits in the units the kernel takes. None means unlimited.

    memory_swap is Docker's --memory-swap: memory plus swap, -1 for unlimited swap.
    """

    memory: int | None = None
    memory_swap: int | None = None
    cpus: float | None = None
    pids: int | None = None
    restrict_devices: bool = False  # only DEFAULT_DEVICE_RULES (v1 devices controller, v2 eBPF)


class Cgroup:
    """One container's cgroup: a directory per controller (see module doc)."""

    def __init__(self, name: str, dirs: dict[str, Path], v2: bool) -> None:
        self.name = name
        self.dirs = dirs  # controller (or "unified") -> directory
        self.v2 = v2

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, limits: Limits = Limits(), layout: Layout | None = None) -> "Cgroup":
        """Create the cgroup directories under our own cgroups and apply the limits."""
        layout = layout or discover()
        dirs: dict[str, Path] = {}
        # pids and freezer always (process tracking, kill-all, pause); memory, cpu and devices
        # as controllers only when limited (their control files are written only then).
        needed = {"pids", "freezer"}
        if limits.memory is not None or limits.memory_swap is not None:
            needed.add("memory")
        if limits.cpus is not None:
            needed.add("cpu")
        if limits.restrict_devices:
            needed.add("devices")
        for controller, parent in layout.v1.items():
            if controller in needed:
                dirs[controller] = parent / name
        # The v2 tree gets one whether or not a controller is used there, and so does every
        # other v1 hierarchy, as Docker makes them: the container's cgroup namespace is rooted
        # at the cgroups it joins, so in each it sees only its own.
        if layout.unified is not None:
            dirs[UNIFIED] = layout.unified / name
        taken = set(dirs.values())
        for hierarchy, parent in layout.hierarchies.items():
            if parent / name not in taken:
                dirs[f"{NAMESPACE_ONLY}{hierarchy}"] = parent / name
        cgroup = cls(name, dirs, v2=UNIFIED in dirs)
        created: list[Path] = []
        try:
            for path in dict.fromkeys(dirs.values()):
                path.mkdir()
                created.append(path)
                # runc's 0755, not what the caller's umask leaves (0777 would let any user
                # make cgroups inside it, and this one could no longer be removed)
                os.chmod(path, 0o755)
                _inherit_cpuset(path)
            cgroup.apply(limits, layout)
        except BaseException:
            for path in reversed(created):
                _rmdir(path)
            raise
        return cgroup

    @classmethod
    def attach(cls, name: str, layout: Layout | None = None) -> "Cgroup":
        """Re-open an existing container cgroup by name (from another pallet process)."""
        layout = layout or discover()
        dirs = {c: p / name for c, p in layout.v1.items() if (p / name).is_dir()}
        if layout.unified is not None and (layout.unified / name).is_dir():
            dirs[UNIFIED] = layout.unified / name
        elif layout.unified is not None and not layout.v1 and not layout.hierarchies:
            # Pure v2: a pallet process in another cgroup (a login session, a delegated
            # scope) may have made it elsewhere in the tree.
            found = find_unified(name, layout.unified)
            if found is not None:
                dirs[UNIFIED] = found
        taken = set(dirs.values())
        for hierarchy, parent in layout.hierarchies.items():
            if parent / name not in taken and (parent / name).is_dir():
                dirs[f"{NAMESPACE_ONLY}{hierarchy}"] = parent / name
        return cls(name, dirs, v2=UNIFIED in dirs)

    def apply(self, limits: Limits, layout: Layout) -> None:
        """Write the limits into whichever hierarchy carries each controller."""
        if limits.restrict_devices and "devices" in self.dirs:
            self._write("devices", "devices.deny", "a")
            for rule in DEFAULT_DEVICE_RULES:
                self._write("devices", "devices.allow", rule)
        elif limits.restrict_devices and UNIFIED in self.dirs:
            # v2 has no devices controller: the same rules as an eBPF program (runc's way)
            from pallet.runtime.isolation import devfilter
            devfilter.attach(self.dirs[UNIFIED], DEFAULT_DEVICE_RULES)
        if limits.memory is not None or limits.memory_swap is not None:
            self._apply_memory(limits)
        if limits.cpus is not None:
            quota = max(1000, int(limits.cpus * CFS_PERIOD_US))
            if "cpu" in self.dirs:
                self._write("cpu", "cpu.cfs_period_us", str(CFS_PERIOD_US))
                self._write("cpu", "cpu.cfs_quota_us", str(quota))
            else:
                self._write_v2("cpu", "cpu.max", f"{quota} {CFS_PERIOD_US}", layout)
        if limits.pids is not None:
            value = "max" if limits.pids <= 0 else str(limits.pids)
            if "pids" in self.dirs:
                self._write("pids", "pids.max", value)
            else:
                self._write_v2("pids", "pids.max", value, layout)

    def _apply_memory(self, limits: Limits) -> None:
        memory = limits.memory
        swap = limits.memory_swap
        if swap is None and memory is not None:
            swap = memory * 2  # Docker: --memory alone allows as much swap again
        if "memory" in self.dirs:
            if memory is not None:
                self._write("memory", "memory.limit_in_bytes", str(memory))
            memsw = self.dirs["memory"] / "memory.memsw.limit_in_bytes"
            if swap is not None and memsw.exists():
                memsw.write_text(str(-1 if swap < 0 else swap))
        elif UNIFIED in self.dirs:
            if memory is not None:
                (self.dirs[UNIFIED] / "memory.max").write_text(str(memory))
            swap_file = self.dirs[UNIFIED] / "memory.swap.max"
            if swap is not None and memory is not None and swap_file.exists():
                swap_file.write_text("max" if swap < 0 else str(max(0, swap - memory)))
        else:
            raise OSError(errno.ENOTSUP, "the memory cgroup controller is not available here")

    def _write(self, controller: str, filename: str, value: str) -> None:
        (self.dirs[controller] / filename).write_text(value)

    def _write_v2(self, controller: str, filename: str, value: str, layout: Layout) -> None:
        if UNIFIED not in self.dirs or controller not in layout.unified_controllers:
            raise OSError(errno.ENOTSUP, f"the {controller} cgroup controller is not available here")
        (self.dirs[UNIFIED] / filename).write_text(value)

    # -- membership ------------------------------------------------------------------------
    def join_self(self) -> None:
        """Move the calling process in ("0" means the writer itself, in any PID namespace)."""
        for path in dict.fromkeys(self.dirs.values()):
            (path / "cgroup.procs").write_text("0")

    def add(self, pid: int) -> None:
        for path in dict.fromkeys(self.dirs.values()):
            (path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in dict.fromkeys(self.dirs.values()):
            found.update(int(p) for p in read_text(path / "cgroup.procs").split())
        return sorted(found)

    # -- state -----------------------------------------------------------------------------
    def oom_killed(self) -> bool:
        """Whether the kernel OOM killer killed a process of this cgroup."""
        if "memory" in self.dirs:
            text = read_text(self.dirs["memory"] / "memory.oom_control")
        elif UNIFIED in self.dirs:
            text = read_text(self.dirs[UNIFIED] / "memory.events")
        else:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
        return False

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def frozen(self) -> bool:
        if "freezer" in self.dirs:
            return read_text(self.dirs["freezer"] / "freezer.state").strip() == "FROZEN"
        if UNIFIED in self.dirs:
            return read_text(self.dirs[UNIFIED] / "cgroup.freeze").strip() == "1"
        return False

    def _set_frozen(self, frozen: bool) -> None:
        if "freezer" in self.dirs:
            state = self.dirs["freezer"] / "freezer.state"
            state.write_text("FROZEN" if frozen else "THAWED")
            wanted = "FROZEN" if frozen else "THAWED"
            for _ in range(200):  # v1 freezing is asynchronous: wait until it settles
                if read_text(state).strip() == wanted:
                    return
                time.sleep(0.005)
            raise OSError(errno.EBUSY, f"cgroup {self.name} did not reach {wanted}")
        if UNIFIED in self.dirs and (self.dirs[UNIFIED] / "cgroup.freeze").exists():
            directory = self.dirs[UNIFIED]
            (directory / "cgroup.freeze").write_text("1" if frozen else "0")
            # v2 freezing is asynchronous too: the write returns while the processes still
            # run until each reaches the freezer's trap; cgroup.events says when all have (as
            # runc waits for it). Found in the pure v2 VM (tests/vm): pause returned with the
            # container's processes still running.
            wanted = f"frozen {int(frozen)}"
            deadline = time.monotonic() + 10.0
            while wanted not in read_text(directory / "cgroup.events").splitlines():
                if time.monotonic() > deadline:
                    if frozen:     # not left half-frozen behind an error
                        (directory / "cgroup.freeze").write_text("0")
                    raise OSError(errno.EBUSY, f"cgroup {self.name} did not reach {wanted}")
                time.sleep(0.005)
            return
        raise OSError(errno.ENOTSUP, "no freezer cgroup controller is available here")

    # -- cleanup ---------------------------------------------------------------------------
    def kill_all(self) -> None:
        """SIGKILL every process still inside (all of them are the container's own)."""
        if self.frozen():
            self.thaw()
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue

    def destroy(self) -> None:
        """Kill what is left and remove every directory; safe to call twice."""
        for _ in range(400):
            if not self.pids():
                break
            self.kill_all()
            time.sleep(0.005)
        for path in dict.fromkeys(self.dirs.values()):
            _rmdir(path)


def _inherit_cpuset(path: Path) -> None:
    """A new v1 cpuset starts with no CPUs and no memory nodes, and nothing can join it until
    it has some: give it its parent's (runc does the same)."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = path / name
        if mine.exists() and not read_text(mine).strip():
            mine.write_text(read_text(path.parent / name).strip() or "\n")


def _rmdir(path: Path) -> None:
    # The kernel may briefly report EBUSY while the last task's exit is being accounted.
    for _ in range(400):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise
            time.sleep(0.005)
    path.rmdir()


def sweep_stale(prefix: str, layout: Layout | None = None) -> list[str]:
    """Remove cgroups named <prefix><owner pid>-... whose owner process is gone.

    run_container names its cgroups after the calling process, so a caller that was SIGKILLed
    (the one thing cleanup code cannot catch) leaves a directory the next run removes, first
    killing any process still inside (only pallet's containers are ever put in these).
    """
    layout = layout or discover()
    removed = []
    parents = (list(layout.v1.values()) + list(layout.hierarchies.values())
               + ([layout.unified] if layout.unified else []))
    for parent in dict.fromkeys(parents):
        try:
            entries = [e for e in os.listdir(parent) if e.startswith(prefix)]
        except OSError:
            continue
        for entry in entries:
            owner = entry[len(prefix):].split("-", 1)[0]
            if not owner.isdigit() or linux.pid_exists(int(owner)):
                continue
            path = Path(parent) / entry
            for pid in read_text(path / "cgroup.procs").split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    continue
            try:
                _rmdir(path)
                removed.append(str(path))
            except OSError:
                continue
    return removed
