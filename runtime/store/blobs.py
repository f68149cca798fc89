"""Streaming blob I/O of the content store: a reader that verifies what it reads, a writer
that hashes while it writes and moves the blob into place atomically (Store.open_blob and
Store.blob_writer hand them out).

    VerifyingReader(handle, digest, size)   read()/readinto(); PalletError at EOF on a mismatch;
                                            verify_rest()
    BlobWriter(store, media_type)           write(); verify(); commit() -> Descriptor; abort()
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

from pallet.base.diskspace import writing
from pallet.base.errors import PalletError
from pallet.base.files import fsync_dir
from pallet.runtime.store.digests import Descriptor, new_sha256

CHUNK = 1 << 20


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

    def __init__(self, store, media_type: str) -> None:
        self._store = store
        self._media_type = media_type
        with writing("writing a blob into the store", store.root):
            import tempfile  # not at the top: a cached build writes no blob
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
