"""pallet on a pure cgroup v2 distribution: a Debian 12 VM booted with systemd
(tests/vm/guestvm.py), pallet installed from a wheel of this tree, docker.io beside it as the
reference.

This machine is hybrid v1, so these are the only tests that run the v2 code: memory.max /
memory.swap.max / cpu.max / pids.max, the eBPF device filter, OOM detection through
memory.events, stats from the v2 files, update, and where containers' cgroups go when pallet
runs from a root shell (a logind session scope, which holds other processes) and from a
delegated systemd scope. Every check runs the same command through docker in the guest.
All tests share one VM (one boot for the module: they stay on one xdist worker). The last one
runs the project's own cgroup and device tests inside the guest.
"""

from __future__ import annotations

import json
import re
import statistics

import pytest

from tests.vm.guestvm import IMAGE, collected

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.docker,
              pytest.mark.xdist_group("vm"), pytest.mark.timeout(1800)]

ENGINES = ("pallet", "docker")
FILES = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max /sys/fs/cgroup/cpu.max " \
        "/sys/fs/cgroup/pids.max"


def both(vm, script: str) -> dict[str, str]:
    """The script run once with E=pallet and once with E=docker: stdout+stderr of each."""
    return {engine: vm.sh(f"E={engine}; {script}", check=False).stdout for engine in ENGINES}


def test_the_guest_is_pure_cgroup_v2_and_the_shell_a_session_scope(vm):
    shown = vm.sh("stat -fc %T /sys/fs/cgroup; grep -c ' cgroup ' /proc/mounts; "
                  "cat /proc/self/cgroup; cat /sys/fs/cgroup/cgroup.controllers", check=False)
    fstype, v1_mounts, own, controllers = shown.stdout.splitlines()[:4]
    assert (fstype, v1_mounts) == ("cgroup2fs", "0")
    assert re.fullmatch(r"0::/user\.slice/user-0\.slice/session-\d+\.scope", own)
    assert {"cpu", "io", "memory", "pids"} <= set(controllers.split())
    versions = both(vm, "$E info --format '{{.CgroupVersion}}'")
    assert versions == {"pallet": "2\n", "docker": "2\n"}


def test_memory_limit_oom_kills_with_137_and_oomkilled(vm):
    shown = both(vm, "$E run --name oom-$E --network none --memory 32m "
                     f"{IMAGE} tail /dev/zero >/dev/null 2>&1; echo exit=$?; "
                     "$E inspect -f 'oom={{.State.OOMKilled}} code={{.State.ExitCode}}' oom-$E; "
                     "$E rm oom-$E >/dev/null")
    assert shown["pallet"] == "exit=137\noom=true code=137\n"
    # docker 20.10 learns of the kill from containerd's memory.events watch, which it sometimes
    # misses on v2 (seen here once in two runs: OOMKilled false); its exit status is the check
    assert shown["docker"].startswith("exit=137\noom=") and shown["docker"].endswith("code=137\n")


# One container per engine checks the limits' files, the pids limit and the device rules (a run
# costs seconds of the VM under TCG, docker's the most).
DEVICE_PROBE = ("mknod /tmp/disk b {major} {minor} && echo mknod-ok; "
                "head -c 1 /tmp/disk >/dev/null; "
                "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda >/dev/null; "
                "echo x > /dev/null && head -c 1 /dev/zero >/dev/null && head -c 1 /dev/urandom "
                ">/dev/null && echo standard-ok; test -c /dev/pts/ptmx && echo pts-ok")
FORKS = "i=0; while [ $i -lt 8 ]; do sleep 30 & i=$((i+1)); done; echo looped"


@pytest.fixture(scope="module")
def limited(vm) -> dict[str, list[str]]:
    """`run --memory 32m --memory-swap 96m --cpus 0.5 --pids-limit 5`: the files, the device
    probe (the VM's own disk, made by mknod inside), then more forks than the limit allows."""
    major, minor = (int(n, 16) for n in vm.sh("stat -c %t:%T /dev/vda").stdout.strip().split(":"))
    probe = DEVICE_PROBE.format(major=major, minor=minor)
    # stderr joins stdout inside the container: docker's client writes the two streams to two
    # fds, so an outer 2>&1 alone let them interleave out of order (failed CI once)
    shown = both(vm, "$E run --rm --network none --memory 32m --memory-swap 96m --cpus 0.5 "
                     f"--pids-limit 5 {IMAGE} sh -c 'exec 2>&1; cat {FILES}; {probe}; {FORKS}' 2>&1")
    return {engine: text.split("\n") for engine, text in shown.items()}


def test_limits_land_in_the_v2_files_as_docker_writes_them(limited):
    assert limited["docker"][:4] == ["33554432", "67108864", "50000 100000", "5"]
    assert limited["pallet"][:4] == limited["docker"][:4]


def test_default_device_rules(limited):
    """A container may mknod any device (Docker's 'b *:* m') but open only the standard nodes
    (v2: the eBPF filter; the old code let it read the VM's disk)."""
    for engine in ENGINES:
        assert limited[engine][4:9] == ["mknod-ok", "head: /tmp/disk: Operation not permitted",
                                        "head: /tmp/sda: Operation not permitted",
                                        "standard-ok", "pts-ok"], engine


