"""Hostile tar input to the one extractor (layers, load, import, ADD, cp): out-of-range header
numbers, oversized extended headers, sparse members, tar bombs and decompression bombs each end
in a clear error or Docker's result, in bounded memory and disk."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import textwrap
import zlib
from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.runtime.image.tarheaders import MAX_SPECIAL_BYTES
from pallet.runtime.image.unpack import extract_layer
from tests.conftest import run_pallet

pytestmark = pytest.mark.root


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x", **pax: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    info.pax_headers = pax
    return info, data


def _extract(data: bytes, dest: Path, **options):
    dest.mkdir()
    return extract_layer(io.BytesIO(data), dest, **options)


@pytest.mark.parametrize(("pax", "why"), [
    ({"uid": str(2**40)}, "has uid 1099511627776"),
    ({"uid": "-5"}, "has uid -5"),
    ({"gid": str(2**32)}, "has gid 4294967296"),
])
def test_owners_out_of_range_are_clear_errors(tmp_path, pax, why):
    # chown(2) takes 32-bit ids: the old code raised OverflowError (an internal error)
    with pytest.raises(PalletError, match=why):
        _extract(_tar(_file("f", **pax)), tmp_path / "out")


def test_a_device_number_out_of_range_is_a_clear_error(tmp_path):
    info = tarfile.TarInfo("dev")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 2**40, 1
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info)
    with pytest.raises(PalletError, match="has device major 1099511627776"):
        _extract(buffer.getvalue(), tmp_path / "out")


@pytest.mark.parametrize("mtime", ["1e300", "-1e300", "inf", "nan", "-5"])
def test_times_out_of_range_become_the_epoch_as_in_docker(tmp_path, mtime):
    # Docker's Chtimes turns times it cannot set into the Unix epoch; the old code raised
    # OverflowError/ValueError for these PAX mtimes.
    _extract(_tar(_file("f", mtime=mtime)), tmp_path / "out")
    assert os.stat(tmp_path / "out" / "f").st_mtime_ns == 0


def test_a_fractional_time_is_kept(tmp_path):
    _extract(_tar(_file("f", mtime="1700000000.25")), tmp_path / "out")
    assert os.stat(tmp_path / "out" / "f").st_mtime_ns == 1700000000250000000


def _huge_pax(size: int) -> bytes:
    """A PAX extended header of `size` bytes (one long comment record), then a file."""
    record_body = b" comment=" + b"a" * (size - 30) + b"\n"
    record = str(len(record_body) + 8).encode().rjust(8, b"0") + record_body
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(record)
    member = tarfile.TarInfo("f")
    member.size = 1
    pad = b"\0" * ((512 - len(record) % 512) % 512)
    return (header.tobuf(tarfile.USTAR_FORMAT) + record + pad + member.tobuf(tarfile.USTAR_FORMAT)
            + b"x" + b"\0" * 511 + b"\0" * 1024)


def test_an_extended_header_past_docker_s_limit_is_refused_unread(tmp_path):
    # tarfile reads a PAX record of any declared size into memory (a gzip of a 2 GiB header
    # is 2 MB); Go's archive/tar, Docker's reader, refuses records over 1 MiB.
    with pytest.raises(PalletError, match="extended header"):
        _extract(_huge_pax(MAX_SPECIAL_BYTES + 4096), tmp_path / "out")
    _extract(_huge_pax(4096), tmp_path / "ok")      # ordinary sizes are still read
    assert (tmp_path / "ok" / "f").read_bytes() == b"x"


def _sparse(realsize: int, offset: int, data: bytes) -> bytes:
    """A PAX 1.0 sparse member: a map block, then its one data segment."""
    sparse_map = f"1\n{offset}\n{len(data)}\n".encode()
    body = sparse_map + b"\0" * (512 - len(sparse_map)) + data
    info = tarfile.TarInfo("GNUSparseFile.0/f")
    info.size, info.mode = len(body), 0o644
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": "f", "GNU.sparse.realsize": str(realsize)}
    return _tar((info, body))


def test_a_sparse_member_keeps_its_holes(tmp_path):
    # The old code wrote the holes out as zeros: a few bytes of archive, any amount of disk.
    realsize = 256 << 20
    _extract(_sparse(realsize, realsize - 4096, b"y" * 4096), tmp_path / "out")
    path = tmp_path / "out" / "f"
    st = os.stat(path)
    assert st.st_size == realsize and st.st_blocks * 512 < (1 << 20)
    with open(path, "rb") as handle:
        assert handle.read(16) == b"\0" * 16
        handle.seek(realsize - 4096)
        assert handle.read() == b"y" * 4096


def test_a_gzip_bomb_is_decompressed_in_bounded_memory(tmp_path):
    # 1 GiB of zeros gzipped at level 9 is ~1 MiB: one read of the old decompressor turned
    # each MiB of input into ~1 GiB of output at once. Read under a 768 MiB address-space cap.
    bomb = tmp_path / "bomb.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (16 << 20)
    with open(bomb, "wb") as handle:
        for _ in range(64):
            handle.write(compressor.compress(zeros))
        handle.write(compressor.flush())
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
        from pallet.runtime.image.compression import DecompressingReader
        reader = DecompressingReader(open({str(bomb)!r}, "rb"))
        total = 0
        while chunk := reader.read(1 << 20):
            total += len(chunk)
        print(total)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-500:]
    assert result.stdout.decode().strip() == str(1 << 30)


def test_load_refuses_a_tar_bomb_of_members(pallet_root, tmp_path):
    # Members are indexed in memory for random access: millions of empty members gzip to a
    # few MB. More than an image archive ever holds is refused before they are all indexed.
    from pallet.runtime.image.archive_source import MAX_MEMBERS
    path = tmp_path / "bomb.tar"
    with tarfile.open(path, "w") as tar:
        empty = tarfile.TarInfo("m")
        for index in range(MAX_MEMBERS + 2):
            empty.name = f"m{index}"
            tar.addfile(empty)
    result = run_pallet("load", "-i", str(path), root=pallet_root, timeout=300)
    assert result.returncode == 1
    assert f"the archive has more than {MAX_MEMBERS} members" in result.stderr.decode()


def _garbage_after_first_member(tar_format) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        for name in ("first", "second", "third"):
            info = tarfile.TarInfo(name)
            info.size, info.mode = 3, 0o644
            tar.addfile(info, io.BytesIO(b"abc"))
    data = bytearray(buffer.getvalue())
    second = data.index(b"second") // 512 * 512   # its header (ustar) or its PAX record's
    if tar_format == tarfile.PAX_FORMAT:
        second = 1024      # first: one header, one data block; then the second's header
    data[second:second + 512] = bytes(range(256)) * 2      # not a header: bad checksum
    return bytes(data)


@pytest.mark.parametrize("tar_format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT])
def test_a_garbage_header_after_the_first_member_is_refused(tmp_path, tar_format):
    # tarfile ends the archive there without a word (a corrupt layer would be stored cut
    # short); Go's archive/tar, so Docker, refuses it: "archive/tar: invalid tar header"
    data = _garbage_after_first_member(tar_format)
    with pytest.raises(PalletError, match="invalid tar header at byte 1024"):
        _extract(data, tmp_path / "dest")


def test_a_header_cut_short_after_a_member_is_refused_and_a_clean_end_is_not(tmp_path):
    whole = _tar(_file("first", b"abc"), _file("second", b"def"))
    cut = whole[:1024 + 100]    # the second member's header is 100 bytes long
    with pytest.raises(PalletError, match="invalid tar header at byte 1024"):
        _extract(cut, tmp_path / "cut")
    ends = whole[:1024]         # ends between members, no end blocks: still a tar (as in Go)
    assert _extract(ends, tmp_path / "ends").entries == 1


def test_a_corrupt_header_in_a_layer_is_refused_on_load(pallet_root, tmp_path):
    from tests.runtime.image.test_archive_bad_input import assert_failed_cleanly, docker_archive

    archive = tmp_path / "corrupt.tar"
    archive.write_bytes(docker_archive(_garbage_after_first_member(tarfile.USTAR_FORMAT)))
    result = run_pallet("load", "-i", str(archive), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "invalid tar header")
