"""`pallet machine create/rm` on bad input: an unreachable host, a wrong key, a user without
root, an ssh URL with a path, a bad prefix, and `rm` of a machine whose host is gone. Each a
one-paragraph error, a non-zero exit, and nothing left: no local record, nothing on the host."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.machine.conftest import SESSION_PATH, Machine, new_prefix, remove_prefix
from tests.sshhost import ssh_host

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.server,
              pytest.mark.xdist_group("machine-bad-input")]


@pytest.fixture
def clean(remote, machine_config):
    """A Machine description (never created by the fixture) whose prefix must stay absent."""
    made = Machine(name=f"bad{os.urandom(2).hex()}", host=remote, prefix=new_prefix(),
                   config=machine_config)
    yield made
    remove_prefix(made.prefix)


def _text(result) -> str:
    return result.stdout.decode() + result.stderr.decode()


def _refused(machine: Machine, result, *phrases: str) -> None:
    err = result.stderr.decode()
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.startswith("Error: "), err
    for phrase in phrases:
        assert phrase in err, err
    # nothing half-made: no record, no context, nothing on the host
    assert not machine.directory.exists()
    listed = machine.pallet("machine", "ls", "-q")
    assert machine.name not in listed.stdout.decode().split()
    assert not os.path.exists(machine.prefix)


def test_an_unreachable_host_is_a_clear_error(clean):
    result = clean.pallet(*clean.create_args(), "--generic-ssh-port", "1")
    _refused(clean, result, f"could not reach root@{clean.host.address}:1 over ssh",
             "Connection refused")


def test_a_wrong_key_is_refused_by_the_host(clean, tmp_path):
    key = tmp_path / "wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    args = clean.create_args()
    args[args.index("--generic-ssh-key") + 1] = str(key)
    _refused(clean, clean.pallet(*args), "permission denied", "--generic-ssh-key")


def test_a_missing_key_file_is_named(clean, tmp_path):
    args = clean.create_args()
    args[args.index("--generic-ssh-key") + 1] = str(tmp_path / "absent")
    _refused(clean, clean.pallet(*args), "--generic-ssh-key", "no such file")


def test_a_user_without_root_or_sudo_is_refused(clean):
    login, key = clean.host.add_user()
    args = clean.create_args()
    args[args.index("--generic-ssh-key") + 1] = str(key)
    result = clean.pallet(*args, "--generic-ssh-user", login)
    _refused(clean, result, "not root", "sudo")


def test_an_ssh_url_with_a_path_is_refused(clean):
    args = clean.create_args()
    args[args.index("--generic-ip-address") + 1] = f"ssh://root@{clean.host.address}/run/x.sock"
    _refused(clean, clean.pallet(*args), "an ssh URL names a host, not a path", "/run/x.sock")


def test_an_ssh_url_without_a_path_is_accepted_as_the_address():
    from pallet.machine.drivers.generic import parse_address
    assert parse_address("ssh://core@10.1.2.3:2222") == ("10.1.2.3", "core", 2222)
    assert parse_address("10.1.2.3") == ("10.1.2.3", None, None)


@pytest.mark.parametrize("prefix, phrase", [
    ("relative/dir", "absolute directory"),
    ("/opt", "at least two levels deep"),
    ("/etc/pallet-machine/x", "not under /etc"),
    ("/tmp/" + "x" * 120, "too long"),
])
def test_a_bad_prefix_is_refused_before_the_host_is_touched(clean, prefix, phrase):
    _refused(clean, clean.pallet(*clean.create_args(prefix=prefix)), phrase)


def test_a_non_empty_prefix_on_the_host_is_left_alone(clean):
    os.makedirs(clean.prefix)
    open(f"{clean.prefix}/precious", "w").close()
    result = clean.pallet(*clean.create_args())
    assert result.returncode != 0 and b"exists and is not empty" in result.stderr
    assert os.listdir(clean.prefix) == ["precious"]
    assert not clean.directory.exists()


def test_rm_of_a_machine_whose_host_is_gone_needs_force(machine_config):
    """A machine whose host disappeared: rm says so and keeps the record; rm -f forgets it."""
    prefix, unreachable = new_prefix(), None
    try:
        with ssh_host(set_env={"PATH": f"{prefix}/bin:{SESSION_PATH}"}) as host:
            gone = Machine(name=f"gone{os.urandom(2).hex()}", host=host, prefix=prefix,
                           config=machine_config)
            made = gone.pallet(*gone.create_args(), timeout=900)
            assert made.returncode == 0, made.stderr.decode()
        # the namespace, its sshd and every process in it are gone now, and its address
        # unreachable (a route of the test's own: nothing is sent off this machine)
        subprocess.run(["ip", "route", "add", "unreachable", f"{host.address}/32"], check=True)
        unreachable = host.address
        # ls and status say so
        listed = gone.pallet("machine", "ls", "--format", "{{.Name}} {{.State}}", timeout=60)
        assert f"{gone.name} Stopped" in listed.stdout.decode().splitlines(), _text(listed)
        assert gone.pallet("machine", "status", gone.name).stdout == b"Stopped\n"
        refused = gone.pallet("machine", "rm", "-y", gone.name)
        assert refused.returncode != 0
        err = refused.stderr.decode()
        assert f'Error removing host "{gone.name}"' in err and "rm -f" in err, err
        assert gone.directory.exists()
        forced = gone.pallet("machine", "rm", "-f", gone.name)
        assert forced.returncode == 0, forced.stderr.decode()
        assert f"Successfully removed {gone.name}" in forced.stdout.decode()
        assert b"WARNING" in forced.stderr
        assert not gone.directory.exists()
        assert gone.name not in gone.pallet("machine", "ls", "-q").stdout.decode().split()
    finally:
        if unreachable:
            subprocess.run(["ip", "route", "del", "unreachable", f"{unreachable}/32"])
        remove_prefix(prefix)


def test_commands_on_an_unknown_machine_say_it_does_not_exist(machine_config):
    from tests.conftest import run_pallet
    for command in (["status"], ["env"], ["ssh"], ["rm", "-y"], ["inspect"], ["ip"], ["url"],
                    ["stop"], ["upgrade"]):
        result = run_pallet("machine", *command, "nosuch", env={"DOCKER_CONFIG": str(machine_config)})
        assert result.returncode != 0, command
        assert result.stderr.decode() == 'Error: Host does not exist: "nosuch"\n', command


def test_a_name_an_existing_context_holds_is_refused_before_the_host_is_touched(clean):
    made = clean.pallet("context", "create", clean.name, "--docker", "host=tcp://127.0.0.1:1")
    assert made.returncode == 0, made.stderr
    try:
        _refused(clean, clean.pallet(*clean.create_args()),
                 f'a context named "{clean.name}" already exists')
        shown = clean.pallet("context", "inspect", clean.name, "--format",
                             "{{.Endpoints.docker.Host}}")
        assert shown.stdout == b"tcp://127.0.0.1:1\n"     # the user's context is untouched
    finally:
        clean.pallet("context", "rm", clean.name)
