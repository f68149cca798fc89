"""Layers: pack a directory diff into a compressed blob; unpack layers once for overlayfs.

Public API (stable):

    Layer                      frozen: digest, size, media_type, diff_id, uncompressed_size, empty
    pack_layer(store, source_dir: Path, *, compression: str = "gzip",
               source_date_epoch: int | None = None, overlay_upper: bool = True,
               compression_level: int | None = None) -> Layer
    unpacked_layer_dir(store, descriptor: Descriptor | Layer, diff_id: str, *, meter=None) -> Path
    layer_dirs(store, image) -> list[Path]     # TOPMOST FIRST, ready for overlayfs lowerdir=
    store_layer(store, raw, *, media_type, expected: Descriptor | None, diff_id: str | None,
                name, meter=None) -> Descriptor
        one read of a layer from outside (load): stored as a blob and unpacked at once
    open_layer_stream(store, descriptor) -> context manager yielding the uncompressed tar stream
    extract_blob(store, descriptor, diff_id, dest, *, allow_devices=True, whiteouts="overlay",
                 meter=None) -> str
        meter(stream) -> stream: wraps the blob as it is read (progress: base.progress.Meter)

Concurrency: a packed layer is unreferenced until commit_image tags it; hold
`with store.lease():` from pack_layer to commit_image (and while using layer_dirs of an image
that is not tagged yet) so a concurrent rmi/prune/system check --repair cannot collect it.
Upper dirs to pack must come from overlay mounts with redirect_dir=off and metacopy=off
(pack_layer refuses trusted.overlay.redirect/metacopy: such an upper dir is not a full diff).

Empty layers (Docker's rule: the diff has no entries): pack_layer still stores the blob (a
1024-byte tar of two zero blocks, diff ID sha256:5f70bf18..., exactly as Docker and BuildKit write
it) and returns a Layer with empty=True. The builder decides: BuildKit drops such a layer from
the manifest and marks the history entry "empty_layer": true -- that is what pallet's builder
should do; commit_image keeps every layer it is given.

pack_layer streams: tar entries are written in the calling thread while a worker thread hashes
the uncompressed bytes (diff ID), compresses them (gzip level 1 by default, or zstd level 3) and
hashes/writes the compressed blob; zlib, zstd and hashlib release the GIL, so both cores work.

layer_dirs unpacks each layer once into layers/<diffid-hex>/ (unpack to a temp dir under tmp/,
verify blob digest and diff ID, then rename), keeping OCI whiteouts as overlayfs whiteouts
(0/0 char devices, trusted.overlay.opaque=y), so `lowerdir=` + ":".join(dirs) composes the image.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.store.content import Store
from pallet.runtime.store.digests import Descriptor, sha256_hex
from pallet.runtime.store.layerinfo import record_layer_size

# compression (zlib, zstandard), tarpack and unpack (tarfile) are imported inside the functions
# that pack or unpack: `run` of an image whose layers are already unpacked only needs
# layer_dirs, and those imports would be a good part of its start-up time.

MT_OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
LAYER_MEDIA_TYPES = {MT_OCI_TAR, MT_OCI_GZIP, MT_OCI_ZSTD, MT_DOCKER_GZIP, MT_DOCKER_TAR,
                     "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"}
COMPRESSIONS = {"gzip": MT_OCI_GZIP, "zstd": MT_OCI_ZSTD, "none": MT_OCI_TAR}
DEFAULT_LEVELS = {"gzip": 1, "zstd": 3, "none": 0}
EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
CHUNK = 1 << 20
GZIP_MAX_RATIO = 1100  # deflate cannot expand more than ~1032:1


@dataclass(frozen=True)
class Layer:
    """A stored layer blob and what it unpacks to."""

    digest: str
    size: int
    media_type: str
    diff_id: str
    uncompressed_size: int | None = None
    empty: bool = False

    def descriptor(self) -> Descriptor:
        return Descriptor(digest=self.digest, size=self.size, media_type=self.media_type)


# ---- packing --------------------------------------------------------------------------------

class _PackSink:
    """File-like sink for the tar writer: a worker thread hashes, compresses and stores."""

    def __init__(self, writer, compression: str, level: int) -> None:
        import hashlib
        import queue

        from pallet.runtime.image.compression import Compressor

        self._writer = writer
        self._compressor = Compressor(compression, level)
        # Uncompressed, the blob is the tar: its digest (the writer hashes it) is the diff ID,
        # and a second SHA-256 pass over every byte would only cost time (0.18 s per 300 MB).
        self._raw_hash = hashlib.sha256() if compression != "none" else None
        self._buffer = bytearray()
        self._offset = 0
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            while True:
                data = self._queue.get()
                if data is None:
                    self._writer.write(self._compressor.flush())
                    return
                if self._error is None:
                    if self._raw_hash is not None:
                        self._raw_hash.update(data)
                    self._writer.write(self._compressor.compress(data))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread by close()
            self._error = error
            while self._queue.get() is not None:
                pass

    def write(self, data) -> int:
        self._buffer += data
        self._offset += len(data)
        if len(self._buffer) >= CHUNK:
            self._queue.put(self._buffer)     # handed over whole: the worker owns it now
            self._buffer = bytearray()
        return len(data)

    def tell(self) -> int:
        return self._offset

    def close(self) -> str:
        if self._buffer:
            self._queue.put(self._buffer)
            self._buffer = bytearray()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise PalletError(f"cannot write layer: {self._error}") from self._error
        if self._raw_hash is None:
            return self._writer.digest()
        return "sha256:" + self._raw_hash.hexdigest()


def pack_layer(store: Store, source_dir: Path, *, compression: str = "gzip",
               source_date_epoch: int | None = None, overlay_upper: bool = True,
               compression_level: int | None = None, watch=None,
               exclude: frozenset[str] = frozenset()) -> Layer:
    """Pack source_dir as a layer blob in the store; see the module docstring for the rules.
    watch(sink), when given, receives the tar's sink before the first byte: its tell() is the
    count of tar bytes written so far (a display polls it; nothing is added per write).
    exclude: relative paths left out with everything below them."""
    from pallet.runtime.image.tarpack import write_layer_tar

    if compression not in COMPRESSIONS:
        raise PalletError(f"unsupported compression {compression!r}", hint="use gzip, zstd or none")
    level = DEFAULT_LEVELS[compression] if compression_level is None else compression_level
    media_type = COMPRESSIONS[compression]
    with store.lease(), store.blob_writer(media_type=media_type) as writer:
        sink = _PackSink(writer, compression, level)
        if watch is not None:
            watch(sink)
        try:
            stats = write_layer_tar(Path(source_dir), sink, source_date_epoch=source_date_epoch,
                                    overlay_upper=overlay_upper, exclude=exclude)
        finally:
            diff_id = sink.close()
        descriptor = writer.commit()
    record_layer_size(store, diff_id, sink.tell(), stats.content_bytes)
    return Layer(digest=descriptor.digest, size=descriptor.size, media_type=media_type,
                 diff_id=diff_id, uncompressed_size=sink.tell(), empty=stats.entries == 0)


# ---- unpacking ------------------------------------------------------------------------------

def member_limit(store: Store, compressed_size: int | None, compression: str) -> int:
    """Largest member an archive of compressed_size bytes can honestly hold (bomb guard)."""
    import shutil
    free = shutil.disk_usage(store.root).free
    if compressed_size is None:
        return free
    if compression == "gzip":
        return min(free, max(compressed_size, 1) * GZIP_MAX_RATIO)
    if compression == "none":
        return min(free, compressed_size)
    return free


def extract_blob(store: Store, descriptor: Descriptor, diff_id: str | None, dest: Path, *,
                 allow_devices: bool = True, whiteouts: str = "overlay", meter=None) -> str:
    """Extract a stored layer blob into dest, verifying the blob digest and the diff ID."""
    from pallet.runtime.image.compression import DecompressingReader
    from pallet.runtime.image.unpack import extract_layer

    with store.open_blob(descriptor.digest, descriptor.size) as raw:
        reader = DecompressingReader(meter(raw) if meter else raw,
                                     name=f"layer {descriptor.digest[:19]}")
        try:
            limit = member_limit(store, descriptor.size, reader.compression)
            stats = extract_layer(reader, dest, allow_devices=allow_devices, max_member_bytes=limit,
                                  whiteouts=whiteouts)
            reader.drain()
        finally:
            reader.close()
        raw.verify_rest()
    actual = reader.diff_id()
    record_layer_size(store, actual, reader.size, stats.content_bytes)
    if diff_id is not None and actual != diff_id:
        raise PalletError(f"layer {descriptor.digest} unpacks to {actual}, but the image config "
                          f"says {diff_id}", hint="the image is corrupt; reload or rebuild it")
    return actual


def unpacked_layer_dir(store: Store, descriptor: Descriptor | Layer, diff_id: str, *,
                       meter=None) -> Path:
    """layers/<diffid-hex>/, unpacking the blob first if no earlier call did."""
    if isinstance(descriptor, Layer):
        descriptor = descriptor.descriptor()
    target = store.layers / sha256_hex(diff_id, what="diff ID")
    if target.is_dir():
        return target
    with store.lease():
        return _unpack_into(store, descriptor, diff_id, target, meter)


def _unpack_into(store: Store, descriptor: Descriptor, diff_id: str, target: Path,
                 meter=None) -> Path:
    work = store.temp_dir("unpack-")
    try:
        dest = work / "rootfs"
        dest.mkdir()
        os.chmod(dest, 0o755)   # the image's / unless the tar says otherwise; not the umask's
        extract_blob(store, descriptor, diff_id, dest, meter=meter)
        move_into_place(dest, target)
    finally:
        store.remove_tree(work)
    return target


def move_into_place(dest: Path, target: Path) -> None:
    """An unpacked layer becomes layers/<diffid>; if another process got there first, its copy
    is as good (and dest is swept with the work directory)."""
    try:
        os.rename(dest, target)
    except OSError:
        if not target.is_dir():
            raise


class BoundedWriter:
    """A blob writer that refuses more bytes than the descriptor declared."""

    def __init__(self, writer, limit: int | None, name: str) -> None:
        self.writer, self.limit, self.name = writer, limit, name
        self.overflowed = False

    def write(self, data) -> int:
        if self.overflowed or self.limit is not None and self.writer.size + len(data) > self.limit:
            self.overflowed = True
            raise PalletError(f"{self.name} is larger than its descriptor size {self.limit}",
                              hint="the source is corrupt")
        return self.writer.write(data)

    def digest(self) -> str:
        return self.writer.digest()


def _blame_the_blob(source, tee, writer, expected: Descriptor, error: PalletError) -> None:
    """After a failed extraction: when the rest of the source can still be read and the whole
    is not the blob its descriptor names, that says more than the extraction's error."""
    try:
        while not tee.overflowed and (chunk := source.read(CHUNK)):
            tee.write(chunk)
    except (PalletError, OSError):
        return   # the source itself failed: its own error stands
    if tee.overflowed:
        return   # longer than its descriptor: that error stands (the blob was cut short)
    writer.verify(expected_digest=expected.digest, expected_size=expected.size)


