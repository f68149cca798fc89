"""More lifecycle paths: logs -f, exec -d, image volumes, restart=always vs stop, run -d --rm,
--stop-signal, and two pallet processes racing for one name."""

from __future__ import annotations

import copy
import json
import subprocess
import time

import pytest

from tests.cli.ctr_helpers import container_leftovers, out, pallet
from tests.conftest import PALLET

pytestmark = pytest.mark.root


def _image_with(root, tag: str, **config_changes) -> None:
    from pallet.runtime.image.committing import commit_image
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store

    store = Store.open(root)
    base = resolve_image(store, "busybox")
    config = copy.deepcopy(base.config)
    config.pop("created", None)
    config["config"].update(config_changes)
    commit_image(store, config=config, layers=base.layer_objects(store), tags=[tag])


def _state(root, ref):
    return json.loads(out(pallet(root, "inspect", ref)))[0]["State"]


def test_logs_follow_streams_until_the_container_exits(root, tmp_path):
    pallet(root, "run", "-d", "--name", "talker", "-v", f"{tmp_path}:/sig", "busybox", "sh", "-c",
           "echo first; while [ ! -e /sig/go ]; do sleep 0.02; done; echo second")
    follower = subprocess.Popen([str(PALLET), "--root", str(root), "logs", "-f", "talker"],
                                stdout=subprocess.PIPE)
    assert follower.stdout.readline() == b"first\n"
    (tmp_path / "go").touch()
    rest, _ = follower.communicate(timeout=30)
    assert rest == b"second\n" and follower.returncode == 0


def test_exec_detached_runs_in_the_background(root):
    pallet(root, "run", "-d", "--name", "host1", "busybox", "sleep", "300")
    assert pallet(root, "exec", "-d", "host1", "sh", "-c", "sleep 0.2; echo done > /tmp/flag").returncode == 0
    deadline = time.time() + 15
    while time.time() < deadline and out(pallet(root, "exec", "host1", "cat", "/tmp/flag")) != "done\n":
        time.sleep(0.1)
    assert out(pallet(root, "exec", "host1", "cat", "/tmp/flag")) == "done\n"
    pallet(root, "rm", "-f", "host1")


def test_image_volumes_become_populated_anonymous_volumes(root):
    _image_with(root, "withvol:1", Volumes={"/etc": {}})
    result = pallet(root, "run", "--name", "v1", "withvol:1", "sh", "-c",
                    "cat /etc/passwd | head -1; echo mine > /etc/new")
    assert out(result) == "root:x:0:0:root:/root:/bin/sh\n"
    mounts = json.loads(out(pallet(root, "inspect", "v1")))[0]["Mounts"]
    assert [(m["Type"], m["Destination"], m["RW"]) for m in mounts] == [("volume", "/etc", True)]
    source = mounts[0]["Source"]
    assert open(f"{source}/new").read() == "mine\n"
    assert pallet(root, "rm", "-v", "v1").returncode == 0
    import os
    assert not os.path.exists(source)


def test_restart_always_restarts_but_not_after_stop(root):
    pallet(root, "run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sh", "-c",
           "sleep 0.1; exit 1")
    deadline = time.time() + 20
    while time.time() < deadline:
        doc = json.loads(out(pallet(root, "inspect", "phoenix")))[0]
        if doc["RestartCount"] >= 2:
            break
        time.sleep(0.1)
    assert doc["RestartCount"] >= 2
    assert pallet(root, "stop", "-t", "1", "phoenix").returncode == 0
    count = json.loads(out(pallet(root, "inspect", "phoenix")))[0]["RestartCount"]
    time.sleep(1.0)
    doc = json.loads(out(pallet(root, "inspect", "phoenix")))[0]
    assert doc["RestartCount"] == count and not doc["State"]["Running"]
    pallet(root, "rm", "-f", "phoenix")


def test_detached_auto_remove_and_stop_signal(root):
    cid = out(pallet(root, "run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.2")).strip()
    deadline = time.time() + 15
    while time.time() < deadline and (root / "containers" / cid).exists():
        time.sleep(0.05)
    assert not container_leftovers(root, cid)
    _image_with(root, "usr1:1", StopSignal="SIGUSR1")
    pallet(root, "run", "-d", "--name", "sig", "usr1:1", "sh", "-c",
           "trap 'exit 42' USR1; while :; do sleep 0.05; done")
    started = time.monotonic()
    assert pallet(root, "stop", "sig").returncode == 0
    assert time.monotonic() - started < 8
    assert _state(root, "sig")["ExitCode"] == 42
    assert json.loads(out(pallet(root, "inspect", "sig")))[0]["Config"]["StopSignal"] == "SIGUSR1"


def test_two_processes_racing_for_one_name_one_wins(root):
    racers = [subprocess.Popen([str(PALLET), "--root", str(root), "create", "--name", "only",
                                "busybox", "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(4)]
    codes = sorted(r.wait(timeout=60) for r in racers)
    assert codes == [0, 1, 1, 1]   # docker create: the engine's "already in use" exits 1
    assert len(out(pallet(root, "ps", "-a", "-q")).split()) == 1


def test_exec_tty_comes_from_the_containers_devpts(root):
    pallet(root, "run", "-d", "--name", "ttyhost", "busybox", "sleep", "300")
    result = pallet(root, "exec", "-t", "ttyhost", "sh", "-c", "tty; echo $TERM")
    assert out(result) == "/dev/pts/0\r\nxterm\r\n"
    pallet(root, "rm", "-f", "ttyhost")


def test_concurrent_starts_run_one_monitor(root):
    import subprocess as sp

    cid = out(pallet(root, "create", "--name", "once", "busybox", "sleep", "300")).strip()
    starters = [sp.Popen([str(PALLET), "--root", str(root), "start", "once"], stdout=sp.PIPE,
                         stderr=sp.PIPE) for _ in range(3)]
    assert [s.wait(timeout=60) for s in starters] == [0, 0, 0]
    from pallet.runtime.isolation.cgroups import Cgroup
    assert len(Cgroup.attach(f"pallet-{cid[:16]}").pids()) == 1  # one container process
    pallet(root, "rm", "-f", "once")
    assert not container_leftovers(root, cid)


def test_a_monitor_that_fails_unexpectedly_names_the_cause(root):
    """A damaged container record makes the detached monitor fail with an error that is not
    ours; `start` says what it was instead of 'the monitor exited before the container
    started', and nothing runs."""
    cid = out(pallet(root, "create", "--network", "none", "busybox", "true")).strip()
    config_file = root / "containers" / cid / "config.json"
    config = json.loads(config_file.read_text())
    del config["GraphDriver"]
    config_file.write_text(json.dumps(config))
    started = pallet(root, "start", cid)
    assert started.returncode == 1
    assert "the container's monitor failed: KeyError: 'GraphDriver'" in started.stderr.decode()
    assert _state(root, cid)["Running"] is False
