"""The streaming commands over ssh:// (a real sshd in a network namespace, tests/remote/
sshremote.py): run with its exit code and stdin, run -it on a terminal, cp both ways, build,
and a logs -f whose ssh connection is dropped mid-stream ends cleanly."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import PALLET
from tests.remote.sshremote import ssh_remote
from tests.remote.streams_support import Terminal, local, ok, read_exactly

pytestmark = [pytest.mark.root, pytest.mark.server, pytest.mark.netns]


def _over(remote, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(PALLET), "-H", remote.url, *args], input=input,
                          capture_output=True, env=remote.env, timeout=120)


def test_run_it_cp_build_and_logs_over_ssh(api, client_env, tmp_path):
    with ssh_remote(api, client_env) as remote:
        done = _over(remote, "run", "--rm", "-i", "busybox", "sh", "-c",
                     "cat; echo err >&2; exit 7", input=b"through ssh\n")
        assert (done.returncode, done.stdout, done.stderr) == (7, b"through ssh\n", b"err\n")

        terminal = Terminal([str(PALLET), "-H", remote.url, "run", "-it", "--rm", "busybox",
                             "sh"], env=remote.env, rows=33, columns=111)
        terminal.read_until(b"# ")
        terminal.ask_until(b"stty size\r", b"33 111")
        terminal.send(b"exit 3\r")
        assert terminal.wait() == 3

        ok(_over(remote, "run", "-d", "--name", "rio-ssh", "busybox", "sh", "-c",
                 "mkdir /box; echo first; sleep 60"))
        source = tmp_path / "payload.txt"
        source.write_text("over the wire\n")
        ok(_over(remote, "cp", str(source), "rio-ssh:/box/"))
        ok(_over(remote, "cp", "rio-ssh:/box/payload.txt", str(tmp_path / "back.txt")))
        assert (tmp_path / "back.txt").read_text() == "over the wire\n"

        context = tmp_path / "ctx"
        context.mkdir()
        (context / "Dockerfile").write_text("FROM busybox\nCOPY payload.txt /\n")
        (context / "payload.txt").write_text("built over ssh\n")
        ok(_over(remote, "build", "-q", "-t", "rio-ssh-built:1", str(context)))
        assert ok(local(api, "run", "--rm", "rio-ssh-built:1", "cat", "/payload.txt")) == \
            "built over ssh\n"

        follower = subprocess.Popen([str(PALLET), "-H", remote.url, "logs", "-f", "rio-ssh"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=remote.env)
        read_exactly(follower.stdout, b"first\n")     # the backlog is through
        time.sleep(0.3)                                 # the follow waits for more
        remote.end_masters()          # the ssh connection goes away under it
        stdout, stderr = follower.communicate(timeout=30)
        assert (follower.returncode, stdout) == (0, b""), stderr
        assert b"Traceback" not in stderr
        ok(local(api, "rm", "-f", "rio-ssh"))
