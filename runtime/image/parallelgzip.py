"""One gzip member deflated in blocks on several threads, as pigz lays it out (push
compresses layers with it on both cores).

    ParallelGzip(level, threads=None, block=1 MiB) .compress(data) / .flush()

The deflate is ISA-L's (the isal package; levels 0-3): on this machine it compresses a layer
of binaries 13 times faster than zlib's level 6 for a 13 % larger output (0.397 against 0.351
of a 300 MB tar of /usr; random data 12 times faster), so a push is no longer bound by its
compression. Every gzip reader (Docker, containerd, skopeo, gzip(1)) reads it: it is plain
deflate in a plain gzip member.
"""

from __future__ import annotations

from pallet.runtime.image.compression import CHUNK

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"   # mtime 0, no name, OS unknown
WINDOW = 32 << 10


def _deflate_block(block, dictionary: bytes, level: int, final: bool) -> tuple[bytes, int]:
    """(the block's deflate data, ending on a byte boundary; its CRC-32): the CRC is taken
    here, on the pool's thread, and combined in order by the caller."""
    from isal import isal_zlib

    if dictionary:
        obj = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15, zdict=dictionary)
    else:
        obj = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
    data = obj.compress(block) + obj.flush(isal_zlib.Z_FINISH if final else isal_zlib.Z_SYNC_FLUSH)
    return data, isal_zlib.crc32(block)


class ParallelGzip:
    """A gzip stream whose deflate work runs on several threads, as pigz does: the input is cut
    into blocks, each deflated on its own (primed with the 32 KiB before it, so the ratio stays
    a serial deflate's) and ended on a byte boundary with a sync flush, the last one with the
    final bit; the blocks join into one valid deflate stream. ISA-L releases the GIL while it
    deflates and hashes, so the blocks compress in parallel; their CRCs are combined in order.
    compress() returns whatever leading blocks are done (waiting only when too many are in
    flight); the output depends only on the input, the level and the block size."""

    def __init__(self, level: int, *, threads: int | None = None, block: int = CHUNK) -> None:
        import os
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        from isal import isal_zlib

        self._combine = isal_zlib.crc32_combine
        threads = threads or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gzip")
        self._pending: deque = deque()    # (future, length of its input)
        self._limit = 2 * threads
        self._level = level
        self._block = block
        self._buffer = bytearray()
        self._held = None                  # a full block that may turn out to be the last
        self._dictionary = b""
        self._crc = 0
        self._size = 0
        self._started = False

    def _submit(self, block, final: bool) -> None:
        self._pending.append((self._pool.submit(_deflate_block, block, self._dictionary,
                                                self._level, final), len(block)))
        self._dictionary = bytes(block[-WINDOW:])

    def _ready(self, wait: bool) -> bytes:
        out = []
        if not self._started:
            out.append(GZIP_HEADER)
            self._started = True
        while self._pending and (wait or len(self._pending) > self._limit
                                 or self._pending[0][0].done()):
            future, length = self._pending.popleft()
            data, crc = future.result()
            self._crc = self._combine(self._crc, crc, length)
            out.append(data)
        return b"".join(out)

    def _hold(self, block) -> None:
        if self._held is not None:
            self._submit(self._held, final=False)
        self._held = block

    def compress(self, data) -> bytes:
        self._size += len(data)
        if not self._buffer and len(data) == self._block:
            self._hold(bytes(data))      # the usual case (whole blocks read): no copy
            return self._ready(wait=False)
        self._buffer += data
        while len(self._buffer) >= self._block:
            self._hold(bytes(self._buffer[:self._block]))
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
