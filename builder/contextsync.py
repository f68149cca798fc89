"""Bring a kept context tree in step with a tar of the context: what BuildKit's incremental
context sync does, for the classic /build API, whose clients always send the whole context.

    sync_tree(tar, tree: Path, cache: StatCache) -> SyncStats

An entry whose header (type, size, mtime, mode, owner, link target) matches the kept entry
keeps its inode, so the kept tree's stat cache still knows its content hash and the build
reads nothing again. The bytes are still read off the stream and their xxh3-128 compared with
the kept file's (the recorded hash, or the file read again when none is recorded): a tar's
mtime has one-second resolution, so an edit that keeps the size within the same second must
still be seen. xxh3-128 is what the build cache already trusts to tell two contents apart
(a COPY's key digests these very hashes), so this adds no weaker link. Anything else is
written: a new entry in place, a changed one beside it and renamed over it (an existing inode
is never modified, so an interrupted sync leaves each entry whole, old or new). Entries the
tar does not name are removed at the end.

The member checks are the extractor's (runtime/image/unpack.py, one set of rules): no
absolute or '..' names, every path resolved inside the tree by the kernel (confine.Root with
symlinks refused on the way: nothing is written through a link, kept or new), parents must be
directories of this tar, hard links only to files earlier in it; device nodes are refused (a
context has no use for them). Extended attributes are not applied: the builder never reads
them from a context.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.builder.syncfiles import RegularFiles, same_header
from pallet.runtime.image.tarheaders import check_numbers, mtime_ns, unsafe as _bad
from pallet.runtime.image.unpack import clean_member_name
from pallet.runtime.isolation import linux
from pallet.runtime.isolation.confine import Root

_DIR, _FILE, _LINK, _OTHER = "dir", "file", "link", "other"


@dataclass(frozen=True)
class SyncStats:
    entries: int
    kept: int        # entries left as they were
    written: int     # entries made or replaced
    removed: int     # entries of the kept tree the tar did not name
    content_bytes: int


class _Sync:
    def __init__(self, root: Root, cache) -> None:
        self.root = root
        self.cache = cache
        self.seen: dict[str, str] = {"": _DIR}     # what this tar made each path
        self.dir_attrs: list[tuple[str, tarfile.TarInfo | None]] = []
        self.root_info: tarfile.TarInfo | None = None
        self.entries = self.kept = self.written = self.removed = self.content_bytes = 0
        self.files = RegularFiles(root, cache, self.temp_name)
        self.serial = 0
        # directory -> {name: lstat} as the tree held it before this sync: one scandir per
        # directory instead of a path resolution per entry; a name leaves it when looked up
        self.listings: dict[str, dict[str, os.stat_result]] = {}

    def lstat(self, rel: str) -> os.stat_result | None:
        """rel's lstat: from its directory's listing the first time it is asked (nothing has
        touched it since: every change to an entry comes after its own lookup), fresh through
        the root after that."""
        parent, _, name = rel.rpartition("/")
        listing = self.listings.get(parent)
        if listing is None:
            listing = self.listings[parent] = self.listing(parent)
        st = listing.pop(name, None)
        return st if st is not None else self.root.lstat(rel)

    def listing(self, rel: str) -> dict[str, os.stat_result]:
        try:
            fd = self.root.opendir(rel)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        try:
            with os.scandir(fd) as entries:
                return {entry.name: entry.stat(follow_symlinks=False) for entry in entries}
        finally:
            os.close(fd)

    # -- paths -------------------------------------------------------------------------------
    def ensure_parent(self, rel: str, member: str) -> None:
        parent = rel.rpartition("/")[0]
        kind = self.seen.get(parent)
        if kind == _DIR:
            return
        built = ""
        for part in parent.split("/"):
            built = f"{built}/{part}" if built else part
            kind = self.seen.get(built)
            if kind == _DIR:
                continue
            if kind is not None:
                raise _bad(member, f"has a parent {built!r} that is not a directory")
            st = self.lstat(built)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                self.discard(built, st)       # a file of the previous context
                st = None
            if st is None:
                self.root.mkdir(built, 0o755)
                self.written += 1
            self.seen[built] = _DIR
            self.dir_attrs.append((built, None))   # an implicit parent: 0755 root:root

    def discard(self, rel: str, st: os.stat_result) -> None:
        """Remove an entry of the previous context that is in the way."""
        if stat.S_ISDIR(st.st_mode):
            self.root.remove_tree(rel)
        else:
            self.root.unlink(rel)
        self.removed += 1

    def temp_name(self) -> str:
        self.serial += 1
        return f".pallet-sync-{os.getpid()}-{self.serial}"

    def make_way(self, rel: str, info: tarfile.TarInfo) -> os.stat_result | None:
        """The kept entry at rel that a new one will replace (None when there is none), with
        a directory in the way removed first (refused when this tar made it)."""
        st = self.lstat(rel)
        if st is not None and stat.S_ISDIR(st.st_mode):
            if self.seen.get(rel) == _DIR:
                raise _bad(info.name, "replaces a directory of the same archive")
            self.discard(rel, st)
            return None
        return st

    # -- members -----------------------------------------------------------------------------
    def member(self, stream, tar: tarfile.TarFile | None, info: tarfile.TarInfo) -> None:
        rel = clean_member_name(info.name)
        check_numbers(info)
        self.entries += 1
        if rel == "":
            if not info.isdir():
                raise _bad(info.name, "names the root but is not a directory")
            self.root_info = info
            return
        self.ensure_parent(rel, info.name)
        again = rel in self.seen          # named twice: the later entry wins, never kept
        if info.isdir():
            self.directory(rel, info)
            return
        if info.isreg():
            self.regular(stream, tar, info, rel, again)
            self.seen[rel] = _FILE
        elif info.issym():
            self.symlink(info, rel, again)
            self.seen[rel] = _LINK
        elif info.islnk():
            self.hardlink(info, rel)
            self.seen[rel] = _FILE
        elif info.isfifo():
            self.fifo(info, rel, again)
            self.seen[rel] = _OTHER
        elif info.ischr() or info.isblk():
            raise _bad(info.name, "is a device node, which a build context may not hold")
        else:
            raise _bad(info.name, f"has an unsupported tar type {info.type!r}")

    def directory(self, rel: str, info: tarfile.TarInfo) -> None:
        if self.seen.get(rel) != _DIR:
            st = self.lstat(rel)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                self.discard(rel, st)
                st = None
            if st is None:
                self.root.mkdir(rel, 0o700)
                self.written += 1
            self.seen[rel] = _DIR
        self.dir_attrs.append((rel, info))

    def regular(self, stream, tar: tarfile.TarFile | None, info: tarfile.TarInfo, rel: str,
                again: bool) -> None:
        st = self.make_way(rel, info)
        self.content_bytes += info.size
        if self.files.sync(stream, tar, info, rel, st, again):
            self.kept += 1
        else:
            self.written += 1

    def replace_with(self, rel: str, st, make) -> None:
        """Make a non-file entry (make(name) in the parent), atomically over st if any."""
        dirfd, name = self.root.parent(rel)
        if st is None:
            make(name, dirfd)
        else:
            temp = self.temp_name()
            make(temp, dirfd)
            try:
                os.rename(temp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            except BaseException:
                os.unlink(temp, dir_fd=dirfd)
                raise
        self.written += 1

    def symlink(self, info: tarfile.TarInfo, rel: str, again: bool) -> None:
        st = self.make_way(rel, info)
        if (st is not None and not again and stat.S_ISLNK(st.st_mode)
                and st.st_uid == info.uid and st.st_gid == info.gid
                and st.st_mtime_ns == mtime_ns(info) and self.root.readlink(rel) == info.linkname):
            self.kept += 1
            return
        mtime = mtime_ns(info)

        def make(name: str, dirfd: int) -> None:
            os.symlink(info.linkname, name, dir_fd=dirfd)
            os.chown(name, info.uid, info.gid, dir_fd=dirfd, follow_symlinks=False)
            os.utime(name, ns=(mtime, mtime), dir_fd=dirfd, follow_symlinks=False)
        self.replace_with(rel, st, make)

    def hardlink(self, info: tarfile.TarInfo, rel: str) -> None:
        try:
            target = clean_member_name(info.linkname)
        except PalletError:
            raise _bad(info.name, f"is a hard link to {info.linkname!r}, outside the archive") \
                from None
        if self.seen.get(target) != _FILE or target == rel:
            raise _bad(info.name, f"is a hard link to {info.linkname!r}, which is not a file "
                                  "earlier in this archive")
        st = self.make_way(rel, info)
        target_st = self.root.lstat(target)
        if st is not None and target_st is not None and st.st_ino == target_st.st_ino:
            self.kept += 1
            return
        src_fd, src_name = self.root.parent(target)

        def make(name: str, dirfd: int) -> None:
            os.link(src_name, name, src_dir_fd=src_fd, dst_dir_fd=dirfd, follow_symlinks=False)
        self.replace_with(rel, st, make)

    def fifo(self, info: tarfile.TarInfo, rel: str, again: bool) -> None:
        st = self.make_way(rel, info)
        if st is not None and not again and stat.S_ISFIFO(st.st_mode) and same_header(st, info):
            self.kept += 1
            return
        mtime = mtime_ns(info)

        def make(name: str, dirfd: int) -> None:
            os.mkfifo(name, 0o600, dir_fd=dirfd)
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            try:
                linux.fchownat_empty(fd, info.uid, info.gid)
                linux.fchmodat_empty(fd, info.mode & 0o7777)
            finally:
                os.close(fd)
            os.utime(name, ns=(mtime, mtime), dir_fd=dirfd, follow_symlinks=False)
        self.replace_with(rel, st, make)

    # -- the end -----------------------------------------------------------------------------
    def remove_unnamed(self) -> None:
        """Remove what the tree holds that this tar did not name (directories walked by
        descriptor, only those this tar made)."""
        pending = [""]
        while pending:
            rel = pending.pop()
            for name in self.root.listdir(rel):
                child = f"{rel}/{name}" if rel else name
                kind = self.seen.get(child)
                if kind is None:
                    st = self.root.lstat(child)
                    if st is not None:
                        self.discard(child, st)
                elif kind == _DIR:
                    pending.append(child)

    def finish(self) -> None:
        self.remove_unnamed()
        # directory attributes last, deepest first: filling and emptying them moved their times
        wanted = [(rel, info) for rel, info in self.dir_attrs]
        wanted.append(("", self.root_info))
        done: set[str] = set()
        for rel, info in reversed(wanted):
            if rel in done:
                continue
            done.add(rel)
            st = self.root.lstat(rel)
            if info is None:
                # as the fresh extractor leaves them: implicit parents 0755, the root 0700
                mode, uid, gid, mtime = (0o700 if rel == "" else 0o755), 0, 0, None
            else:
                mode, uid, gid, mtime = info.mode & 0o7777, info.uid, info.gid, mtime_ns(info)
            if (st.st_uid, st.st_gid) != (uid, gid):
                self.root.chown(rel, uid, gid)
            if st.st_mode & 0o7777 != mode or (st.st_uid, st.st_gid) != (uid, gid):
                self.root.chmod(rel, mode)
            if mtime is not None and st.st_mtime_ns != mtime:
                self.root.utime(rel, ns=(mtime, mtime))
        self.cache.forget_missing({rel for rel, kind in self.seen.items() if kind == _FILE})


def sync_tree(reader, tree: Path, cache) -> SyncStats:
    """Make tree (a directory only this caller writes, under its lock) hold exactly what the
    uncompressed tar read from reader holds; cache is tree's StatCache, told every hash."""
    from pallet.builder.tarscan import scan_members
    from pallet.runtime.image.unpack import tar_errors
    root = Root(tree, symlinks=False)
    sync = _Sync(root, cache)
    try:
        with tar_errors("unpack the build context", invalid_hint="the build context is "
                        "truncated, corrupt or not a tar",
                        truncated_hint="the build context is incomplete"):
            scan = scan_members(reader)
            for info, tar in scan:
                sync.member(scan.stream, tar, info)
            sync.finish()
    finally:
        root.close()
    return SyncStats(entries=sync.entries, kept=sync.kept, written=sync.written,
                     removed=sync.removed, content_bytes=sync.content_bytes)
