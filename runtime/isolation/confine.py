"""File operations confined to a root directory: nothing follows a symlink or '..' out of it.

    root = Root(path)                      # an O_PATH descriptor of a trusted directory
    root.open(rel, flags, mode) -> fd      # openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    root.lstat/stat/exists/isdir(rel)      root.listdir(rel)  root.readlink(rel)
    root.mkdir/makedirs/create/symlink/link/mknod/mkfifo(rel, ...)
    root.unlink/remove_tree/rename(rel, ...)
    root.chown/chmod/utime/setxattr/getxattr(rel, ...)   # never through a final symlink
    root.opendir(rel) -> fd                # an O_RDONLY directory descriptor, for fd walks
    open_child(dirfd, name, flags)         # one component below a walked directory

Every host-side operation on a rootfs, a layer directory, a container's upper dir or root, a
volume or a build context names its target as a path *relative to that root* and goes through
this module. The parent directory is resolved by the kernel with openat2(2)'s RESOLVE_IN_ROOT
(a symlink or '..' is resolved as if the root were "/", so an absolute link to /etc means
ROOT/etc) and RESOLVE_NO_MAGICLINKS (no /proc/PID/fd/N jumps, which a container's own /proc
would offer); the last component is then acted on through that parent descriptor with the
*at(2) calls and AT_SYMLINK_NOFOLLOW/O_NOFOLLOW, so it is never followed either. Because the
kernel does the resolution on descriptors, a concurrent rename (a running container swapping a
directory for a symlink) cannot redirect an operation out of the root: the race Docker had in
CVE-2018-15664 and runc in CVE-2021-30465.

Parent descriptors are cached (least recently used, a few dozen): a 10,000-file COPY opens
each directory once. Any removal or rename empties the cache, since a cached path could then
name another directory.
"""

from __future__ import annotations

import os
import stat as statmod
from collections import OrderedDict

from pallet.runtime.isolation import linux

IN_ROOT = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
_CACHE_SIZE = 64
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def split(rel: str) -> list[str]:
    """The components of a root-relative path ('' and '.' dropped; '..' kept for the kernel)."""
    return [part for part in rel.split("/") if part not in ("", ".")]


def open_child(dirfd: int, name: str, flags: int, mode: int = 0o600) -> int:
    """Open one entry of a directory walked by descriptor, never following it if a symlink."""
    if "/" in name or name in ("", ".", ".."):
        raise OSError(22, f"not a single path component: {name!r}")
    return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dirfd)


