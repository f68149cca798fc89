"""Write a directory (an overlayfs upper dir or a plain tree) as a deterministic layer tar.

    write_layer_tar(source_dir: Path, sink, *, source_date_epoch: int | None = None,
                    overlay_upper: bool = True) -> PackStats
    write_entry_tar(root: Root, rel: str, sink, *, arcname: str) -> PackStats
        one entry (and what is below it) of a confined root: `cp` out of a container, `export`

The tree is read by descriptor: each directory is opened relative to its parent with
O_NOFOLLOW and every entry is examined and opened through its directory's descriptor, so a
tree that changes while it is read (a running container's root) can never lead the reader to a
file outside it; owners are numbers, never looked up by name (CVE-2019-14271: a lookup would
load the NSS modules a container names).

Determinism: entries in byte order of their names, parents before children; uname/gname empty;
integer mtimes, clamped to SOURCE_DATE_EPOCH when it is given (so identical content gives an
identical tar, hence an identical digest); no atime/ctime; PAX headers only for xattrs and values
that do not fit ustar. The output format follows moby's pkg/archive:
- overlayfs upper conventions (overlay_upper=True): a 0/0 character device is a whiteout and
  becomes an empty regular file `.wh.NAME` (mode 0600); a directory with the xattr
  trusted.overlay.opaque=y is emitted followed by `DIR/.wh..wh..opq`; trusted.overlay.* xattrs
  never reach the tar.
- hard links inside the tree become tar hard links to the first path seen (in sorted order).
- sockets are skipped (as Docker does); other xattrs are kept as SCHILY.xattr.* PAX records,
  except security.selinux, which describes the host, not the image.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.isolation.confine import Root, open_child

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
SKIPPED_XATTRS = ("trusted.overlay.", "security.selinux")


@dataclass(frozen=True)
class PackStats:
    """What packing a layer wrote: how many entries, how many content bytes."""

    entries: int
    content_bytes: int


UNSUPPORTED_OVERLAY_XATTRS = ("trusted.overlay.redirect", "trusted.overlay.metacopy")


def _xattrs(where, shown: str) -> dict[str, str]:
    """where: an open descriptor, or the "/proc/self/fd/DIR/NAME" path of an entry that must
    not be opened (a symlink, a device, a fifo), whose last component is not followed."""
    follow = isinstance(where, int)
    try:
        names = os.listxattr(where, follow_symlinks=follow)
    except OSError:
        return {}
    records: dict[str, str] = {}
    for name in sorted(names):
        if name in UNSUPPORTED_OVERLAY_XATTRS:
            # With redirect_dir/metacopy the upper dir is not a self-contained diff: packing it
            # would silently lose renamed directories or file contents.
            raise PalletError(f"cannot pack {shown}: it carries {name} (an overlayfs upper dir "
                              "mounted with redirect_dir or metacopy)",
                              hint="mount container overlays with redirect_dir=off,metacopy=off")
        if name.startswith(SKIPPED_XATTRS):
            continue
        try:
            value = os.getxattr(where, name, follow_symlinks=follow)
        except OSError:
            continue
        # PAX records are UTF-8 text; tarfile round-trips arbitrary bytes via surrogateescape.
        records["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return records


def _is_opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


class _Packer:
    def __init__(self, tar: tarfile.TarFile, shown: str, epoch: int | None, overlay_upper: bool):
        self.tar = tar
        self.shown = shown            # the tree's host path, for messages
        self.epoch = epoch
        self.overlay_upper = overlay_upper
        self.links: dict[tuple[int, int], str] = {}
        self.entries = 0
        self.content_bytes = 0
        self.exclude: frozenset[str] = frozenset()

    def _mtime(self, st: os.stat_result) -> int:
        mtime = int(st.st_mtime)
        if self.epoch is not None and mtime > self.epoch:
            mtime = self.epoch
        return max(mtime, 0)

    def _info(self, name: str, st: os.stat_result, xattrs: dict[str, str]) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = self._mtime(st)
        if xattrs:
            info.pax_headers = xattrs
        return info

    def walk(self, dirfd: int, prefix: str) -> None:
        """Everything below the open directory dirfd, as prefix + name, in name order.

        A loop, not recursion: a container or an archive can nest directories thousands deep
        (Python's recursion limit is ~1,000 frames). One directory descriptor is open at a
        time (besides dirfd, which stays the caller's): going back up reopens '..' and checks
        it is the directory we came down from, so a tree moved meanwhile is an error, never
        a walk elsewhere."""
        top = os.fstat(dirfd)
        frames = [((top.st_dev, top.st_ino), prefix, iter(self._names(dirfd, prefix)))]
        fd = dirfd
        try:
            while frames:
                name = next(frames[-1][2], None)
                if name is not None:
                    pre = frames[-1][1]
                    child = self.entry(fd, name, pre + name)
                    if child is not None:     # a directory, its header written: go down
                        st = os.fstat(child)
                        if fd != dirfd:
                            os.close(fd)
                        fd = child
                        below = pre + name + "/"
                        frames.append(((st.st_dev, st.st_ino), below, iter(self._names(fd, below))))
                    continue
                frames.pop()
                if not frames:
                    break
                parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
                st = os.fstat(parent)
                if (st.st_dev, st.st_ino) != frames[-1][0]:
                    os.close(parent)
                    raise PalletError(f"{self.shown}/{frames[-1][1]} moved while it was read")
                if fd != dirfd:
                    os.close(fd)
                fd = dirfd if len(frames) == 1 else parent
                if fd == dirfd:
                    os.close(parent)
        finally:
            if fd != dirfd:
                os.close(fd)

    def _names(self, dirfd: int, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(dirfd), key=os.fsencode)
        except OSError as error:
            raise PalletError(f"cannot read directory {self.shown}/{prefix}: {error.strerror}") from error

    def entry(self, dirfd: int, name: str, arcname: str) -> int | None:
        """Add the entry name of the directory dirfd as arcname; for a directory, return its
        open descriptor (its header and opaque marker written) for the caller to walk."""
        if arcname in self.exclude:
            return None
        shown = f"{self.shown}/{arcname}"
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return                      # removed while we read (a running container)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            try:
                fd = open_child(dirfd, name, os.O_RDONLY | os.O_DIRECTORY)
            except (FileNotFoundError, NotADirectoryError, OSError) as error:
                if error.errno in (2, 20, 40):   # replaced since the stat: skip, never follow
                    return None
                raise PalletError(f"cannot read directory {shown}: {error.strerror}") from error
            try:
                self.header(fd, arcname, shown)
            except BaseException:
                os.close(fd)
                raise
            return fd
        elif stat.S_ISCHR(mode) and self.overlay_upper and st.st_rdev == 0:
            prefix, _, base = arcname.rpartition("/")
            info = tarfile.TarInfo((prefix + "/" if prefix else "") + WHITEOUT_PREFIX + base)
            info.mode = 0o600
            info.uid, info.gid = st.st_uid, st.st_gid
            info.uname = info.gname = ""
            info.mtime = self._mtime(st)
            self._add(info)
        elif stat.S_ISREG(mode):
            try:
                fd = open_child(dirfd, name, os.O_RDONLY)
            except OSError as error:
                if error.errno in (2, 40):       # gone, or a symlink now: never followed
                    return
                raise PalletError(f"cannot read {shown}: {error.strerror}") from error
            with os.fdopen(fd, "rb") as handle:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return
                info = self._info(arcname, st, _xattrs(fd, shown))
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in self.links:
                    info.type = tarfile.LNKTYPE
                    info.linkname = self.links[key]
                    self._add(info)
                    return
                if st.st_nlink > 1:
                    self.links[key] = arcname
                info.type = tarfile.REGTYPE
                info.size = st.st_size
                try:
                    self._add(info, handle)
                except OSError as error:
                    raise PalletError(f"cannot read {shown}: {error.strerror}") from error
                self.content_bytes += st.st_size
        else:
            # Never opened (a fifo would block, a device would be opened): attributes through
            # the directory's descriptor, the last component not followed.
            where = f"/proc/self/fd/{dirfd}/{name}"
            if stat.S_ISLNK(mode):
                info = self._info(arcname, st, _xattrs(where, shown))
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(name, dir_fd=dirfd)
                self.content_bytes += len(os.fsencode(info.linkname))
                self._add(info)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info = self._info(arcname, st, _xattrs(where, shown))
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                self._add(info)
            elif stat.S_ISFIFO(mode):
                info = self._info(arcname, st, _xattrs(where, shown))
                info.type = tarfile.FIFOTYPE
                self._add(info)
            # sockets (and anything else) are skipped, as Docker's archiver does

    def directory(self, fd: int, arcname: str, shown: str) -> None:
        """The open directory fd as arcname, then its entries (an opaque marker first)."""
        self.header(fd, arcname, shown)
        self.walk(fd, arcname.rstrip("/") + "/")

    def header(self, fd: int, arcname: str, shown: str) -> None:
        """The directory's own entry, and its opaque marker when it has one."""
        info = self._info(arcname, os.fstat(fd), _xattrs(fd, shown))
        info.type = tarfile.DIRTYPE
        self._add(info)
        prefix = arcname.rstrip("/") + "/"
        if self.overlay_upper and _is_opaque(fd):
            marker = tarfile.TarInfo(prefix + OPAQUE_MARKER)
            marker.mode = info.mode & 0o777
            marker.uid, marker.gid = info.uid, info.gid
            marker.uname = marker.gname = ""
            marker.mtime = info.mtime
            self._add(marker)

    def _add(self, info: tarfile.TarInfo, handle=None) -> None:
        self.tar.addfile(info, handle)
        self.entries += 1


class _Counted:
    """A sink that knows its position: tarfile asks for tell(), which a pipe cannot answer."""

    def __init__(self, sink) -> None:
        self.sink = sink
        self.position = 0

    def write(self, data) -> int:
        self.sink.write(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position


def _open_tar(sink) -> tarfile.TarFile:
    tar = tarfile.TarFile(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT,
                          encoding="utf-8", errors="surrogateescape")
    tar.copybufsize = 1 << 20
    return tar


def _close_tar(tar: tarfile.TarFile, sink) -> None:
    # End of archive as Go's archive/tar (Docker, BuildKit) writes it: two zero blocks and no
    # padding to tarfile's 10 KiB record size, so an empty diff is Docker's well-known empty layer.
    sink.write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
    tar.closed = True


def write_layer_tar(source_dir: Path, sink, *, source_date_epoch: int | None = None,
                    overlay_upper: bool = True, exclude: frozenset[str] = frozenset()) -> PackStats:
    """Write the tree under source_dir to sink (a binary file-like with write() and tell()).
    exclude: relative paths ("etc/hosts") left out, with everything below them."""
    root = os.fspath(source_dir)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise PalletError(f"cannot pack {root}: not a directory") from None
    try:
        tar = _open_tar(sink)
        packer = _Packer(tar, root, source_date_epoch, overlay_upper)
        packer.exclude = exclude
        packer.walk(fd, "")
        _close_tar(tar, sink)
    finally:
        os.close(fd)
    return PackStats(entries=packer.entries, content_bytes=packer.content_bytes)


def write_entry_tar(root: Root, rel: str, sink, *, arcname: str) -> PackStats:
    """Write the entry rel of a confined root (its parents resolved inside the root, itself
    never followed) as arcname, with everything below it: a plain tree, no whiteouts."""
    sink = _Counted(sink)
    tar = _open_tar(sink)
    packer = _Packer(tar, root.path, None, overlay_upper=False)
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts:
        fd = root.opendir("")
        try:
            packer.directory(fd, arcname, root.path)
        finally:
            os.close(fd)
    else:
        dirfd, name = root.parent(rel)
        fd = packer.entry(dirfd, name, arcname)
        if fd is not None:
            try:
                packer.walk(fd, arcname.rstrip("/") + "/")
            finally:
                os.close(fd)
    _close_tar(tar, sink)
    return PackStats(entries=packer.entries, content_bytes=packer.content_bytes)
