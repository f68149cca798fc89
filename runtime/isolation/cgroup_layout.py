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
CGROUP_ROOT = Path("/sys/fs/cgroup")


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
        controllers = frozenset(read_text(unified / "cgroup.subtree_control").split())
        if unified == _unified_root(unified):
            # At the root we may enable controllers for children ourselves (no process rule).
            available = set(read_text(unified / "cgroup.controllers").split())
            missing = [c for c in WANTED if c in available and c not in controllers and c not in v1]
            for name in missing:
                try:
                    (unified / "cgroup.subtree_control").write_text(f"+{name}")
                except OSError:
                    continue
            controllers = frozenset(read_text(unified / "cgroup.subtree_control").split())
    hierarchies = {name: path for name, path in own_cgroup_dirs().items() if name}
    return Layout(v1=v1, unified=unified, unified_controllers=controllers,
                  hierarchies=hierarchies)


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
