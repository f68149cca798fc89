"""Layer compression: gzip (zlib) and zstd, streaming, with the diff ID hashed on the way.

    sniff_compression(head: bytes) -> "gzip" | "zstd" | "bzip2" | "xz" | "none"
    Compressor(compression, level)                 .compress(data) / .flush()
    (ParallelGzip, pigz's block layout for push, is in parallelgzip.py)
    DecompressingReader(raw, *, name, threaded=True, tee=None, raw_tee=None)
        .read(n), .tell(), forward .seek(pos): a sequential file for tarfile's "r:" mode
        .read_view(n): the next bytes as a view of the chunk (no copy)
        .compression, .size, .diff_id(), .drain()
        tee / raw_tee: a store BlobWriter that receives every uncompressed chunk / every chunk
        of raw as read, and hashes it: where that is the uncompressed stream, diff_id() is its
        digest (one SHA-256 pass over the bytes, not two)

Why a reader of our own: gzip.GzipFile works a line at a time in Python and tarfile's stream
mode re-slices its buffer on every 512-byte header. Here a producer thread decompresses 1 MiB
chunks and hashes them (ISA-L's inflate, zstd and hashlib release the GIL) while the caller's
thread parses tar headers and writes files, so unpacking uses both cores; chunks are handed over
without copying. With a raw_tee (a pull: the blob is stored as it is downloaded) a third thread
reads raw and feeds the tee ahead of the decompression, so the download, its hash and the
blob's write overlap the inflate and the diff ID's hash. gzip is inflated by ISA-L (the isal
package), about twice zlib's speed here. Corrupt or truncated input raises PalletError (in the
caller's thread).
"""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib

from pallet.base.errors import PalletError

CHUNK = 1 << 20


