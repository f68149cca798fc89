"""stats from the container's cgroups: CPU, memory against its limit, PIDs, block I/O."""

from __future__ import annotations

import json
import time

import pytest

from tests.cli.ctr_helpers import out, pallet

pytestmark = [pytest.mark.root]


def _stats(root, *names) -> dict:
    shown = pallet(root, "stats", "--no-stream", "--format", "{{json .}}", *names)
    assert shown.returncode == 0, shown.stderr
    return {row["Name"]: row for row in map(json.loads, out(shown).splitlines())}


def test_stats_reads_the_containers_cgroups(root):
    pallet(root, "run", "-d", "--name", "st-busy", "--network", "none", "busybox", "sh", "-c",
           "while :; do :; done")
    pallet(root, "run", "-d", "--name", "st-mem", "-m", "64m", "busybox", "sh", "-c",
           "sleep 100 & sleep 100 & dd if=/dev/zero of=/big bs=1M count=8 ; "
           "head -c 16m /dev/zero | tail > /dev/null & sleep 100")
    pallet(root, "create", "--name", "st-idle", "busybox", "true")
    time.sleep(1.5)
    rows = _stats(root)
    assert set(rows) == {"st-busy", "st-mem"}               # running ones only
    assert float(rows["st-busy"]["CPUPerc"].rstrip("%")) > 1.0
    assert rows["st-mem"]["MemUsage"].endswith(" / 64MiB")
    assert float(rows["st-mem"]["MemPerc"].rstrip("%")) > 0
    assert int(rows["st-mem"]["PIDs"]) >= 4
    # (block I/O: this machine's blkio controller accounts nothing, not even at its root, so
    # only the column's shape can be checked here)
    assert rows["st-mem"]["BlockIO"].count(" / ") == 1
    assert rows["st-busy"]["NetIO"] == "0B / 0B"                 # --network none
    idle = _stats(root, "st-idle")["st-idle"]
    assert (idle["CPUPerc"], idle["MemUsage"], idle["PIDs"]) == ("0.00%", "0B / 0B", "0")
    table = out(pallet(root, "stats", "--no-stream", "st-busy")).splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/",
                                "LIMIT", "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS"]
    missing = pallet(root, "stats", "--no-stream", "st-nosuch")
    assert missing.returncode == 1
    assert missing.stderr.decode() == "Error response from daemon: No such container: st-nosuch\n"


def test_a_cpu_quota_widens_the_sampling_window_to_docker_s_second(root):
    """A --cpus container runs in bursts paced by 100 ms periods: its CPU % is read over 1 s,
    as Docker's collector reads it; without any quota the short window is kept."""
    from pallet.commands.stats import QUOTA_WINDOW, WINDOW, window
    from pallet.runtime.container.state import ContainerStore
    pallet(root, "create", "--name", "st-free", "--network", "none", "busybox", "true")
    pallet(root, "create", "--name", "st-half", "--cpus", "0.5", "--network", "none",
           "busybox", "true")
    store = ContainerStore(root)
    free, half = store.resolve("st-free"), store.resolve("st-half")
    assert window([free]) == WINDOW < QUOTA_WINDOW == 1.0
    assert window([free, half]) == QUOTA_WINDOW
    pallet(root, "update", "--cpus", "0", "st-half")
    assert window([store.resolve("st-half")]) == WINDOW
