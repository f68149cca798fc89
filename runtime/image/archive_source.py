"""The members of an image archive (a tar file) or an OCI layout directory, for load: random
access by name, each read as a regular file confined to the archive or the directory."""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.image.documents import JSON_LIMIT


# An image archive holds a few members per layer (Docker's: a directory, layer.tar, json,
# VERSION; OCI's: one blob each). Members are indexed in memory for random access, so a tar
# bomb of millions of empty members (a few MB gzipped) is refused instead of indexed.
MAX_MEMBERS = 100_000


class ArchiveSource:
    """Random access to the members of an archive (a tar file) or an OCI layout directory."""

    def __init__(self, *, tar: tarfile.TarFile | None = None, directory: Path | None = None):
        self.tar = tar
        self.directory = directory
        self.members = {}
        if tar is not None:
            try:
                while (info := tar.next()) is not None:
                    name = posixpath.normpath(info.name.lstrip("/")).removeprefix("./")
                    self.members[name] = info
                    if len(tar.members) > MAX_MEMBERS:
                        raise PalletError(f"cannot load: the archive has more than {MAX_MEMBERS} "
                                          "members, far more than an image archive holds",
                                          hint="it is not an image archive; nothing was loaded")
            except (tarfile.TarError, EOFError) as error:
                raise PalletError(f"cannot load: the archive is truncated or corrupt ({error})",
                                  hint="nothing was loaded") from error

    def has(self, name: str) -> bool:
        if self.directory is not None:
            return self._dir_path(name).is_file()
        return self._resolve(name) is not None

    def _dir_path(self, name: str) -> Path:
        path = (self.directory / name).resolve()
        if not path.is_relative_to(self.directory.resolve()):
            raise PalletError(f"cannot load: {name!r} points outside the layout", hint="nothing was loaded")
        return path

    def _resolve(self, name: str, depth: int = 0) -> tarfile.TarInfo | None:
        clean = posixpath.normpath(name).removeprefix("./")
        if clean.startswith("../") or clean.startswith("/") or clean == "..":
            raise PalletError(f"cannot load: {name!r} points outside the archive", hint="nothing was loaded")
        info = self.members.get(clean)
        if info is not None and info.issym() and depth < 8:
            return self._resolve(posixpath.join(posixpath.dirname(clean), info.linkname), depth + 1)
        return info if info is not None and info.isfile() else None

    @contextlib.contextmanager
    def open(self, name: str):
        if self.directory is not None:
            try:
                # non-blocking: a FIFO planted in the layout must not hang the load
                fd = os.open(self._dir_path(name), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError as error:
                raise PalletError(f"cannot load: {name} is missing from the layout",
                                  hint="the image is incomplete; nothing was loaded") from error
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise PalletError(f"cannot load: {name} in the layout is not a regular file",
                                  hint="nothing was loaded")
            with os.fdopen(fd, "rb") as handle:
                yield handle
            return
        info = self._resolve(name)
        if info is None:
            raise PalletError(f"cannot load: {name} is missing from the archive",
                              hint="the archive is incomplete; nothing was loaded")
        yield self.tar.extractfile(info)

    def region(self, name: str) -> tuple[int, int, int] | None:
        """(fd, offset, size) of a member's bytes in the archive file, when they lie there as
        they are (not a sparse member, not a layout directory): plainlayer.py reads them."""
        if self.tar is None:
            return None
        info = self._resolve(name)
        fileobj = self.tar.fileobj
        if info is None or info.sparse is not None or not hasattr(fileobj, "fileno"):
            return None
        try:
            fd = fileobj.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
        except (OSError, ValueError):
            return None
        return fd, info.offset_data, info.size

    def size(self, name: str) -> int:
        if self.directory is not None:
            return self._dir_path(name).stat().st_size
        info = self._resolve(name)
        return info.size if info is not None else 0

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as handle:
            data = handle.read(JSON_LIMIT + 1)
        if len(data) > JSON_LIMIT:
            raise PalletError(f"cannot load: {name} is larger than {JSON_LIMIT} bytes")
        return data
