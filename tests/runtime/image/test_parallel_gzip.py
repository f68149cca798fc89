"""parallelgzip.ParallelGzip: blocks deflated on several threads (ISA-L) join into one gzip
member, CRC and length included, that gzip(1) and Python's gzip read back exactly, whatever
sizes it is fed in."""

from __future__ import annotations

import gzip
import os
import subprocess
import pytest
from isal import isal_zlib

from pallet.runtime.image.parallelgzip import ParallelGzip

BLOCK = 64 << 10


def compress(data: bytes, piece: int, *, block: int = BLOCK, threads: int = 3) -> bytes:
    compressor = ParallelGzip(2, threads=threads, block=block)
    out = [compressor.compress(data[i:i + piece]) for i in range(0, len(data), piece)]
    return b"".join(out) + compressor.flush()


def sample(size: int) -> bytes:
    text = b"".join(b"line %d of a layer that compresses\n" % i for i in range(size // 30 + 1))
    noise = os.urandom(size // 3)
    return (noise + text)[:size]


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 10 * BLOCK + 7])
def test_output_is_one_gzip_member_that_gzip_reads_back(size: int):
    data = sample(size)
    packed = compress(data, piece=10_000)
    assert gzip.decompress(packed) == data
    tool = subprocess.run(["gzip", "-dc"], input=packed, capture_output=True, check=True)
    assert tool.stdout == data
    assert packed[:3] == b"\x1f\x8b\x08"


def test_the_same_bytes_give_the_same_blob_however_they_are_fed():
    data = sample(12 * BLOCK + 123)
    first = compress(data, piece=1000)
    assert compress(data, piece=BLOCK) == first
    assert compress(data, piece=len(data) or 1, threads=1) == first   # threads change nothing


def test_the_ratio_stays_a_serial_deflate_s():
    data = b"".join(b"row %06d: the same words again and again\n" % (i % 5000)
                    for i in range(40000))
    serial = isal_zlib.compressobj(2, isal_zlib.DEFLATED, 31)
    serial_size = len(serial.compress(data) + serial.flush())
    assert len(compress(data, piece=BLOCK)) <= serial_size * 1.02
