"""A build context that arrives as a stream (a remote or API build, `build - < ctx.tar`):
a (compressed) tar, or a bare build file.

    load_stream_context(stream, scratch, progress, *, root=None, keep=None, hold=None)
        -> StreamContext(directory | None, dockerfile bytes | None, entries, stat_cache)

The stream is read as it comes (never whole into memory: a 300 MB context costs the
decompressor's few chunks and one member's buffer). With keep (the Engine API's name for the
request's context, builder/keptcontext.py) the tar updates a tree kept in the store from the
last build of that name (builder/contextsync.py), whose stat cache then knows every file;
otherwise, or while another build holds that tree, it is unpacked into scratch/context by the
runtime's one extractor (confined to that directory, hard links only to its own members).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


_HEAD = 512


@dataclass(frozen=True)
class StreamContext:
    """A context that arrived as a tar stream, as the build reads it."""

    directory: Path | None          # the unpacked (or kept) context
    dockerfile: bytes | None        # a bare build file instead of a context
    entries: int                    # entries unpacked into scratch (not a kept tree's)
    stat_cache: object | None = None   # the kept tree's StatCache, told every hash


class _Counted:
    """The raw stream, its first bytes put back after sniffing, with a count of what was read
    (the "transferring context" figure)."""

    def __init__(self, raw, head: bytes) -> None:
        self.raw = raw
        self.head = head
        self.count = len(head)

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data = self.head if size < 0 or size >= len(self.head) else self.head[:size]
            self.head = self.head[len(data):]
            return data
        data = self.raw.read(size)
        self.count += len(data)
        return data


class _NoDigest:
    """A tee for DecompressingReader: a context needs no sha256 of its bytes."""

    def write(self, data) -> int:
        return len(data)


def _read_head(raw) -> bytes:
    parts, got = [], 0
    while got < _HEAD:
        data = raw.read(_HEAD - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def load_stream_context(stream, scratch: Path, progress, *, root: Path | None = None,
                        keep: str | None = None, hold=None) -> StreamContext:
    """The stream's context, shown as BuildKit's "[internal] load build context" step with
    its "transferring context: SIZE TIME done" status. hold: an ExitStack that releases the
    kept tree when the build is over."""
    from pallet.builder.progress import transfer_size
    from pallet.runtime.image.compression import sniff_compression
    progress.start("internal-context", "[internal] load build context")
    started = time.monotonic()
    head = _read_head(stream)
    counted = _Counted(stream, head)

    def text() -> str:
        return (f"transferring context: {transfer_size(counted.count)} "
                f"{time.monotonic() - started:.1f}s")

    if sniff_compression(head[:4]) == "none" and not _looks_like_tar(head):
        from pallet.grammar.lines import MAX_FILE_BYTES
        # one byte more than a build file may hold: the reader then says it is too large
        data = head + _read_up_to(stream, MAX_FILE_BYTES + 1 - len(head))
        found = StreamContext(directory=None, dockerfile=data, entries=0)
    else:
        progress.live_status("internal-context", text)
        found = _unpack(counted, scratch, root=root, keep=keep, hold=hold)
    progress.status("internal-context", f"{text()} done")
    progress.done("internal-context")
    return found


def _read_up_to(stream, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        data = stream.read(min(1 << 20, size - got))
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _unpack(counted: _Counted, scratch: Path, *, root, keep, hold) -> StreamContext:
    from pallet.runtime.image.compression import DecompressingReader
    kept = None
    if keep is not None and root is not None and hold is not None:
        from pallet.builder import keptcontext
        kept = keptcontext.take(root, keep)
        if kept is not None:
            hold.callback(kept.release)
    reader = DecompressingReader(counted, name="build context", tee=_NoDigest())
    try:
        if kept is not None:
            from pallet.builder.contextsync import sync_tree
            from pallet.builder.statcache import StatCache
            cache = StatCache.for_context(root=root, context_dir=kept.tree)
            sync_tree(reader, kept.tree, cache)
            reader.drain()
            cache.save()
            return StreamContext(directory=kept.tree.resolve(), dockerfile=None, entries=0,
                                 stat_cache=cache)
        return _fresh(reader, scratch)
    finally:
        reader.close()


def _fresh(reader, scratch: Path) -> StreamContext:
    from pallet.runtime.image.unpack import extract_layer
    directory = scratch / "context"
    directory.mkdir(mode=0o700)
    stats = extract_layer(reader, directory, whiteouts="keep", allow_devices=False)
    reader.drain()
    return StreamContext(directory=directory, dockerfile=None, entries=stats.entries)


def _looks_like_tar(data: bytes) -> bool:
    if len(data) < 512:
        return False
    import tarfile
    try:
        tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True
