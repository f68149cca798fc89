"""Extract one layer tar stream into an empty directory, safely, as an overlayfs lowerdir.

    extract_layer(stream, dest: Path, *, allow_devices: bool = False,
                  max_member_bytes: int | None = None, whiteouts: str = "overlay") -> ExtractStats

`stream` is the uncompressed tar, read sequentially (forward seeks only), so memory stays flat.
OCI whiteouts become what overlayfs expects in a lowerdir (whiteouts="overlay"):
`DIR/.wh.NAME` -> a 0/0 character device DIR/NAME; `DIR/.wh..wh..opq` -> xattr
trusted.overlay.opaque=y on DIR. whiteouts="keep" leaves them as plain files (for import).

Safety (every check raises PalletError naming the member; the caller deletes dest):
- member names are made relative (a leading "./" is dropped); absolute names and ".." components
  are refused (tarsafe's containment test, applied per member because we stream);
- nothing is written through a symlink: every parent of a member must be a real directory
  created by this extraction (so a symlink pointing outside cannot be used to escape);
- hard links must point at a regular file already extracted from this same tar;
- character/block devices are refused unless allow_devices (0/0 whiteout devices excepted);
- a member larger than max_member_bytes (decompression-bomb guard) or a truncated stream is an error.
We do not use tarsafe's extractall: it needs random access and refuses absolute symlink targets,
which are normal inside a root filesystem (we never follow them, so they cannot escape).
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tarsafe import TarSafe

from pallet.base.errors import PalletError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExtractStats:
    entries: int
    content_bytes: int


def _bad(member: str, why: str) -> PalletError:
    return PalletError(f"unsafe layer content: member {member!r} {why}",
                       hint="the archive is malformed or malicious; nothing was stored")


def clean_member_name(name: str) -> str:
    """Relative, normalised member path ('' for the root); raises for absolute or '..' names."""
    if name.startswith("/"):
        raise _bad(name, "has an absolute path")
    # tarsafe's containment test: the joined path must stay under the extraction root.
    if not TarSafe._is_contained("/root", os.path.normpath(os.path.join("/root", name))):
        raise _bad(name, "climbs out of the layer with '..'")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _bad(name, "contains a '..' component")
    return "/".join(parts)


class _Extractor:
    def __init__(self, dest: Path, allow_devices: bool, max_member_bytes: int | None, whiteouts: str):
        self.dest = os.fspath(dest)
        self.allow_devices = allow_devices
        self.max_member_bytes = max_member_bytes
        self.overlay = whiteouts == "overlay"
        self.dirs: set[str] = {""}          # directories this extraction made (never symlinks)
        self.files: set[str] = set()         # regular files (hard-link targets)
        self.dir_attrs: list[tuple[str, tarfile.TarInfo]] = []
        self.entries = 0
        self.content_bytes = 0

    def path(self, rel: str) -> str:
        return os.path.join(self.dest, rel) if rel else self.dest

    def ensure_parent(self, rel: str, member: str) -> None:
        parent = rel.rpartition("/")[0]
        if parent in self.dirs:
            return
        built = ""
        for part in parent.split("/"):
            built = f"{built}/{part}" if built else part
            if built in self.dirs:
                continue
            full = self.path(built)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                os.mkdir(full)
                os.chmod(full, 0o755)      # implicit parents are 0755 whatever the umask
                self.dirs.add(built)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise _bad(member, f"would be written through the symlink {built!r}")
            if not stat.S_ISDIR(st.st_mode):
                raise _bad(member, f"has a parent {built!r} that is not a directory")
            self.dirs.add(built)

    def remove_existing(self, rel: str, keep_dir: bool) -> None:
        full = self.path(rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            raise _bad(rel, "replaces a directory of the same layer")
        os.unlink(full)
        self.files.discard(rel)

    def apply_attrs(self, full, info: tarfile.TarInfo, is_link: bool = False) -> None:
        """Owner, mode (after chown, which clears set-id bits), xattrs, mtime; full is a path
        or an open descriptor."""
        if isinstance(full, int):
            os.fchown(full, info.uid, info.gid)
            os.fchmod(full, info.mode & 0o7777)
        else:
            os.chown(full, info.uid, info.gid, follow_symlinks=not is_link)
            if not is_link:
                os.chmod(full, info.mode & 0o7777)
        for key, value in info.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                name = key[len("SCHILY.xattr."):]
                if name.startswith("trusted.overlay."):
                    continue  # an image must not smuggle overlay metadata into our lowerdirs
                try:
                    if isinstance(full, int):
                        os.setxattr(full, name, value.encode("utf-8", "surrogateescape"))
                    else:
                        os.setxattr(full, name, value.encode("utf-8", "surrogateescape"),
                                    follow_symlinks=not is_link)
                except OSError as error:
                    raise PalletError(f"cannot set xattr {name} on {info.name}: {error.strerror}") from error
        if isinstance(full, int):
            os.utime(full, (info.mtime, info.mtime))
        else:
            os.utime(full, (info.mtime, info.mtime), follow_symlinks=not is_link)

    def member(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        rel = clean_member_name(info.name)
        self.entries += 1
        if rel == "":
            if info.isdir():
                self.dir_attrs.append((rel, info))
                return
            raise _bad(info.name, "names the root but is not a directory")
        self.ensure_parent(rel, info.name)
        base = rel.rpartition("/")[2]
        parent = rel.rpartition("/")[0]
        if self.overlay and base == OPAQUE_MARKER:
            os.setxattr(self.path(parent), OPAQUE_XATTR, b"y")
            return
        if self.overlay and base.startswith(WHITEOUT_PREFIX):
            target = (parent + "/" if parent else "") + base[len(WHITEOUT_PREFIX):]
            if not base[len(WHITEOUT_PREFIX):] or base[len(WHITEOUT_PREFIX):] in (".", ".."):
                raise _bad(info.name, "is a whiteout of nothing")
            self.remove_existing(target, keep_dir=False)
            os.mknod(self.path(target), stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        full = self.path(rel)
        if info.isdir():
            try:
                os.mkdir(full, 0o700)
            except FileExistsError:
                self.remove_existing(rel, keep_dir=True)
                if not os.path.isdir(full):
                    os.mkdir(full, 0o700)
            self.dirs.add(rel)
            self.dir_attrs.append((rel, info))
            return
        if info.isreg():
            self.write_file(tar, info, rel, full)
            self.files.add(rel)
            return
        self.remove_existing(rel, keep_dir=False)
        if info.issym():
            os.symlink(info.linkname, full)
            self.content_bytes += len(os.fsencode(info.linkname))
            self.apply_attrs(full, info, is_link=True)
        elif info.islnk():
            try:
                target = clean_member_name(info.linkname)
            except PalletError:
                raise _bad(info.name, f"is a hard link to {info.linkname!r}, outside the layer") from None
            if target not in self.files:
                raise _bad(info.name, f"is a hard link to {info.linkname!r}, which is not a file "
                                      "earlier in this layer")
            os.link(self.path(target), full, follow_symlinks=False)
        elif info.ischr() or info.isblk():
            if not self.allow_devices:
                raise _bad(info.name, "is a device node, which is not allowed here")
            kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK
            os.mknod(full, kind | (info.mode & 0o7777), os.makedev(info.devmajor, info.devminor))
            self.apply_attrs(full, info)
        elif info.isfifo():
            os.mkfifo(full, info.mode & 0o7777)
            self.apply_attrs(full, info)
        else:
            raise _bad(info.name, f"has an unsupported tar type {info.type!r}")

    def write_file(self, tar: tarfile.TarFile, info: tarfile.TarInfo, rel: str, full: str) -> None:
        if self.max_member_bytes is not None and info.size > self.max_member_bytes:
            raise _bad(info.name, f"declares {info.size} bytes, more than the archive can hold "
                                  f"({self.max_member_bytes} bytes at most)")
        source = tar.extractfile(info)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(full, flags, 0o600)
        except FileExistsError:          # a later entry replaces an earlier one
            self.remove_existing(rel, keep_dir=False)
            fd = os.open(full, flags, 0o600)
        try:
            remaining = info.size
            while remaining:
                try:
                    chunk = source.read(min(COPY_CHUNK, remaining))
                except tarfile.ReadError:
                    chunk = b""
                if not chunk:
                    raise PalletError(f"layer is truncated: member {info.name!r} ends early",
                                      hint="the archive is incomplete or corrupt; nothing was stored")
                _write_all(fd, chunk)
                remaining -= len(chunk)
            self.apply_attrs(fd, info)    # through the descriptor: no more path lookups
        finally:
            os.close(fd)
        self.content_bytes += info.size

    def finish(self) -> None:
        # Directory times last, deepest first, so writing children does not disturb them.
        for rel, info in reversed(self.dir_attrs):
            self.apply_attrs(self.path(rel), info)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def extract_layer(stream, dest: Path, *, allow_devices: bool = False,
                  max_member_bytes: int | None = None, whiteouts: str = "overlay") -> ExtractStats:
    """Extract the tar read from stream into dest (an existing empty directory)."""
    extractor = _Extractor(dest, allow_devices, max_member_bytes, whiteouts)
    try:
        # "r:" (not the stream mode "r|"): the reader supports forward seeks, and tarfile then
        # reads member data straight from it instead of re-buffering every block.
        with tarfile.open(fileobj=stream, mode="r:", encoding="utf-8",
                          errors="surrogateescape") as tar:
            for info in tar:
                extractor.member(tar, info)
    except tarfile.ReadError as error:
        raise PalletError(f"not a valid tar archive: {error}",
                          hint="the file is truncated, corrupt or not a tar; nothing was stored") from error
    except (EOFError, tarfile.HeaderError) as error:
        raise PalletError(f"layer is truncated or corrupt: {error}",
                          hint="nothing was stored") from error
    except OSError as error:
        raise PalletError(f"cannot extract layer: {error}") from error
    extractor.finish()
    return ExtractStats(entries=extractor.entries, content_bytes=extractor.content_bytes)
