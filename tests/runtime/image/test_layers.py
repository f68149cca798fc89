"""Layer pack/unpack: deterministic tars, OCI whiteouts from overlayfs upper dirs, and the
unpacked lowerdirs composing under a real overlayfs mount."""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from pallet.runtime.image.layers import (EMPTY_LAYER_DIFF_ID, MT_OCI_GZIP, MT_OCI_ZSTD, layer_dirs,
                                   open_layer_stream, pack_layer, unpacked_layer_dir)
from pallet.runtime.store.content import Store


def tar_members(store: Store, layer) -> list[tarfile.TarInfo]:
    with open_layer_stream(store, layer.descriptor()) as reader:
        data = reader.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def make_tree(root: Path) -> None:
    (root / "dir/sub").mkdir(parents=True)
    (root / "dir/file.txt").write_text("content\n")
    os.chmod(root / "dir/file.txt", 0o640)
    os.chown(root / "dir/file.txt", 1234, 5678)
    (root / "dir/sub/exec").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "dir/sub/exec", 0o4755)
    os.symlink("/etc/absolute-target", root / "dir/abs-link")
    os.symlink("file.txt", root / "dir/rel-link")
    os.link(root / "dir/file.txt", root / "hardlink")
    os.setxattr(root / "dir/file.txt", "user.note", b"kept")
    os.mkfifo(root / "fifo")


