"""COPY into a layer directory over a layered parent view (overlay-format lowerdirs)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from pallet.runtime.image.unpack import is_tar as is_archive
from pallet.builder.layerview import LayeredView
from pallet.builder.steps_copy import (Ownership, SourceEntry, SourceTree, parse_chmod,
                                       resolve_chown, resolve_dest, write_copy)
from pallet.base.errors import PalletError

pytestmark = pytest.mark.root


def _layers(tmp_path: Path) -> tuple[Path, Path]:
    lower = tmp_path / "lower"
    upper = tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (lower / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    (lower / "srv").mkdir(mode=0o750)
    os.chmod(lower / "srv", 0o750)
    os.chown(lower / "srv", 7, 8)
    (lower / "gone").write_text("deleted above")
    (lower / "run").mkdir()
    os.symlink("/run", lower / "varrun")
    upper.mkdir()
    os.mknod(upper / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    return upper, lower


def _file(tmp_path: Path, name: str, text: str, mode: int = 0o644) -> SourceEntry:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return SourceEntry(relpath="", host_path=path, kind="file", mode=mode, uid=0, gid=0)


def test_view_honours_whiteouts_and_symlinks(tmp_path):
    upper, lower = _layers(tmp_path)
    view = LayeredView([upper, lower])
    assert view.lookup("/gone") is None
    assert view.lookup("/etc/passwd") == lower / "etc" / "passwd"
    assert view.resolve("/varrun/x") == "/run/x"
    assert view.listdir("/") == ["etc", "run", "srv", "varrun"]


def test_copy_file_into_existing_dir_copies_up_the_parent(tmp_path):
    upper, lower = _layers(tmp_path)
    layer = tmp_path / "layer"
    layer.mkdir()
    entry = _file(tmp_path, "a.txt", "A", 0o640)
    tree = SourceTree(kind="file", name="a.txt", entries=(entry,))
    write_copy(layer_dir=layer, view=LayeredView([upper, lower]), trees=[tree], dest="/srv/",
               workdir="/", owner=Ownership(None, None), chmod=None, wildcard=False)
    srv = os.lstat(layer / "srv")
    assert (stat.S_IMODE(srv.st_mode), srv.st_uid, srv.st_gid) == (0o750, 7, 8)
    copied = os.lstat(layer / "srv" / "a.txt")
    assert (stat.S_IMODE(copied.st_mode), copied.st_uid) == (0o640, 0)
    assert (layer / "srv" / "a.txt").read_text() == "A"


def test_dest_rules_relative_workdir_and_symlinked_parent(tmp_path):
    upper, lower = _layers(tmp_path)
    layer = tmp_path / "layer"
    layer.mkdir()
    entry = _file(tmp_path, "b.txt", "B")
    view = LayeredView([upper, lower])
    write_copy(layer_dir=layer, view=view, trees=[SourceTree("file", "b.txt", (entry,))],
               dest="renamed", workdir="/varrun/app", owner=Ownership(1000, 1001), chmod=0o600,
               wildcard=False)
    target = layer / "run" / "app" / "renamed"
    assert target.read_text() == "B"
    st = os.lstat(target)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 1001)
    created = os.lstat(layer / "run" / "app")
    assert (stat.S_IMODE(created.st_mode), created.st_uid) == (0o755, 1000)
    assert resolve_dest("x/", "/w") == "/w/x/" and resolve_dest(".", "/w") == "/w/"


def test_several_sources_need_a_directory_dest(tmp_path):
    upper, lower = _layers(tmp_path)
    one = _file(tmp_path, "1", "1")
    two = _file(tmp_path, "2", "2")
    trees = [SourceTree("file", "1", (one,)), SourceTree("file", "2", (two,))]
    with pytest.raises(PalletError, match="must be a directory and end with a /"):
        write_copy(layer_dir=tmp_path, view=LayeredView([upper, lower]), trees=trees,
                   dest="/newfile", workdir="/", owner=Ownership(None, None), chmod=None,
                   wildcard=False)


def test_chown_names_resolve_in_the_image(tmp_path):
    upper, lower = _layers(tmp_path)
    view = LayeredView([upper, lower])
    assert resolve_chown("app", view) == Ownership(1000, 1001)
    assert resolve_chown("app:staff", view) == Ownership(1000, 50)
    assert resolve_chown("42", view) == Ownership(42, 42)
    with pytest.raises(PalletError, match="unable to find user nobody"):
        resolve_chown("nobody", view)
    assert parse_chmod("755") == 0o755
    with pytest.raises(PalletError, match="invalid chmod"):
        parse_chmod("u+x9")


def test_archives_are_detected_by_content(tmp_path):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        info = tarfile.TarInfo("x")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    archive = tmp_path / "not-named-like-a-tar.bin"
    archive.write_bytes(data.getvalue())
    assert is_archive(archive)
    plain = tmp_path / "plain.tar.gz"
    plain.write_text("not an archive at all" * 40)
    assert not is_archive(plain)
