"""Each isolation property of run_container, observed from inside a busybox container."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pallet.runtime.isolation.core import ContainerSpec, Mount, StartError, Ulimit, run_container
from pallet.runtime.isolation.spec import MASKED_PATHS
from tests.runtime.ctr_fixtures import busybox_lower, layer_dirs, leftovers  # noqa: F401

pytestmark = pytest.mark.root


def run(lower: Path, dirs: tuple[Path, Path], script: str, **fields) -> tuple[int, str, str]:
    upper, work = dirs
    out: list[bytes] = []
    err: list[bytes] = []
    spec = ContainerSpec(rootfs_lowerdirs=(lower,), upper_dir=upper, work_dir=work,
                         argv=("/bin/sh", "-c", script), env=("PATH=/bin",), **fields)
    status = run_container(spec, stdout=out.append, stderr=err.append)
    return status.code, b"".join(out).decode(), b"".join(err).decode()


def test_namespaces_differ_from_the_host(busybox_lower, layer_dirs):
    kinds = ("mnt", "uts", "ipc", "pid", "net")
    code, out, _ = run(busybox_lower, layer_dirs,
                       " ; ".join(f"readlink /proc/self/ns/{k}" for k in kinds))
    assert code == 0
    inside = out.split()
    for kind, value in zip(kinds, inside, strict=True):
        assert value != os.readlink(f"/proc/self/ns/{kind}"), kind


def test_host_network_keeps_the_host_network_namespace(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "readlink /proc/self/ns/net", network="host")
    assert code == 0 and out.strip() == os.readlink("/proc/self/ns/net")


def test_pid_1_is_the_command(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
    assert code == 0
    pid, cmdline = out.splitlines()
    assert pid == "1"
    assert cmdline.startswith("/bin/sh -c echo $$")


def test_init_reaper_is_pid_1_and_the_command_its_child(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "echo $PPID $$; exit 7", init=True)
    assert code == 7
    assert out.split() == ["1", "2"]


def test_dev_has_only_the_standard_nodes(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "ls /dev; stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty")
    assert code == 0
    lines = out.splitlines()
    expected = ["fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
                "stdout", "tty", "urandom", "zero"]
    if os.path.exists("/proc/kcore"):
        expected.insert(0, "core")  # runc's rule: /dev/core only when the kernel has kcore
    assert lines[:len(expected)] == expected
    assert lines[len(expected):] == ["/dev/null 1:3 666", "/dev/zero 1:5 666", "/dev/full 1:7 666",
                          "/dev/random 1:8 666", "/dev/urandom 1:9 666", "/dev/tty 5:0 666"]


def test_sys_is_read_only_and_proc_dev_mounted(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs,
                       "grep -E ' /(sys|proc|dev|dev/pts|dev/shm) ' /proc/mounts; touch /sys/x 2>&1; echo rc=$?")
    assert code == 0
    mounts = {line.split()[1]: line.split() for line in out.splitlines() if line.count(" ") >= 5}
    assert mounts["/sys"][2] == "sysfs" and mounts["/sys"][3].startswith("ro,")
    assert mounts["/proc"][2] == "proc"
    assert mounts["/dev"][2] == "tmpfs"
    assert mounts["/dev/pts"][2] == "devpts"
    assert mounts["/dev/shm"][2] == "tmpfs"
    assert "Read-only file system" in out and "rc=1" in out


def test_masked_and_read_only_proc_paths(busybox_lower, layer_dirs):
    present = [p for p in MASKED_PATHS if os.path.exists(p)]
    script = ("for p in " + " ".join(present) + "; do "
              "if [ -d $p ]; then echo $p dir $(ls -A $p | wc -l); else echo $p file $(wc -c < $p); fi; done; "
              "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; echo sys=$?; "
              "echo h > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?")
    code, out, _ = run(busybox_lower, layer_dirs, script)
    assert code == 0
    assert "/proc/keys" in present and "/proc/timer_list" in present  # this kernel has no kcore
    for line in out.splitlines()[:len(present)]:
        path, _kind, size = line.split()
        assert size == "0", f"{path} is not masked: {line}"
    assert "sys=1" in out and "sysrq=1" in out


def test_capability_bounding_set_is_dockers_default(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "grep -E '^Cap(Bnd|Eff|Inh|Amb)' /proc/self/status")
    assert code == 0
    caps = dict(line.split(":\t") for line in out.splitlines())
    assert caps["CapBnd"] == "00000000a80425fb"  # docker run busybox grep CapBnd
    assert caps["CapEff"] == "00000000a80425fb"
    assert caps["CapInh"] == caps["CapAmb"] == "0000000000000000"


def test_cap_add_and_cap_drop_change_the_bounding_set(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "grep CapBnd /proc/self/status",
                       cap_add=("NET_ADMIN",), cap_drop=("chown", "CAP_KILL"))
    assert code == 0
    value = int(out.split()[1], 16)
    assert value == (0xa80425fb | 1 << 12) & ~(1 << 0) & ~(1 << 5)


def test_non_root_user_has_no_effective_capabilities(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "grep -E '^Cap(Eff|Bnd)' /proc/self/status; id",
                       user="alice")
    assert code == 0
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t00000000a80425fb" in out
    assert "uid=1000(alice) gid=1000(alice) groups=29(audio),50(staff),1000(alice)" in out


def test_user_and_group_by_number_and_home(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "id -u; id -g; echo $HOME", user="4242:50")
    assert (code, out.split()) == (0, ["4242", "50", "/"])
    code, out, _ = run(busybox_lower, layer_dirs, "echo $HOME", user="1000")
    assert out.strip() == "/home/alice"


def test_unknown_user_fails_to_start(busybox_lower, layer_dirs):
    with pytest.raises(StartError) as raised:
        run(busybox_lower, layer_dirs, "true", user="mallory")
    assert raised.value.message == "unable to find user mallory: no matching entries in passwd file"
    assert raised.value.exit_code == 125


def test_sys_fs_cgroup_shows_the_containers_own_cgroups_read_only(busybox_lower, layer_dirs):
    # the pids controller's own mount on v1 (or hybrid), the one tree itself on pure v2
    code, out, _ = run(busybox_lower, layer_dirs,
                       "d=/sys/fs/cgroup/pids; [ -d $d ] || d=/sys/fs/cgroup; "
                       "cat $d/pids.max; grep \" $d \" /proc/mounts; "
                       "echo 5 > $d/pids.max 2>/dev/null; echo rc=$?", pids=77)
    lines = out.splitlines()
    assert lines[0] == "77"
    assert lines[1].split()[3].startswith("ro,")
    assert lines[2] == "rc=1"


def test_no_new_privileges_when_asked(busybox_lower, layer_dirs):
    _, off, _ = run(busybox_lower, layer_dirs, "grep NoNewPrivs /proc/self/status")
    _, on, _ = run(busybox_lower, layer_dirs, "grep NoNewPrivs /proc/self/status",
                   no_new_privileges=True)
    assert off.split() == ["NoNewPrivs:", "0"] and on.split() == ["NoNewPrivs:", "1"]


def test_hostname_and_etc_files_are_bind_mounts(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs,
                       "hostname; cat /etc/hostname; grep -c localhost /etc/hosts; tail -n1 /etc/hosts; "
                       "grep -E ' /etc/(hosts|hostname|resolv.conf) ' /proc/mounts | wc -l",
                       hostname="box1", extra_hosts=("db:10.1.2.3",), dns=("9.9.9.9",))
    assert code == 0
    assert out.splitlines() == ["box1", "box1", "2", "10.1.2.3\tdb", "3"]
    assert os.listdir(layer_dirs[0]) == []


def test_network_none_has_only_loopback_up(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "ls /sys/class/net; cat /sys/class/net/lo/flags")
    assert code == 0
    names, flags = out.split()
    assert names == "lo" and int(flags, 16) & 1


def test_memory_limit_oom_kills_with_137(busybox_lower, layer_dirs):
    upper, work = layer_dirs
    spec = ContainerSpec(rootfs_lowerdirs=(busybox_lower,), upper_dir=upper, work_dir=work,
                         argv=("tail", "/dev/zero"), env=("PATH=/bin",),
                         memory=32 * 1024 * 1024, memory_swap=32 * 1024 * 1024)
    status = run_container(spec)
    assert status.code == 137 and status.signal == 9 and status.oom_killed


def test_pids_limit_stops_forks(busybox_lower, layer_dirs):
    code, out, err = run(busybox_lower, layer_dirs,
                         "n=0; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & n=$((n+1)); done 2>&1; "
                         "kill $(jobs -p) 2>/dev/null; echo started", pids=5)
    assert "can't fork" in out + err or "Resource temporarily unavailable" in out + err


def test_read_only_rootfs_and_writable_tmpfs(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs,
                       "touch /x 2>&1; echo rc=$?; echo ok > /scratch/f && cat /scratch/f",
                       readonly_rootfs=True, mounts=(Mount(type="tmpfs", target="/scratch"),))
    assert "Read-only file system" in out and "rc=1" in out and out.strip().endswith("ok")
    assert os.listdir(layer_dirs[0]) == []


def test_bind_mounts_read_write_and_read_only(busybox_lower, layer_dirs, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "in.txt").write_text("from host\n")
    code, out, _ = run(busybox_lower, layer_dirs,
                       "cat /data/ro/in.txt; echo out > /data/rw/out.txt; touch /data/ro/x 2>&1",
                       mounts=(Mount(type="bind", source=str(rw), target="/data/rw"),
                               Mount(type="bind", source=str(ro), target="/data/ro", readonly=True)))
    assert out.startswith("from host\n") and "Read-only file system" in out
    assert (rw / "out.txt").read_text() == "out\n"
    # The mount points (and /data made for them) are not left in the layer.
    assert os.listdir(layer_dirs[0]) == []


def test_changes_land_in_upper_dir_but_mountpoints_do_not(busybox_lower, layer_dirs):
    code, _, _ = run(busybox_lower, layer_dirs, "echo hi > /etc/motd; mkdir -p /srv/app")
    assert code == 0
    upper = layer_dirs[0]
    assert sorted(os.listdir(upper)) == ["etc", "srv"]
    assert os.listdir(upper / "etc") == ["motd"]
    assert not (upper / "proc").exists() and not (upper / "dev").exists()


def test_workdir_is_created_and_used(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "pwd", cwd="/app/src")
    assert (code, out.strip()) == (0, "/app/src")
    assert (layer_dirs[0] / "app" / "src").is_dir()


def test_ulimits_apply(busybox_lower, layer_dirs):
    code, out, _ = run(busybox_lower, layer_dirs, "ulimit -n", ulimits=(Ulimit("nofile", 321, 321),))
    assert out.strip() == "321"


def test_exit_codes_and_start_failures(busybox_lower, layer_dirs):
    assert run(busybox_lower, layer_dirs, "exit 3")[0] == 3
    upper, work = layer_dirs
    base = dict(rootfs_lowerdirs=(busybox_lower,), upper_dir=upper, work_dir=work, env=("PATH=/bin",))
    with pytest.raises(StartError) as missing:
        run_container(ContainerSpec(argv=("nosuchcmd",), **base))
    assert missing.value.exit_code == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in missing.value.message
    with pytest.raises(StartError) as not_exec:
        run_container(ContainerSpec(argv=("/etc/passwd",), **base))
    assert not_exec.value.exit_code == 126
    assert not leftovers(upper, work)


def test_nothing_left_behind_after_a_run(busybox_lower, layer_dirs):
    code, _, _ = run(busybox_lower, layer_dirs, "sleep 0.1 & echo")
    assert code == 0
    assert not leftovers(*layer_dirs)
    assert os.listdir(layer_dirs[0]) == []


@pytest.mark.timeout(30)
def test_cpu_quota_throttles_a_busy_loop(busybox_lower, layer_dirs):
    from pallet.runtime.isolation.core import start_container

    upper, work = layer_dirs
    spec = ContainerSpec(rootfs_lowerdirs=(busybox_lower,), upper_dir=upper, work_dir=work,
                         argv=("sh", "-c", "timeout 0.5 sh -c 'while :; do :; done'; true"),
                         env=("PATH=/bin",), cpus=0.1)
    running = start_container(spec)
    try:
        cpu_dir = running.cgroup.dirs.get("cpu") or running.cgroup.dirs["unified"]
        running.wait()
        if "cpu" in running.cgroup.dirs:
            assert (cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "10000"
        stat = dict(line.split() for line in (cpu_dir / "cpu.stat").read_text().splitlines())
        assert int(stat["nr_throttled"]) > 0
    finally:
        running.cleanup()
    assert not leftovers(upper, work)


def test_sigkill_of_pid_1_ends_every_process_and_leaves_nothing(busybox_lower, layer_dirs):
    import signal

    from pallet.runtime.isolation.core import start_container

    upper, work = layer_dirs
    marker = f"{os.getpid()}.{id(upper) % 9973}"
    spec = ContainerSpec(rootfs_lowerdirs=(busybox_lower,), upper_dir=upper, work_dir=work,
                         argv=("sh", "-c", f"sleep {marker} & sleep {marker}"), env=("PATH=/bin",))
    running = start_container(spec)
    try:
        assert len(running.cgroup.pids()) >= 1
        running.kill(signal.SIGKILL)
        status = running.wait()
        assert (status.code, status.signal, status.oom_killed) == (137, 9, False)
    finally:
        running.cleanup()
    assert not _processes_with(marker)
    assert not leftovers(upper, work)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


INTERRUPTED = """
import os, signal, sys, threading
from pathlib import Path
from pallet.runtime.isolation.core import ContainerSpec, run_container
lower, upper, work, marker = sys.argv[1:5]
spec = ContainerSpec(rootfs_lowerdirs=(Path(lower),), upper_dir=Path(upper), work_dir=Path(work),
                     argv=("sh", "-c", f"sleep {marker} & sleep {marker}"), env=("PATH=/bin",),
                     mounts=())
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    run_container(spec, stdout=lambda chunk: None)
except KeyboardInterrupt:
    print("interrupted", os.getpid())
