"""Per-container cgroups: nested under our own cgroup, limits, freeze, OOM flag, cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from pallet.runtime.isolation.cgroups import (NAMESPACE_ONLY, Cgroup, Layout, Limits, discover,
                                              sweep_stale)

pytestmark = pytest.mark.root


def _own_paths() -> dict[str, str]:
    own = {}
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.strip().split(":", 2)
        for name in controllers.split(","):
            own[name] = path
    return own


def _name(tag: str) -> str:
    return f"pallet-test-{tag}-{os.getpid()}-{os.urandom(3).hex()}"


def test_cgroups_are_created_beneath_our_own_cgroup_per_controller():
    layout = discover()
    own = _own_paths()
    assert layout.v1 or layout.unified
    for controller, directory in layout.v1.items():
        assert str(directory).endswith(own[controller].rstrip("/")) or own[controller] == "/"
    cgroup = Cgroup.create(_name("nest"))
    try:
        for key, directory in cgroup.dirs.items():
            if key.startswith(NAMESPACE_ONLY):  # only the root of its cgroup namespace
                parent = layout.hierarchies[key[len(NAMESPACE_ONLY):]]
            else:
                parent = layout.v1.get(key) or layout.unified
            assert directory.parent == parent and directory.is_dir()
        # one in every hierarchy, so the container's cgroup namespace is rooted at its own
        assert {d.parent for d in cgroup.dirs.values()} >= set(layout.hierarchies.values())
    finally:
        cgroup.destroy()
    assert not any(d.exists() for d in cgroup.dirs.values())


def test_limits_are_written_in_kernel_units():
    cgroup = Cgroup.create(_name("limits"), Limits(memory=64 << 20, cpus=1.5, pids=42))
    try:
        if "memory" in cgroup.dirs:
            assert (cgroup.dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
            memsw = cgroup.dirs["memory"] / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                assert memsw.read_text().strip() == str(128 << 20)  # Docker: swap = memory again
        if "cpu" in cgroup.dirs:
            assert (cgroup.dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "150000"
        if "pids" in cgroup.dirs:
            assert (cgroup.dirs["pids"] / "pids.max").read_text().strip() == "42"
    finally:
        cgroup.destroy()


def test_freeze_thaw_and_kill_all_for_a_process_we_started():
    cgroup = Cgroup.create(_name("freeze"))
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        cgroup.add(sleeper.pid)
        assert cgroup.pids() == [sleeper.pid]
        cgroup.freeze()
        assert cgroup.frozen()
        state = open(f"/proc/{sleeper.pid}/stat").read().split(") ")[1].split()[0]
        assert state in ("D", "S", "T")
        cgroup.thaw()
        assert not cgroup.frozen()
        cgroup.destroy()
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        sleeper.kill()
        sleeper.wait()
        cgroup.destroy()
    assert not any(d.exists() for d in cgroup.dirs.values())


def test_v2_freeze_returns_once_every_process_is_frozen():
    """On the v2 tree (this host's unified hierarchy, as on a pure v2 machine) writing
    cgroup.freeze returns before the processes stop: freeze() used to return then, with busy
    processes still running (pause in the v2 VM, tests/vm); it now waits for cgroup.events."""
    unified = discover().unified
    assert unified is not None, "no cgroup v2 tree mounted on this host"
    cgroup = Cgroup.create(_name("v2freeze"), Limits(), Layout(unified=unified))
    busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(4)]
    try:
        for process in busy:
            cgroup.add(process.pid)
        events = cgroup.dirs["unified"] / "cgroup.events"
        cgroup.freeze()
        states = [open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0] for p in busy]
        assert "frozen 1" in events.read_text().splitlines() and "R" not in states, states
        cgroup.thaw()
        assert "frozen 0" in events.read_text().splitlines() and not cgroup.frozen()
    finally:
        for process in busy:
            process.kill()
            process.wait()
        cgroup.destroy()


def test_oom_flag_is_set_when_the_kernel_kills_inside():
    cgroup = Cgroup.create(_name("oom"), Limits(memory=16 << 20, memory_swap=16 << 20))
    hog = subprocess.Popen(["sh", "-c", "read x; exec tail /dev/zero"], stdin=subprocess.PIPE)
    try:
        cgroup.add(hog.pid)
        assert not cgroup.oom_killed()
        hog.stdin.write(b"go\n")
        hog.stdin.close()
        assert hog.wait(timeout=30) == -signal.SIGKILL
        assert cgroup.oom_killed()
    finally:
        hog.kill()
        hog.wait()
        cgroup.destroy()


def test_sweep_removes_empty_cgroups_of_dead_owners_only():
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Cgroup.create(f"pallet-sweep-{dead.pid}-x{os.urandom(2).hex()}")
    live = Cgroup.create(f"pallet-sweep-{os.getpid()}-x{os.urandom(2).hex()}")
    try:
        removed = sweep_stale("pallet-sweep-")
        assert all(not d.exists() for d in stale.dirs.values())
        assert all(d.is_dir() for d in live.dirs.values())
        assert set(map(str, stale.dirs.values())) <= set(removed)
    finally:
        stale.destroy()
        live.destroy()