def sniff_compression(head: bytes) -> str:
    """From the first 4 bytes, as Docker's DetectCompression (bzip2 and xz only ever come from
    a user's archive: `import`, ADD; layers are gzip, zstd or plain)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:4] == b"\xfd7zX":
        return "xz"
    return "none"


class Compressor:
    def __init__(self, compression: str, level: int) -> None:
        if compression == "gzip":
            self._obj = zlib.compressobj(level, zlib.DEFLATED, 31)   # gzip wrapper, mtime 0
        elif compression == "zstd":
            import zstandard
            self._obj = zstandard.ZstdCompressor(level=level).compressobj()
        elif compression == "none":
            self._obj = None
        else:
            raise PalletError(f"unsupported compression {compression!r}",
                              hint="use gzip, zstd or none")

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data) if self._obj else data

    def flush(self) -> bytes:
        return self._obj.flush() if self._obj else b""


class _Producer:
    """Yields decompressed chunks of a raw stream; hashes and counts them."""

    def __init__(self, raw, head: bytes, compression: str, name: str, tee=None,
                 raw_tee=None, *, raw_teed: bool = False) -> None:
        """raw_teed: raw (a _ReadAhead) has already written what it returns to raw_tee."""
        self.raw = raw
        self.pending = head
        self.compression = compression
        self.name = name
        self.tee = tee
        self.raw_tee = None if raw_teed else raw_tee
        # the diff ID: hashed here unless a tee already hashes the uncompressed bytes
        self.hashed_by = tee if tee is not None else \
            raw_tee if compression == "none" else None
        self.hash = hashlib.sha256() if self.hashed_by is None else None
        self.size = 0
        self.done = False
        if compression == "gzip":
            from isal import isal_zlib
            self.inflate = isal_zlib
            self.obj = isal_zlib.decompressobj(47)
        elif compression == "zstd":
            import zstandard
            self.zstd = zstandard
            self.obj = zstandard.ZstdDecompressor().decompressobj()
        else:
            self.obj = self._stdlib_decompressor()

    def _stdlib_decompressor(self):
        if self.compression == "bzip2":
            import bz2
            return bz2.BZ2Decompressor()
        if self.compression == "xz":
            import lzma
            return lzma.LZMADecompressor()
        return None

    def next_chunk(self) -> bytes:
        """The next non-empty chunk (at most CHUNK bytes for gzip, bzip2 and xz), or b"" at
        the end of the stream."""
        while not self.done:
            data = self._decode_some()
            if data:
                if self.hash is not None:
                    self.hash.update(data)
                if self.tee is not None:
                    self.tee.write(data)
                self.size += len(data)
                return data
        return b""

    def _input(self) -> bytes:
        chunk = self.pending or self.raw.read(CHUNK)
        self.pending = b""
        if chunk and self.raw_tee is not None:
            self.raw_tee.write(chunk)
        return chunk

    def _decode_some(self) -> bytes:
        """Decompress a little. The output of one call is bounded (max_length): 1 MiB of gzip
        input can expand to 1 GiB, and up to eight chunks wait in the queue, so unbounded
        calls let a small hostile layer take gigabytes of memory."""
        if self.compression == "none":
            chunk = self._input()
            self.done = not chunk
            return chunk
        try:
            if self.compression == "zstd":
                return self._zstd_some()
            return self._bounded_some()
        except (zlib.error, OSError, EOFError) as error:   # bz2 raises OSError
            raise PalletError(f"{self.name}: corrupt {self.compression} stream ({error})",
                              hint="the archive is damaged; nothing was stored") from error
        except PalletError:
            raise
        except Exception as error:
            if self.compression == "gzip" and isinstance(error, self.inflate.error):
                raise PalletError(f"{self.name}: corrupt gzip stream ({error})",
                                  hint="the archive is damaged; nothing was stored") from error
            if self.compression == "xz" or (self.compression == "zstd"
                                            and isinstance(error, self.zstd.ZstdError)):
                raise PalletError(f"{self.name}: corrupt {self.compression} stream ({error})",
                                  hint="the archive is damaged; nothing was stored") from error
            raise

    def _bounded_some(self) -> bytes:
        obj = self.obj
        gzip = self.compression == "gzip"
        if gzip and obj.unconsumed_tail:
            return obj.decompress(obj.unconsumed_tail, CHUNK)
        if not gzip and not obj.eof and not obj.needs_input:
            return obj.decompress(b"", max_length=CHUNK)      # output still pending
        if obj.eof:
            rest = obj.unused_data or self._input()
            if not rest:
                self.done = True
                return b""
            # concatenated members/streams
            self.obj = self.inflate.decompressobj(47) if gzip else self._stdlib_decompressor()
            return self._feed(rest)
        chunk = self._input()
        if not chunk:
            self.done = True
            raise PalletError(f"{self.name}: the {self.compression} stream is truncated",
                              hint="the archive is incomplete; nothing was stored")
        return self._feed(chunk)

    def _feed(self, data: bytes) -> bytes:
        if self.compression == "gzip":
            return self.obj.decompress(data, CHUNK)
        return self.obj.decompress(data, max_length=CHUNK)

    def _zstd_some(self) -> bytes:
        # zstandard's decompressobj has no output bound: zstd layers are not bounded here.
        chunk = self._input()
        if not chunk:
            self.done = True
            if not self.obj.eof:
                raise PalletError(f"{self.name}: the {self.compression} stream is truncated",
                                  hint="the archive is incomplete; nothing was stored")
            return b""
        data = self.obj.decompress(chunk)
        while self.obj.eof and self.obj.unused_data:   # concatenated frames
            rest = self.obj.unused_data
            self.obj = self.zstd.ZstdDecompressor().decompressobj()
            data += self.obj.decompress(rest)
        return data


class DecompressingReader:
    """Sequential reader of the uncompressed bytes of a gzip, zstd, bzip2, xz or plain stream."""

    def __init__(self, raw, *, name: str = "layer", threaded: bool = True, tee=None,
                 raw_tee=None) -> None:
        head = raw.read(4)
        self.compression = sniff_compression(head)
        self._ahead = None
        if threaded and raw_tee is not None:
            if head:
                raw_tee.write(head)
            self._ahead = _ReadAhead(raw, raw_tee)
        self._producer = _Producer(self._ahead or raw, head, self.compression, name, tee,
                                   raw_tee, raw_teed=self._ahead is not None)
        self._chunk = memoryview(b"")
        self._offset = 0          # position in the current chunk
        self._position = 0        # position in the whole uncompressed stream
        self._eof = False
        self._queue: queue.Queue | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=8)
            self._stop = False
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    # the producer thread
    def _run(self) -> None:
        try:
            while not self._stop:
                data = self._producer.next_chunk()
                self._queue.put(data)
                if not data:
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread
            self._queue.put(error)

    def _next(self) -> bytes:
        if self._queue is None:
            return self._producer.next_chunk()
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._eof = True
            raise item
        return item

    def _advance(self) -> bool:
        if self._eof:
            return False
        data = self._next()
        if not data:
            self._eof = True
            return False
        self._chunk = memoryview(data)
        self._offset = 0
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while True:
                part = self.read(CHUNK)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        if n == 0:
            return b""
        available = len(self._chunk) - self._offset
        if available >= n:
            data = self._chunk[self._offset:self._offset + n].tobytes()
            self._offset += n
            self._position += n
            return data
        parts = [self._chunk[self._offset:].tobytes()] if available else []
        got = available
        self._offset = len(self._chunk)
        while got < n and self._advance():
            take = min(n - got, len(self._chunk))
            parts.append(self._chunk[:take].tobytes())
            self._offset = take
            got += take
        self._position += got
        return b"".join(parts)

    def read_view(self, n: int) -> memoryview:
        """Up to n bytes as a view of the current chunk, no copy (empty at the end): the
        extractor writes a member's data from it straight into its file."""
        if self._offset >= len(self._chunk) and not self._advance():
            return memoryview(b"")
        view = self._chunk[self._offset:self._offset + n]
        self._offset += len(view)
        self._position += len(view)
        return view

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = 0) -> int:
        """Forward seeks only (skipping data), plus backward within the current chunk."""
        if whence == 1:
            position += self._position
        elif whence != 0:
            raise OSError("DecompressingReader supports absolute and relative seeks only")
        back = self._position - position
        if 0 < back <= self._offset:
            self._offset -= back
            self._position = position
            return position
        if back > 0:
            raise OSError("cannot seek backwards in a decompressed stream")
        while self._position < position:
            if not self.read(min(CHUNK, position - self._position)):
                break
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def close(self) -> None:
        """Stop the threads; everything read from raw by then has been given to raw_tee."""
        if self._queue is not None and not self._eof:
            self._stop = True
            _drain_until_gone(self._thread, self._queue)
            self._eof = True
        if self._ahead is not None:
            self._ahead.stop()

    @property
    def size(self) -> int:
        return self._producer.size

    def diff_id(self) -> str:
        if self._producer.hashed_by is not None:
            return self._producer.hashed_by.digest()
        return "sha256:" + self._producer.hash.hexdigest()


