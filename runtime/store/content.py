"""The content store: an OCI image layout of sha256 blobs plus named references, on disk.

Layout under the store root (docs/architecture.md, "On disk"):

    oci/oci-layout, oci/index.json, oci/blobs/sha256/<hex>   -- an OCI image layout
    layers/<diffid-hex>/                                       -- unpacked layers (pallet.runtime.image.layers)
    roots/<holder>/<name>.json                                 -- garbage-collection roots (roots.py)
    cache/  tmp/  locks/

Public API (other parts call these; the signatures are stable):

    Store.open(root: Path) -> Store
    store.put_blob(stream, *, expected_digest=None, expected_size=None, media_type=...) -> Descriptor
    store.put_bytes(data: bytes, *, media_type=...) -> Descriptor
    store.blob_writer(*, media_type=...) -> BlobWriter   (write(); commit() -> Descriptor; abort())
    store.open_blob(digest, size=None) -> VerifyingReader (raises PalletError at EOF on mismatch)
    store.read_blob(digest, size=None) -> bytes (verified)
    store.has_blob(digest) -> bool; store.blob_path(digest) -> Path
    store.delete_blob(digest); store.list_blobs() -> list[str]
    store.index_entries() -> list[dict]          (index.json "manifests", read without a lock)
    store.update_index(change: Callable[[list[dict]], list[dict]]) -> list[dict]  (under the lock)
    store.lock() -> context manager (exclusive lock for index changes and garbage collection)
    store.lease() -> context manager (shared: hold it from writing blobs until they are referenced,
                     so a concurrent garbage collection cannot delete them)
    store.temp_dir(prefix) -> Path   (a private directory under tmp/, same filesystem as the store)
    store.tmp -> Path   (this process's scratch directory, tmp/p<pid>-<random>/: see scratch.py;
                     Store.open sweeps the directories of processes that are gone)
    private_dir(path) -> Path   (mkdir 0700 whatever the umask; tightened if group/others can enter)

Beside it: digests.py (check_digest, sha256_hex, Descriptor, new_sha256), blobs.py (the
verifying reader and the atomic blob writer these methods hand out), layerinfo.py (the sizes
recorded per layer: layer_size, layer_content_size, record_layer_size).

The root is 0700 (Docker's is 0710 for the same reason, CVE-2021-41091: layers hold setuid files
and device nodes that another host user must not reach), as are its top-level directories; both
are created with explicit modes whatever the umask, and tightened when an older, looser store is
opened. Every write is atomic: a temp file in tmp/, fsync, rename, fsync of the directory. A blob is
visible under its digest only once complete and verified, so a crash leaves at most a stray temp
file in its process's scratch directory, which the next command opening the store removes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from pallet.base.diskspace import writing
from pallet.base.errors import PalletError
from pallet.base.files import atomic_write, make_temp_dir, private_dir, remove_tree
from pallet.runtime.store.blobs import CHUNK, BlobWriter, VerifyingReader
from pallet.runtime.store.digests import Descriptor, sha256_hex
from pallet.runtime.store.scratch import adopt_temp_home, scratch_dir

OCI_LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


class Store:
    """An opened store root. Cheap to create; all state lives on disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.oci = self.root / "oci"
        self.blobs = self.oci / "blobs" / "sha256"
        self.index_path = self.oci / "index.json"
        self.layers = self.root / "layers"
        self.cache = self.root / "cache"
        self.tmp_base = self.root / "tmp"
        self.locks = self.root / "locks"
        self._local = threading.local()
        adopt_temp_home(self.root)

    @property
    def tmp(self) -> Path:
        """This process's scratch directory, made (and locked) on first use."""
        with writing("making a scratch directory in the store", self.root):
            return scratch_dir(self.root)

    @classmethod
    def open(cls, root: Path) -> "Store":
        """Open (creating if needed) the store at root."""
        store = cls(Path(root))
        try:
            for directory in (store.root, store.oci, store.oci / "blobs", store.blobs,
                              store.layers, store.cache, store.tmp_base, store.locks):
                private_dir(directory)
            layout = store.oci / "oci-layout"
            if not layout.exists():
                atomic_write(layout, json.dumps(OCI_LAYOUT_VERSION).encode(), tmp_dir=store.tmp)
            if not store.index_path.exists():
                with store.lock():
                    if not store.index_path.exists():
                        store.write_index([])
        except OSError as error:
            raise PalletError(f"cannot open the store at {root}: {error.strerror}",
                              hint="check --root / PALLET_ROOT and the permissions") from error
        from pallet.runtime.store import scratch
        scratch.sweep(store.tmp_base)  # what killed processes left (best effort, never raises)
        return store

    # ---- blobs -------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / sha256_hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def blob_size(self, digest: str) -> int:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError as error:
            raise PalletError(f"blob {digest} is missing from the store",
                              hint="the image is incomplete; reload or rebuild it") from error

    def blob_writer(self, *, media_type: str = "application/octet-stream") -> BlobWriter:
        return BlobWriter(self, media_type)

    def put_blob(self, stream: BinaryIO, *, expected_digest: str | None = None,
                 expected_size: int | None = None,
                 media_type: str = "application/octet-stream") -> Descriptor:
        """Copy a stream into the store; verify it against the expected digest/size if given."""
        if expected_digest is not None:
            sha256_hex(expected_digest)
        with self.blob_writer(media_type=media_type) as writer:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                writer.write(chunk)
                if expected_size is not None and writer.size > expected_size:
                    raise PalletError(f"blob {expected_digest or ''} is larger than its descriptor "
                                      f"size {expected_size}", hint="the source is corrupt")
            return writer.commit(expected_digest=expected_digest, expected_size=expected_size)

    def put_bytes(self, data: bytes, *, media_type: str = "application/octet-stream") -> Descriptor:
        with self.blob_writer(media_type=media_type) as writer:
            writer.write(data)
            return writer.commit()

    def open_blob(self, digest: str, size: int | None = None) -> VerifyingReader:
        """Open a blob for reading; the reader raises PalletError at EOF if the content is wrong."""
        path = self.blob_path(digest)
        try:
            handle = open(path, "rb")
        except FileNotFoundError as error:
            raise PalletError(f"blob {digest} is missing from the store",
                              hint="the image is incomplete; run `pallet system check` and reload it") from error
        actual = os.fstat(handle.fileno()).st_size
        if size is not None and actual != size:
            handle.close()
            raise PalletError(f"blob {digest} has {actual} bytes, its descriptor says {size}",
                              hint="the store is damaged; run `pallet system check --repair`")
        return VerifyingReader(handle, digest, actual if size is None else size)

    def read_blob(self, digest: str, size: int | None = None) -> bytes:
        with self.open_blob(digest, size) as reader:
            data = reader.read()
            reader.verify_rest()
        return data

    def read_json_blob(self, digest: str, size: int | None = None) -> dict:
        data = self.read_blob(digest, size)
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise PalletError(f"blob {digest} is not valid JSON: {error}") from error
        if not isinstance(value, dict):
            raise PalletError(f"blob {digest} is not a JSON object")
        return value

    def delete_blob(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.blob_path(digest))

    def list_blobs(self) -> list[str]:
        return sorted("sha256:" + entry.name for entry in os.scandir(self.blobs)
                      if entry.is_file() and len(entry.name) == 64)

    # ---- index and locks --------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self, name: str, mode: int) -> Iterator[None]:
        # Re-entrant within one thread for the same mode (commit_image inside a lease, ...);
        # asking for the exclusive lock while holding it shared would deadlock: a bug.
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = {}
        if name in held:
            count, held_mode = held[name]
            if held_mode != mode and mode == fcntl.LOCK_EX:
                raise RuntimeError(f"{name}: exclusive lock requested while holding it shared")
            held[name] = (count + 1, held_mode)
            try:
                yield
            finally:
                held[name] = (held[name][0] - 1, held_mode)
                if held[name][0] == 0:
                    del held[name]
            return
        fd = os.open(self.locks / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            held[name] = (1, mode)
            try:
                yield
            finally:
                del held[name]
        finally:
            os.close(fd)

    def lock(self):
        """Exclusive store lock: index.json changes and garbage collection happen under it."""
        return self._flock("store.lock", fcntl.LOCK_EX)

    def lease(self):
        """Shared lock that keeps garbage collection out while unreferenced blobs are in use."""
        return self._flock("gc.lock", fcntl.LOCK_SH)

    def gc_lock(self):
        """Exclusive counterpart of lease(): held by garbage collection."""
        return self._flock("gc.lock", fcntl.LOCK_EX)

    def index_entries(self) -> list[dict]:
        """The manifests of index.json (a consistent snapshot: the file is replaced atomically)."""
        try:
            data = json.loads(self.index_path.read_bytes())
        except FileNotFoundError:
            return []
        except ValueError as error:
            raise PalletError(f"{self.index_path} is not valid JSON: {error}",
                              hint="run `pallet system check --repair`") from error
        manifests = data.get("manifests") if isinstance(data, dict) else None
        if not isinstance(manifests, list):
            raise PalletError(f"{self.index_path} has no manifests list",
                              hint="run `pallet system check --repair`")
        return [entry for entry in manifests if isinstance(entry, dict)]

    def write_index(self, manifests: list[dict]) -> None:
        """Replace index.json wholesale (the caller holds the store lock: update_index, repair)."""
        body = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}
        with writing("updating the image index", self.index_path):
            atomic_write(self.index_path, json.dumps(body, indent=2).encode() + b"\n",
                         tmp_dir=self.tmp)

    def update_index(self, change: Callable[[list[dict]], list[dict]]) -> list[dict]:
        """Read-modify-write index.json under the store lock; returns the new manifests list."""
        with self.lock():
            manifests = change(self.index_entries())
            self.write_index(manifests)
            return manifests

    # ---- scratch space ----------------------------------------------------------------------

    def temp_dir(self, prefix: str = "work-") -> Path:
        with writing("making a scratch directory in the store", self.root):
            return make_temp_dir(self.tmp, prefix)

    def remove_tree(self, path: Path) -> None:
        """Remove a directory tree (base.files.remove_tree: any depth, symlinks not followed,
        read-only directories made writable)."""
        remove_tree(path)


# ---- per-layer sizes (SIZE columns, docker-archive headers), kept beside the layers -------------
