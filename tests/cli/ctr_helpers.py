"""Helpers for container CLI tests: a store with busybox, and leak checks for one container."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_pallet


def pallet(root: Path, *args: str, input: bytes | None = None, timeout: float = 60):
    return run_pallet(*args, root=root, input=input, timeout=timeout)


def out(result) -> str:
    return result.stdout.decode()


def container_leftovers(root: Path, container_id: str) -> list[str]:
    """Mounts, cgroup dirs, processes and state a removed container could leave behind."""
    from pallet.runtime.isolation.cgroups import discover

    found = []
    directory = root / "containers" / container_id
    if directory.exists():
        found.append(str(directory))
    with open("/proc/self/mountinfo") as handle:
        found += [line.strip() for line in handle if container_id[:16] in line or str(directory) in line]
    layout = discover()
    for parent in set(list(layout.v1.values()) + list(layout.hierarchies.values())
                      + ([layout.unified] if layout.unified else [])):
        if (parent / f"pallet-{container_id[:16]}").exists():
            found.append(str(parent / f"pallet-{container_id[:16]}"))
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if str(directory) in os.readlink(f"/proc/{entry}/cwd"):
                    found.append(f"process {entry}")
            except OSError:
                continue
    return found


def remove_all_containers(root: Path) -> None:
    """Test teardown: force-remove every container of this store, so a failed assertion
    never leaves a container (and its monitor) running after the test."""
    listed = pallet(root, "ps", "-a", "-q", "--no-trunc")
    ids = out(listed).split()
    if ids:
        pallet(root, "rm", "-f", "-v", *ids)
