"""Write a directory (an overlayfs upper dir or a plain tree) as a deterministic layer tar.

    write_layer_tar(source_dir: Path, sink, *, source_date_epoch: int | None = None,
                    overlay_upper: bool = True) -> PackStats

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

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
SKIPPED_XATTRS = ("trusted.overlay.", "security.selinux")


@dataclass(frozen=True)
class PackStats:
    entries: int
    content_bytes: int


UNSUPPORTED_OVERLAY_XATTRS = ("trusted.overlay.redirect", "trusted.overlay.metacopy")


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    records: dict[str, str] = {}
    for name in sorted(names):
        if name in UNSUPPORTED_OVERLAY_XATTRS:
            # With redirect_dir/metacopy the upper dir is not a self-contained diff: packing it
            # would silently lose renamed directories or file contents.
            raise PalletError(f"cannot pack {path}: it carries {name} (an overlayfs upper dir "
                              "mounted with redirect_dir or metacopy)",
                              hint="mount container overlays with redirect_dir=off,metacopy=off")
        if name.startswith(SKIPPED_XATTRS):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        # PAX records are UTF-8 text; tarfile round-trips arbitrary bytes via surrogateescape.
        records["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return records


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Packer:
    def __init__(self, tar: tarfile.TarFile, root: str, epoch: int | None, overlay_upper: bool):
        self.tar = tar
        self.root = root
        self.epoch = epoch
        self.overlay_upper = overlay_upper
        self.links: dict[tuple[int, int], str] = {}
        self.entries = 0
        self.content_bytes = 0

    def _mtime(self, st: os.stat_result) -> int:
        mtime = int(st.st_mtime)
        if self.epoch is not None and mtime > self.epoch:
            mtime = self.epoch
        return max(mtime, 0)

    def _info(self, name: str, st: os.stat_result, path: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = self._mtime(st)
        xattrs = _xattrs(path)
        if xattrs:
            info.pax_headers = xattrs
        return info

    def add_tree(self) -> None:
        self._walk(self.root, "")

    def _walk(self, directory: str, prefix: str) -> None:
        try:
            names = sorted(os.listdir(directory), key=os.fsencode)
        except OSError as error:
            raise PalletError(f"cannot read directory {directory}: {error.strerror}") from error
        for name in names:
            path = os.path.join(directory, name)
            arcname = prefix + name
            st = os.lstat(path)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                info = self._info(arcname, st, path)
                info.type = tarfile.DIRTYPE
                opaque = self.overlay_upper and _is_opaque(path)
                self._add(info)
                if opaque:
                    marker = tarfile.TarInfo(arcname + "/" + OPAQUE_MARKER)
                    marker.mode = info.mode & 0o777
                    marker.uid, marker.gid = info.uid, info.gid
                    marker.uname = marker.gname = ""
                    marker.mtime = info.mtime
                    self._add(marker)
                self._walk(path, arcname + "/")
            elif stat.S_ISCHR(mode) and self.overlay_upper and st.st_rdev == 0:
                info = tarfile.TarInfo(prefix + WHITEOUT_PREFIX + name)
                info.mode = 0o600
                info.uid, info.gid = st.st_uid, st.st_gid
                info.uname = info.gname = ""
                info.mtime = self._mtime(st)
                self._add(info)
            elif stat.S_ISREG(mode):
                info = self._info(arcname, st, path)
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in self.links:
                    info.type = tarfile.LNKTYPE
                    info.linkname = self.links[key]
                    self._add(info)
                    continue
                if st.st_nlink > 1:
                    self.links[key] = arcname
                info.type = tarfile.REGTYPE
                info.size = st.st_size
                try:
                    with open(path, "rb") as handle:
                        self._add(info, handle)
                except OSError as error:
                    raise PalletError(f"cannot read {path}: {error.strerror}") from error
                self.content_bytes += st.st_size
            elif stat.S_ISLNK(mode):
                info = self._info(arcname, st, path)
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                self.content_bytes += len(os.fsencode(info.linkname))
                self._add(info)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info = self._info(arcname, st, path)
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                self._add(info)
            elif stat.S_ISFIFO(mode):
                info = self._info(arcname, st, path)
                info.type = tarfile.FIFOTYPE
                self._add(info)
            # sockets (and anything else) are skipped, as Docker's archiver does

    def _add(self, info: tarfile.TarInfo, handle=None) -> None:
        self.tar.addfile(info, handle)
        self.entries += 1


def write_layer_tar(source_dir: Path, sink, *, source_date_epoch: int | None = None,
                    overlay_upper: bool = True) -> PackStats:
    """Write the tree under source_dir to sink (a binary file-like with write() and tell())."""
    root = os.fspath(source_dir)
    if not os.path.isdir(root):
        raise PalletError(f"cannot pack {root}: not a directory")
    tar = tarfile.TarFile(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT,
                          encoding="utf-8", errors="surrogateescape")
    tar.copybufsize = 1 << 20
    packer = _Packer(tar, root, source_date_epoch, overlay_upper)
    packer.add_tree()
    # End of archive as Go's archive/tar (Docker, BuildKit) writes it: two zero blocks and no
    # padding to tarfile's 10 KiB record size, so an empty diff is Docker's well-known empty layer.
    sink.write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
    tar.closed = True
    return PackStats(entries=packer.entries, content_bytes=packer.content_bytes)
