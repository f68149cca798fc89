"""Extract a tar stream (a layer, an imported rootfs, an ADD archive, a build context, a `cp`
payload) into a directory, confined to it. The one extractor of the project.

    extract_layer(stream, dest: Path | Root, *, into: str = "", merge: bool = False,
                  allow_devices: bool = True, max_member_bytes: int | None = None,
                  whiteouts: str = "overlay", owner: tuple | None = None,
                  data_region: tuple | None = None) -> ExtractStats
    is_tar(path) -> bool                       # Docker's ADD sniffing: a (compressed) tar?
    extract_archive(path, dest, **options)     # a local, possibly compressed, tar file

`stream` is the uncompressed tar, read sequentially (forward seeks only), so memory stays flat.
Members land under `into` (a path inside dest). OCI whiteouts become what overlayfs expects in
a lowerdir (whiteouts="overlay"): `DIR/.wh.NAME` -> a 0/0 character device DIR/NAME;
`DIR/.wh..wh..opq` -> xattr trusted.overlay.opaque=y on DIR. whiteouts="keep" leaves them as
plain files (ADD, cp). owner=(uid, gid) replaces the archive's owners (None keeps that half).

Safety (every check raises PalletError naming the member; the caller deletes dest):
- every file operation goes through confine.Root: paths are resolved by the kernel inside dest
  (openat2 RESOLVE_IN_ROOT), the last component is never followed, so nothing an archive or an
  existing tree holds can lead a write, chown, chmod or link out of dest;
- member names are made relative (a leading "./" is dropped); absolute names and ".." components
  are refused (tarsafe's containment test, applied per member because we stream);
- merge=False (a fresh directory: layers, import, ADD, a context, cp out): nothing is written
  through a symlink, every parent of a member must be a real directory, and a member may not
  replace a directory; merge=True (cp into a container): symlinks already in the tree are
  followed, inside dest, and an entry in the way is replaced, as Docker's untar does;
- hard links must point at a regular file already extracted from this same tar;
- device nodes and set-id files are kept, as Docker keeps them (the store is not reachable by
  other users); allow_devices=False refuses devices (what `cp` writes onto the host);
- a member larger than max_member_bytes (decompression-bomb guard) or a truncated stream is an error.
We do not use tarsafe's extractall: it needs random access and refuses absolute symlink targets,
which are normal inside a root filesystem (we never follow them out of it).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tarsafe import TarSafe

from pallet.base.errors import PalletError
from pallet.runtime.image.membercopy import copy_in_kernel, copy_segments, copy_views
from pallet.runtime.image.tarheaders import (BoundedTarInfo, check_numbers, mtime_ns,
                                             unsafe as _bad)
from pallet.runtime.isolation.confine import Root

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


class _StrictTarInfo(BoundedTarInfo):
    """tarfile ends an archive without a word at a header it cannot read after the first
    member, so a corrupt layer would be kept cut short: here that is an error, as in Go's
    archive/tar (and builder/tarscan.py). A stream that ends between members still ends."""

    @classmethod
    def fromtarfile(cls, tarfile_):
        try:
            return super().fromtarfile(tarfile_)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as error:
            if tarfile_.offset == 0:
                raise       # tarfile's own "not a tar" for the first header
            raise PalletError(f"archive is corrupt: invalid tar header at byte "
                              f"{tarfile_.offset} ({error})",
                              hint="the archive is damaged; nothing was stored") from error


@dataclass(frozen=True)
class ExtractStats:
    """What an extraction wrote: how many entries, how many content bytes."""

    entries: int
    content_bytes: int


def clean_member_name(name: str) -> str:
    """Relative, normalised member path ('' for the root); raises for absolute or '..' names."""
    if name.startswith("/"):
        raise _bad(name, "has an absolute path")
    if ".." not in name:     # nothing to climb with: the containment test cannot fail
        if not (name.startswith(".") or "/." in name or "//" in name or name.endswith("/")):
            return name      # already clean: no empty or "." component
        return "/".join(part for part in name.split("/") if part not in ("", "."))
    # tarsafe's containment test: the joined path must stay under the extraction root.
    if not TarSafe._is_contained("/root", os.path.normpath(os.path.join("/root", name))):
        raise _bad(name, "climbs out of the destination with '..'")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _bad(name, "contains a '..' component")
    return "/".join(parts)


class _Extractor:
    def __init__(self, root: Root, into: str, *, merge: bool, allow_devices: bool,
                 max_member_bytes: int | None, whiteouts: str, owner: tuple | None,
                 data_region: tuple[int, int, int] | None = None) -> None:
        self.root = root
        self.data_region = data_region
        self.into = "/".join(p for p in into.split("/") if p not in ("", "."))
        self.merge = merge
        self.allow_devices = allow_devices
        self.max_member_bytes = max_member_bytes
        self.overlay = whiteouts == "overlay"
        self.owner = owner if owner is not None and owner != (None, None) else None
        self.dirs: set[str] = {""}          # directories made or checked (never symlinks)
        self.files: set[str] = set()         # regular files (hard-link targets)
        self.dir_attrs: list[tuple[str, tarfile.TarInfo]] = []
        self.entries = 0
        self.content_bytes = 0

    def path(self, rel: str) -> str:
        """The path inside the root of a member path (relative to `into`)."""
        if not self.into:
            return rel
        return f"{self.into}/{rel}" if rel else self.into

    def ensure_parent(self, rel: str, member: str) -> None:
        parent = rel.rpartition("/")[0]
        if parent in self.dirs:
            return
        built = ""
        for part in parent.split("/"):
            built = f"{built}/{part}" if built else part
            if built in self.dirs:
                continue
            st = self.root.lstat(self.path(built))
            if st is None:
                self.root.mkdir(self.path(built), 0o755)
                self.root.chmod(self.path(built), 0o755)   # 0755 whatever the umask
                self.dirs.add(built)
                continue
            if stat.S_ISLNK(st.st_mode):
                if not self.merge:
                    raise _bad(member, f"would be written through the symlink {built!r}")
                if not self.root.isdir(self.path(built)):
                    raise _bad(member, f"has a parent {built!r} that is not a directory")
            elif not stat.S_ISDIR(st.st_mode):
                if not self.merge:
                    raise _bad(member, f"has a parent {built!r} that is not a directory")
                self.root.unlink(self.path(built))       # Docker's untar: replaced
                self.root.mkdir(self.path(built), 0o755)
                self.root.chmod(self.path(built), 0o755)
            self.dirs.add(built)

    def remove_existing(self, rel: str, keep_dir: bool) -> None:
        st = self.root.lstat(self.path(rel))
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            if not self.merge:
                raise _bad(rel, "replaces a directory of the same archive")
            self.root.remove_tree(self.path(rel))
            self.dirs = {d for d in self.dirs if d != rel and not d.startswith(rel + "/")}
        else:
            self.root.unlink(self.path(rel))
        self.files.discard(rel)

    def ids(self, info: tarfile.TarInfo) -> tuple[int, int]:
        if self.owner is None:
            return info.uid, info.gid
        uid, gid = self.owner
        return (info.uid if uid is None else uid), (info.gid if gid is None else gid)

    def xattrs(self, info: tarfile.TarInfo):
        for key, value in info.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                name = key[len("SCHILY.xattr."):]
                if name.startswith("trusted.overlay."):
                    continue  # an image must not smuggle overlay metadata into our lowerdirs
                yield name, value.encode("utf-8", "surrogateescape")

    def set_xattrs(self, setxattr, where, info: tarfile.TarInfo) -> None:
        for name, value in self.xattrs(info):
            try:
                setxattr(where, name, value)
            except OSError as error:
                raise PalletError(f"cannot set xattr {name} on {info.name}: {error.strerror}") from error

    def apply_attrs(self, rel: str, info: tarfile.TarInfo) -> None:
        """Owner, mode (after chown, which clears set-id bits), xattrs, mtime of the entry at
        rel itself (a symlink is never followed)."""
        where = self.path(rel)
        self.root.chown(where, *self.ids(info))
        if not info.issym():
            self.root.chmod(where, info.mode & 0o7777)
        self.set_xattrs(self.root.setxattr, where, info)
        mtime = mtime_ns(info)
        self.root.utime(where, ns=(mtime, mtime))

    def apply_attrs_fd(self, fd: int, info: tarfile.TarInfo) -> None:
        os.fchown(fd, *self.ids(info))
        os.fchmod(fd, info.mode & 0o7777)
        self.set_xattrs(os.setxattr, fd, info)
        mtime = mtime_ns(info)
        os.utime(fd, ns=(mtime, mtime))

    def member(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        rel = clean_member_name(info.name)
        check_numbers(info)
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
            self.root.setxattr(self.path(parent), OPAQUE_XATTR, b"y")
            return
        if self.overlay and base.startswith(WHITEOUT_PREFIX):
            target = (parent + "/" if parent else "") + base[len(WHITEOUT_PREFIX):]
            if not base[len(WHITEOUT_PREFIX):] or base[len(WHITEOUT_PREFIX):] in (".", ".."):
                raise _bad(info.name, "is a whiteout of nothing")
            self.remove_existing(target, keep_dir=False)
            self.root.mknod(self.path(target), stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        where = self.path(rel)
        if info.isdir():
            try:
                self.root.mkdir(where, 0o700)
            except FileExistsError:
                self.remove_existing(rel, keep_dir=True)
                st = self.root.lstat(where)
                if st is None or not stat.S_ISDIR(st.st_mode):
                    self.root.mkdir(where, 0o700)
            self.dirs.add(rel)
            self.dir_attrs.append((rel, info))
            return
        if info.isreg():
            self.write_file(tar, info, rel)
            self.files.add(rel)
            return
        self.remove_existing(rel, keep_dir=False)
        if info.issym():
            self.root.symlink(info.linkname, where)
            self.content_bytes += len(os.fsencode(info.linkname))
            self.apply_attrs(rel, info)
        elif info.islnk():
            try:
                target = clean_member_name(info.linkname)
            except PalletError:
                raise _bad(info.name, f"is a hard link to {info.linkname!r}, outside the archive") from None
            if target not in self.files:
                raise _bad(info.name, f"is a hard link to {info.linkname!r}, which is not a file "
                                      "earlier in this archive")
            self.root.link(self.path(target), where)
            if self.owner is not None:
                self.root.chown(where, *self.ids(info))
        elif info.ischr() or info.isblk():
            if not self.allow_devices:
                raise _bad(info.name, "is a device node, which is not allowed here")
            kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK
            self.root.mknod(where, kind | 0o600, os.makedev(info.devmajor, info.devminor))
            self.apply_attrs(rel, info)
        elif info.isfifo():
            self.root.mkfifo(where, 0o600)
            self.apply_attrs(rel, info)
        else:
            raise _bad(info.name, f"has an unsupported tar type {info.type!r}")

    def write_file(self, tar: tarfile.TarFile, info: tarfile.TarInfo, rel: str) -> None:
        # A sparse member (GNU or PAX sparse) stores only its data segments: those are written
        # at their offsets and the holes stay holes, so a terabyte "file" of a few blocks costs
        # a few blocks (writing its zeros out would fill the disk).
        segments = info.sparse if info.sparse is not None else [(0, info.size)]
        stored = sum(size for _, size in segments)
        if self.max_member_bytes is not None and stored > self.max_member_bytes:
            raise _bad(info.name, f"declares {stored} bytes, more than the archive can hold "
                                  f"({self.max_member_bytes} bytes at most)")
        # a plain member of our decompressing stream is written from views of its chunks
        # (tarfile's reader would copy every byte three times on the way)
        plain = info.sparse is None
        direct = plain and self.data_region is None and hasattr(tar.fileobj, "read_view")
        source = None if direct or (plain and self.data_region is not None) \
            else tar.extractfile(info)
        try:
            fd = self.root.create(self.path(rel), 0o600)
        except FileExistsError:          # a later entry replaces an earlier one
            self.remove_existing(rel, keep_dir=False)
            fd = self.root.create(self.path(rel), 0o600)
        try:
            if direct:
                copy_views(tar.fileobj, fd, info)
            elif source is None:
                copy_in_kernel(self.data_region, fd, info)
            else:
                copy_segments(source, fd, info, segments)
            if info.sparse is not None:
                os.ftruncate(fd, info.size)
            self.apply_attrs_fd(fd, info)    # through the descriptor: no more path lookups
        finally:
            os.close(fd)
        self.content_bytes += stored

    def finish(self) -> None:
        # Directory times last, deepest first, so writing children does not disturb them.
        for rel, info in reversed(self.dir_attrs):
            self.apply_attrs(rel, info)


@contextlib.contextmanager
def tar_errors(action: str, *, invalid_hint: str, truncated_hint: str):
    """A tar that is not one, one cut short or corrupt, and the OS's refusals while reading it
    or writing what it holds, as one-paragraph errors (the extractor's, the context sync's)."""
    try:
        yield
    except tarfile.ReadError as error:
        raise PalletError(f"not a valid tar archive: {error}", hint=invalid_hint) from error
    except (EOFError, tarfile.HeaderError) as error:
        raise PalletError(f"archive is truncated or corrupt: {error}",
                          hint=truncated_hint) from error
    except OSError as error:
        raise PalletError(f"cannot {action}: {error}") from error


def extract_layer(stream, dest: Path | Root, *, into: str = "", merge: bool = False,
                  allow_devices: bool = True, max_member_bytes: int | None = None,
                  whiteouts: str = "overlay", owner: tuple | None = None,
                  data_region: tuple[int, int, int] | None = None) -> ExtractStats:
    """Extract the tar read from stream under into (an existing directory) inside dest.
    data_region (fd, offset, size): stream reads that part of the file fd, an uncompressed tar:
    contents are copied from fd in the kernel, stream is read for headers (plainlayer.py)."""
    root = dest if isinstance(dest, Root) else Root(dest, symlinks=merge)
    extractor = _Extractor(root, into, merge=merge, allow_devices=allow_devices,
                           max_member_bytes=max_member_bytes, whiteouts=whiteouts, owner=owner,
                           data_region=data_region)
    try:
        with tar_errors("extract archive", invalid_hint="the file is truncated, corrupt or not "
                        "a tar; nothing was stored", truncated_hint="nothing was stored"):
            # "r:" (not the stream mode "r|"): the reader supports forward seeks, and tarfile
            # then reads member data straight from it instead of re-buffering every block.
            with tarfile.open(fileobj=stream, mode="r:", encoding="utf-8",
                              errors="surrogateescape", tarinfo=_StrictTarInfo) as tar:
                # next(), not iteration: tarfile keeps every header it iterates in tar.members,
                # which a million-member archive would make a million objects.
                while (info := tar.next()) is not None:
                    extractor.member(tar, info)
                    tar.members.clear()
            extractor.finish()
    finally:
        if root is not dest:
            root.close()
    return ExtractStats(entries=extractor.entries, content_bytes=extractor.content_bytes)


def _open_archive(path, *, name: str, threaded: bool = True):
    from pallet.runtime.image.compression import DecompressingReader
    raw = open(path, "rb")
    try:
        return raw, DecompressingReader(raw, name=name, threaded=threaded)
    except BaseException:
        raw.close()
        raise


def is_tar(path, *, name: str | None = None) -> bool:
    """Whether path (or an open descriptor, which this closes) holds a tar, plain or
    gzip/bzip2/xz/zstd-compressed: ADD decides by content, never by name, as Docker does."""
    try:
        raw, reader = _open_archive(path, name=name or os.path.basename(path), threaded=False)
    except OSError:
        return False
    try:
        block = reader.read(512)
    except PalletError:
        return False
    finally:
        reader.close()
        raw.close()
    if len(block) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def extract_archive(path, dest: Path | Root, *, name: str | None = None,
                    **options) -> ExtractStats:
    """Extract a local (possibly compressed) tar file (a path, or an open descriptor, which
    this closes): extract_layer's options."""
    raw, reader = _open_archive(path, name=name or os.path.basename(path))
    try:
        return extract_layer(reader, dest, **options)
    finally:
        reader.close()
        raw.close()
