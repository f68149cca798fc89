"""Detached containers and the lifecycle commands: ps, stop, kill, rm, wait, logs, exec,
pause/unpause, rename, restart policies, cp, export, top, prune, and nothing left behind."""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import time

import pytest

from tests.cli.ctr_helpers import container_leftovers, out, pallet

pytestmark = pytest.mark.root


def detached(root, *args: str) -> str:
    result = pallet(root, "run", "-d", *args)
    assert result.returncode == 0, result.stderr
    return out(result).strip()


def state(root, ref: str) -> dict:
    return json.loads(out(pallet(root, "inspect", ref)))[0]["State"]


def test_detached_run_ps_logs_wait_and_rm(root, tmp_path):
    cid = detached(root, "--name", "job", "-v", f"{tmp_path}:/sig", "busybox", "sh", "-c",
                   "echo one; echo two >&2; while [ ! -e /sig/go ]; do sleep 0.02; done; "
                   "echo three; exit 4")
    assert len(cid) == 64
    listed = out(pallet(root, "ps")).splitlines()
    assert listed[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert listed[1].startswith(cid[:12]) and "Up " in listed[1] and listed[1].endswith("job")
    (tmp_path / "go").touch()
    assert out(pallet(root, "wait", "job")) == "4\n"
    logs = pallet(root, "logs", "job")
    assert out(logs) == "one\nthree\n" and logs.stderr.decode() == "two\n"
    assert out(pallet(root, "logs", "--tail", "1", "job")) == "three\n"
    stamped = out(pallet(root, "logs", "-t", "job")).splitlines()[0]
    assert stamped.endswith("Z one") and stamped[4] == "-"
    log_file = root / "containers" / cid / f"{cid}-json.log"
    first = json.loads(log_file.read_text().splitlines()[0])
    assert first["log"] == "one\n" and first["stream"] == "stdout" and first["time"].endswith("Z")
    assert "Exited (4)" in out(pallet(root, "ps", "-a"))
    assert out(pallet(root, "ps", "-q")) == ""
    assert pallet(root, "rm", "job").returncode == 0
    assert not container_leftovers(root, cid)


def test_stop_kill_and_rm_of_running_containers(root):
    cid = detached(root, "--name", "sleeper", "busybox", "sleep", "300")
    refused = pallet(root, "rm", "sleeper")
    assert refused.returncode == 1 and "You cannot remove a running container" in refused.stderr.decode()
    assert pallet(root, "kill", "-s", "TERM", "sleeper").returncode == 0
    time.sleep(0.2)
    assert state(root, "sleeper")["Running"]  # PID 1 ignores SIGTERM without a handler
    assert pallet(root, "stop", "-t", "1", "sleeper").returncode == 0
    finished = state(root, "sleeper")
    assert finished["Status"] == "exited" and finished["ExitCode"] == 137
    cid2 = detached(root, "--init", "busybox", "sleep", "300")
    started = time.monotonic()
    assert pallet(root, "stop", cid2[:12]).returncode == 0
    assert time.monotonic() - started < 5  # --init forwards SIGTERM, sleep dies at once
    assert state(root, cid2)["ExitCode"] == 143
    cid3 = detached(root, "busybox", "sleep", "300")
    assert pallet(root, "rm", "-f", cid3).returncode == 0
    for container_id in (cid, cid2):
        pallet(root, "rm", container_id)
    for container_id in (cid, cid2, cid3):
        assert not container_leftovers(root, container_id)


def test_exec_into_running_and_stopped_containers(root):
    cid = detached(root, "--name", "box", "-e", "FOO=bar", "busybox", "sleep", "300")
    result = pallet(root, "exec", "-e", "EXTRA=1", "-w", "/tmp", "box", "sh", "-c",
                    "echo $FOO $EXTRA; pwd; hostname; cat /proc/1/cmdline | tr '\\0' ' '")
    assert out(result).splitlines() == ["bar 1", "/tmp", cid[:12], "sleep 300 "]
    assert pallet(root, "exec", "box", "sh", "-c", "exit 5").returncode == 5
    assert pallet(root, "exec", "box", "nosuch").returncode == 126  # as docker exec (20.10)
    user = pallet(root, "exec", "-u", "nobody", "box", "id", "-u")
    assert out(user).strip() == "65534"
    fed = pallet(root, "exec", "-i", "box", "cat", input=b"piped\n")
    assert out(fed) == "piped\n"
    pallet(root, "rm", "-f", "box")
    pallet(root, "create", "--name", "idle", "busybox", "true")
    stopped = pallet(root, "exec", "idle", "true")
    assert stopped.returncode == 1 and "is not running" in stopped.stderr.decode()
    assert not container_leftovers(root, cid)


def test_pause_unpause_and_top(root):
    cid = detached(root, "--name", "pz", "busybox", "sh", "-c", "while :; do sleep 0.05; done")
    top = out(pallet(root, "top", "pz")).splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"] and len(top) >= 2
    assert pallet(root, "pause", "pz").returncode == 0
    assert state(root, "pz")["Paused"] and "(Paused)" in out(pallet(root, "ps"))
    again = pallet(root, "pause", "pz")
    assert again.returncode == 1 and "already paused" in again.stderr.decode()
    assert pallet(root, "unpause", "pz").returncode == 0
    assert not state(root, "pz")["Paused"]
    pallet(root, "rm", "-f", "pz")
    assert not container_leftovers(root, cid)


def test_create_start_attach_rename_and_filters(root):
    cid = out(pallet(root, "create", "--name", "c1", "-l", "tier=web", "busybox", "echo", "hi")).strip()
    assert state(root, "c1")["Status"] == "created"
    assert out(pallet(root, "ps", "-a", "--filter", "status=created", "-q")).strip() == cid[:12]
    attached = pallet(root, "start", "-a", "c1")
    assert out(attached) == "hi\n" and attached.returncode == 0
    assert pallet(root, "rename", "c1", "c2").returncode == 0
    assert out(pallet(root, "ps", "-a", "--filter", "name=c2", "--format", "{{.Names}}")) == "c2\n"
    assert out(pallet(root, "ps", "-a", "-f", "label=tier=web", "-q")).strip() == cid[:12]
    assert out(pallet(root, "ps", "-a", "-f", "ancestor=busybox", "-q")).strip() == cid[:12]
    assert out(pallet(root, "ps", "-a", "-f", "status=running", "-q")) == ""
    table = out(pallet(root, "ps", "-a", "--format", "table {{.Names}}\t{{.Status}}")).splitlines()
    assert table[0].split() == ["NAMES", "STATUS"] and table[1].startswith("c2 ")
    row = json.loads(out(pallet(root, "ps", "-a", "--format", "json")))
    assert row["Names"] == "c2" and row["State"] == "exited" and row["Image"] == "busybox"
    missing = pallet(root, "start", "nope")
    assert missing.returncode == 1 and "No such container: nope" in missing.stderr.decode()


def test_restart_policy_on_failure_counts_restarts(root):
    detached(root, "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    assert out(pallet(root, "wait", "flaky")) == "3\n"
    deadline = time.time() + 20
    while time.time() < deadline:
        doc = json.loads(out(pallet(root, "inspect", "flaky")))[0]
        if doc["RestartCount"] == 2 and not doc["State"]["Running"] and doc["State"]["Status"] == "exited":
            break
        time.sleep(0.2)
    assert doc["RestartCount"] == 2 and doc["State"]["ExitCode"] == 3


def test_ps_corrects_state_when_the_monitor_dies(root):
    cid = detached(root, "busybox", "sleep", "300")
    monitor = json.loads((root / "containers" / cid / "state.json").read_text())["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and "Up " in out(pallet(root, "ps", "-a")):
        time.sleep(0.1)
    assert "Exited (137)" in out(pallet(root, "ps", "-a"))
    assert not state(root, cid)["Running"]
    pallet(root, "rm", cid)
    assert not container_leftovers(root, cid)


def test_cp_both_directions_and_export(root, tmp_path):
    pallet(root, "run", "--name", "files", "busybox", "sh", "-c", "mkdir /out && echo inside > /out/a")
    assert pallet(root, "cp", "files:/out/a", str(tmp_path / "a")).returncode == 0
    assert (tmp_path / "a").read_text() == "inside\n"
    (tmp_path / "b").write_text("from host\n")
    assert pallet(root, "cp", str(tmp_path / "b"), "files:/out/").returncode == 0
    exported = pallet(root, "export", "files")
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as archive:
        names = set(archive.getnames())
        assert {"./out/a", "./out/b", "./bin/busybox"} <= names
        assert archive.extractfile("./out/b").read() == b"from host\n"
    missing = pallet(root, "cp", "files:/nope", str(tmp_path / "x"))
    assert missing.returncode == 1 and "Could not find the file /nope" in missing.stderr.decode()


def test_container_prune_removes_only_stopped(root):
    stopped = out(pallet(root, "create", "busybox", "true")).strip()
    running = detached(root, "busybox", "sleep", "300")
    result = pallet(root, "container", "prune", "-f")
    assert stopped in out(result) and running not in out(result)
    assert out(pallet(root, "ps", "-a", "-q", "--no-trunc")).strip() == running
    pallet(root, "rm", "-f", running)
    assert not container_leftovers(root, running) and not container_leftovers(root, stopped)


def test_inspect_falls_back_to_images_and_reports_unknown(root):
    image = json.loads(out(pallet(root, "inspect", "busybox")))[0]
    assert image["Id"].startswith("sha256:") and "RootFS" in image
    assert pallet(root, "container", "inspect", "busybox").returncode == 1  # containers only
    unknown = pallet(root, "inspect", "nothing-here")
    assert unknown.returncode == 1 and "No such object: nothing-here" in unknown.stderr.decode()


def test_crash_of_a_foreground_cli_is_corrected_and_rm_leaves_nothing(root):
    import subprocess

    from tests.conftest import PALLET

    cli = subprocess.Popen([str(PALLET), "--root", str(root), "run", "--name", "fg", "busybox",
                            "sleep", "300"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline and "Up " not in out(pallet(root, "ps")):
        time.sleep(0.1)
    cid = out(pallet(root, "ps", "-q", "--no-trunc")).strip()
    assert len(cid) == 64
    cli.kill()  # SIGKILL: no cleanup code of the CLI runs
    cli.wait()
    deadline = time.time() + 10
    while time.time() < deadline and "Exited (137)" not in out(pallet(root, "ps", "-a")):
        time.sleep(0.1)
    assert "Exited (137)" in out(pallet(root, "ps", "-a"))
    assert pallet(root, "rm", "fg").returncode == 0
    assert not container_leftovers(root, cid)


def test_sigkill_of_the_container_then_rm_leaves_nothing(root):
    cid = detached(root, "busybox", "sh", "-c", "sleep 300 & sleep 300")
    assert pallet(root, "kill", cid).returncode == 0
    assert out(pallet(root, "wait", cid)) == "137\n"
    assert pallet(root, "rm", cid).returncode == 0
    assert not container_leftovers(root, cid)


def test_healthcheck_runs_and_shows_in_ps_and_inspect(root, tmp_path):
    import copy

    from pallet.runtime.image.committing import commit_image
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store

    store = Store.open(root)
    base = resolve_image(store, "busybox")
    config = copy.deepcopy(base.config)
    config.pop("created", None)
    config["config"]["Healthcheck"] = {"Test": ["CMD", "test", "-e", "/sig/ok"],
                                       "Interval": 200_000_000, "Timeout": 2_000_000_000,
                                       "Retries": 2}
    commit_image(store, config=config, layers=base.layer_objects(store), tags=["hc:1"])
    detached(root, "--name", "hc", "-v", f"{tmp_path}:/sig", "hc:1", "sleep", "300")
    assert state(root, "hc")["Health"]["Status"] in ("starting", "unhealthy")
    deadline = time.time() + 20
    while time.time() < deadline and state(root, "hc")["Health"]["Status"] != "unhealthy":
        time.sleep(0.1)
    health = state(root, "hc")["Health"]
    assert health["Status"] == "unhealthy" and health["FailingStreak"] >= 2
    assert health["Log"][-1]["ExitCode"] == 1
    (tmp_path / "ok").touch()
    while time.time() < deadline and state(root, "hc")["Health"]["Status"] != "healthy":
        time.sleep(0.1)
    assert state(root, "hc")["Health"]["Status"] == "healthy"
    assert "(healthy)" in out(pallet(root, "ps"))
    flags = pallet(root, "run", "-d", "--name", "hc2", "--health-cmd", "exit 3",
                   "--health-interval", "100ms", "--health-retries", "1", "busybox", "sleep", "300")
    assert flags.returncode == 0
    while time.time() < deadline and (state(root, "hc2").get("Health") or {}).get("Status") != "unhealthy":
        time.sleep(0.1)
    assert state(root, "hc2")["Health"]["Log"][-1]["ExitCode"] == 3
    pallet(root, "rm", "-f", "hc", "hc2")


def test_cp_out_gives_the_files_to_the_caller_as_docker_does(root, tmp_path):
    # Docker: "Files copied to the local machine are created with the UID:GID of the user which
    # invoked the docker cp command"; the mode (here setgid-free 0750) is kept.
    pallet(root, "run", "--name", "owned", "busybox", "sh", "-c",
           "mkdir /d && echo x > /d/f && chmod 750 /d/f && chown -R 1234:4321 /d")
    assert pallet(root, "cp", "owned:/d", str(tmp_path / "d")).returncode == 0
    for path in (tmp_path / "d", tmp_path / "d" / "f"):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (os.geteuid(), os.getegid())
    assert (tmp_path / "d" / "f").stat().st_mode & 0o7777 == 0o750


def test_cp_never_follows_container_symlinks_onto_the_host(root, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("host secret\n")
    pallet(root, "run", "-d", "--name", "evil", "busybox", "sh", "-c",
           f"ln -s {victim} /tmp/trap; mkdir /tmp/d; ln -s {tmp_path} /tmp/d/dirtrap; sleep 300")
    time.sleep(0.3)
    copied = pallet(root, "cp", "evil:/tmp/trap", str(tmp_path / "out"))
    assert copied.returncode == 0 and (tmp_path / "out").is_symlink()  # the link itself, as Docker
    (tmp_path / "out").unlink()
    (tmp_path / "payload").write_text("overwritten\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert pallet(root, "cp", str(tmp_path / "payload"), "evil:/tmp/trap").returncode == 0
    pallet(root, "cp", str(tmp_path / "payload"), "evil:/tmp/d/dirtrap/")
    assert victim.read_text() == "host secret\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    inside = pallet(root, "exec", "evil", "cat", "/tmp/trap")
    assert out(inside) == "overwritten\n"  # it landed in the container, as a file
    pallet(root, "rm", "-f", "evil")


def test_detached_interactive_container_keeps_its_stdin_open(root):
    # `run -d -i`: Docker holds the container's stdin open, so a reader waits instead of
    # reading EOF; without -i the same `cat` ends at once.
    waiting = detached(root, "-i", "--name", "reader", "busybox", "cat")
    done = detached(root, "--name", "eof", "busybox", "cat")
    assert out(pallet(root, "wait", done)) == "0\n"
    time.sleep(0.5)
    assert state(root, waiting)["Running"] is True
    assert pallet(root, "exec", "reader", "true").returncode == 0
    assert pallet(root, "stop", "-t", "1", "reader").returncode == 0
    assert state(root, waiting)["ExitCode"] == 137   # cat is PID 1: SIGTERM does not end it
    pallet(root, "rm", "reader", "eof")
    assert not container_leftovers(root, waiting)


def test_a_dead_monitors_rm_container_is_removed_by_the_next_command(root):
    # Docker's daemon removes AutoRemove containers when it restarts; pallet has no daemon, so
    # the next command that looks at containers does it, with the anonymous volumes.
    cid = detached(root, "--rm", "--name", "doomed", "-v", "/scratch", "busybox", "sleep", "300")
    volume = json.loads(out(pallet(root, "inspect", cid)))[0]["Mounts"][0]["Name"]
    monitor = json.loads((root / "containers" / cid / "state.json").read_text())["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{monitor}"):
        time.sleep(0.05)
    listed = pallet(root, "ps", "-a", "--no-trunc", "-q")
    assert listed.returncode == 0, listed.stderr
    assert cid not in out(listed)
    assert container_leftovers(root, cid) == []
    assert volume not in out(pallet(root, "volume", "ls", "-q"))
    gone = pallet(root, "inspect", "doomed")
    assert gone.returncode == 1 and "No such object: doomed" in gone.stderr.decode()


def test_the_name_of_a_dead_monitors_rm_container_is_free_again(root):
    cid = detached(root, "--rm", "--name", "again", "busybox", "sleep", "300")
    monitor = json.loads((root / "containers" / cid / "state.json").read_text())["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{monitor}"):
        time.sleep(0.05)
    rerun = pallet(root, "run", "--rm", "--name", "again", "busybox", "echo", "hi")
    assert rerun.returncode == 0, rerun.stderr
    assert out(rerun) == "hi\n"
    assert container_leftovers(root, cid) == []
