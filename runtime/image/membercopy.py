"""The bytes of one tar member into an open file, for the extractor (unpack.py).

    copy_segments(source, fd, info, segments)   from tarfile's member reader: the whole
                                                member, or a sparse member's data segments
    read_segments(source, info, segments)       the same as (offset, bytes), for a reader
                                                that compares or hashes (builder/syncfiles.py)
    copy_in_kernel(region, fd, info)             from the archive's own file by
                                                copy_file_range (plainlayer.py's path)
    copy_views(stream, fd, info)                 from views of a DecompressingReader's chunks

A member that ends before its declared size is an error ("archive is truncated").
"""

from __future__ import annotations

import os
import tarfile

from pallet.base.errors import PalletError
from pallet.base.fdio import write_all

COPY_CHUNK = 1 << 20


def read_segments(source, info: tarfile.TarInfo, segments, *, chunk: int = COPY_CHUNK,
                  hint: str | None = None):
    """(offset, bytes) of a member's data segments as tarfile's member reader gives them (a
    sparse member's holes stay holes); an early end is the member's truncation."""
    for offset, size in segments:
        if info.sparse is not None:
            source.seek(offset)
        remaining = size
        while remaining:
            try:
                data = source.read(min(chunk, remaining))
            except tarfile.ReadError:
                data = b""
            if not data:
                raise PalletError(f"archive is truncated: member {info.name!r} ends early",
                                  hint=hint)
            yield offset, data
            offset += len(data)
            remaining -= len(data)


def copy_segments(source, fd: int, info: tarfile.TarInfo, segments) -> None:
    """Through this process: a stream's member or a sparse member's segments."""
    position = None
    for offset, data in read_segments(source, info, segments):
        if info.sparse is not None and offset != position:
            os.lseek(fd, offset, os.SEEK_SET)
        write_all(fd, data)
        position = offset + len(data)


def copy_in_kernel(region: tuple[int, int, int], fd: int, info: tarfile.TarInfo) -> None:
    """The member's bytes from the archive's file (region: fd, offset, size) to fd by
    copy_file_range: no pass through this process's memory; tarfile only reads the headers."""
    source, base, size = region
    done = 0
    while done < info.size:
        count = min(info.size - done, size - info.offset_data - done)
        if count > 0:
            at = base + info.offset_data + done
            try:
                count = os.copy_file_range(source, fd, count, at)
            except OSError as error:
                if error.errno not in (18, 22, 38, 95):    # EXDEV EINVAL ENOSYS EOPNOTSUPP
                    raise
                count = os.sendfile(fd, source, at, count)
        if count <= 0:
            raise PalletError(f"archive is truncated: member {info.name!r} ends early")
        done += count


def copy_views(stream, fd: int, info: tarfile.TarInfo) -> None:
    """A plain member's bytes from the stream tarfile reads (at the member's data, as tarfile
    leaves it after the header; tarfile seeks on to the next header itself)."""
    stream.seek(info.offset_data)
    remaining = info.size
    while remaining:
        view = stream.read_view(min(COPY_CHUNK, remaining))
        if not view:
            raise PalletError(f"archive is truncated: member {info.name!r} ends early")
        write_all(fd, view)
        remaining -= len(view)
