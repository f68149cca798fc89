"""layers.store_layer, the one pass of a pull: the blob is read and stored on a thread of its
own ahead of the inflate (ISA-L) and the extraction. Whatever the source does (small reads,
several gzip members, a cut connection, bytes that are not the descriptor's), the layer is
kept only whole and verified, and a failure leaves no blob, no layer directory, no scratch."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

import pytest

from pallet.base.errors import PalletError
from pallet.runtime.image.compression import DecompressingReader
from pallet.runtime.image.layers import MT_OCI_GZIP, store_layer
from pallet.runtime.store.content import Store
from pallet.runtime.store.digests import Descriptor


def layer_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Trickle:
    """A source that returns at most `piece` bytes per read and can fail after `cut` bytes,
    as a slow or broken registry connection does."""

    def __init__(self, data: bytes, piece: int, cut: int | None = None) -> None:
        self.data, self.piece, self.cut, self.at = data, piece, cut, 0

    def read(self, n: int = -1) -> bytes:
        if self.cut is not None and self.at >= self.cut:
            raise PalletError("reading blob from registry: the connection failed")
        size = self.piece if n is None or n < 0 else min(n, self.piece)
        chunk = self.data[self.at:self.at + size]
        self.at += len(chunk)
        return chunk


FILES = {"big": os.urandom(3 << 20) + b"text again " * 300_000, "etc/small": b"hello\n"}


def leftovers(store: Store) -> list[str]:
    """What a failed store_layer may have left: blobs, layer dirs, scratch."""
    found = []
    for area in (store.root / "oci" / "blobs", store.layers, store.tmp):
        if area.is_dir():
            found += [str(p.relative_to(store.root)) for p in area.rglob("*") if p.is_file()
                      or (p.parent == store.layers)]
    return found


@pytest.fixture
def store(tmp_path) -> Store:
    return Store.open(tmp_path / "store")


def test_a_layer_in_several_gzip_members_read_in_small_pieces_is_stored_and_unpacked(store):
    tar = layer_tar(FILES)
    # two gzip members, as concatenated layers are (pigz -i, appended streams): both are read
    blob = gzip.compress(tar[:1_000_000], 6) + gzip.compress(tar[1_000_000:], 1)
    expected = Descriptor(digest(blob), len(blob), MT_OCI_GZIP)
    with store.lease():
        stored = store_layer(store, Trickle(blob, 70_000), media_type=MT_OCI_GZIP,
                             expected=expected, diff_id=digest(tar), name="layer test")
    assert stored.digest == expected.digest
    assert store.blob_path(stored.digest).read_bytes() == blob
    tree = store.layers / digest(tar)[7:]
    assert (tree / "big").read_bytes() == FILES["big"]
    assert (tree / "etc/small").read_bytes() == FILES["etc/small"]
    assert not list(store.tmp.iterdir())


def test_a_blob_that_is_not_its_descriptor_s_is_refused_and_nothing_kept(store):
    tar = layer_tar(FILES)
    blob = gzip.compress(tar, 1)
    other = Descriptor(digest(blob + b"x"), len(blob), MT_OCI_GZIP)
    with store.lease(), pytest.raises(PalletError, match="digest mismatch"):
        store_layer(store, Trickle(blob, 1 << 20), media_type=MT_OCI_GZIP, expected=other,
                    diff_id=digest(tar), name="layer test")
    assert leftovers(store) == []


def test_a_corrupt_layer_that_is_also_not_its_blob_is_blamed_on_the_blob(store):
    # the tar breaks early (garbage after the first member) while the read-ahead thread has
    # read and stored more: after the extraction fails, the rest is read in order behind it
    # and the whole compared with the descriptor, which says more than the tar error
    tar = layer_tar(FILES)
    broken = tar[:512 + 1024] + os.urandom(len(tar) - 1536)
    blob = gzip.compress(broken, 1)
    lying = Descriptor(digest(b"another blob"), len(blob), MT_OCI_GZIP)
    with store.lease(), pytest.raises(PalletError, match="digest mismatch"):
        store_layer(store, Trickle(blob, 50_000), media_type=MT_OCI_GZIP, expected=lying,
                    diff_id=None, name="layer test")
    assert leftovers(store) == []
    honest = Descriptor(digest(blob), len(blob), MT_OCI_GZIP)   # the tar's own error then
    with store.lease(), pytest.raises(PalletError) as raised:
        store_layer(store, Trickle(blob, 50_000), media_type=MT_OCI_GZIP, expected=honest,
                    diff_id=None, name="layer test")
    assert "digest mismatch" not in str(raised.value)
    assert leftovers(store) == []


def test_a_connection_cut_midway_is_the_error_and_nothing_is_kept(store):
    tar = layer_tar(FILES)
    blob = gzip.compress(tar, 1)
    expected = Descriptor(digest(blob), len(blob), MT_OCI_GZIP)
    with store.lease(), pytest.raises(PalletError, match="the connection failed"):
        store_layer(store, Trickle(blob, 100_000, cut=len(blob) // 2), media_type=MT_OCI_GZIP,
                    expected=expected, diff_id=digest(tar), name="layer test")
    assert leftovers(store) == []


def test_a_blob_longer_than_its_descriptor_is_refused(store):
    tar = layer_tar(FILES)
    blob = gzip.compress(tar, 1)
    short = Descriptor(digest(blob), len(blob) - 10, MT_OCI_GZIP)
    with store.lease(), pytest.raises(PalletError, match="larger than its descriptor"):
        store_layer(store, Trickle(blob, 1 << 20), media_type=MT_OCI_GZIP, expected=short,
                    diff_id=digest(tar), name="layer test")
    assert leftovers(store) == []


@pytest.mark.parametrize("size", [0, 1, 4096, (1 << 20) - 1, 1 << 20, (5 << 20) + 3])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_the_inflate_gives_back_every_byte_and_the_diff_id(size, level):
    # ISA-L's bounded inflate (1 MiB of output per call) across chunk edges: highly
    # compressible input (a call stops on output, input left over) and stored blocks
    data = (b"abc" * (size // 3 + 1))[:size // 2] + os.urandom(size - size // 2)
    blob = gzip.compress(data, level)
    reader = DecompressingReader(Trickle(blob, 30_000))
    try:
        assert reader.read() == data
    finally:
        reader.close()
    assert reader.diff_id() == digest(data)


def test_a_corrupt_gzip_stream_is_a_clear_error():
    blob = bytearray(gzip.compress(os.urandom(200_000) + b"x" * 200_000, 6))
    blob[5000:5100] = b"\xff" * 100
    reader = DecompressingReader(io.BytesIO(bytes(blob)), name="layer bad")
    try:
        with pytest.raises(PalletError, match="layer bad: corrupt gzip stream"):
            reader.read()
    finally:
        reader.close()
    whole = gzip.compress(os.urandom(300_000))
    reader = DecompressingReader(io.BytesIO(whole[:len(whole) // 2]), name="layer cut")
    try:
        with pytest.raises(PalletError, match="layer cut: the gzip stream is truncated"):
            reader.read()
    finally:
        reader.close()


@pytest.mark.parametrize("sizes", [[(1 << 20) - 1536, 1, 1 << 20, 0, 5], [3 << 20, 7, 2 << 20]])
def test_members_across_chunk_edges_are_written_whole(store, sizes):
    # members are written from views of the inflated chunks (1 MiB): sizes put member ends
    # just before, on and after the edges
    files = {f"f{i}": os.urandom(size) for i, size in enumerate(sizes)}
    tar = layer_tar(files)
    blob = gzip.compress(tar, 1)
    expected = Descriptor(digest(blob), len(blob), MT_OCI_GZIP)
    with store.lease():
        store_layer(store, Trickle(blob, 1 << 20), media_type=MT_OCI_GZIP, expected=expected,
                    diff_id=digest(tar), name="layer test")
    tree = store.layers / digest(tar)[7:]
    assert {name: (tree / name).read_bytes() for name in files} == files


def test_a_layer_cut_inside_a_member_is_truncated_and_nothing_kept(store):
    tar = layer_tar(FILES)
    cut = tar[:len(tar) // 2]          # inside "big"
    blob = gzip.compress(cut, 1)       # a whole gzip stream of a cut tar
    expected = Descriptor(digest(blob), len(blob), MT_OCI_GZIP)
    with store.lease(), pytest.raises(PalletError, match="member 'big' ends early"):
        store_layer(store, Trickle(blob, 1 << 20), media_type=MT_OCI_GZIP, expected=expected,
                    diff_id=None, name="layer test")
    assert leftovers(store) == []


def test_a_gzip_member_whose_crc_is_wrong_is_a_clear_error():
    # the trailer's CRC-32 is checked by the inflate (the diff ID would catch it later, but
    # a layer without one, an ADD archive, an import, must not pass)
    data = os.urandom(100_000)
    blob = gzip.compress(data)
    bad = blob[:-8] + ((int.from_bytes(blob[-8:-4], "little") ^ 1).to_bytes(4, "little")
                       + blob[-4:])
    reader = DecompressingReader(io.BytesIO(bad), name="layer crc")
    try:
        with pytest.raises(PalletError, match="layer crc: corrupt gzip stream"):
            reader.read()
    finally:
        reader.close()
