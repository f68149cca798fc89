"""`import` of an uncompressed tarball file, and `load` of an archive with uncompressed layers,
take the kernel-copy path (runtime/image/plainlayer.py: member contents copied from the file by
copy_file_range, tarfile reading only headers): they must make the same tree and diff ID as the
stream path (the same bytes on stdin, or extract_layer over a stream), and stop at a member's
end."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import run_pallet

pytestmark = pytest.mark.root


def rootfs_tar(path: Path) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in (("bin/tool", os.urandom(300_000), 0o4755),
                                 ("etc/empty", b"", 0o600), ("etc/conf", b"a=1\n" * 5000, 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, 7, 8, 1234567
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("etc/hard")
        link.type, link.linkname = tarfile.LNKTYPE, "etc/conf"
        tar.addfile(link)
        symlink = tarfile.TarInfo("bin/sh")
        symlink.type, symlink.linkname = tarfile.SYMTYPE, "tool"
        tar.addfile(symlink)
        sparse_dir = tarfile.TarInfo("var/lib")
        sparse_dir.type, sparse_dir.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(sparse_dir)


def tree(directory: Path) -> dict:
    out = {}
    for path in sorted(directory.rglob("*")):
        st = os.lstat(path)
        detail = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) \
            else os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        out[str(path.relative_to(directory))] = (st.st_mode, st.st_uid, st.st_gid, detail,
                                                 st.st_mtime_ns if not stat.S_ISDIR(st.st_mode)
                                                 else None)
    return out


def test_a_plain_tar_file_imports_as_the_same_stream_does(tmp_path: Path):
    tarball = tmp_path / "rootfs.tar"
    rootfs_tar(tarball)
    by_file = run_pallet("import", str(tarball), "plain:file", root=tmp_path / "a")
    assert by_file.returncode == 0, by_file.stderr.decode()
    with open(tarball, "rb") as stdin:
        by_stream = subprocess.run([str(Path(sys.executable).parent / "pallet"), "--root",
                                    str(tmp_path / "b"), "import", "-", "plain:stream"],
                                   stdin=stdin, capture_output=True)
    assert by_stream.returncode == 0, by_stream.stderr.decode()
    diff_id = "sha256:" + hashlib.sha256(tarball.read_bytes()).hexdigest()
    layers = [tmp_path / store / "layers" / diff_id.split(":")[1] for store in ("a", "b")]
    assert all(layer.is_dir() for layer in layers)
    assert tree(layers[0]) == tree(layers[1])
    assert tree(layers[0])["bin/tool"][0] == stat.S_IFREG | 0o4755
    assert os.stat(layers[0] / "etc/hard").st_ino == os.stat(layers[0] / "etc/conf").st_ino


def docker_archive(path: Path, layer: bytes, diff_id: str) -> None:
    import json
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["plain:load"],
                            "Layers": ["l/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in (("config.json", config), ("l/layer.tar", layer),
                           ("manifest.json", manifest), ("zzz-after", b"Z" * 600_000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_loaded_plain_layer_is_the_tree_the_stream_extractor_makes(tmp_path: Path):
    from pallet.runtime.image.unpack import extract_layer
    rootfs_tar(tmp_path / "layer.tar")
    layer = (tmp_path / "layer.tar").read_bytes()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    docker_archive(tmp_path / "image.tar", layer, diff_id)
    result = run_pallet("load", "-i", str(tmp_path / "image.tar"), root=tmp_path / "store")
    assert result.returncode == 0, result.stderr.decode()
    reference = tmp_path / "reference"
    reference.mkdir()
    with open(tmp_path / "layer.tar", "rb") as stream:
        extract_layer(stream, reference)
    assert tree(tmp_path / "store" / "layers" / diff_id.split(":")[1]) == tree(reference)


def test_a_layer_cut_inside_a_member_is_truncated_not_read_past(tmp_path: Path):
    # the layer member ends inside the data of its last file: the copy must stop at the
    # member's end (the next member's bytes, "Z"s, are not that file's) and fail
    rootfs_tar(tmp_path / "layer.tar")
    whole = (tmp_path / "layer.tar").read_bytes()
    with tarfile.open(tmp_path / "layer.tar") as tar:
        last = max((m for m in tar.getmembers() if m.isreg()), key=lambda m: m.offset_data)
    layer = whole[:last.offset_data + last.size // 2] if last.size else whole[:100_000]
    docker_archive(tmp_path / "image.tar", layer, "sha256:" + hashlib.sha256(layer).hexdigest())
    result = run_pallet("load", "-i", str(tmp_path / "image.tar"), root=tmp_path / "store")
    assert result.returncode == 1, result.stdout.decode()
    assert "truncated" in result.stderr.decode(), result.stderr.decode()
    assert not any((tmp_path / "store" / "layers").iterdir())
