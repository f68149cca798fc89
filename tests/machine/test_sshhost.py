"""The test "remote host" (tests/sshhost.py) itself: reachable only over its veth, as root with
its key, a non-root account on request, and nothing of it left after teardown."""

from __future__ import annotations

import os
import subprocess
import pytest

from tests.sshhost import alive, ssh_host

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.server]


def test_sshd_in_a_namespace_answers_over_the_veth_and_leaves_nothing_behind(tmp_path):
    with ssh_host(log_commands=True, set_env={"PALLET_MARK": "here"}) as host:
        result = host.run("id -u; echo $PALLET_MARK; ip -4 -o addr show scope global")
        lines = result.stdout.decode().splitlines()
        assert lines[0] == "0" and lines[1] == "here"
        # the session runs in the namespace: its only global address is the veth's far end
        assert len(lines) == 3 and f"{host.address}/30" in lines[2]
        assert host.commands()[-1].startswith("id -u")
        # the filesystem is shared: a file written there is here
        (tmp_path / "probe").write_text("shared")
        assert host.run(f"cat {tmp_path / 'probe'}").stdout == b"shared"
        # a plain `ssh` with the generated client config reaches it by alias
        config = host.ssh_config(tmp_path / "config")
        assert subprocess.run(["ssh", "-F", str(config), "sshhost", "true"],
                              timeout=30).returncode == 0
        wrapper_env = dict(os.environ, PATH=f"{host.client_bin()}:{os.environ['PATH']}")
        assert subprocess.run(["ssh", host.address, "true"], env=wrapper_env,
                              timeout=30).returncode == 0
        # another key is refused
        other = tmp_path / "other"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                       check=True)
        refused = subprocess.run(host.ssh_argv(key=other) + ["true"], capture_output=True,
                                 timeout=30)
        assert refused.returncode == 255 and b"Permission denied" in refused.stderr
        # a temporary non-root account logs in with its own key
        login, _ = host.add_user()
        assert host.run("id -u", user=login).stdout.strip() != b"0"
        # a process a session leaves behind shows up, and teardown stops it
        pid = int(host.run("setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!").stdout)
        assert pid in host.processes() and host.sshd_pid not in host.processes()
        netns, directory = host.netns, host.directory
        veth = f"vpm{netns[3:]}h"
    assert not alive(pid)
    assert not os.path.exists(f"/run/netns/{netns}")
    assert not os.path.exists(f"/sys/class/net/{veth}")
    assert not directory.exists()
    assert subprocess.run(["id", login], capture_output=True).returncode != 0


def test_the_namespace_sees_its_own_interfaces_in_sys_and_keeps_cgroups():
    with ssh_host() as host:
        names = host.run("ls /sys/class/net").stdout.split()
        assert sorted(names) == [b"lo", f"vpm{host.netns[3:]}r".encode()]
        assert host.run("readlink -f /sys/class/net/lo").stdout.strip() == \
            b"/sys/devices/virtual/net/lo"
        assert b"cgroup" in host.run("grep cgroup /proc/mounts").stdout
        # this host's /sys and mounts are untouched
        assert os.path.exists(f"/sys/class/net/vpm{host.netns[3:]}h")
