"""Replacing a file atomically: readers see the old file or the new one, never a half.

    atomic_write(path, data, *, mode=0o600, durable=True, tmp_dir=None)
    with atomic_file(path, ...) as handle: ...      the same, for writers that stream
    fsync_dir(path)                                 make a rename in directory path durable
    tree_size(path) -> int                          bytes under a directory, as Docker counts
    set_temp_home(root, provider)                   temporaries for targets below root
    private_dir(path) -> path                       a 0700 directory whatever the umask
    remove_tree(path, *, dir_fd=None, ...)          rm -rf without recursion or symlinks
    walk_tree(path) -> (rel, [(name, lstat)]) ...   os.walk without recursion or PATH_MAX

The temporary file sits in tmp_dir, else in the temp home of the root the target lies below
(the store registers its per-process scratch directory, which the next command sweeps once
its owner is gone: a SIGKILL between write and rename then leaves nothing behind), else
beside the target; always on the target's filesystem, under a name
no other writer picks, and is made with the final mode (``mode=None``: what open() would give, 0666 less the umask, for
files the user asked for), and is renamed over the target; it is removed if writing fails.
``durable`` fsyncs the data before the rename and the directory after it (what must survive a
power cut: store index, cache records); state re-derived from live processes skips both.
Here (pallet.base) because the code cache, the engine, the builder and the fronts all write
such files. No tempfile module: it costs start-up time for nothing but a random name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

TYPE_CHECKING = False   # typing's flag without importing typing (~3 ms of every command)
if TYPE_CHECKING:
    from typing import BinaryIO

PRIVATE_MODE = 0o700


def private_dir(path: str | os.PathLike) -> Path:
    """Make path a directory only its owner can enter: created 0700 whatever the umask (parents
    as usual), and tightened to 0700 if it exists with group or other bits."""
    path = Path(path)
    try:
        os.mkdir(path, PRIVATE_MODE)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, PRIVATE_MODE)
    except FileExistsError:
        pass
    mode = os.stat(path).st_mode
    if mode & 0o7777 != PRIVATE_MODE:   # the umask may have taken owner bits too
        os.chmod(path, PRIVATE_MODE)
    return path


# root (absolute, no trailing /) -> a callable giving the directory for its temporaries
_temp_homes: dict[str, Callable[[], Path]] = {}


def make_temp_dir(parent: str | os.PathLike, prefix: str = "tmp") -> Path:
    """A new directory (0700) under parent with a random name, as tempfile.mkdtemp makes it
    (whose import, with shutil, bz2, lzma and random behind it, a cached build need not pay)."""
    for _ in range(100):
        path = Path(parent) / f"{prefix}{os.urandom(6).hex()}"
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(parent))


def set_temp_home(root: str | os.PathLike, provider: Callable[[], Path]) -> None:
    """Atomic writes below root keep their temporaries in provider()'s directory (called on
    the first such write: it may create and lock it). base knows no store: the store registers."""
    _temp_homes[os.path.abspath(root)] = provider


def _temp_dir_for(target: Path) -> Path:
    if _temp_homes:
        path = os.path.abspath(target)
        for root, provider in _temp_homes.items():
            if path.startswith(root + "/"):
                try:
                    home = provider()
                    # a rename cannot cross filesystems (a tmpfs mounted inside the root)
                    if os.stat(home).st_dev == os.stat(target.parent).st_dev:
                        return home
                except OSError:
                    pass  # no room for the home (a full disk): the writer has its own way out
                break
    return target.parent


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, mode: int | None = 0o600, durable: bool = True,
                tmp_dir: str | os.PathLike | None = None) -> Iterator[BinaryIO]:
    target = Path(path)
    directory = Path(tmp_dir) if tmp_dir is not None else _temp_dir_for(target)
    temporary = directory / f".tmp-{target.name}-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)    # the umask does not decide the final mode
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        fsync_dir(target.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mode: int | None = 0o600,
                 durable: bool = True, tmp_dir: str | os.PathLike | None = None) -> None:
    with atomic_file(path, mode=mode, durable=durable, tmp_dir=tmp_dir) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tree_size(path: str | os.PathLike) -> int:
    """The bytes of everything under path but its directories, links not followed, a file with
    several hard links counted once (moby's pkg/directory.Size); entries that vanish while we
    walk are skipped."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for _rel, entries in walk_tree(path):
        for _name, info in entries:
            if stat.S_ISDIR(info.st_mode):
                continue
            if info.st_nlink > 1:
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
            total += info.st_size
    return total


def walk_tree(path: str | os.PathLike) -> Iterator[tuple[str, list[tuple[str, os.stat_result]]]]:
    """Every directory under path (top-down; "" for path itself) with its entries and their
    lstat, sorted by name; entries that vanish meanwhile are skipped, symlinks never followed.
    os.walk recurses once per level on this Python (RecursionError past ~1,000) and joins
    paths (ENAMETOOLONG past PATH_MAX): this is a loop over directory descriptors, one open
    at a time, checking on the way up that '..' is the directory it came down from."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return
    top = os.fstat(fd)
    frames: list[tuple[tuple[int, int], str, list[str]]] = []
    try:
        entries = _entries(fd)
        yield "", entries
        frames.append(((top.st_dev, top.st_ino), "", _subdirs(entries)))
        while frames:
            identity, rel, pending = frames[-1]
            if pending:
                name = pending.pop()
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                os.close(fd)
                fd = child
                st = os.fstat(fd)
                below = f"{rel}/{name}" if rel else name
                entries = _entries(fd)
                yield below, entries
                frames.append(((st.st_dev, st.st_ino), below, _subdirs(entries)))
                continue
            frames.pop()
            if not frames:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            pst = os.fstat(parent)
            os.close(fd)
            fd = parent
            if (pst.st_dev, pst.st_ino) != frames[-1][0]:
                raise OSError(errno.ESTALE, "the tree moved while it was walked", rel)
    finally:
        os.close(fd)


def _entries(fd: int) -> list[tuple[str, os.stat_result]]:
    found = []
    for name in sorted(os.listdir(fd)):
        try:
            found.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
        except FileNotFoundError:
            continue
    return found


def _subdirs(entries: list[tuple[str, os.stat_result]]) -> list[str]:
    # popped from the end: reversed, so directories are visited in name order
    return [name for name, info in reversed(entries) if stat.S_ISDIR(info.st_mode)]


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str | os.PathLike, *, dir_fd: int | None = None,
                one_device: bool = False, ignore_errors: bool = False) -> None:
    """rm -rf path (relative to dir_fd when given); nothing if it is missing.

    Written out because shutil.rmtree (like os.walk) recurses once per level on this Python:
    a tree more than ~1,000 directories deep, which any container or archive can make, raised
    RecursionError out of every removal (and out of the sweep that every command runs). Here
    the walk is a loop holding one directory descriptor at a time, so neither the depth nor
    PATH_MAX limits it; it never follows a symlink (each directory is opened O_NOFOLLOW from
    its parent's descriptor), and on the way back up each parent is checked to be the very
    directory it came down from (a tree moved meanwhile stops the removal rather than letting
    '..' lead elsewhere). one_device: a directory on another filesystem (a mount left inside)
    is an error (EBUSY), never emptied. ignore_errors: what cannot be removed is left."""
    try:
        fd = os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as error:
        if error.errno not in (errno.ENOTDIR, errno.ELOOP):
            if ignore_errors:
                return
            raise
        with contextlib.suppress(FileNotFoundError):   # a file or a symlink: unlinked
            _guarded(ignore_errors, os.unlink, path, dir_fd=dir_fd)
        return
    top = os.fstat(fd)
    # one frame per level: (identity, name in its parent, subdirectories still to remove)
    frames: list[tuple[tuple[int, int], str, list[str]]] = []
    try:
        frames.append(((top.st_dev, top.st_ino), "", _clear_files(fd, ignore_errors)))
        while frames:
            pending = frames[-1][2]
            if pending:
                name = pending.pop()
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError:
                    if ignore_errors:
                        continue
                    raise
                st = os.fstat(child)
                if one_device and st.st_dev != top.st_dev:
                    os.close(child)
                    raise OSError(errno.EBUSY, "another filesystem is mounted inside", name)
                os.close(fd)
                fd = child
                frames.append(((st.st_dev, st.st_ino), name, _clear_files(fd, ignore_errors)))
                continue
            identity, name, _ = frames.pop()
            if not frames:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            pst = os.fstat(parent)
            if (pst.st_dev, pst.st_ino) != frames[-1][0]:
                os.close(parent)
                raise OSError(errno.ESTALE, "the tree moved while it was being removed", name)
            os.close(fd)
            fd = parent
            with contextlib.suppress(FileNotFoundError):
                _guarded(ignore_errors, os.rmdir, name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        _guarded(ignore_errors, os.rmdir, path, dir_fd=dir_fd)


def _clear_files(fd: int, ignore_errors: bool) -> list[str]:
    """Unlink every non-directory in the directory fd; return its subdirectories' names."""
    subdirs = []
    with os.scandir(fd) as entries:
        names = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    for name, is_dir in names:
        if is_dir:
            subdirs.append(name)
            continue
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            continue
        except PermissionError:   # not root: a directory without write permission
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o700)
            with contextlib.suppress(FileNotFoundError):
                _guarded(ignore_errors, os.unlink, name, dir_fd=fd)
        except OSError:
            if not ignore_errors:
                raise
    return subdirs


def _guarded(ignore_errors: bool, function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except FileNotFoundError:
        raise
    except OSError:
        if not ignore_errors:
            raise