def store_layer(store: Store, raw, *, media_type: str | None, expected: Descriptor | None,
                diff_id: str | None, name: str, meter=None) -> Descriptor:
    """Read a layer blob once: its bytes go into the store (checked against expected) while
    they are unpacked into a scratch directory (checked against diff_id), which becomes
    layers/<diffid>/ only when both checks passed. The blob is hashed once where it is the
    uncompressed tar (its digest is then the diff ID). Hold store.lease()."""
    from pallet.runtime.image.compression import DecompressingReader
    from pallet.runtime.image.unpack import extract_layer

    work = store.temp_dir("unpack-")
    try:
        dest = work / "rootfs"
        dest.mkdir()
        os.chmod(dest, 0o755)   # the image's / unless the tar says otherwise; not the umask's
        with store.blob_writer(media_type=media_type or MT_OCI_TAR) as writer:
            tee = BoundedWriter(writer, expected.size if expected else None, name)
            source = meter(raw) if meter else raw
            reader = DecompressingReader(source, name=name, raw_tee=tee)
            try:
                limit = member_limit(store, expected.size if expected else None,
                                     reader.compression)
                stats = extract_layer(reader, dest, max_member_bytes=limit)
                reader.drain()
            except PalletError as error:
                reader.close()
                if expected is not None:
                    _blame_the_blob(source, tee, writer, expected, error)
                raise
            finally:
                reader.close()
            # both checks before the blob is kept
            writer.verify(expected_digest=expected.digest if expected else None,
                          expected_size=expected.size if expected else None)
            actual = reader.diff_id()
            if diff_id is not None and actual != diff_id:
                raise PalletError(f"layer {expected.digest if expected else writer.digest()} "
                                  f"unpacks to {actual}, but the image config says {diff_id}",
                                  hint="the image is corrupt; reload or rebuild it")
            descriptor = writer.commit()
        record_layer_size(store, actual, reader.size, stats.content_bytes)
        move_into_place(dest, store.layers / sha256_hex(actual, what="diff ID"))
    finally:
        store.remove_tree(work)
    media = {"gzip": MT_OCI_GZIP, "zstd": MT_OCI_ZSTD}.get(reader.compression, MT_OCI_TAR) \
        if media_type is None else media_type
    return Descriptor(digest=descriptor.digest, size=descriptor.size, media_type=media)


def layer_dirs(store: Store, image) -> list[Path]:
    """The image's unpacked layer directories, TOPMOST FIRST (overlayfs lowerdir= order)."""
    dirs = [unpacked_layer_dir(store, layer, diff_id)
            for layer, diff_id in zip(image.layers, image.diff_ids)]
    dirs.reverse()
    return dirs


@contextlib.contextmanager
def open_layer_stream(store: Store, descriptor: Descriptor):
    """Yield a reader of the uncompressed tar of a stored layer (digest checked at the end)."""
    from pallet.runtime.image.compression import DecompressingReader

    with store.open_blob(descriptor.digest, descriptor.size) as raw:
        reader = DecompressingReader(raw, name=f"layer {descriptor.digest[:19]}")
        try:
            yield reader
            reader.drain()
        finally:
            reader.close()
        raw.verify_rest()

