"""A container's cgroup namespace: it sees its own cgroup as "/" and nothing beside it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from pallet.runtime.isolation.core import ContainerSpec, run_container, start_container
from tests.runtime.ctr_fixtures import busybox_lower, layer_dirs, leftovers  # noqa: F401

pytestmark = pytest.mark.root

# One cgroup2 tree at /sys/fs/cgroup (a current distribution; tests/vm runs these there), not
# this host's hybrid layout of v1 hierarchies
PURE_V2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()


def spec(lower: Path, dirs: tuple[Path, Path], script: str, **fields) -> ContainerSpec:
    upper, work = dirs
    return ContainerSpec(rootfs_lowerdirs=(lower,), upper_dir=upper, work_dir=work,
                         argv=("/bin/sh", "-c", script), env=("PATH=/bin",), **fields)


def run(container: ContainerSpec) -> tuple[int, str]:
    out: list[bytes] = []
    status = run_container(container, stdout=out.append, stderr=out.append)
    return status.code, b"".join(out).decode()


def test_proc_self_cgroup_shows_the_namespace_root(busybox_lower, layer_dirs):
    code, out = run(spec(busybox_lower, layer_dirs,
                         "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup"))
    namespace, *lines = out.splitlines()
    assert code == 0 and namespace != os.readlink("/proc/self/ns/cgroup")
    host_lines = Path("/proc/self/cgroup").read_text().splitlines()
    assert len(lines) == len(host_lines)
    assert all(line.rsplit(":", 1)[1] == "/" for line in lines), lines


def test_no_other_container_is_visible_under_sys_fs_cgroup(busybox_lower, layer_dirs, tmp_path):
    # a neighbour with a cpu and memory limit has directories in those hierarchies too
    neighbour_dirs = (tmp_path / "nu", tmp_path / "nw")
    for directory in neighbour_dirs:
        directory.mkdir()
    neighbour = start_container(spec(busybox_lower, neighbour_dirs, "sleep 60", cpus=0.5,
                                     memory=64 << 20))
    try:
        name = neighbour.cgroup.name
        assert any(path.is_dir() for path in neighbour.cgroup.dirs.values())
        code, out = run(spec(busybox_lower, layer_dirs,
                             "find /sys/fs/cgroup -mindepth 1 -type d; echo ---; "
                             "cat /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs "
                             "2>/dev/null | sort -un | tr '\\n' ' '; echo; "
                             "grep ' /sys/fs/cgroup' /proc/self/mountinfo"))
    finally:
        neighbour.kill(signal.SIGKILL)
        neighbour.wait()
        neighbour.cgroup.destroy()
    directories, rest = out.split("---\n")
    if PURE_V2:     # one tree mounted at /sys/fs/cgroup: the container's own cgroup, no child
        host = []
    else:           # a directory per v1 hierarchy (and v2's "unified" beside them)
        host = sorted(entry for entry in os.listdir("/sys/fs/cgroup")
                      if not os.path.islink(f"/sys/fs/cgroup/{entry}") and entry != "unified")
    # only the hierarchies themselves: no directory of the host's tree or of a neighbour
    assert sorted(d.rsplit("/", 1)[1] for d in directories.split()) == host
    assert name not in out and "pallet-" not in out
    processes, *lines = rest.splitlines()
    # in every hierarchy only this container's processes (our PID namespace: small numbers)
    assert processes.split() and all(0 < int(pid) < 10 for pid in processes.split()), processes
    mounts = [line.split() for line in lines]
    mounts = [fields for fields in mounts if fields[fields.index("-") + 1] in ("cgroup", "cgroup2")
              and (fields[4] + "/").startswith("/sys/fs/cgroup/")]
    assert mounts, lines
    for fields in mounts:  # every hierarchy is mounted at the namespace root, read-only
        assert fields[3] == "/" and fields[5].startswith("ro,"), fields


def test_cgroup_dirs_exist_in_every_hierarchy_and_go_away(busybox_lower, layer_dirs):
    upper, work = layer_dirs
    # v1: the cpuset the container joined has CPUs (a new v1 cpuset starts empty); pure v2
    # (pallet enables no cpuset there): the container's own cgroup holds its processes
    probe = "cat /sys/fs/cgroup/" + ("cgroup.procs" if PURE_V2 else "cpuset/cpuset.cpus")
    code, out = run(spec(busybox_lower, layer_dirs, probe))
    assert code == 0 and out.strip()
    assert not leftovers(upper, work)
