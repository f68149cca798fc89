"""A regular file of a kept context in step with its tar member (builder/contextsync.py
says why and when a file is kept).

    RegularFiles(root, cache, temp_name).sync(stream, tar, info, rel, st, again) -> kept?

A member whose header matches the kept file (and which the kept file holds once) is compared
by content: up to CHUNK bytes in memory against the hash the stat cache recorded (or the kept
file hashed again), larger ones chunk by chunk against the kept file itself. Anything else is
written: in place when nothing is there, else beside it and renamed over it.
"""

from __future__ import annotations

import os
import stat
import tarfile

import xxhash

from pallet.base.errors import PalletError
from pallet.runtime.image.tarheaders import mtime_ns

CHUNK = 1 << 20      # members up to this size are held in memory while compared
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def same_header(st: os.stat_result, info: tarfile.TarInfo) -> bool:
    return (st.st_mode & 0o7777 == info.mode & 0o7777 and st.st_uid == info.uid
            and st.st_gid == info.gid and st.st_mtime_ns == mtime_ns(info))


def _truncated(name: str) -> PalletError:
    return PalletError(f"archive is truncated: member {name!r} ends early",
                       hint="the archive is incomplete or corrupt; nothing was stored")


class RegularFiles:
    def __init__(self, root, cache, temp_name) -> None:
        self.root = root
        self.cache = cache
        self.temp_name = temp_name

    def sync(self, stream, tar: tarfile.TarFile | None, info: tarfile.TarInfo, rel: str,
             st: os.stat_result | None, again: bool) -> bool:
        """Bring rel in step with the member (st: what is there, a directory already moved
        out of the way); True when the kept file stayed."""
        if info.sparse is not None:      # only tarfile reads sparse members (tarscan.py)
            from pallet.runtime.image.membercopy import read_segments
            self.write(rel, info, st, read_segments(
                tar.extractfile(info), info, info.sparse, chunk=CHUNK,
                hint="the archive is incomplete or corrupt; nothing was stored"))
            return False
        if stream.tell() != info.offset_data:
            stream.seek(info.offset_data)
        # a kept file with other names (an earlier hard link) is replaced: the fresh tree
        # would hold it once
        keepable = (st is not None and not again and stat.S_ISREG(st.st_mode)
                    and st.st_nlink == 1 and st.st_size == info.size
                    and same_header(st, info))
        if info.size <= CHUNK:
            # with the padding to the next header: the scanner then has nothing to skip
            padded = info.size + (-info.size % 512)
            data = stream.read(padded)
            if len(data) < info.size:
                raise _truncated(info.name)
            if len(data) > info.size:
                data = data[:info.size]
            digest = xxhash.xxh3_128_hexdigest(data)
            if keepable:
                known = self.cache.known(rel, st)
                if digest == (known or self.kept_digest(rel)):
                    if known is None:
                        self.cache.record(rel, st, digest)
                    return True
            self.write(rel, info, st, iter((data,)), digest)
            return False
        return self.large(stream, info, rel, st if keepable else None, st)

    def kept_digest(self, rel: str) -> str | None:
        """The kept file's content hash, read again (its stat cache entry is stale)."""
        try:
            fd = self.root.open(rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        hasher = xxhash.xxh3_128()
        with open(fd, "rb", buffering=0) as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest()

    def large(self, stream, info: tarfile.TarInfo, rel: str, keepable, st) -> bool:
        """A member above CHUNK: compared with the kept file a chunk at a time (memory stays
        flat); at the first difference the kept file's equal prefix and the rest of the
        stream go to a new file."""
        hasher = xxhash.xxh3_128()
        remaining = info.size
        kept_fd = None
        if keepable is not None:
            try:
                kept_fd = self.root.open(rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                kept_fd = None
        offset = 0
        try:
            while remaining and kept_fd is not None:
                chunk = stream.read(min(CHUNK, remaining))
                if not chunk:
                    raise _truncated(info.name)
                if os.pread(kept_fd, len(chunk), offset) != chunk:
                    prefix = _prefix_chunks(kept_fd, offset)
                    self.write(rel, info, st, _chain(prefix, chunk, stream, remaining - len(chunk),
                                                     info.name), None)
                    return False
                hasher.update(chunk)
                remaining -= len(chunk)
                offset += len(chunk)
            if kept_fd is not None:
                self.cache.record(rel, st, hasher.hexdigest())
                return True
        finally:
            if kept_fd is not None:
                os.close(kept_fd)
        self.write(rel, info, st, _chain(iter(()), b"", stream, remaining, info.name), None)
        return False

    def write(self, rel: str, info: tarfile.TarInfo, st, chunks, digest: str | None = None) -> None:
        """A new file at rel from chunks, made in place when nothing is there, else beside it
        and renamed over it; its owner, mode and mtime set through the descriptor."""
        dirfd, name = self.root.parent(rel)
        target = name if st is None else self.temp_name()
        fd = os.open(target, _NEW, 0o600, dir_fd=dirfd)
        hasher = xxhash.xxh3_128() if digest is None else None
        try:
            for chunk in chunks:
                if isinstance(chunk, tuple):      # a sparse segment: (offset, bytes)
                    os.lseek(fd, chunk[0], os.SEEK_SET)
                    chunk = chunk[1]
                if hasher is not None:
                    hasher.update(chunk)
                _write_all(fd, chunk)
            if info.sparse is not None:
                os.ftruncate(fd, info.size)
            os.fchown(fd, info.uid, info.gid)
            os.fchmod(fd, info.mode & 0o7777)
            mtime = mtime_ns(info)
            os.utime(fd, ns=(mtime, mtime))
            if target != name:
                os.rename(target, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
                target = name
            written = os.fstat(fd)
        except BaseException:
            if target != name:
                try:
                    os.unlink(target, dir_fd=dirfd)
                except OSError:
                    pass
            raise
        finally:
            os.close(fd)
        if info.sparse is None:   # a sparse file's hash is not of what was streamed
            self.cache.record(rel, written, digest or hasher.hexdigest())


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _prefix_chunks(fd: int, length: int):
    offset = 0
    while offset < length:
        data = os.pread(fd, min(CHUNK, length - offset), offset)
        if not data:
            raise PalletError("the kept build context changed while it was compared")
        offset += len(data)
        yield data


def _chain(first, chunk: bytes, stream, remaining: int, name: str):
    yield from first
    if chunk:
        yield chunk
    while remaining:
        data = stream.read(min(CHUNK, remaining))
        if not data:
            raise _truncated(name)
        remaining -= len(data)
        yield data
