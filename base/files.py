"""Replacing a file atomically: readers see the old file or the new one, never a half.

    atomic_write(path, data, *, mode=0o600, durable=True, tmp_dir=None)
    with atomic_file(path, ...) as handle: ...      the same, for writers that stream
    fsync_dir(path)                                 make a rename in directory path durable
    tree_size(path) -> int                          bytes under a directory, as Docker counts
    set_temp_home(root, provider)                   temporaries for targets below root
    private_dir(path) -> path                       a 0700 directory whatever the umask

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
import os
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

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
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if info.st_nlink > 1:
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
            total += info.st_size
    return total
