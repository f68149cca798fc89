"""A full disk: every command that must write fails with "no space left on device" and what
it was doing (never an internal error), nothing half-made is left, a detached `--rm`
container is still removed when it exits, and the commands a user needs to get space back
(`ps`, `logs`, `rm -f`, `system df`, `system prune`, `system check --repair`) work. The
store is on a 16 MiB tmpfs the test mounts (and unmounts)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import run_pallet
from tests.images import make_busybox_image

pytestmark = pytest.mark.root


@pytest.fixture
def small_store(tmp_path):
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs",
                    str(mountpoint)], check=True)
    root = mountpoint / "root"
    try:
        make_busybox_image(root, "busybox:latest")
        yield root
    finally:
        for container in run_pallet("ps", "-aq", root=root).stdout.decode().split():
            run_pallet("rm", "-f", container, root=root)
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def _fill(root: Path) -> None:
    """Write until the filesystem refuses even one more page."""
    for name, size in (("filler", 1 << 20), ("filler2", 4096)):
        fd = os.open(root.parent / name, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError:
            pass
        finally:
            os.close(fd)


def _no_space(result: subprocess.CompletedProcess) -> str:
    err = result.stderr.decode()
    assert result.returncode != 0, err
    assert "no space left on device while" in err, err
    assert "internal error" not in err and "Traceback" not in err
    return err


def test_a_full_disk_is_a_clear_error_and_recovery_commands_work(small_store, tmp_path):
    root = small_store
    run = run_pallet("run", "-d", "--rm", "--name", "rm-me", "busybox", "sleep", "1000",
                     root=root)
    assert run.returncode == 0, run.stderr
    run = run_pallet("run", "-d", "--name", "logger", "busybox", "sh", "-c",
                     "while true; do echo line; sleep 0.1; done", root=root)
    assert run.returncode == 0, run.stderr
    _fill(root)

    err = _no_space(run_pallet("run", "--rm", "busybox", "true", root=root))
    assert "`pallet run`" in err
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /hi\n")
    _no_space(run_pallet("build", "-q", "-t", "new:1", str(context), root=root))

    # the --rm container's monitor survives the full disk and removes it when it exits
    assert run_pallet("kill", "rm-me", root=root).returncode == 0
    deadline = time.monotonic() + 20
    names = ""
    while time.monotonic() < deadline:
        listed = run_pallet("ps", "-a", "--format", "{{.Names}}", root=root)
        assert listed.returncode == 0, listed.stderr
        names = listed.stdout.decode().split()
        if "rm-me" not in names:
            break
        time.sleep(0.5)
    assert names == ["logger"], names  # and the failed run left no container

    assert run_pallet("logs", "logger", root=root).returncode == 0
    assert run_pallet("system", "df", root=root).returncode == 0
    removed = run_pallet("rm", "-f", "logger", root=root)
    assert removed.returncode == 0, removed.stderr
    assert run_pallet("ps", "-aq", root=root).stdout == b""
    pruned = run_pallet("system", "prune", "-f", "-a", root=root)
    assert pruned.returncode == 0, pruned.stderr
    checked = run_pallet("system", "check", "--repair", root=root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
