"""One gzip member deflated in blocks on several threads, as pigz lays it out (push
compresses layers with it on both cores).

    ParallelGzip(level, threads=None, block=1 MiB) .compress(data) / .flush()
"""

from __future__ import annotations

import zlib

from pallet.runtime.image.compression import CHUNK

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"   # mtime 0, no name, OS unknown
WINDOW = 32 << 10


def _deflate_block(block: bytes, dictionary: bytes, level: int, final: bool) -> bytes:
    if dictionary:
        obj = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
    else:
        obj = zlib.compressobj(level, zlib.DEFLATED, -15)
    return obj.compress(block) + obj.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


class ParallelGzip:
    """A gzip stream whose deflate work runs on several threads, as pigz does: the input is cut
    into blocks, each deflated on its own (primed with the 32 KiB before it, so the ratio stays
    a serial deflate's) and ended on a byte boundary with a sync flush, the last one with the
    final bit; the blocks join into one valid deflate stream. zlib releases the GIL while it
    deflates, so the blocks compress in parallel. The CRC and length are taken in order here.
    compress() returns whatever leading blocks are done (waiting only when too many are in
    flight); the output depends only on the input, the level and the block size."""

    def __init__(self, level: int, *, threads: int | None = None, block: int = CHUNK) -> None:
        import os
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        threads = threads or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gzip")
        self._pending: deque = deque()
        self._limit = 2 * threads
        self._level = level
        self._block = block
        self._buffer = bytearray()
        self._held: bytes | None = None     # a full block that may turn out to be the last
        self._dictionary = b""
        self._crc = 0
        self._size = 0
        self._started = False

    def _submit(self, block: bytes, final: bool) -> None:
        self._pending.append(self._pool.submit(_deflate_block, block, self._dictionary,
                                               self._level, final))
        self._dictionary = block[-WINDOW:]

    def _ready(self, wait: bool) -> bytes:
        out = []
        if not self._started:
            out.append(GZIP_HEADER)
            self._started = True
        while self._pending and (wait or len(self._pending) > self._limit
                                 or self._pending[0].done()):
            out.append(self._pending.popleft().result())
        return b"".join(out)

    def compress(self, data) -> bytes:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._buffer += data
        while len(self._buffer) >= self._block:
            if self._held is not None:
                self._submit(self._held, final=False)
            self._held = bytes(self._buffer[:self._block])
            del self._buffer[:self._block]
        return self._ready(wait=False)

    def flush(self) -> bytes:
        tail = bytes(self._buffer)
        self._buffer = bytearray()
        if self._held is not None:
            self._submit(self._held, final=not tail)
            self._held = None
        if tail or not self._pending:
            self._submit(tail, final=True)
        try:
            out = self._ready(wait=True)
        finally:
            self._pool.shutdown(wait=True)
        return out + (self._crc & 0xFFFFFFFF).to_bytes(4, "little") + \
            (self._size & 0xFFFFFFFF).to_bytes(4, "little")
