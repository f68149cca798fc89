"""attach: through the monitor's socket to a running container; Ctrl-P Ctrl-Q detaches and
leaves it running; signals are proxied; the container's exit code is attach's; refusals in
docker's words (compared with a private dockerd)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.conftest import PALLET
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.root]


def _read_until(fd: int, wanted: bytes, timeout: float = 15) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def test_attach_to_a_tty_and_detach_with_ctrl_p_ctrl_q(root):
    cid = out(pallet(root, "run", "-dit", "--name", "att-tty", "busybox", "sh")).strip()
    try:
        pid, master = pty.fork()
        if pid == 0:
            os.execv(str(PALLET), [str(PALLET), "--root", str(root), "attach", "att-tty"])
        time.sleep(0.5)
        os.write(master, b"echo attached-$((40+2))\r")
        assert b"attached-42" in _read_until(master, b"attached-42")
        os.write(master, b"\x10\x11")                        # Ctrl-P Ctrl-Q
        # docker attach returns the escape it read: its text, exit 1
        assert b"read escape sequence" in _read_until(master, b"read escape sequence")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 1
        os.close(master)
        assert out(pallet(root, "inspect", "-f", "{{.State.Running}}", cid)) == "true\n"
    finally:
        pallet(root, "rm", "-f", cid)


def test_attach_exit_code_stdin_and_signal_proxy(root):
    pallet(root, "run", "-d", "-i", "--name", "att-in", "busybox", "sh", "-c",
           "read x; echo got $x; exit 3")
    piped = subprocess.run([str(PALLET), "--root", str(root), "attach", "att-in"],
                           input=b"word\n", capture_output=True, timeout=30)
    assert (piped.returncode, piped.stdout) == (3, b"got word\n")
    pallet(root, "run", "-d", "--name", "att-sig", "busybox", "sh", "-c",
           'trap "echo caught; exit 5" TERM; echo ready; while :; do sleep 0.1; done')
    attached = subprocess.Popen([str(PALLET), "--root", str(root), "attach", "att-sig"],
                                stdout=subprocess.PIPE)
    time.sleep(1.0)
    attached.send_signal(signal.SIGTERM)
    output, _ = attached.communicate(timeout=30)
    assert attached.returncode == 5 and b"caught" in output
    pallet(root, "run", "-d", "--name", "att-nosig", "busybox", "sleep", "60")
    attached = subprocess.Popen([str(PALLET), "--root", str(root), "attach", "--sig-proxy=false",
                                 "att-nosig"])
    time.sleep(1.0)
    attached.send_signal(signal.SIGTERM)
    attached.wait(timeout=30)
    assert out(pallet(root, "inspect", "-f", "{{.State.Running}}", "att-nosig")) == "true\n"
    pallet(root, "rm", "-f", "att-in", "att-sig", "att-nosig")


@pytest.mark.docker
@pytest.mark.server
def test_attach_refusals_match_docker(root, dockerd):  # noqa: F811
    from tests.images import busybox_rootfs_tarball
    dockerd.docker("import", "-c", 'CMD ["sh"]', str(busybox_rootfs_tarball()), "busybox")
    for runner in (lambda *a: dockerd.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("create", "--network", "none", "--name", "att-idle", "busybox", "true")
        runner("run", "-d", "--network", "none", "--name", "att-paused", "busybox", "sleep", "60")
        runner("pause", "att-paused")
    try:
        for args in (("attach", "att-idle"), ("attach", "att-nosuch"), ("attach", "att-paused")):
            theirs = dockerd.docker(*args, check=False)
            ours = pallet(root, *args)
            assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)
    finally:
        dockerd.docker("rm", "-f", "att-idle", "att-paused", check=False)
        pallet(root, "rm", "-f", "att-idle", "att-paused")
