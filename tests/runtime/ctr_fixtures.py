"""Fixtures for container runtime tests (imported by the test modules): a busybox root filesystem and fresh upper/work dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.runtime.busybox_rootfs import make_busybox_rootfs


@pytest.fixture(scope="session")
def busybox_lower(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def layer_dirs(tmp_path: Path) -> tuple[Path, Path]:
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    return upper, work


def leftovers(*paths: Path) -> list[str]:
    """Mounts naming any of paths, and run_container cgroups owned by this process."""
    from pallet.runtime.isolation.cgroups import discover

    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            if any(str(p) in line for p in paths):
                found.append(line.strip())
    layout = discover()
    parents = (list(layout.v1.values()) + list(layout.hierarchies.values())
               + ([layout.unified] if layout.unified else []))
    prefix = f"pallet-run-{os.getpid()}-"
    for parent in set(parents):
        found += [str(parent / e) for e in os.listdir(parent) if e.startswith(prefix)]
    return found