def test_pids_limit_stops_forks(limited):
    for engine in ENGINES:
        assert "sh: can't fork: Resource temporarily unavailable" in limited[engine][9:], engine


def test_default_swap_and_a_tty(vm):
    """--memory alone allows as much swap again (Docker's rule); -t gives /dev/tty on a pty."""
    shown = both(vm, f"$E run --rm -t --network none --memory 32m --cpus 1.5 {IMAGE} "
                     f"sh -c 'cat {FILES}; echo hi > /dev/tty && tty'")
    lines = {engine: text.replace("\r", "").split("\n") for engine, text in shown.items()}
    # no --pids-limit: pallet leaves pids.max at max; docker's scope gets systemd's TasksMax
    assert lines["docker"][:3] == ["33554432", "33554432", "150000 100000"]
    assert lines["pallet"][:4] == lines["docker"][:3] + ["max"]
    for engine in ENGINES:
        assert lines[engine][4:6] == ["hi", "/dev/pts/0"], engine


@pytest.fixture(scope="class")
def loaded(vm):
    """One container per engine, side by side on the two vCPUs: 40 MiB in /dev/shm and a busy
    loop held to half a CPU."""
    load = "dd if=/dev/zero of=/dev/shm/f bs=1M count=40 2>/dev/null; while :; do :; done"
    both(vm, f"$E run -d --name ld-$E --network none --memory 256m --cpus 0.5 --pids-limit 20 "
             f"{IMAGE} sh -c '{load}' >/dev/null")
    vm.sh("sleep 3")
    yield
    both(vm, "$E rm -f ld-$E >/dev/null")


