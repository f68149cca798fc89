"""An uncompressed tar that lies in a regular file (an imported tarball, a layer inside a
docker-archive or oci-archive being loaded): stored and unpacked without its contents passing
through Python.

    extract_region(store, region, writer, dest, *, limit, meter=None) -> ExtractStats
        region = (fd, offset, size): the tar is bytes [offset, offset + size) of the file fd
    store_plain_layer(store, region, *, media_type, expected, diff_id, name, meter=None)
        -> Descriptor                 layers.store_layer's contract, for such a region

Why: through the stream path every byte is read into Python, queued to a thread, hashed and
written to the blob, and read again by tarfile and written to its file: for a 200 MB rootfs
about a second of CPU (`import` took 1.4x docker import's time). Here a thread reads the region
once into the blob writer (hashlib and the write release the GIL), while tarfile reads only the
headers through a second open of the file (its own offset) and each member's contents go from
file to file by copy_file_range (unpack.extract_layer(data_region=)). The file must not change
meanwhile (both reads would see different bytes): its size, mtime and ctime are compared before
and after.
"""

from __future__ import annotations

import os
import threading

from pallet.base.errors import PalletError

CHUNK = 1 << 20


class Window:
    """A read-only, seekable file object over bytes [offset, offset + size) of a file,
    opened anew (its own file offset, whatever else reads the descriptor)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._handle = open(f"/proc/self/fd/{fd}", "rb", buffering=0)
        self._offset, self._size, self._position = offset, size, 0

    def read(self, count: int = -1) -> bytes:
        left = self._size - self._position
        count = left if count is None or count < 0 else min(count, left)
        if count <= 0:
            return b""
        data = os.pread(self._handle.fileno(), count, self._offset + self._position)
        self._position += len(data)
        return data

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(base + position, 0)
        return self._position

    def tell(self) -> int:
        return self._position

    def fileno(self) -> int:
        return self._handle.fileno()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "Window":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def extract_region(store, region: tuple[int, int, int], writer, dest, *, limit: int,
                   meter=None):
    """Unpack the tar in region into dest while a thread copies it into writer (a BlobWriter
    or a bounded tee of one); meter(stream) -> stream wraps what the thread reads."""
    from pallet.runtime.image.unpack import extract_layer

    fd, offset, size = region
    failure: list[BaseException] = []

    def feed(stream) -> None:
        try:
            while chunk := stream.read(CHUNK):
                writer.write(chunk)
        except BaseException as error:  # noqa: BLE001 - raised again in the calling thread
            failure.append(error)

    before = os.fstat(fd)
    with Window(fd, offset, size) as blob, Window(fd, offset, size) as headers:
        thread = threading.Thread(target=feed, args=(meter(blob) if meter else blob,),
                                  daemon=True)
        thread.start()
        try:
            stats = extract_layer(headers, dest, max_member_bytes=limit,
                                  data_region=(headers.fileno(), offset, size))
        finally:
            thread.join()
    if failure:
        if isinstance(failure[0], PalletError):
            raise failure[0]
        raise PalletError(f"cannot read the archive: {failure[0]}") from failure[0]
    after = os.fstat(fd)
    if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != \
            (before.st_size, before.st_mtime_ns, before.st_ctime_ns):
        raise PalletError("the archive changed while it was read", hint="try again")
    return stats


def store_plain_layer(store, region: tuple[int, int, int], *, media_type: str | None,
                      expected, diff_id: str | None, name: str, meter=None):
    """layers.store_layer for an uncompressed layer in region: the blob is the tar, so its
    digest is the diff ID; both checks pass before the blob is kept or the tree moved in."""
    from pallet.runtime.image.layers import (MT_OCI_TAR, BoundedWriter, move_into_place,
                                             member_limit)
    from pallet.runtime.store.digests import Descriptor, sha256_hex
    from pallet.runtime.store.layerinfo import record_layer_size

    size = region[2]
    work = store.temp_dir("unpack-")
    try:
        dest = work / "rootfs"
        dest.mkdir()
        os.chmod(dest, 0o755)
        with store.blob_writer(media_type=media_type or MT_OCI_TAR) as writer:
            tee = BoundedWriter(writer, expected.size if expected else None, name)
            stats = extract_region(store, region, tee, dest, meter=meter,
                                   limit=member_limit(store, size, "none"))
            writer.verify(expected_digest=expected.digest if expected else None,
                          expected_size=expected.size if expected else None)
            actual = writer.digest()
            if diff_id is not None and actual != diff_id:
                raise PalletError(f"layer {expected.digest if expected else actual} unpacks to "
                                  f"{actual}, but the image config says {diff_id}",
                                  hint="the image is corrupt; reload or rebuild it")
            descriptor = writer.commit()
        record_layer_size(store, actual, size, stats.content_bytes)
        move_into_place(dest, store.layers / sha256_hex(actual, what="diff ID"))
    finally:
        store.remove_tree(work)
    return Descriptor(digest=descriptor.digest, size=descriptor.size,
                      media_type=media_type or MT_OCI_TAR)
