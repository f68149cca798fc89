"""`system check` finds containers whose monitor died (state says running, nothing supervises)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.cli.ctr_helpers import container_leftovers, out, pallet

pytestmark = pytest.mark.root


def state(root, container_id: str) -> dict:
    return json.loads((root / "containers" / container_id / "state.json").read_text())


def test_system_check_reports_and_repairs_a_container_whose_monitor_died(root):
    started = pallet(root, "run", "-d", "--name", "orphan", "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    cid = out(started).strip()
    healthy = pallet(root, "run", "-d", "--name", "fine", "busybox", "sleep", "300")
    assert healthy.returncode == 0, healthy.stderr
    clean = out(pallet(root, "system", "check"))
    assert "leftover:" not in clean and "0 leftover(s)" in clean

    monitor = state(root, cid)["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{monitor}"):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{monitor}")

    reported = pallet(root, "system", "check")       # reporting changes nothing
    assert reported.returncode == 0, reported.stderr
    expected = (f"leftover: container {cid[:12]} (orphan) is marked running but its monitor "
                f"(pid {monitor}) is gone\n")
    assert expected in out(reported)
    # its address lease too: the dead monitor owned it (runtime/network/repair.py)
    assert f"of container {cid[:12]} (owner pid {monitor} is gone)" in out(reported)
    assert "2 leftover(s)" in out(reported)
    assert state(root, cid)["Running"] is True

    repaired = pallet(root, "system", "check", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert expected in out(repaired) and "repaired: removed 2 leftover(s)" in out(repaired)
    after = state(root, cid)
    assert after["Running"] is False and after["ExitCode"] == 137
    assert "0 leftover(s)" in out(pallet(root, "system", "check"))
    listed = dict(line.split(" ", 1) for line in
                  out(pallet(root, "ps", "-a", "--format", "{{.Names}} {{.Status}}")).splitlines())
    assert listed["orphan"].startswith("Exited (137) ") and listed["fine"].startswith("Up ")
    assert pallet(root, "rm", cid).returncode == 0
    assert container_leftovers(root, cid) == []
