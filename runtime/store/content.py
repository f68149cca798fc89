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
    new_sha256(size_hint=None) -> a sha256 object (small inputs avoid loading OpenSSL)
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
    record_layer_size(store, diff_id, tar_size, content_size); layer_size(store, diff_id) -> tar
    bytes | None; layer_content_size(store, diff_id) -> Docker's SIZE bytes | None (layerinfo/)

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
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from pallet.base.diskspace import writing
from pallet.base.errors import PalletError
from pallet.base.files import (PRIVATE_MODE, atomic_write, fsync_dir, private_dir, remove_tree,
                               set_temp_home)

OCI_LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
CHUNK = 1 << 20
# The OCI image spec's registered algorithms, lower-case hex only; fullmatch, because `$` would
# let a trailing newline through.
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
SMALL_BLOB = 1 << 20


def new_sha256(size_hint: int | None = None):
    """A SHA-256 object. For small inputs (manifests, configs, indexes: what `run` and a cached
    `build` read) the interpreter's own implementation: `import hashlib` loads OpenSSL, ~4 ms of
    every CLI start, while hashing 2 KB the slower way takes microseconds. Bulk data (layers)
    gets OpenSSL's, 7x faster per byte here."""
    if size_hint is not None and size_hint <= SMALL_BLOB:
        try:
            from _sha256 import sha256  # CPython 3.11 (3.12+ names it _sha2: falls through)
            return sha256()
        except ImportError:
            pass
    import hashlib
    return hashlib.sha256()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, its digest and its size."""

    digest: str
    size: int
    media_type: str = "application/octet-stream"
    annotations: dict = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict:
        out = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Descriptor":
        shown = repr(data) if len(repr(data)) <= 300 else repr(data)[:300] + "..."
        if not isinstance(data, dict) or not isinstance(data.get("size"), int) or \
                isinstance(data["size"], bool) or data["size"] < 0 or \
                not isinstance(data.get("mediaType", ""), str) or \
                not isinstance(data.get("annotations") or {}, dict):
            raise PalletError(f"invalid descriptor: {shown}",
                              hint="the manifest or index is malformed")
        return cls(digest=check_digest(data.get("digest"), what="descriptor digest"),
                   size=data["size"], media_type=data.get("mediaType", "application/octet-stream"),
                   annotations=dict(data.get("annotations") or {}))


def check_digest(digest, *, what: str = "digest") -> str:
    """Return digest if it is `sha256:` + 64 or `sha512:` + 128 lower-case hex digits, else raise
    PalletError. Every digest that arrives from outside (a registry, an archive, a cache export)
    passes here before any use: as a file name it would otherwise be a path (`sha256:../..`)."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        shown = repr(digest) if len(repr(digest)) <= 200 else repr(digest)[:200] + "..."
        raise PalletError(f"invalid {what} {shown}: invalid checksum digest format",
                          hint="a digest is sha256: and 64 lower-case hex digits "
                               "(or sha512: and 128); the source is corrupt or malicious")
    return digest


def sha256_hex(digest, *, what: str = "digest") -> str:
    """The hex part of a valid sha256 digest: the name the store files it under."""
    check_digest(digest, what=what)
    if not digest.startswith("sha256:"):
        raise PalletError(f"unsupported {what} algorithm in {digest[:16]}...: this store keeps "
                          "sha256 content only", hint="push or save the image with sha256 digests")
    return digest[len("sha256:"):]


def scratch_dir(root: Path) -> Path:
    """This process's scratch directory under root's tmp/ (see scratch.py), made on first use."""
    from pallet.runtime.store import scratch
    base = Path(root) / "tmp"
    existing = scratch.owned_dir(base)
    if existing is not None:
        return existing
    private_dir(root)   # a root made here is private too, not left to the umask
    return scratch.process_dir(private_dir(base))


def adopt_temp_home(root: Path) -> None:
    """Atomic writes anywhere below root keep their temporaries in this process's scratch
    directory, so what a SIGKILL leaves between write and rename is swept with it."""
    set_temp_home(root, lambda: scratch_dir(root))


