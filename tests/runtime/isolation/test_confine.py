"""confine.Root: every path is resolved by the kernel inside the root, the last component is
never followed, and a concurrent symlink swap cannot redirect a write out of the root."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from pallet.runtime.isolation.confine import Root

pytestmark = pytest.mark.root


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("host")
    os.chmod(outside / "secret", 0o600)
    os.symlink(str(outside), root / "abs")                      # absolute: the host path
    os.symlink("../../../../../../../../" + str(outside).lstrip("/"), root / "up")
    os.symlink(str(outside / "secret"), root / "secretlink")
    return root, outside


def test_symlinks_and_dotdot_resolve_inside_the_root(tree):
    root, outside = tree
    with Root(root) as confined:
        assert confined.stat("abs") is None and confined.stat("up") is None   # dangling inside
        with pytest.raises(FileNotFoundError):       # ROOT/<outside> does not exist in the root
            confined.create("abs/new")
        with pytest.raises(FileNotFoundError):
            confined.create("up/new")
        os.close(confined.create("../../../new-at-top"))
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (root / "new-at-top").is_file()


def test_the_last_component_is_never_followed(tree):
    root, outside = tree
    with Root(root) as confined:
        with pytest.raises(FileExistsError):
            confined.create("secretlink")           # O_EXCL|O_NOFOLLOW: not the host file
        confined.chmod("secretlink", 0o4777)
        confined.chown("secretlink", 4242, 4242)
        confined.utime("secretlink", ns=(0, 0))
        assert confined.lstat("secretlink").st_uid == 4242
        fd = confined.create("secretlink", 0o600, replace=True)   # replaces the link itself
        os.write(fd, b"inside")
        os.close(fd)
    st = os.stat(outside / "secret")
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    assert st.st_mtime != 0 and (outside / "secret").read_text() == "host"
    assert (root / "secretlink").read_text() == "inside"


def test_hard_links_and_renames_stay_in_the_root(tree):
    root, outside = tree
    with Root(root) as confined:
        with pytest.raises(FileNotFoundError):
            confined.link("abs/secret", "stolen")
        confined.link("secretlink", "linked")        # links the symlink, not its target
        assert stat.S_ISLNK(os.lstat(root / "linked").st_mode)
        confined.rename("linked", "abs")              # replaces the link named abs
        assert os.readlink(root / "abs") == str(outside / "secret")
    assert os.stat(outside / "secret").st_nlink == 1


def test_magic_links_are_refused():
    # /proc/self/root is a magic link: the kind a container's own /proc would offer.
    with Root("/proc/self") as confined:
        with pytest.raises(OSError) as caught:
            confined.open("root/etc/hostname")
        assert caught.value.errno == 40   # ELOOP


def test_a_concurrent_swap_cannot_redirect_writes_out_of_the_root(tmp_path):
    # A running container may swap a directory for a symlink at any moment (CVE-2018-15664).
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    stop = threading.Event()
    turns = [0]
    os.mkdir(root / "d")

    def swapper() -> None:
        while not stop.is_set():
            turns[0] += 1
            os.rename(root / "d", root / f"kept{turns[0]}")   # the directory moves away ...
            os.symlink(str(outside) if turns[0] % 2 else "../../../../outside", root / "d")
            os.unlink(root / "d")                                # ... a symlink stood in
            os.mkdir(root / "d")

    thread = threading.Thread(target=swapper)
    thread.start()
    written = refused = 0
    try:
        with Root(root) as confined:
            for index in range(200_000):        # until both sides have raced enough
                if written >= 200 and refused >= 200:
                    break
                try:   # a whole-path openat2 every time (create() would reuse a parent fd)
                    os.close(confined.open(f"d/f{index}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
                    written += 1
                except FileNotFoundError:        # d was the symlink (to ROOT/...) or missing
                    refused += 1
    finally:
        stop.set()
        thread.join()
    assert os.listdir(outside) == []
    assert written > 0 and refused > 0      # both sides of the race were seen
