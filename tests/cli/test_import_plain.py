"""`import` of an uncompressed tarball file takes the kernel-copy path (member contents copied
from the file by copy_file_range, runtime/image/importing.py): it must make the same image, the
same tree, as the stream path (the same bytes on stdin, read through the extractor)."""

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
