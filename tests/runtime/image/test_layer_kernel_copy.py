"""Large files of an uncompressed layer go through the kernel (copy_file_range, hashed from the
stored copy): the blob is byte for byte the tar tarfile writes, its digest is its SHA-256, and a
file that shrinks while it is packed is an error, never a short member."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.runtime.image import layers
from pallet.runtime.image.layers import pack_layer
from pallet.runtime.image.tarpack import KERNEL_COPY_MIN, write_layer_tar
from pallet.runtime.store.content import Store


def _tree(root: Path) -> None:
    (root / "d").mkdir(parents=True)
    (root / "d/big").write_bytes(os.urandom(KERNEL_COPY_MIN * 3 + 123))   # not block-aligned
    (root / "small").write_bytes(b"x" * 100)
    (root / "exact").write_bytes(os.urandom(KERNEL_COPY_MIN * 2))
    os.setxattr(root / "exact", "user.note", b"kept")                   # a PAX header too
    os.link(root / "d/big", root / "hard")


def test_kernel_copied_blob_equals_the_tarfile_stream(tmp_path: Path):
    source = tmp_path / "tree"
    _tree(source)
    plain = io.BytesIO()
    write_layer_tar(source, plain)     # a sink without copy_from: every byte through tarfile
    store = Store.open(tmp_path / "store")
    layer = pack_layer(store, source, compression="none")
    blob = store.blob_path(layer.digest).read_bytes()
    assert blob == plain.getvalue()
    assert layer.digest == layer.diff_id == "sha256:" + hashlib.sha256(blob).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        assert tar.extractfile("d/big").read() == (source / "d/big").read_bytes()
        assert tar.getmember("hard").islnk()


def test_a_file_shrinking_while_packed_is_an_error(tmp_path: Path, monkeypatch):
    source = tmp_path / "tree"
    source.mkdir()
    (source / "big").write_bytes(b"y" * (KERNEL_COPY_MIN * 2))
    store = Store.open(tmp_path / "store")
    real = layers._PackSink.copy_from

    def shrink_first(self, fd, size):   # the container truncates it between stat and copy
        os.truncate(source / "big", KERNEL_COPY_MIN)
        return real(self, fd, size)
    monkeypatch.setattr(layers._PackSink, "copy_from", shrink_first)
    with pytest.raises(PalletError, match="shrank"):
        pack_layer(store, source, compression="none")
    assert not list(store.tmp.glob("blob-*"))     # nothing half-written kept
