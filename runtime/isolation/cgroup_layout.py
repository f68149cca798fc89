"""Where this process's cgroups are: the v1 hierarchies and the v2 tree, read from
/proc/self/cgroup and /proc/self/mountinfo.

discover() gives, per controller pallet uses, our own cgroup directory on whichever hierarchy
carries it (the Layout the Cgroup class creates containers under), and every v1 hierarchy under
/sys/fs/cgroup with our own directory in it: each container gets a directory there too, the
root of its cgroup namespace. hierarchy_mounts() says how to mount each hierarchy again from
inside a container's cgroup namespace (rootfs.mount_sys_fs_cgroup).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

WANTED = ("memory", "cpu", "pids", "freezer", "devices")
# what containers' cgroups need enabled on the v2 tree (io: stats' block I/O, io.stat)
V2_CONTROLLERS = ("memory", "cpu", "pids", "io")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# On v2, the leaf a delegated cgroup's own processes move to (see _v2_parent), and the
# cgroup under the root that holds containers when the caller's cgroup cannot.
LEAF = "pallet-leaf"
SHARED_PARENT = "pallet"


@dataclass(frozen=True)
class Layout:
    """Where each controller lives for this process: controller -> our own cgroup directory."""

    v1: dict[str, Path] = field(default_factory=dict)
    unified: Path | None = None
    unified_controllers: frozenset[str] = frozenset()
    # every v1 hierarchy mounted under /sys/fs/cgroup (its directory name) -> our own directory
    hierarchies: dict[str, Path] = field(default_factory=dict)


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
        unified, controllers = _v2_parent(unified, [c for c in V2_CONTROLLERS if c not in v1])
    hierarchies = {name: path for name, path in own_cgroup_dirs().items() if name}
    return Layout(v1=v1, unified=unified, unified_controllers=controllers,
                  hierarchies=hierarchies)


def _v2_parent(own: Path, wanted: list[str]) -> tuple[Path, frozenset[str]]:
    """Where containers' cgroups go on the v2 tree, and the controllers enabled there.

    The kernel lets a non-root cgroup give controllers to its children only while no process
    sits in it ("no internal processes"), and pallet's caller sits in its own cgroup. So:
    - at the root (a container's or a VM's init shell): our own cgroup, controllers enabled;
    - a cgroup whose children already have them (a parent pallet, a prepared delegation): it;
    - a cgroup delegated to us (systemd's Delegate=yes marks it trusted.delegate=1, e.g.
      `systemd-run --scope -p Delegate=yes pallet ...`): its processes (pallet, the CLI that
      started this monitor, a shell it was started from) move into a leaf child, as systemd's
      rules for delegated trees ask of the delegatee, and the controllers are enabled in it;
    - otherwise (a login shell's session scope, a service that is not delegated, which hold
      other processes): <root>/pallet, as Docker's cgroupfs driver uses <root>/docker;
    - when none of that can be written (not root): our own cgroup, without the controllers.
    """
    if own.name == LEAF and _enabled(own.parent) >= set(wanted) & _available(own.parent):
        own = own.parent           # we were moved into the leaf before (or were forked there)
    root = _unified_root(own)
    missing = [c for c in wanted if c in _available(own) and c not in _enabled(own)]
    if own == root or not missing:
        _enable(own, missing)
        return own, frozenset(_enabled(own))
    if _delegated(own):
        try:
            (own / LEAF).mkdir(mode=0o755, exist_ok=True)
            for _ in range(3):   # a process forked meanwhile is moved in the next round
                procs = read_text(own / "cgroup.procs").split()
                if not procs:
                    break
                for pid in procs:
                    _move(own / LEAF, pid)
            _enable(own, missing)
            if set(missing) <= _enabled(own):
                return own, frozenset(_enabled(own))
        except OSError:
            pass
    shared = root / SHARED_PARENT
    try:
        _enable(root, wanted)
        shared.mkdir(mode=0o755, exist_ok=True)
        _enable(shared, wanted)
    except OSError:
        return own, frozenset(_enabled(own))
    return shared, frozenset(_enabled(shared))


def _available(path: Path) -> set[str]:
    return set(read_text(path / "cgroup.controllers").split())


def _enabled(path: Path) -> set[str]:
    return set(read_text(path / "cgroup.subtree_control").split())


def _enable(path: Path, names: list[str]) -> None:
    """Enable what is available of names for path's children (one at a time: a controller
    that cannot be enabled must not keep the others off)."""
    available = _available(path)
    for name in names:
        if name in available and name not in _enabled(path):
            try:
                (path / "cgroup.subtree_control").write_text(f"+{name}")
            except OSError:
                continue


def _move(leaf: Path, pid: str) -> None:
    try:
        (leaf / "cgroup.procs").write_text(pid)
    except ProcessLookupError:
        pass    # it exited meanwhile


def _delegated(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.delegate") == b"1"
    except OSError:
        return False


def find_unified(name: str, within: Path, depth: int = 8) -> Path | None:
    """A container cgroup made by a pallet process whose cgroup differs from ours (another
    login session, a delegated scope): the v2 tree holding `within` is searched for it,
    breadth first (a few hundred directories on a desktop: about a millisecond)."""
    level = [_unified_root(within)]
    for _ in range(depth):
        below = []
        for directory in level:
            try:
                entries = [e for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for entry in entries:
                if entry.name == name:
                    return Path(entry.path)
                below.append(entry.path)
        level = below
        if not level:
            break
    return None


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


def read_text(path: Path) -> str:
    """A control file's text, or "" when it is absent or unreadable."""
    try:
        return path.read_text()
    except OSError:
        return ""


def hierarchy_mounts() -> tuple[bool, list[tuple[str, str]], list[tuple[str, str]]]:
    """How /sys/fs/cgroup is made here, to be made again inside a container's cgroup namespace:
    (pure v2?, [(directory, mount data) per v1 hierarchy], [(symlink, target)] such as
    cpu -> cpu,cpuacct). The mount data keeps only what names the hierarchy (its controllers
    or name=...): mounting an existing hierarchy takes exactly those.
    """
    controllers = set()
    with open("/proc/cgroups") as handle:
        for line in handle:
            if not line.startswith("#"):
                controllers.add(line.split()[0])
    mounts = []
    for fstype, mount_point, _root, opts in _cgroup_mounts():
        if fstype == "cgroup2" and mount_point == CGROUP_ROOT:
            return True, [], []
        if fstype == "cgroup" and mount_point.parent == CGROUP_ROOT:
            keep = sorted(o for o in opts if o in controllers or o.startswith("name="))
            mounts.append((mount_point.name, ",".join(keep)))
    names = {name for name, _ in mounts}
    links = []
    for entry in os.scandir(CGROUP_ROOT):
        if entry.is_symlink() and os.readlink(entry.path) in names:
            links.append((entry.name, os.readlink(entry.path)))
    return False, mounts, sorted(links)