class VerifyingReader:
    """A file-like reader over a blob that hashes what it reads and checks digest and size at EOF.

    A consumer that stops early has not verified anything; `verify_rest()` reads the remainder.
    """

    def __init__(self, handle: BinaryIO, digest: str, size: int) -> None:
        self._handle = handle
        self._digest = digest
        self._size = size
        self._hash = new_sha256(size)
        self._read = 0
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        data = self._handle.read(n if n is not None and n >= 0 else -1)
        if data:
            self._hash.update(data)
            self._read += len(data)
            if self._read > self._size:
                raise PalletError(f"blob {self._digest} is larger than its recorded size {self._size}",
                                  hint="the store is damaged; run `pallet system check --repair`")
        elif not self._checked and (n is None or n != 0):
            self._check()
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _check(self) -> None:
        self._checked = True
        actual = "sha256:" + self._hash.hexdigest()
        if self._read != self._size or actual != self._digest:
            raise PalletError(
                f"blob {self._digest} does not match its descriptor (read {self._read} bytes, "
                f"digest {actual}, expected {self._size} bytes)",
                hint="the content is corrupt; run `pallet system check --repair` and reload the image")

    def verify_rest(self) -> None:
        while self.read(CHUNK):
            pass
        if not self._checked:
            self._check()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "VerifyingReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BlobWriter:
    """Stream bytes into a temp file while hashing; commit() moves it into the CAS atomically."""

    def __init__(self, store: "Store", media_type: str) -> None:
        self._store = store
        self._media_type = media_type
        with writing("writing a blob into the store", store.root):
            fd, name = tempfile.mkstemp(dir=store.tmp, prefix="blob-")
        self._path = Path(name)
        self._handle = os.fdopen(fd, "wb")
        import hashlib
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        with writing("writing a blob into the store", self._store.root):
            self._handle.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._handle.flush()

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def verify(self, *, expected_digest: str | None = None,
               expected_size: int | None = None) -> None:
        """Raise unless what was written has the size and digest its descriptor names."""
        digest = self.digest()
        if expected_size is not None and expected_size != self.size:
            raise PalletError(f"blob {expected_digest or digest} has {self.size} bytes, "
                              f"its descriptor says {expected_size}",
                              hint="the source is corrupt or truncated")
        if expected_digest is not None and expected_digest != digest:
            raise PalletError(f"digest mismatch: content is {digest}, its descriptor says "
                              f"{expected_digest}", hint="the source is corrupt or was tampered with")

    def commit(self, *, expected_digest: str | None = None, expected_size: int | None = None) -> Descriptor:
        digest = self.digest()
        try:
            self.verify(expected_digest=expected_digest, expected_size=expected_size)
            with writing("writing a blob into the store", self._store.root):
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
            target = self._store.blob_path(digest)
            if target.exists():
                os.unlink(self._path)
            else:
                os.chmod(self._path, 0o644)
                os.replace(self._path, target)
                fsync_dir(target.parent)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return Descriptor(digest=digest, size=self.size, media_type=self._media_type)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError, ValueError):
            self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._done:
            self.abort()


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
            return Path(tempfile.mkdtemp(dir=self.tmp, prefix=prefix))

    def remove_tree(self, path: Path) -> None:
        """Remove a directory tree (base.files.remove_tree: any depth, symlinks not followed,
        read-only directories made writable)."""
        remove_tree(path)


# ---- per-layer sizes (SIZE columns, docker-archive headers), kept beside the layers -------------

def record_layer_size(store: Store, diff_id: str, tar_size: int, content_size: int) -> None:
    """Remember a layer's uncompressed tar size and its content size (file bytes + symlink
    targets, hard links once: what Docker shows as a layer's SIZE)."""
    directory = private_dir(store.root / "layerinfo")
    path = directory / sha256_hex(diff_id, what="diff ID")
    if not path.exists():
        atomic_write(path, f"{tar_size} {content_size}".encode(), tmp_dir=store.tmp)


def _layer_info(store: Store, diff_id: str) -> list[int] | None:
    try:
        values = [int(v) for v in (store.root / "layerinfo" / diff_id[len("sha256:"):]).read_text().split()]
    except (OSError, ValueError):
        return None
    return values if len(values) == 2 else None


def layer_size(store: Store, diff_id: str) -> int | None:
    """The uncompressed tar size of a layer, if pallet has seen it (None otherwise)."""
    info = _layer_info(store, diff_id)
    return info[0] if info else None


def layer_content_size(store: Store, diff_id: str) -> int | None:
    """Docker's layer SIZE (content bytes), if pallet has seen the layer (None otherwise)."""
    info = _layer_info(store, diff_id)
    return info[1] if info else None