class Root:
    """A directory that every path given to its methods is resolved inside."""

    def __init__(self, path, *, symlinks: bool = True) -> None:
        """symlinks=False refuses (ELOOP) any symlink met on the way, instead of resolving it
        inside the root: for trees we build ourselves, where meeting one is a bug."""
        self.path = os.fspath(path)
        self.fd = os.open(self.path, _DIR)
        self.resolve = IN_ROOT | (0 if symlinks else linux.RESOLVE_NO_SYMLINKS)
        self._dirs: OrderedDict[str, int] = OrderedDict()

    def close(self) -> None:
        self._forget()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Root({self.path!r})"

    # -- resolution ----------------------------------------------------------------------------

    def open(self, rel: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
        """openat2 of rel inside the root; the last component is followed (inside the root)
        unless flags has O_NOFOLLOW. The caller closes the descriptor."""
        return linux.openat2(self.fd, "/".join(split(rel)), flags, mode, self.resolve)

    def opendir(self, rel: str = "") -> int:
        """A readable descriptor of the directory rel (for scandir and *at calls)."""
        return self.open(rel, os.O_RDONLY | os.O_DIRECTORY)

    def _dir(self, parts: list[str]) -> int:
        if not parts:
            return self.fd
        key = "/".join(parts)
        fd = self._dirs.get(key)
        if fd is not None:
            self._dirs.move_to_end(key)
            return fd
        fd = linux.openat2(self.fd, key, _DIR, 0, self.resolve)
        self._dirs[key] = fd
        if len(self._dirs) > _CACHE_SIZE:
            os.close(self._dirs.popitem(last=False)[1])
        return fd

    def parent(self, rel: str) -> tuple[int, str]:
        """(descriptor of rel's parent directory, rel's last component); the descriptor
        belongs to the root (do not close it). The root itself has no parent."""
        parts = split(rel)
        if not parts or parts[-1] == "..":
            raise OSError(22, f"{rel!r} names no entry of its own (the root or a '..')", rel)
        return self._dir(parts[:-1]), parts[-1]

    def _forget(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    # -- questions -----------------------------------------------------------------------------

    def lstat(self, rel: str) -> os.stat_result | None:
        """The entry's own status (a symlink is not followed), or None when it is missing."""
        if not split(rel):
            return os.stat(self.fd)
        try:
            dirfd, name = self.parent(rel)
            return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def stat(self, rel: str) -> os.stat_result | None:
        """Status with symlinks followed inside the root, or None (missing or dangling)."""
        try:
            fd = self.open(rel, os.O_PATH)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return os.stat(fd)
        finally:
            os.close(fd)

    def exists(self, rel: str) -> bool:
        return self.lstat(rel) is not None

    def isdir(self, rel: str) -> bool:
        """A directory, symlinks followed inside the root."""
        st = self.stat(rel)
        return st is not None and statmod.S_ISDIR(st.st_mode)

    def listdir(self, rel: str = "") -> list[str]:
        fd = self.opendir(rel)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def readlink(self, rel: str) -> str:
        dirfd, name = self.parent(rel)
        return os.readlink(name, dir_fd=dirfd)

    def realpath(self, rel: str) -> str:
        """Where rel leads inside the root ("/"-rooted), symlinks followed inside the root."""
        fd = self.open(rel, os.O_PATH)
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        base = os.readlink(f"/proc/self/fd/{self.fd}")
        if target == base:
            return "/"
        if not target.startswith(base.rstrip("/") + "/"):
            raise OSError(18, f"{rel!r} resolved outside {self.path}", rel)
        return target[len(base.rstrip("/")):]

    # -- making things -------------------------------------------------------------------------

    def mkdir(self, rel: str, mode: int = 0o755) -> None:
        dirfd, name = self.parent(rel)
        os.mkdir(name, mode, dir_fd=dirfd)

    def makedirs(self, rel: str, mode: int = 0o755) -> list[str]:
        """Create rel and its missing parents (each chmod'ed to mode, whatever the umask);
        returns the paths it created, outermost first."""
        created = []
        parts = split(rel)
        for index in range(1, len(parts) + 1):
            sub = "/".join(parts[:index])
            try:
                self.mkdir(sub, mode)
            except FileExistsError:
                if not self.isdir(sub):
                    raise NotADirectoryError(20, "Not a directory", sub) from None
                continue
            self.chmod(sub, mode)
            created.append(sub)
        return created

    def create(self, rel: str, mode: int = 0o600, *, replace: bool = False) -> int:
        """A new regular file opened for writing; replace=True removes a non-directory entry
        of that name first. Never opens through a symlink or an existing file."""
        dirfd, name = self.parent(rel)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(name, flags, mode, dir_fd=dirfd)
        except FileExistsError:
            if not replace:
                raise
        self.unlink(rel)
        dirfd, name = self.parent(rel)
        return os.open(name, flags, mode, dir_fd=dirfd)

    def symlink(self, target: str, rel: str) -> None:
        """A symlink at rel whose text is target (stored as given, never resolved here)."""
        dirfd, name = self.parent(rel)
        os.symlink(target, name, dir_fd=dirfd)

    def link(self, existing: str, rel: str, *, source: Root | None = None) -> None:
        """A hard link at rel to the entry existing (in source, this root by default), which
        is linked itself even when it is a symlink."""
        source = source or self
        src_fd, src_name = source.parent(existing)
        dirfd, name = self.parent(rel)
        os.link(src_name, name, src_dir_fd=src_fd, dst_dir_fd=dirfd, follow_symlinks=False)

    def mknod(self, rel: str, mode: int, device: int = 0) -> None:
        dirfd, name = self.parent(rel)
        os.mknod(name, mode, device, dir_fd=dirfd)

    def mkfifo(self, rel: str, mode: int) -> None:
        dirfd, name = self.parent(rel)
        os.mkfifo(name, mode, dir_fd=dirfd)

    # -- removing and moving -------------------------------------------------------------------

    def unlink(self, rel: str) -> None:
        dirfd, name = self.parent(rel)
        try:
            os.unlink(name, dir_fd=dirfd)
        finally:
            self._forget()

    def remove(self, rel: str) -> None:
        """Remove whatever rel is (a directory with everything below it); missing is fine."""
        st = self.lstat(rel)
        if st is None:
            return
        if statmod.S_ISDIR(st.st_mode):
            self.remove_tree(rel)
        else:
            self.unlink(rel)

    def remove_tree(self, rel: str) -> None:
        """Remove the directory rel and its contents, by descriptor (base.files.remove_tree:
        a symlink below is removed, never followed; any depth)."""
        from pallet.base.files import remove_tree
        dirfd, name = self.parent(rel)
        held = os.dup(dirfd)          # _forget closes the cached descriptor
        self._forget()
        try:
            remove_tree(name, dir_fd=held)
        finally:
            os.close(held)

    def rename(self, rel: str, new: str, *, target: Root | None = None) -> None:
        """Move rel to new (in target, this root by default), replacing a non-directory."""
        target = target or self
        src_fd, src_name = self.parent(rel)
        held = os.dup(src_fd)
        try:
            dst_fd, dst_name = target.parent(new)
            os.rename(src_name, dst_name, src_dir_fd=held, dst_dir_fd=dst_fd)
        finally:
            os.close(held)
            self._forget()
            target._forget()

    # -- attributes (the entry itself, never a symlink's target) -------------------------------

    def chown(self, rel: str, uid: int, gid: int) -> None:
        if not split(rel):
            linux.fchownat_empty(self.fd, uid, gid)
            return
        dirfd, name = self.parent(rel)
        os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)

    def chmod(self, rel: str, mode: int) -> None:
        """chmod of the entry; a symlink (whose mode means nothing on Linux) is left alone."""
        if not split(rel):
            linux.fchmodat_empty(self.fd, mode)
            return
        dirfd, name = self.parent(rel)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            if not statmod.S_ISLNK(os.stat(fd).st_mode):
                linux.fchmodat_empty(fd, mode)
        finally:
            os.close(fd)

    def utime(self, rel: str, *, ns: tuple[int, int]) -> None:
        if not split(rel):
            os.utime(f"/proc/self/fd/{self.fd}", ns=ns)
            return
        dirfd, name = self.parent(rel)
        os.utime(name, ns=ns, dir_fd=dirfd, follow_symlinks=False)

    def _xattr_path(self, rel: str) -> tuple[str, bool]:
        # The *xattr calls take no directory descriptor; the parent's /proc/self/fd entry is
        # one (our own, host-side) and the single last component is not followed.
        if not split(rel):
            return f"/proc/self/fd/{self.fd}", True
        dirfd, name = self.parent(rel)
        return f"/proc/self/fd/{dirfd}/{name}", False

    def setxattr(self, rel: str, key: str, value: bytes) -> None:
        path, follow = self._xattr_path(rel)
        os.setxattr(path, key, value, follow_symlinks=follow)

    def getxattr(self, rel: str, key: str) -> bytes | None:
        path, follow = self._xattr_path(rel)
        try:
            return os.getxattr(path, key, follow_symlinks=follow)
        except OSError:
            return None

    def listxattr(self, rel: str) -> list[str]:
        path, follow = self._xattr_path(rel)
        try:
            return os.listxattr(path, follow_symlinks=follow)
        except OSError:
            return []
