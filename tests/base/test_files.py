"""pallet.base.files: the one atomic-write helper."""

from __future__ import annotations

import os
import stat

import pytest

from pallet.base.files import atomic_file, atomic_write


def test_atomic_write_replaces_with_the_mode_asked_for(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    atomic_write(target, '{"new": 1}')
    assert target.read_text() == '{"new": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write(target, b"etc", mode=0o644, durable=False)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["state.json"]


def test_mode_none_is_what_open_gives(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "iid", "sha256:x", mode=None)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "iid").stat().st_mode) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "index.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["index.json"]


def test_the_temporary_may_live_in_another_directory_of_the_same_filesystem(tmp_path):
    (tmp_path / "tmp").mkdir()
    atomic_write(tmp_path / "blob", b"data", tmp_dir=tmp_path / "tmp")
    assert (tmp_path / "blob").read_bytes() == b"data" and os.listdir(tmp_path / "tmp") == []
