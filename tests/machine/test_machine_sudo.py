"""`pallet machine create` with a non-root ssh user that has passwordless sudo (Docker
Machine's usual case: `ubuntu`, `admin`, ...): every step that needs root goes through
`sudo -n`, the engine runs as root, the stock docker CLI drives it over TLS, the service
commands work, and `rm` leaves nothing on the host.

The account and its sudoers rule are made for this module and removed after it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.images import busybox_rootfs_tarball
from tests.machine.conftest import Machine

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.server,
              pytest.mark.xdist_group("machine-sudo")]

DOCKER = "/usr/bin/docker"


def _text(result) -> str:
    return result.stdout.decode() + result.stderr.decode()


@pytest.fixture(scope="module")
def sudo_user(remote):
    login, key = remote.add_user()
    rule = Path(f"/etc/sudoers.d/pallet-test-{login}")
    rule.write_text(f"{login} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    rule.chmod(0o440)
    try:
        assert remote.run("sudo -n id -u", user=login).stdout == b"0\n"
        yield login, key
    finally:
        rule.unlink()


@pytest.fixture(scope="module")
def machine(remote, machine_config, sudo_user):
    login, key = sudo_user
    made = Machine(name=f"su{os.urandom(2).hex()}", host=remote, prefix=remote.prefix,
                   config=machine_config, link_dir=remote.links)
    args = made.create_args()
    at = args.index("--generic-ssh-key")
    args[at + 1] = str(key)
    result = made.pallet(*args[:-1], "--generic-ssh-user", login, args[-1], timeout=900)
    assert result.returncode == 0, _text(result)
    yield made
    if made.directory.exists():
        made.pallet("machine", "rm", "-y", "-f", made.name)


def _docker(machine: Machine, *args: str, input: bytes | None = None):
    from tests.conftest import PALLET
    script = f'eval "$({PALLET} machine env {machine.name})" && exec {DOCKER} "$@"'
    return subprocess.run(["bash", "-c", script, "docker", *args], capture_output=True,
                          input=input, timeout=300, env={**os.environ, **machine.env})


def _serve_pid(machine: Machine) -> int:
    return int(Path(machine.prefix, "run", "pallet.pid").read_text())


def test_the_install_is_roots_and_the_engine_runs_as_root(machine, sudo_user):
    login, _ = sudo_user
    config = machine.directory / "config.json"
    assert config.exists()
    assert Path(machine.prefix).stat().st_uid == 0
    pid = _serve_pid(machine)
    status = Path(f"/proc/{pid}/status").read_text()
    assert "\nUid:\t0\t0\t0\t0\n" in status, status
    # the session that provisioned was the user's, not root's
    assert login in (machine.directory / "config.json").read_text()


def test_the_docker_cli_runs_a_container_on_the_machine(machine):
    imported = _docker(machine, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest",
                       input=busybox_rootfs_tarball().read_bytes())
    assert imported.returncode == 0, _text(imported)
    ran = _docker(machine, "run", "--rm", "busybox", "id", "-u")
    assert (ran.returncode, ran.stdout) == (0, b"0\n"), _text(ran)


def test_stop_and_start_go_through_sudo(machine):
    stopped = machine.pallet("machine", "stop", machine.name)
    assert stopped.returncode == 0, _text(stopped)
    assert machine.pallet("machine", "status", machine.name).stdout == b"Stopped\n"
    started = machine.pallet("machine", "start", machine.name)
    assert started.returncode == 0, _text(started)
    assert machine.pallet("machine", "status", machine.name).stdout == b"Running\n"
    assert _docker(machine, "ps").returncode == 0


def test_rm_removes_the_install_through_sudo(machine):
    from tests.sshhost import alive
    pid = _serve_pid(machine)
    removed = machine.pallet("machine", "rm", "-y", machine.name)
    assert removed.returncode == 0, _text(removed)
    assert not os.path.exists(machine.prefix)
    assert not alive(pid)
    assert [p for p in machine.host.processes() if alive(p)] == []
    assert not machine.directory.exists()
