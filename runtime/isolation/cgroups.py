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
from dataclasses import dataclass, field
from pathlib import Path

from pallet.runtime.isolation import linux

WANTED = ("memory", "cpu", "pids", "freezer", "devices")

# runc's default device rules for Docker containers (libcontainer/specconv AllowedDevices):
# mknod of anything, read/write only of the standard nodes, ptys and tun.
DEFAULT_DEVICE_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",
                        "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",
                        "c 136:* rwm", "c 10:200 rwm")
UNIFIED = "unified"
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
    restrict_devices: bool = False  # v1 devices controller: only DEFAULT_DEVICE_RULES


@dataclass(frozen=True)
class Layout:
    """Where each controller lives for this process: controller -> our own cgroup directory."""

    v1: dict[str, Path] = field(default_factory=dict)
    unified: Path | None = None
    unified_controllers: frozenset[str] = frozenset()


def _cgroup_mounts() -> list[tuple[str, Path, str, set[str]]]:
    """(fstype, mount point, root inside the hierarchy, super options) of cgroup mounts."""
    mounts = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fields = left.split()
            fstype, _source, superopts = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                mounts.append((fstype, Path(fields[4]), fields[3], set(superopts.split(","))))
    return mounts


def discover() -> Layout:
    """Find this process's own cgroup directory for each wanted controller."""
    own_v1: dict[str, str] = {}
    own_v2: str | None = None
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            hier, controllers, path = line.rstrip("\n").split(":", 2)
            if hier == "0" and controllers == "":
                own_v2 = path
            else:
                for name in controllers.split(","):
                    own_v1[name] = path
    v1: dict[str, Path] = {}
    unified: Path | None = None
    for fstype, mount_point, root, opts in _cgroup_mounts():
        if fstype == "cgroup":
            for name in WANTED:
                if name in opts and name in own_v1 and name not in v1:
                    v1[name] = _join(mount_point, root, own_v1[name])
        elif own_v2 is not None and unified is None:
            unified = _join(mount_point, root, own_v2)
    controllers: frozenset[str] = frozenset()
    if unified is not None and unified.is_dir():
        controllers = frozenset(_read(unified / "cgroup.subtree_control").split())
        if unified == _unified_root(unified):
            # At the root we may enable controllers for children ourselves (no process rule).
            available = set(_read(unified / "cgroup.controllers").split())
            missing = [c for c in WANTED if c in available and c not in controllers and c not in v1]
            for name in missing:
                try:
                    (unified / "cgroup.subtree_control").write_text(f"+{name}")
                except OSError:
                    continue
            controllers = frozenset(_read(unified / "cgroup.subtree_control").split())
    return Layout(v1=v1, unified=unified, unified_controllers=controllers)


def own_cgroup_dirs() -> dict[str, Path]:
    """Per v1 hierarchy mounted under /sys/fs/cgroup: its name -> our cgroup dir in it.

    Hybrid/v1 only; on a pure v2 machine returns {"": our v2 dir}. The cgroup2 'unified'
    mount of a hybrid layout is left out, as Docker leaves it out.
    """
    own: dict[str, str] = {}
    v2_path = None
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            hier, controllers, path = line.rstrip("\n").split(":", 2)
            if hier == "0" and controllers == "":
                v2_path = path
            else:
                own[controllers] = path
    result: dict[str, Path] = {}
    base = Path("/sys/fs/cgroup")
    for fstype, mount_point, root, opts in _cgroup_mounts():
        if fstype == "cgroup2" and mount_point == base and v2_path is not None:
            return {"": _join(mount_point, root, v2_path)}
        if fstype != "cgroup" or mount_point.parent != base:
            continue
        key = next((k for k in own if set(k.split(",")) <= opts), None)
        if key is not None:
            result[mount_point.name] = _join(mount_point, root, own[key])
    return result


def _unified_root(path: Path) -> Path:
    for fstype, mount_point, _root, _opts in _cgroup_mounts():
        if fstype == "cgroup2" and (path == mount_point or mount_point in path.parents):
            return mount_point
    return path


def _join(mount_point: Path, root: str, own: str) -> Path:
    # The mount may show a sub-tree (root != "/"); our path is relative to the hierarchy.
    relative = os.path.relpath(own, root) if own.startswith(root) else own.lstrip("/")
    return (mount_point / relative).resolve() if relative != "." else mount_point


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


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
        # pids and freezer always (process tracking, kill-all, pause); memory and cpu only when
        # limited, since every v1 directory costs a mkdir and an rmdir on each run.
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
        # The v2 device controller is eBPF-only: device rules apply on v1 hierarchies alone.
        v2_needed = [c for c in needed if c not in layout.v1 and c != "devices"]
        if layout.unified is not None and (v2_needed or not dirs):
            dirs[UNIFIED] = layout.unified / name
        cgroup = cls(name, dirs, v2=UNIFIED in dirs)
        created: list[Path] = []
        try:
            for path in dict.fromkeys(dirs.values()):
                path.mkdir()
                created.append(path)
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
        return cls(name, dirs, v2=UNIFIED in dirs)

    def apply(self, limits: Limits, layout: Layout) -> None:
        """Write the limits into whichever hierarchy carries each controller."""
        if limits.restrict_devices and "devices" in self.dirs:
            self._write("devices", "devices.deny", "a")
            for rule in DEFAULT_DEVICE_RULES:
                self._write("devices", "devices.allow", rule)
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
            found.update(int(p) for p in _read(path / "cgroup.procs").split())
        return sorted(found)

    # -- state -----------------------------------------------------------------------------
    def oom_killed(self) -> bool:
        """Whether the kernel OOM killer killed a process of this cgroup."""
        if "memory" in self.dirs:
            text = _read(self.dirs["memory"] / "memory.oom_control")
        elif UNIFIED in self.dirs:
            text = _read(self.dirs[UNIFIED] / "memory.events")
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
            return _read(self.dirs["freezer"] / "freezer.state").strip() == "FROZEN"
        if UNIFIED in self.dirs:
            return _read(self.dirs[UNIFIED] / "cgroup.freeze").strip() == "1"
        return False

    def _set_frozen(self, frozen: bool) -> None:
        if "freezer" in self.dirs:
            state = self.dirs["freezer"] / "freezer.state"
            state.write_text("FROZEN" if frozen else "THAWED")
            wanted = "FROZEN" if frozen else "THAWED"
            for _ in range(200):  # v1 freezing is asynchronous: wait until it settles
                if _read(state).strip() == wanted:
                    return
                time.sleep(0.005)
            raise OSError(errno.EBUSY, f"cgroup {self.name} did not reach {wanted}")
        if UNIFIED in self.dirs and (self.dirs[UNIFIED] / "cgroup.freeze").exists():
            (self.dirs[UNIFIED] / "cgroup.freeze").write_text("1" if frozen else "0")
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
    parents = list(layout.v1.values()) + ([layout.unified] if layout.unified else [])
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
            for pid in _read(path / "cgroup.procs").split():
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
