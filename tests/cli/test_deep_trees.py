"""A container (or an image) can nest directories far deeper than Python's recursion limit.
Every command that walks or removes such a tree (diff, export, cp, commit, system df, rm, rmi,
the sweep of a killed process's scratch) works on it; before, each one failed with an internal
RecursionError (shutil.rmtree and os.walk recurse once per level, the tar packer three times),
and a deep tree left in tmp/ made every later command fail in its sweep."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from pallet.base.files import remove_tree, tree_size, walk_tree
from tests.cli.ctr_helpers import container_leftovers, out, pallet

pytestmark = pytest.mark.root

DEPTH = 1500            # paths stay under PATH_MAX (2 bytes a level), far past recursion limits
DEEP = "/".join(["d"] * DEPTH)


def _deep_tree(base) -> None:
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(DEPTH):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    with os.fdopen(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as handle:
        handle.write("deep\n")
    os.close(fd)


def test_walking_and_removing_a_tree_deeper_than_the_recursion_limit(tmp_path):
    top = tmp_path / "top"
    top.mkdir()
    _deep_tree(top)
    os.symlink("/etc", top / "d" / "link")       # never followed by either
    walked = list(walk_tree(top))
    assert len(walked) == DEPTH + 1 and walked[-1][0] == DEEP
    assert tree_size(top) == 5 + len("/etc")
    remove_tree(top)
    assert not top.exists() and os.path.exists("/etc/passwd")


def test_container_commands_on_a_deep_tree(root, tmp_path):
    made = pallet(root, "run", "--name", "deep", "busybox", "sh", "-c",
                  f"i=0; while [ $i -lt {DEPTH} ]; do mkdir d && cd d; i=$((i+1)); done; "
                  "echo deep > f", timeout=300)
    assert made.returncode == 0, made.stderr
    diff = pallet(root, "diff", "deep")
    assert diff.returncode == 0, diff.stderr
    assert f"A /{DEEP}/f" in out(diff).splitlines()
    exported = pallet(root, "export", "deep", timeout=300)
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        assert tar.extractfile(f"./{DEEP}/f").read() == b"deep\n"
    copied = pallet(root, "cp", "deep:/d", str(tmp_path / "out"), timeout=300)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "out" / "/".join(["d"] * (DEPTH - 1)) / "f").read_text() == "deep\n"
    remove_tree(tmp_path / "out")
    committed = pallet(root, "commit", "deep", "deep:1", timeout=300)
    assert committed.returncode == 0, committed.stderr
    ran = pallet(root, "run", "--rm", "deep:1", "cat", f"/{DEEP}/f", timeout=300)
    assert ran.returncode == 0 and out(ran) == "deep\n", ran.stderr
    df = pallet(root, "system", "df")
    assert df.returncode == 0, df.stderr
    cid = out(pallet(root, "inspect", "-f", "{{.Id}}", "deep")).strip()
    removed = pallet(root, "rm", "deep", timeout=300)
    assert removed.returncode == 0, removed.stderr
    assert container_leftovers(root, cid) == []
    untagged = pallet(root, "rmi", "deep:1", timeout=300)
    assert untagged.returncode == 0, untagged.stderr
    assert out(pallet(root, "images", "-q", "deep")) == ""


def test_a_deep_tree_left_by_a_killed_process_is_swept(root):
    # tmp/ of a process that died: the next command sweeps it (it used to raise
    # RecursionError there, in every command, until someone removed it by hand).
    from pallet.runtime.store.content import Store
    store = Store.open(root)
    dead = root / "tmp" / "p999999-000000000000"   # an owner whose lock file is gone
    dead.mkdir()
    _deep_tree(dead)
    os.utime(dead, (0, 0))
    listed = pallet(root, "images")
    assert listed.returncode == 0, listed.stderr
    assert not dead.exists()
    assert store.root == root