"""


def test_interrupted_caller_leaves_nothing_behind(busybox_lower, layer_dirs):
    import subprocess
    import sys

    upper, work = layer_dirs
    marker = f"{os.getpid()}.{id(work) % 9967}"
    done = subprocess.run([sys.executable, "-c", INTERRUPTED, str(busybox_lower), str(upper),
                           str(work), marker], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("interrupted"), done.stderr
    child_pid = int(done.stdout.split()[1])
    assert not _processes_with(marker)
    assert not leftovers(upper, work)
    from pallet.runtime.isolation.cgroups import discover

    layout = discover()
    for parent in set(layout.v1.values()) | set(layout.hierarchies.values()):
        assert not [e for e in os.listdir(parent) if e.startswith(f"pallet-run-{child_pid}-")]
    assert os.listdir(upper) == []


def test_tty_comes_from_the_containers_devpts(busybox_lower, layer_dirs):
    out: list[bytes] = []
    upper, work = layer_dirs
    spec = ContainerSpec(rootfs_lowerdirs=(busybox_lower,), upper_dir=upper, work_dir=work,
                         argv=("sh", "-c", "tty; [ -t 2 ] && echo yes"), env=("PATH=/bin",), tty=True)
    status = run_container(spec, stdout=out.append)
    assert status.code == 0
    assert b"".join(out) == b"/dev/pts/0\r\nyes\r\n"
    assert not leftovers(upper, work)


def test_host_devices_can_be_made_but_not_opened(busybox_lower, layer_dirs):
    # /dev/kmsg (c 1:11) is outside Docker's allow-list; root on the host may open it.
    script = "mknod /tmp/kmsg c 1 11 && echo made; (exec 3< /tmp/kmsg) 2>/dev/null; echo open=$?; rm /tmp/kmsg"
    code, out, _ = run(busybox_lower, layer_dirs, script)
    assert out.split() == ["made", "open=1"]
    code, out, _ = run(busybox_lower, layer_dirs, script, privileged=True)
    assert out.split() == ["made", "open=0"]


def test_parallel_runs_from_threads_are_independent(busybox_lower, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    def one(index: int) -> tuple[int, bytes]:
        upper, work = tmp_path / f"u{index}", tmp_path / f"w{index}"
        upper.mkdir()
        work.mkdir()
        out: list[bytes] = []
        spec = ContainerSpec(rootfs_lowerdirs=(busybox_lower,), upper_dir=upper, work_dir=work,
                             argv=("sh", "-c", f"echo $$ {index} > /mine; cat /mine; exit {index}"),
                             env=("PATH=/bin",))
        status = run_container(spec, stdout=out.append)
        return status.code, b"".join(out)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(8)))
    assert results == [(i, f"1 {i}\n".encode()) for i in range(8)]
    for index in range(8):
        assert (tmp_path / f"u{index}" / "mine").read_text() == f"1 {index}\n"
        assert not leftovers(tmp_path / f"u{index}", tmp_path / f"w{index}")


def test_a_sigkilled_caller_is_swept_by_the_next_run(busybox_lower, layer_dirs, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from pallet.runtime.isolation.cgroups import discover
    from pallet.runtime.isolation.core import RUN_DIR

    upper, work = layer_dirs
    marker = f"{os.getpid()}.{id(tmp_path) % 9973}"
    script = INTERRUPTED.replace("threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()",
                                 "print(os.getpid(), flush=True)")
    caller = subprocess.Popen([sys.executable, "-c", script, str(busybox_lower), str(upper),
                               str(work), marker], stdout=subprocess.PIPE, text=True)
    caller_pid = int(caller.stdout.readline())
    # generous: CI runs this beside a qemu guest and a dockerd (it once took over 20 s there)
    deadline = time.time() + 60
    while time.time() < deadline and len(_processes_with(marker)) < 3:  # caller, sh, sleep
        time.sleep(0.05)
    assert len(_processes_with(marker)) == 3
    os.kill(caller_pid, signal.SIGKILL)
    caller.wait()
    while time.time() < deadline and _processes_with(marker):
        time.sleep(0.05)
    assert not _processes_with(marker)  # PDEATHSIG took the container down with its caller
    upper2, work2 = tmp_path / "u2", tmp_path / "w2"
    upper2.mkdir()
    work2.mkdir()
    assert run(busybox_lower, (upper2, work2), "true")[0] == 0  # this run sweeps
    layout = discover()
    for parent in set(layout.v1.values()) | set(layout.hierarchies.values()):
        assert not [e for e in os.listdir(parent) if e.startswith(f"pallet-run-{caller_pid}-")]
    assert not [e for e in os.listdir(RUN_DIR) if e.startswith(f"ctr-{caller_pid}-")]
    assert not leftovers(upper, work)


def test_many_layers_beyond_one_page_of_mount_options(busybox_lower, layer_dirs, tmp_path):
    layers = []
    for index in range(120):  # 120 long paths: ~9 KB of lowerdir= text
        layer = tmp_path / ("layer-" + "x" * 60 + f"-{index:03d}")
        (layer / "files").mkdir(parents=True)
        (layer / "files" / f"f{index:03d}").write_text(str(index))
        layers.append(layer)
    layers.reverse()  # topmost first
    upper, work = layer_dirs
    spec = ContainerSpec(rootfs_lowerdirs=(*layers, busybox_lower), upper_dir=upper, work_dir=work,
                         argv=("sh", "-c", "ls /files | wc -l; cat /files/f119"), env=("PATH=/bin",))
    out: list[bytes] = []
    assert run_container(spec, stdout=out.append).code == 0
    assert b"".join(out) == b"120\n119"
    assert not leftovers(upper, work)


def test_no_descriptor_of_the_caller_leaks_in(busybox_lower, layer_dirs):
    high = os.open("/etc/hostname", os.O_RDONLY)
    os.dup2(high, 1500, inheritable=True)
    os.set_inheritable(high, True)
    try:
        code, out, _ = run(busybox_lower, layer_dirs, "exec ls /proc/self/fd")
    finally:
        os.close(1500)
        os.close(high)
    assert code == 0
    assert sorted(out.split(), key=int) == ["0", "1", "2", "3"]  # 3: the directory ls reads