def _mib(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([KMG]i?B|B)", text).groups()
    return float(number) * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


class TestUnderLoad:
    def test_stats_match_docker_for_the_same_load(self, vm, loaded):
        """Read in turns. A TCG guest's CPU figures drift with the host's load (docker's own
        three readings of one container spread 76-124% in a run here), so pallet's median must
        fall within docker's readings' range, widened by 10%."""
        rows = {engine: [] for engine in ENGINES}
        for _ in range(3):
            for engine in ENGINES:
                rows[engine].append(json.loads(vm.sh(
                    f"{engine} stats --no-stream --format '{{{{json .}}}}' ld-{engine}").stdout))
        used = {e: _mib(rows[e][-1]["MemUsage"].split(" / ")[0]) for e in ENGINES}
        assert used["docker"] >= 40
        assert abs(used["pallet"] - used["docker"]) <= 0.1 * used["docker"], rows
        assert {rows[e][-1]["MemUsage"].split(" / ")[1] for e in ENGINES} == {"256MiB"}
        assert {rows[e][-1]["PIDs"] for e in ENGINES} == {"1"}
        cpu = {e: [float(r["CPUPerc"].rstrip("%")) for r in rows[e]] for e in ENGINES}
        assert min(cpu["docker"]) > 30, cpu
        assert 0.9 * min(cpu["docker"]) <= statistics.median(cpu["pallet"]) <= \
            1.1 * max(cpu["docker"]), cpu

    def test_update_changes_a_running_containers_limits(self, vm, loaded):
        shown = both(vm, "$E update --memory 128m --memory-swap 256m --cpus 1 --pids-limit 50 "
                         f"ld-$E >/dev/null; $E exec ld-$E cat {FILES}; "
                         "$E inspect -f '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}' ld-$E")
        assert shown["docker"] == "134217728\n134217728\n100000 100000\n50\n134217728 1000000000\n"
        assert shown["pallet"] == shown["docker"]


def test_root_shell_containers_get_their_limits_outside_the_session_scope(vm):
    """The session scope holds sshd and the shell, so the kernel forbids giving controllers to
    children there: containers go under /sys/fs/cgroup/pallet (Docker's cgroupfs layout)."""
    out = vm.sh(f"pallet run -d --name rs --network none --memory 40m {IMAGE} sleep 300 "
                ">/dev/null; cat /proc/$(pallet inspect -f '{{.State.Pid}}' rs)/cgroup; "
                "pallet inspect -f '{{.Id}}' rs; pallet exec rs cat /sys/fs/cgroup/memory.max; "
                "pallet rm -f rs >/dev/null").stdout.splitlines()
    assert out[0] == f"0::/pallet/pallet-{out[1][:16]}", out
    assert out[2] == "41943040"
    assert vm.sh(f"test -e /sys/fs/cgroup/pallet/pallet-{out[1][:16]} || echo gone").stdout \
        == "gone\n"


def test_pallet_in_a_delegated_systemd_scope(vm):
    """`systemd-run --scope -p Delegate=yes pallet run ...`: the container's cgroup is made
    inside the scope (pallet moves itself into a leaf and enables the controllers there), and
    a pallet in another cgroup (this root shell) still finds it for stats/update/pause/rm."""
    unit = "pallet-delegated-test"
    vm.sh(f"systemd-run --scope --unit={unit} -p Delegate=yes --quiet pallet run -d --name sc "
          f"--network none --memory 64m --pids-limit 9 {IMAGE} sleep 300 >/dev/null")
    try:
        container = vm.sh("pallet inspect -f '{{.Id}} {{.State.Pid}}' sc").stdout.split()
        cgroup = vm.sh(f"cat /proc/{container[1]}/cgroup").stdout.strip()
        assert cgroup == f"0::/system.slice/{unit}.scope/pallet-{container[0][:16]}"
        inside = vm.sh(f"pallet exec sc cat {FILES}").stdout.split("\n")
        assert inside[0] == "67108864" and inside[3] == "9"
        row = json.loads(vm.sh("pallet stats --no-stream --format '{{json .}}' sc").stdout)
        assert (row["MemUsage"].split(" / ")[1], row["PIDs"]) == ("64MiB", "1")
        vm.sh("pallet update --memory 96m --memory-swap 200m sc >/dev/null")
        assert vm.sh("pallet exec sc cat /sys/fs/cgroup/memory.max").stdout == "100663296\n"
        vm.sh("pallet pause sc >/dev/null")
        frozen = vm.sh(f"cat /sys/fs/cgroup/system.slice/{unit}.scope/"
                       f"pallet-{container[0][:16]}/cgroup.freeze").stdout
        vm.sh("pallet unpause sc >/dev/null")
        assert frozen == "1\n"
    finally:
        vm.sh("pallet rm -f sc >/dev/null", check=False)
    left = vm.sh(f"find /sys/fs/cgroup -name 'pallet-{container[0][:16]}'; "
                 f"systemctl is-active {unit}.scope || true").stdout
    assert left == "inactive\n"
    foreground = vm.sh("systemd-run --scope -p Delegate=yes --quiet pallet run --rm "
                       f"--network none --memory 48m {IMAGE} cat /sys/fs/cgroup/memory.max")
    assert foreground.stdout == "50331648\n"


RUNS = 50   # the count: ~3.4 s a run under TCG on a quiet machine, 6-25 s at load 10-15


def test_no_cgroup_left_after_many_runs(vm):
    count = "find /sys/fs/cgroup -name 'pallet-*' ! -name pallet-leaf -type d | wc -l"
    before = vm.sh(count).stdout
    vm.sh(f"for i in $(seq {RUNS}); do pallet run --rm --network none {IMAGE} true || exit 1; "
          "done; pallet run --rm --network none --memory 16m "
          f"{IMAGE} tail /dev/zero 2>/dev/null; for i in 1 2; do pallet run -d --name gone-$i "
          f"--network none --memory 32m {IMAGE} sleep 60 >/dev/null; done; "
          "pallet rm -f gone-1 gone-2 >/dev/null", timeout=900)
    assert vm.sh(count).stdout == before == "0\n"
    assert vm.sh("pallet ps -aq | wc -l").stdout == "0\n"


# The project's own tests that exercise cgroups and devices, run by pytest INSIDE the guest: the
# cgroup code (limits, freeze, OOM, sweep), the eBPF device filter, cgroup namespaces, the
# runtime's limits and device rules, stats, stats/update through the Engine API, and build
# steps' own cgroup and seccomp/device sandbox. They had only ever run on this hybrid host.
IN_GUEST = (
    "tests/runtime/isolation/test_cgroups.py",
    "tests/runtime/isolation/test_devfilter.py",
    "tests/runtime/isolation/test_cgroupns.py",
    *(f"tests/runtime/isolation/test_isolation.py::test_{name}" for name in (
        "dev_has_only_the_standard_nodes",
        "sys_fs_cgroup_shows_the_containers_own_cgroups_read_only",
        "memory_limit_oom_kills_with_137", "pids_limit_stops_forks",
        "cpu_quota_throttles_a_busy_loop", "nothing_left_behind_after_a_run",
        "sigkill_of_pid_1_ends_every_process_and_leaves_nothing",
        "tty_comes_from_the_containers_devpts", "host_devices_can_be_made_but_not_opened",
        "a_sigkilled_caller_is_swept_by_the_next_run")),
    "tests/cli/test_stats.py",
    "tests/api/test_resources.py::test_stats_update_and_system_df",
    "tests/cli/test_build_entitlements.py::test_build_steps_see_only_their_own_cgroup",
    "tests/cli/test_build_entitlements.py::"
    "test_granted_insecure_step_runs_without_filter_and_sandboxed_steps_with",
)
IN_GUEST_TIMEOUT = 900      # the whole in-guest pytest run, killed after it


def test_the_cgroup_and_device_tests_pass_inside_the_guest(vm, tmp_path):
    outcomes, output = vm.run_pytest(tmp_path, IN_GUEST, IN_GUEST_TIMEOUT)
    assert outcomes, f"pytest left no report in the guest:\n{output}"
    not_passed = {name: what for name, what in outcomes.items() if what != "passed"}
    assert not not_passed, f"in the v2 guest: {not_passed}\n{output}"
    assert len(outcomes) == len(collected(IN_GUEST)), f"not all of them ran:\n{output}"