def _drain_until_gone(thread: threading.Thread, items: queue.Queue) -> None:
    """Unblock a thread waiting to put into a full queue until it has ended."""
    while thread.is_alive():
        try:
            items.get(timeout=0.1)
        except queue.Empty:
            pass


class _ReadAhead:
    """raw read on a thread of its own, each chunk written to tee (hashed and stored) as it is
    read, ahead of the decompression: read() returns the chunks in order, b"" at the end, and
    raises the thread's error (a cut connection, a blob larger than its descriptor)."""

    def __init__(self, raw, tee) -> None:
        self._chunks: queue.Queue = queue.Queue(maxsize=8)
        self._stop = False
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(raw, tee), daemon=True)
        self._thread.start()

    def _run(self, raw, tee) -> None:
        try:
            while not self._stop:
                chunk = raw.read(CHUNK)
                if chunk:
                    tee.write(chunk)
                self._chunks.put(chunk)
                if not chunk:
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread
            self._chunks.put(error)

    def read(self, size: int = -1) -> bytes:
        """The next chunk, whatever size is asked for (the producer takes what comes)."""
        if self._error is not None:
            raise self._error
        if self._done:
            return b""
        item = self._chunks.get()
        if isinstance(item, BaseException):
            self._error = item
            raise item
        self._done = not item
        return item

    def stop(self) -> None:
        self._stop = True
        _drain_until_gone(self._thread, self._chunks)
