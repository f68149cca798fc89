"""Scratch space after SIGKILL: the next command opening the store sweeps what a killed
process left in tmp/ (no `system check --repair` needed), and never touches the scratch of a
process that is still running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pallet.runtime.store import scratch
from pallet.runtime.store.content import Store
from tests.conftest import run_pallet

WRITER = textwrap.dedent("""
    import sys, time
    from pallet.runtime.store.content import Store
    store = Store.open(sys.argv[1])
    writer = store.blob_writer()
    writer.write(b"half a blob")
    work = store.temp_dir("build-")
    (work / "layer").mkdir()
    (work / "layer" / "file").write_bytes(b"x" * 1000)
    print(work, flush=True)
    time.sleep(600)
""")


def _writer(root: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE)
    line = process.stdout.readline().decode().strip()
    assert line, "the writer did not start"
    return process, Path(line)


def _others(root: Path) -> list[str]:
    """tmp/ entries that are not this test process's own (live) scratch."""
    mine = {p.name for p in scratch.owned_dirs()}
    mine |= {name + ".lock" for name in mine}
    return sorted(p.name for p in (root / "tmp").iterdir() if p.name not in mine)


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_the_next_command_sweeps_what_a_killed_process_left(pallet_root):
    Store.open(pallet_root)
    process, work = _writer(pallet_root)
    assert work.parent.parent == pallet_root / "tmp" and (work / "layer" / "file").exists()
    _kill(process)
    assert work.exists()  # SIGKILL ran no cleanup
    result = run_pallet("images", root=pallet_root)
    assert result.returncode == 0, result.stderr
    assert _others(pallet_root) == []


def test_a_live_process_scratch_is_never_swept(pallet_root):
    Store.open(pallet_root)
    process, work = _writer(pallet_root)
    try:
        for _ in range(2):
            assert run_pallet("images", root=pallet_root).returncode == 0
            assert run_pallet("system", "check", "--repair", root=pallet_root).returncode == 0
        assert (work / "layer" / "file").read_bytes() == b"x" * 1000
        assert scratch.leftovers(pallet_root / "tmp") == []
    finally:
        _kill(process)
    assert sorted(p.name for p in scratch.leftovers(pallet_root / "tmp")) == sorted(
        [work.parent.name, work.parent.name + ".lock"])
    assert run_pallet("images", root=pallet_root).returncode == 0
    assert not work.parent.exists()


def test_this_process_keeps_its_own_scratch_while_it_lives(tmp_path):
    store = Store.open(tmp_path)
    mine = store.tmp
    (mine / "in-use").write_bytes(b"1")
    Store.open(tmp_path)  # sweeps, but not this process's
    assert (mine / "in-use").exists() and store.tmp == mine


def test_unowned_entries_are_swept_only_once_old(tmp_path):
    store = Store.open(tmp_path / "root")
    old = store.tmp_base / "blob-from-an-older-pallet"
    young = store.tmp_base / "context-just-made"
    old.write_bytes(b"x")
    young.mkdir()
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert run_pallet("images", root=tmp_path / "root").returncode == 0
    assert not old.exists() and young.exists()


@pytest.mark.root
def test_a_mount_left_inside_a_killed_process_scratch_is_detached_not_emptied(pallet_root,
                                                                            tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious").write_text("do not delete")
    Store.open(pallet_root)
    process, work = _writer(pallet_root)
    target = work / "layer" / "mounted"
    target.mkdir()
    subprocess.run(["mount", "--bind", str(keep), str(target)], check=True)
    try:
        _kill(process)
        assert run_pallet("images", root=pallet_root).returncode == 0
        assert (keep / "precious").read_text() == "do not delete"
        assert str(work) not in Path("/proc/self/mountinfo").read_text()
        assert _others(pallet_root) == []
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.mark.root
def test_a_build_killed_mid_step_leaves_nothing_after_the_next_command(tmp_path):
    from tests.images import make_busybox_image
    root = tmp_path / "root"
    make_busybox_image(root, "busybox:latest")
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx\nRUN echo started; sleep 60\n")
    (context / "data").write_bytes(os.urandom(100_000))
    process = subprocess.Popen([str(Path(sys.executable).parent / "pallet"), "--root", str(root),
                                "build", "--progress", "plain", str(context)],
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    seen = b""
    while b"started" not in seen and time.monotonic() < deadline:
        seen += process.stderr.readline()
    assert b"started" in seen, seen
    assert _others(root)
    _kill(process)
    time.sleep(0.5)  # the build container's processes die with their namespace
    assert run_pallet("ps", "-a", root=root).returncode == 0
    assert _others(root) == []


def _wait_for_no_others(root: Path, seconds: float = 120) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _others(root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_detached_removal_takes_the_tree_away_at_once_and_removes_it(pallet_root):
    store = Store.open(pallet_root)
    tree = store.temp_dir("context-")
    for index in range(300):
        (tree / f"f{index}").write_bytes(b"x" * 100)
    scratch.remove_detached(tree, pallet_root / "tmp")
    assert not tree.exists()  # renamed into the remover's own directory before the call returned
    taken = [name for name in _others(pallet_root) if not name.endswith(".lock")]
    assert len(taken) <= 1  # the remover's directory, while it works
    assert _wait_for_no_others(pallet_root) == []


@pytest.mark.root
def test_a_detached_removal_detaches_a_mount_inside_instead_of_emptying_it(pallet_root, tmp_path):
    store = Store.open(pallet_root)
    tree = store.temp_dir("context-")
    (tree / "mnt").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"host file")
    subprocess.run(["mount", "--bind", str(outside), str(tree / "mnt")], check=True)
    try:
        scratch.remove_detached(tree, pallet_root / "tmp")
        assert _wait_for_no_others(pallet_root) == []
        assert (outside / "keep").read_bytes() == b"host file"
        assert str(pallet_root) not in Path("/proc/self/mountinfo").read_text()
    finally:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            if str(pallet_root) in line:
                subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)


def test_a_remover_killed_midway_leaves_what_the_next_command_sweeps(pallet_root):
    store = Store.open(pallet_root)
    tree = store.temp_dir("context-")
    for top in range(10):
        (tree / f"d{top}").mkdir()
        for index in range(500):
            (tree / f"d{top}" / f"f{index}").write_bytes(b"x")
    scratch.remove_detached(tree, pallet_root / "tmp")
    owners = [name for name in _others(pallet_root) if not name.endswith(".lock")]
    assert len(owners) == 1 and owners[0].startswith("p")
    remover = int(owners[0][1:].split("-")[0])
    os.kill(remover, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{remover}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # not our child: reaped by init, so wait for it to be gone
    assert any((pallet_root / "tmp" / owners[0]).rglob("f*")), \
        "the remover finished 5,000 unlinks before the kill: the test proves nothing"
    assert run_pallet("images", root=pallet_root).returncode == 0
    assert _others(pallet_root) == []
