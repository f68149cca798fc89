"""`pallet run` on a busybox image from the store: Docker's defaults, flags and exit codes."""

from __future__ import annotations

import json

import pytest

from tests.cli.ctr_helpers import container_leftovers, out, pallet
from tests.images import make_busybox_image

pytestmark = pytest.mark.root


def test_run_prints_output_and_returns_the_exit_code(root):
    result = pallet(root, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert out(result) == "out\n"
    assert result.stderr.decode() == "err\n"


def test_environment_defaults_and_overrides(root, tmp_path):
    env_file = tmp_path / "env.list"
    env_file.write_text("# comment\nFROM_FILE=1\nSHARED=file\n")
    result = pallet(root, "run", "--rm", "--hostname", "h1", "--env-file", str(env_file),
                    "-e", "SHARED=flag", "-e", "X=y", "busybox", "env")
    lines = out(result).splitlines()
    assert result.returncode == 0
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in lines
    assert "HOSTNAME=h1" in lines and "HOME=/root" in lines
    assert "FROM_FILE=1" in lines and "SHARED=flag" in lines and "X=y" in lines


def test_default_hostname_is_the_short_id(root):
    result = pallet(root, "run", "busybox", "hostname")
    hostname = out(result).strip()
    ps = pallet(root, "ps", "-a", "-q", "--no-trunc")
    assert out(ps).strip()[:12] == hostname


def test_entrypoint_cmd_workdir_and_user(root):
    make_busybox_image(root, "tool:1", changes=('ENTRYPOINT ["echo", "from-entrypoint"]',
                                               'CMD ["default-arg"]', "WORKDIR /srv/app",
                                               "USER nobody"))
    assert out(pallet(root, "run", "--rm", "tool:1")) == "from-entrypoint default-arg\n"
    assert out(pallet(root, "run", "--rm", "tool:1", "given")) == "from-entrypoint given\n"
    result = pallet(root, "run", "--rm", "--entrypoint", "sh", "tool:1", "-c", "pwd; id -un")
    assert out(result).split() == ["/srv/app", "nobody"]
    result = pallet(root, "run", "--rm", "--entrypoint", "id", "-u", "0:0", "-w", "/tmp", "tool:1")
    assert out(result).startswith("uid=0(root) gid=0(root)")


def test_exit_codes_125_126_127(root):
    assert pallet(root, "run", "--rm", "nosuchimage").returncode == 125
    missing = pallet(root, "run", "--rm", "busybox", "nosuchcmd")
    assert missing.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in missing.stderr.decode()
    not_exec = pallet(root, "run", "--rm", "busybox", "/etc/passwd")
    assert not_exec.returncode == 126
    assert pallet(root, "run", "--rm", "-m", "12q", "busybox", "true").returncode == 125
    assert pallet(root, "ps", "-a", "-q").stdout == b""  # nothing half-created


def test_stdin_with_dash_i(root):
    result = pallet(root, "run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input=b"hello\n")
    assert out(result) == "HELLO\n"
    result = pallet(root, "run", "--rm", "busybox", "cat", input=b"ignored\n")
    assert out(result) == ""


def test_tty_is_a_real_pty(root):
    result = pallet(root, "run", "--rm", "-t", "busybox", "sh", "-c",
                    "tty; [ -t 0 ] && [ -t 1 ] && echo isatty; echo $TERM; stat -c %t:%T /dev/console")
    # Docker's shape: a pty from the container's own devpts, also at /dev/console; the pty's
    # onlcr turns \n into \r\n.
    assert out(result) == "/dev/pts/0\r\nisatty\r\nxterm\r\n88:0\r\n"


def test_volumes_binds_tmpfs_and_read_only(root, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("host\n")
    result = pallet(root, "run", "--rm", "-v", f"{data}:/data", "--tmpfs", "/scratch",
                    "--mount", f"type=bind,source={data},target=/ro,readonly", "--read-only",
                    "busybox", "sh", "-c",
                    "cat /data/in; echo new > /data/out; echo t > /scratch/t; touch /x 2>&1; "
                    "touch /ro/x 2>&1; true")
    text = out(result)
    assert text.startswith("host\n") and text.count("Read-only file system") == 2
    assert (data / "out").read_text() == "new\n"
    # -v makes a missing bind source, as Docker does; --mount type=bind refuses it
    missing = pallet(root, "run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/x",
                     "busybox", "true")
    assert missing.returncode == 125 and "bind source path does not exist" in missing.stderr.decode()


def test_named_volume_persists_between_containers(root):
    pallet(root, "run", "--rm", "-v", "vol1:/v", "busybox", "sh", "-c", "echo kept > /v/f")
    assert out(pallet(root, "run", "--rm", "-v", "vol1:/v", "busybox", "cat", "/v/f")) == "kept\n"


def test_memory_limit_oom_is_137_and_recorded(root):
    result = pallet(root, "run", "--name", "hog", "-m", "32m", "--memory-swap", "32m", "busybox",
                    "tail", "/dev/zero")
    assert result.returncode == 137
    state = json.loads(out(pallet(root, "inspect", "hog")))[0]["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137


def test_pids_limit_and_caps_and_privileged(root):
    result = pallet(root, "run", "--rm", "--pids-limit", "4", "busybox", "sh", "-c",
                    "for i in 1 2 3 4 5 6; do sleep 2 & done 2>&1; true")
    assert "can't fork" in out(result) + result.stderr.decode()
    caps = pallet(root, "run", "--rm", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "busybox",
                  "grep", "CapBnd", "/proc/self/status")
    assert int(out(caps).split()[1], 16) == (0xa80425fb | 1 << 12) & ~1
    priv = pallet(root, "run", "--rm", "--privileged", "busybox", "grep", "CapBnd", "/proc/self/status")
    ours = next(line for line in open("/proc/self/status") if line.startswith("CapBnd"))
    assert out(priv).split()[1] == ours.split()[1]  # everything we have ourselves
    bad = pallet(root, "run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    assert bad.returncode == 125 and "unknown capability" in bad.stderr.decode()


def test_network_host_and_none(root):
    import os
    host = pallet(root, "run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net")
    assert out(host).strip() == os.readlink("/proc/self/ns/net")
    none = pallet(root, "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert out(none).split() == ["lo"]
    bridged = pallet(root, "run", "--rm", "busybox", "ls", "/sys/class/net")  # Docker's default
    assert out(bridged).split() == ["eth0", "lo"]
    bad = pallet(root, "run", "--rm", "--network", "bridge0", "busybox", "true")
    assert bad.returncode == 125 and "network bridge0 not found" in bad.stderr.decode()


def test_init_makes_the_command_pid_2(root):
    result = pallet(root, "run", "--rm", "--init", "busybox", "sh", "-c", "echo $$")
    assert out(result).strip() == "2"


def test_rm_leaves_nothing_behind(root):
    result = pallet(root, "run", "--rm", "busybox", "sh", "-c", "hostname")
    container_id_prefix = out(result).strip()
    assert result.returncode == 0
    assert list((root / "containers").iterdir()) == [root / "containers" / ".lock"]
    assert not container_leftovers(root, container_id_prefix.ljust(64, "0"))


def test_name_conflict_and_etc_hosts(root):
    assert pallet(root, "run", "--name", "web", "--add-host", "db:10.0.0.5", "busybox",
                  "cat", "/etc/hosts").returncode == 0
    again = pallet(root, "run", "--name", "web", "busybox", "true")
    assert again.returncode == 125
    assert 'The container name "/web" is already in use' in again.stderr.decode()
    hosts = out(pallet(root, "logs", "web"))
    # Docker's order: the defaults, --add-host entries, then the container's own address.
    assert hosts.startswith("127.0.0.1\tlocalhost\n") and "\n10.0.0.5\tdb\n" in hosts
    record = hosts.splitlines()[-1].split("\t")
    assert record[0].startswith("172.") or record[0].startswith("192.168."), hosts


def test_tty_takes_the_callers_window_size(root):
    import fcntl
    import os
    import struct
    import subprocess
    import termios

    from tests.conftest import PALLET

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
    child = subprocess.Popen([str(PALLET), "--root", str(root), "run", "--rm", "-it", "busybox",
                              "stty", "size"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert child.wait(timeout=60) == 0
    os.close(master)
    assert b"33 77" in output