def test_pack_is_deterministic_with_source_date_epoch(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    make_tree(tmp_path / "a")
    first = pack_layer(store, tmp_path / "a", source_date_epoch=1000)
    os.utime(tmp_path / "a/dir/file.txt", (5_000_000, 5_000_000))   # later than the epoch
    second = pack_layer(store, tmp_path / "a", source_date_epoch=1000)
    assert first.digest == second.digest and first.diff_id == second.diff_id
    assert first.media_type == MT_OCI_GZIP
    assert all(member.mtime <= 1000 for member in tar_members(store, first))


def test_pack_keeps_modes_owners_links_xattrs_sorted(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    make_tree(tmp_path / "a")
    layer = pack_layer(store, tmp_path / "a")
    members = {m.name: m for m in tar_members(store, layer)}
    names = [m.name for m in tar_members(store, layer)]
    assert names == ["dir", "dir/abs-link", "dir/file.txt", "dir/rel-link", "dir/sub",
                     "dir/sub/exec", "fifo", "hardlink"]
    assert members["dir/file.txt"].mode == 0o640
    assert (members["dir/file.txt"].uid, members["dir/file.txt"].gid) == (1234, 5678)
    assert members["dir/file.txt"].uname == "" and members["dir/file.txt"].gname == ""
    assert members["dir/sub/exec"].mode == 0o4755
    assert members["dir/abs-link"].issym() and members["dir/abs-link"].linkname == "/etc/absolute-target"
    assert members["hardlink"].islnk() and members["hardlink"].linkname == "dir/file.txt"
    assert members["dir/file.txt"].pax_headers["SCHILY.xattr.user.note"] == "kept"
    assert members["fifo"].isfifo()


def test_diff_id_is_sha256_of_the_uncompressed_tar(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    make_tree(tmp_path / "a")
    layer = pack_layer(store, tmp_path / "a")
    raw = gzip.decompress(store.read_blob(layer.digest))
    assert layer.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert layer.uncompressed_size == len(raw)
    assert layer.digest == "sha256:" + hashlib.sha256(store.read_blob(layer.digest)).hexdigest()


def test_zstd_layer_unpacks_to_the_same_diff_id(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    make_tree(tmp_path / "a")
    gz = pack_layer(store, tmp_path / "a", source_date_epoch=0)
    zst = pack_layer(store, tmp_path / "a", compression="zstd", source_date_epoch=0)
    assert zst.media_type == MT_OCI_ZSTD and store.read_blob(zst.digest)[:4] == b"\x28\xb5\x2f\xfd"
    assert zst.diff_id == gz.diff_id and zst.digest != gz.digest
    assert (unpacked_layer_dir(store, zst, zst.diff_id) / "dir/file.txt").read_text() == "content\n"


def test_uncompressed_layer_is_its_tar_and_its_digest_is_the_diff_id(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    make_tree(tmp_path / "a")
    gz = pack_layer(store, tmp_path / "a", source_date_epoch=0)
    plain = pack_layer(store, tmp_path / "a", compression="none", source_date_epoch=0)
    blob = store.read_blob(plain.digest)
    assert plain.media_type == "application/vnd.oci.image.layer.v1.tar"
    assert plain.digest == plain.diff_id == gz.diff_id == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert blob == gzip.decompress(store.read_blob(gz.digest))


def test_empty_directory_gives_dockers_empty_layer(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    (tmp_path / "empty").mkdir()
    layer = pack_layer(store, tmp_path / "empty")
    assert layer.empty and layer.diff_id == EMPTY_LAYER_DIFF_ID and layer.uncompressed_size == 1024


def test_overlay_upper_whiteouts_become_oci_whiteouts(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    upper = tmp_path / "upper"
    (upper / "etc/opaque").mkdir(parents=True)
    os.mknod(upper / "etc/removed", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    os.setxattr(upper / "etc/opaque", "trusted.overlay.opaque", b"y")
    (upper / "etc/opaque/new").write_text("n")
    layer = pack_layer(store, upper)
    members = {m.name: m for m in tar_members(store, layer)}
    assert set(members) == {"etc", "etc/opaque", "etc/opaque/.wh..wh..opq", "etc/opaque/new",
                            "etc/.wh.removed"}
    assert members["etc/.wh.removed"].isreg() and members["etc/.wh.removed"].size == 0
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for m in members.values()
                   for k in m.pax_headers)
    # unpacked for overlayfs, whiteouts are overlay whiteouts again
    unpacked = unpacked_layer_dir(store, layer, layer.diff_id)
    removed = os.lstat(unpacked / "etc/removed")
    assert stat.S_ISCHR(removed.st_mode) and removed.st_rdev == 0
    assert os.getxattr(unpacked / "etc/opaque", "trusted.overlay.opaque") == b"y"
    assert not (unpacked / "etc/.wh.removed").exists()


def test_unpack_restores_the_tree_exactly(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    make_tree(tmp_path / "a")
    layer = pack_layer(store, tmp_path / "a")
    out = unpacked_layer_dir(store, layer, layer.diff_id)
    assert out == store.layers / layer.diff_id[7:]
    st = os.lstat(out / "dir/file.txt")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1234, 5678)
    assert stat.S_IMODE(os.lstat(out / "dir/sub/exec").st_mode) == 0o4755
    assert os.readlink(out / "dir/abs-link") == "/etc/absolute-target"
    assert os.lstat(out / "hardlink").st_ino == st.st_ino
    assert os.getxattr(out / "dir/file.txt", "user.note") == b"kept"
    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode)
    # a second request reuses the directory (unpacked once)
    marker = out / "marker"
    marker.write_text("x")
    assert unpacked_layer_dir(store, layer, layer.diff_id) == out and marker.exists()


libc = ctypes.CDLL(None, use_errno=True)


def mount_overlay(lower: str, upper: Path, work: Path, target: Path) -> None:
    options = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if libc.mount(b"overlay", str(target).encode(), b"overlay", 0, options) != 0:
        raise OSError(ctypes.get_errno(), "mount overlay failed")


@pytest.mark.root
def test_layer_stack_composes_under_overlayfs(tmp_path: Path):
    """Base layer, then an upper layer deleting a file and making a dir opaque: the mounted
    image shows exactly what Docker would."""
    store = Store.open(tmp_path / "store")
    base = tmp_path / "base"
    (base / "etc/conf.d").mkdir(parents=True)
    (base / "etc/conf.d/a").write_text("a")
    (base / "etc/conf.d/b").write_text("b")
    (base / "etc/passwd").write_text("root")
    (base / "etc/gone").write_text("gone")
    top = tmp_path / "top"
    (top / "etc/conf.d").mkdir(parents=True)
    os.setxattr(top / "etc/conf.d", "trusted.overlay.opaque", b"y")
    (top / "etc/conf.d/c").write_text("c")
    os.mknod(top / "etc/gone", stat.S_IFCHR, os.makedev(0, 0))
    layers = [pack_layer(store, base), pack_layer(store, top)]

    class FakeImage:
        pass
    image = FakeImage()
    image.layers = [layer.descriptor() for layer in layers]
    image.diff_ids = [layer.diff_id for layer in layers]
    dirs = layer_dirs(store, image)
    assert dirs == [store.layers / layers[1].diff_id[7:], store.layers / layers[0].diff_id[7:]]
    merged, upper, work = tmp_path / "merged", tmp_path / "u", tmp_path / "w"
    for path in (merged, upper, work):
        path.mkdir()
    mount_overlay(":".join(map(str, dirs)), upper, work, merged)
    try:
        assert sorted(os.listdir(merged / "etc")) == ["conf.d", "passwd"]
        assert sorted(os.listdir(merged / "etc/conf.d")) == ["c"]
        assert (merged / "etc/passwd").read_text() == "root"
    finally:
        assert libc.umount2(str(merged).encode(), 0) == 0


def test_device_nodes_round_trip_in_layers(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    tree = tmp_path / "tree"
    (tree / "dev").mkdir(parents=True)
    os.mknod(tree / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.chmod(tree / "dev/null", 0o666)      # mknod's mode went through the umask
    os.mknod(tree / "dev/loop9", stat.S_IFBLK | 0o660, os.makedev(7, 9))
    layer = pack_layer(store, tree)
    members = {m.name: m for m in tar_members(store, layer)}
    assert members["dev/null"].ischr() and (members["dev/null"].devmajor, members["dev/null"].devminor) == (1, 3)
    out = unpacked_layer_dir(store, layer, layer.diff_id)
    null = os.lstat(out / "dev/null")
    loop = os.lstat(out / "dev/loop9")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 9)


def test_unpack_refuses_a_layer_that_does_not_match_its_diff_id(tmp_path: Path):
    from pallet.base.errors import PalletError
    store = Store.open(tmp_path / "store")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x")
    layer = pack_layer(store, tree)
    with pytest.raises(PalletError, match="but the image config says"):
        unpacked_layer_dir(store, layer, "sha256:" + "1" * 64)
    assert list(store.layers.iterdir()) == [] and list(store.tmp.iterdir()) == []


def test_pack_refuses_an_upper_dir_with_overlay_redirects(tmp_path: Path):
    from pallet.base.errors import PalletError
    store = Store.open(tmp_path / "store")
    upper = tmp_path / "upper"
    (upper / "renamed").mkdir(parents=True)
    os.setxattr(upper / "renamed", "trusted.overlay.redirect", b"/original")
    with pytest.raises(PalletError, match="redirect_dir=off"):
        pack_layer(store, upper)
    assert store.list_blobs() == [] and list(store.tmp.iterdir()) == []


def test_unpacked_root_and_implicit_parents_are_0755_whatever_the_umask(tmp_path: Path):
    store = Store.open(tmp_path / "store")
    tree = tmp_path / "tree"
    (tree / "a/b").mkdir(parents=True)
    (tree / "a/b/f").write_text("x")
    layer = pack_layer(store, tree)
    # a tar that names only the file: its parents must be created implicitly
    import gzip as gz
    import tarfile as tf
    raw = io.BytesIO()
    with tf.open(fileobj=raw, mode="w") as tar:
        info = tf.TarInfo("deep/er/file")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"y"))
    blob = store.put_bytes(gz.compress(raw.getvalue()))
    implicit = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    old = os.umask(0o077)
    try:
        out = unpacked_layer_dir(store, layer, layer.diff_id)
        other = unpacked_layer_dir(store, blob, implicit)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(other / "deep").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(other / "deep/er").st_mode) == 0o755
