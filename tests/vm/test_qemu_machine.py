"""`pallet machine create --driver qemu`: a local Debian VM as a machine's host, provisioned by
the same code as the generic driver; and a host without qemu."""

from __future__ import annotations

import shlex

import pytest

from pallet.machine.vm import qemu
from tests.vm.guestvm import qemu_processes
from tests.conftest import run_pallet

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.xdist_group("vm"),
              pytest.mark.timeout(1800)]


def test_a_host_without_qemu_gets_a_clear_error(tmp_path):
    env = {"DOCKER_CONFIG": str(tmp_path / "docker"), "PATH": str(tmp_path / "empty")}
    made = run_pallet("machine", "create", "--driver", "qemu", "noqemu", env=env)
    assert made.returncode != 0
    error = made.stderr.decode()
    assert "qemu-system-x86_64 is not installed" in error, error
    assert "apt-get install qemu-system-x86" in error and "Traceback" not in error
    assert not (tmp_path / "docker" / "machine" / "machines" / "noqemu").exists()


def _env_of(machine_env: str) -> dict[str, str]:
    """`pallet machine env NAME`'s exports as a dict."""
    found = {}
    for line in machine_env.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            found[key] = shlex.split(value)[0] if value else ""
    return found


def test_machine_create_stop_start_rm(tmp_path):
    """create boots and provisions the VM; the engine answers over TLS (cgroup v2 inside);
    stop powers it off (status: Stopped) and start boots it again; a VM process gone (as after
    a host reboot) is Stopped too; rm deletes its disk and leaves no qemu."""
    env = {"DOCKER_CONFIG": str(tmp_path / "docker")}
    directory = tmp_path / "docker" / "machine" / "machines" / "qm"

    def pallet(*args, timeout=900):
        return run_pallet(*args, env=env, timeout=timeout)

    made = pallet("machine", "create", "--driver", "qemu", "--cpus", "2", "--memory", "1024",
                  "--disk-size", "6", "qm")
    try:
        assert made.returncode == 0, made.stderr.decode()
        assert pallet("machine", "status", "qm").stdout == b"Running\n"
        remote = _env_of(pallet("machine", "env", "qm").stdout.decode())
        assert remote["DOCKER_HOST"].startswith("tcp://127.0.0.1:")
        info = run_pallet("info", "--format", "{{.CgroupVersion}} {{.NCPU}}",
                          env={**env, **remote}, timeout=300)
        assert info.stdout == b"2 2\n", info.stderr.decode()
        size = pallet("machine", "ssh", "qm", "df", "-BG", "--output=size", "/").stdout
        assert size.split()[-1] in (b"6G", b"5G"), size     # grown to --disk-size at boot
        stopped = pallet("machine", "stop", "qm")
        assert stopped.returncode == 0, stopped.stderr.decode()
        assert qemu_processes(directory) == []
        assert pallet("machine", "status", "qm").stdout == b"Stopped\n"
        started = pallet("machine", "start", "qm")
        assert started.returncode == 0, started.stderr.decode()
        assert run_pallet("info", "--format", "{{.CgroupVersion}}", env={**env, **remote},
                          timeout=300).stdout == b"2\n"
        # the VM process gone without a shutdown (a host reboot): Stopped, as after stop, from
        # which start boots it again (above)
        qemu.kill(directory, grace=0.5)
        assert pallet("machine", "status", "qm").stdout == b"Stopped\n"
        # a stopped VM is removed without -f: its disk goes with it, nothing is asked of ssh
        removed = pallet("machine", "rm", "-y", "qm")
        assert removed.returncode == 0, removed.stderr.decode()
        assert not directory.exists() and qemu_processes(directory) == []
    finally:
        if directory.exists():
            pallet("machine", "rm", "-f", "-y", "qm")
        qemu.kill(directory)
