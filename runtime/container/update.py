"""docker update: a container's memory, CPU and PIDs limits and restart policy, changed in its
config and, while it runs, in its cgroups.

    update_container(root, reference, *, memory=None, memory_swap=None, cpus=None, pids=None,
                     restart=None) -> ContainerRecord

Docker's rules and words (daemon/update.go, container_unix.go UpdateContainer): a memory limit
above the recorded memory+swap limit needs --memory-swap with it; a restart policy cannot be
given to an --rm container; the kernel's refusal (a limit below what the container uses and
cannot give back) is reported with the file it refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.container import state as cs


def _cgroup_dirs(record) -> dict[str, Path]:
    """controller -> the container's directory for it, whichever hierarchy carries it."""
    from pallet.runtime.isolation.cgroups import NAMESPACE_ONLY, UNIFIED, Cgroup
    found: dict[str, Path] = {}
    for key, path in Cgroup.attach(f"pallet-{record.id[:16]}").dirs.items():
        names = key[len(NAMESPACE_ONLY):].split(",") if key.startswith(NAMESPACE_ONLY) else [key]
        for name in names:
            found.setdefault(name, path)
    if UNIFIED in found:
        found.setdefault("v2", found[UNIFIED])
    return found


def _write(record, path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as error:
        raise PalletError(f'Cannot update container {record.id}: failed to write "{value}" to '
                          f'"{path}": write {path}: {os.strerror(error.errno or 0).lower()}'
                          ) from error


def _apply(record, memory: int, swap: int, cpus: float, pids: int | None) -> None:
    dirs = _cgroup_dirs(record)
    if "memory" in dirs and (dirs["memory"] / "memory.limit_in_bytes").exists():
        limit_file = dirs["memory"] / "memory.limit_in_bytes"
        memsw_file = dirs["memory"] / "memory.memsw.limit_in_bytes"
        limit = str(memory) if memory > 0 else "-1"
        memsw = str(swap) if swap > 0 else "-1"
        writes = [(limit_file, limit)] + ([(memsw_file, memsw)] if memsw_file.exists() else [])
        current = int(limit_file.read_text() or 0)
        if memory <= 0 or memory > current:        # growing: memory+swap first (kernel's order)
            writes.reverse()
        for path, value in writes:
            _write(record, path, value)
    elif "v2" in dirs and (dirs["v2"] / "memory.max").exists():
        _write(record, dirs["v2"] / "memory.max", str(memory) if memory > 0 else "max")
        if (dirs["v2"] / "memory.swap.max").exists():
            _write(record, dirs["v2"] / "memory.swap.max",
                   "max" if swap <= 0 else str(max(0, swap - memory)))
    period = 100_000
    quota = int(cpus * period) if cpus > 0 else -1
    if "cpu" in dirs and (dirs["cpu"] / "cpu.cfs_quota_us").exists():
        _write(record, dirs["cpu"] / "cpu.cfs_period_us", str(period))
        _write(record, dirs["cpu"] / "cpu.cfs_quota_us", str(quota))
    elif "v2" in dirs and (dirs["v2"] / "cpu.max").exists():
        _write(record, dirs["v2"] / "cpu.max", f"{quota if quota > 0 else 'max'} {period}")
    if pids is not None:
        target = dirs.get("pids") or dirs.get("v2")
        if target is not None and (target / "pids.max").exists():
            _write(record, target / "pids.max", "max" if pids <= 0 else str(pids))


def update_container(root: Path, reference: str, *, memory: int | None = None,
                     memory_swap: int | None = None, cpus: float | None = None,
                     pids: int | None = None, restart: str | None = None) -> cs.ContainerRecord:
    from pallet.runtime.container.config import parse_restart
    from pallet.runtime.container.lifecycle import get, refresh
    store = cs.ContainerStore(root)
    with store.lock():
        record = refresh(store, get(root, reference))
        config = record.config
        host = config["HostConfig"]
        policy = parse_restart(restart) if restart is not None else None
        if policy is not None and policy["Name"] not in ("", "no") and host.get("AutoRemove"):
            raise PalletError(f"Cannot update container {record.id}: Restart policy cannot be "
                              "updated because AutoRemove is enabled for the container")
        # dockerd's order: the request alone is checked first (verifyContainerSettings, no
        # container in the words), then merged into the container (UpdateContainer), where
        # 0 means "not given" and a new memory limit must not pass the recorded memory+swap
        # (-1, unlimited swap, included: dockerd compares the number)
        memory = memory or None
        memory_swap = memory_swap or None
        if memory and memory > 0 and memory_swap and 0 < memory_swap < memory:
            raise PalletError("Minimum memoryswap limit should be larger than memory limit, "
                              "see usage")
        old_memory = host.get("Memory") or 0
        # dockerd records 2 x memory when create gave no swap; a record of 0 reads so
        old_swap = host.get("MemorySwap") or (old_memory * 2 if old_memory else 0)
        if memory is not None and memory_swap is None and memory > old_swap:
            raise PalletError(f"Cannot update container {record.id}: Memory limit should be "
                              "smaller than already set memoryswap limit, update the memoryswap "
                              "at the same time")
        new_memory = old_memory if memory is None else memory
        new_swap = old_swap if memory_swap is None else memory_swap
        new_cpus = (host.get("NanoCpus") or 0) / 1e9 if cpus is None else cpus
        if record.state.get("Running"):
            _apply(record, new_memory, new_swap, new_cpus, pids)
        host["Memory"] = new_memory
        host["MemorySwap"] = new_swap
        host["NanoCpus"] = int(new_cpus * 1e9)
        if pids is not None:
            host["PidsLimit"] = pids if pids > 0 else None
        if policy is not None:
            host["RestartPolicy"] = policy
        extra = config.setdefault("Pallet", {})
        extra.update({"Memory": new_memory or None, "MemorySwap": new_swap or None,
                      "Cpus": new_cpus or None})
        store.save_config(record.id, config)
    from pallet.runtime.store.events import container_event
    container_event(root, record, "update")
    return store.load(record.id)
