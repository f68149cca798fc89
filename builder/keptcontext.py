"""Build contexts kept between builds that arrive as a tar (the Engine API's POST /build).

    take(root, key) -> KeptTree | None       # None: that tree is in use, unpack a fresh one
    slot_key(*parts) -> str                  # the name a front gives its builds' context
    remove_all(root) -> int                  # builder prune --all: every tree not in use
    kept_trees(root) -> [KeptInfo]           # system df's "source.local" entries

A classic /build request has the whole context as its body, every time. The server keeps the
tree it unpacked and brings it in step with the next tar (builder/contextsync.py), so files
that did not change keep their inodes and the stat cache still knows their hashes: a cached
rebuild costs reading the stream, not unpacking and hashing the context again.

Which kept tree a request uses: the request's own words, not the tar's content, because the
tree must be chosen before the stream is read (a hash of the tar's entry names would need the
whole tar first, i.e. the full read this avoids). The API names it by the Dockerfile path and
the repositories of the tags (`docker build -t app:2 .` after `-t app:1` is the same project);
BuildKit similarly keys its kept context by the client's directory. The choice is only a guess
at which tree is closest: the sync makes any tree exactly the tar, so a wrong guess costs
writes, never a wrong build.

At most MAX_KEPT trees are kept, least recently used evicted (its tree removed by the detached
remover: unlinking 10,000 files takes seconds on this disk). Each tree has a lock file beside
it, taken with flock (per open file, so two builds in one server process exclude each other
too); a build finding it taken unpacks a fresh tree as before, so two builds of one context
never write the same tree. A lock file is unlinked only by the holder of its lock, and a taker
checks that the file it locked is still the one in place.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import xxhash

MAX_KEPT = 4
LOCK_SUFFIX = ".lock"


@dataclass(frozen=True)
class KeptTree:
    tree: Path
    lock_fd: int

    def release(self) -> None:
        os.close(self.lock_fd)


def kept_dir(root: Path) -> Path:
    return Path(root) / "cache" / "context"


def slot_key(*parts: str) -> str:
    return xxhash.xxh3_128_hexdigest("\0".join(parts).encode("utf-8", "surrogateescape"))


def _lock(path: Path, *, wait: bool = False) -> int | None:
    """flock path's file exclusively; None when another holder has it (or it vanished)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)     # evicted between our open and our lock: take the new file


def take(root: Path, key: str) -> KeptTree | None:
    """The kept tree named key, locked for this build (made empty if new), or None when
    another build holds it."""
    base = kept_dir(root)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = _lock(base / f"{key}{LOCK_SUFFIX}")
    if fd is None:
        return None
    try:
        os.utime(fd)            # the lock file's mtime: when the tree was last used
        tree = base / key
        try:
            os.mkdir(tree, 0o700)
        except FileExistsError:
            if not tree.is_dir() or tree.is_symlink():
                raise
        else:
            _evict(root, keep=MAX_KEPT, spare=key)
    except BaseException:
        os.close(fd)
        raise
    return KeptTree(tree=tree, lock_fd=fd)


def _evict(root: Path, *, keep: int, spare: str | None) -> int:
    """Remove the least recently used trees past keep (never spare, never one in use)."""
    base = kept_dir(root)
    stamps = []
    for name in os.listdir(base):
        if name.endswith(LOCK_SUFFIX) and name[:-len(LOCK_SUFFIX)] != spare:
            try:
                stamps.append(((base / name).stat().st_mtime, name[:-len(LOCK_SUFFIX)]))
            except FileNotFoundError:
                continue
    stamps.sort(reverse=True)
    removed = 0
    for _, key in stamps[max(keep - (spare is not None), 0):]:
        fd = _lock(base / f"{key}{LOCK_SUFFIX}")
        if fd is None:
            continue                  # in use: kept this time
        try:
            _remove_tree(root, base / key)
            os.unlink(base / f"{key}{LOCK_SUFFIX}")
            removed += 1
        finally:
            os.close(fd)
    return removed


def _remove_tree(root: Path, tree: Path) -> None:
    from pallet.builder.statcache import cache_file_for
    from pallet.runtime.store.scratch import remove_detached
    cache_file = cache_file_for(root, tree)
    if tree.is_dir():
        try:
            remove_detached(tree, Path(root) / "tmp")
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EAGAIN, errno.ENOMEM):
                raise
            from pallet.base.files import remove_tree
            remove_tree(tree)
    try:
        os.unlink(cache_file)
    except FileNotFoundError:
        pass


@dataclass(frozen=True)
class KeptInfo:
    name: str
    tree: Path
    last_used: float      # the lock file's mtime
    in_use: bool


def kept_trees(root: Path) -> list[KeptInfo]:
    """The kept trees (for `system df`: BuildKit lists its kept local sources as
    "source.local" build cache)."""
    base = kept_dir(root)
    found = []
    for name in sorted(os.listdir(base)) if base.is_dir() else []:
        if not name.endswith(LOCK_SUFFIX) or not (base / name[:-len(LOCK_SUFFIX)]).is_dir():
            continue
        key = name[:-len(LOCK_SUFFIX)]
        try:
            used = (base / name).stat().st_mtime
        except FileNotFoundError:
            continue
        fd = _lock(base / name)
        if fd is not None:
            os.close(fd)
        found.append(KeptInfo(name=key, tree=base / key, last_used=used, in_use=fd is None))
    return found


def remove_all(root: Path) -> int:
    """Remove every kept tree not in use (`builder prune --all`); how many were removed."""
    if not kept_dir(root).is_dir():
        return 0
    return _evict(root, keep=0, spare=None)
