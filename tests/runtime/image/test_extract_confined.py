"""The one extractor: hard links only to earlier members of the same archive, whatever the
caller (layer unpack, load, import), device nodes and set-id files kept as Docker keeps them."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.runtime.image.unpack import extract_layer
from tests.conftest import run_pallet
from tests.runtime.image.test_archive_bad_input import (assert_failed_cleanly, docker_archive,
                                                         import_bytes, make_tar, member)

pytestmark = pytest.mark.root


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "victim"
    path.parent.mkdir()
    path.write_text("host file\n")
    os.chmod(path, 0o644)
    return path


def _untouched(victim: Path) -> None:
    st = os.stat(victim)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink) == (0o644, 0, 0, 1)
    assert victim.read_text() == "host file\n"
    assert os.listdir(victim.parent) == ["victim"]


def _outside_links(victim: Path) -> list[str]:
    return [str(victim), "../../../../../../../../" + str(victim).lstrip("/"),
            "ok/../../" + victim.name]


def test_layer_unpack_never_links_chowns_or_chmods_an_outside_file(tmp_path, victim):
    for index, linkname in enumerate(_outside_links(victim)):
        dest = tmp_path / f"dest{index}"
        dest.mkdir()
        data = make_tar([member("ok", b"ok"),
                         member("stolen", type=tarfile.LNKTYPE, linkname=linkname,
                                mode=0o4777, uid=4242, gid=4242)])
        with pytest.raises(PalletError, match="hard link"):
            extract_layer(io.BytesIO(data), dest)
        assert not (dest / "stolen").exists()
    _untouched(victim)


def test_a_hard_link_to_a_later_or_a_non_file_member_is_refused(tmp_path):
    for members in ([member("early", type=tarfile.LNKTYPE, linkname="late"), member("late", b"x")],
                    [member("dir", type=tarfile.DIRTYPE), member("l", type=tarfile.LNKTYPE,
                                                                 linkname="dir")]):
        dest = tmp_path / f"d{len(os.listdir(tmp_path))}"
        dest.mkdir()
        with pytest.raises(PalletError, match="not a file earlier in this archive"):
            extract_layer(io.BytesIO(make_tar(members)), dest)


def test_load_of_a_layer_with_an_outside_hard_link_leaves_nothing(pallet_root, tmp_path, victim):
    for linkname in _outside_links(victim)[:2]:
        layer = make_tar([member("ok", b"ok"),
                          member("stolen", type=tarfile.LNKTYPE, linkname=linkname,
                                 mode=0o4777, uid=4242)])
        path = tmp_path / "evil.tar"
        path.write_bytes(docker_archive(layer))
        result = run_pallet("load", "-i", str(path), root=pallet_root)
        assert_failed_cleanly(result, pallet_root, "stolen", "hard link")
    _untouched(victim)


def test_import_of_an_outside_hard_link_leaves_nothing(pallet_root, tmp_path, victim):
    for linkname in _outside_links(victim)[:2]:
        data = make_tar([member("stolen", type=tarfile.LNKTYPE, linkname=linkname,
                                mode=0o4777, uid=4242)])
        assert_failed_cleanly(import_bytes(pallet_root, tmp_path, data), pallet_root,
                              "stolen", "hard link")
    _untouched(victim)


def _rootfs_tarball() -> bytes:
    """What debootstrap leaves in /dev, plus a set-uid binary and a fifo."""
    dev = dict(type=tarfile.CHRTYPE, uid=0, gid=0)
    return make_tar([
        member("./", type=tarfile.DIRTYPE, mode=0o755),
        member("./dev/", type=tarfile.DIRTYPE, mode=0o755),
        member("./dev/null", devmajor=1, devminor=3, mode=0o666, **dev),
        member("./dev/zero", devmajor=1, devminor=5, mode=0o666, **dev),
        member("./dev/console", devmajor=5, devminor=1, mode=0o600, **dev),
        member("./dev/tty", devmajor=5, devminor=0, mode=0o666, gid=5,
               type=tarfile.CHRTYPE),
        member("./dev/loop0", type=tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660, gid=6),
        member("./dev/fd", type=tarfile.SYMTYPE, linkname="/proc/self/fd"),
        member("./dev/initctl", type=tarfile.FIFOTYPE, mode=0o600),
        member("./bin/", type=tarfile.DIRTYPE, mode=0o755),
        member("./bin/su", b"\x7fELF pretend", mode=0o4755, uid=0, gid=0),
        member("./bin/wall", b"\x7fELF pretend", mode=0o2755, uid=0, gid=5),
    ])


def test_import_of_a_rootfs_with_device_nodes_works_as_docker_import(pallet_root, tmp_path):
    # Before: refused as "malformed or malicious" (docker import accepts debootstrap's /dev).
    result = import_bytes(pallet_root, tmp_path, _rootfs_tarball())
    assert result.returncode == 0, result.stderr.decode()
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.store.content import Store
    store = Store.open(pallet_root)
    (layer,) = layer_dirs(store, resolve_image(store, "bad:1"))
    expected = {"dev/null": (stat.S_IFCHR, 0o666, 0, 1, 3), "dev/zero": (stat.S_IFCHR, 0o666, 0, 1, 5),
                "dev/console": (stat.S_IFCHR, 0o600, 0, 5, 1),
                "dev/tty": (stat.S_IFCHR, 0o666, 5, 5, 0),
                "dev/loop0": (stat.S_IFBLK, 0o660, 6, 7, 0)}
    for name, (kind, mode, gid, major, minor) in expected.items():
        st = os.lstat(layer / name)
        assert (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_gid,
                os.major(st.st_rdev), os.minor(st.st_rdev)) == (kind, mode, gid, major, minor), name
    assert stat.S_ISFIFO(os.lstat(layer / "dev/initctl").st_mode)
    assert os.readlink(layer / "dev/fd") == "/proc/self/fd"
    assert stat.S_IMODE(os.stat(layer / "bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(layer / "bin/wall").st_mode) == 0o2755
