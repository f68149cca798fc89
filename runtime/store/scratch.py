"""Scratch space under the store's tmp/: one directory per process, swept once its owner is gone.

Every temporary file and directory a process makes in the store (blobs being written, build
work directories, unpacked archives, atomic-write temporaries) lives in that process's own
``tmp/p<pid>-<random>/``, beside which ``tmp/p<pid>-<random>.lock`` is kept POSIX-locked
(fcntl ``lockf``) by the process for as long as it runs. POSIX locks end with the process however it ends (SIGKILL
included) and are not inherited across fork, so "the lock can be taken" means "the owner is
gone". Any command opening the store then removes the directories of dead owners
(`sweep`): a SIGKILL at any point leaves nothing that the next command does not clear, and
`pallet system check --repair` is left for real damage. A live process's directory is never
touched, so two commands running at once do not sweep each other's work.

The lock file is made under a ``.new-`` name, locked, then renamed into place, and only then
is the directory made, so a sweeper never finds an owner's lock file unlocked. Entries that are not owner directories (left by
an older pallet) are swept once they are older than LEGACY_AGE.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import os
import re
import time
from pathlib import Path

OWNER_PREFIX = "p"
NEW_PREFIX = ".new-"
LOCK_SUFFIX = ".lock"
LEGACY_AGE = 600  # seconds: an unowned entry this old has no writer left

_owned: dict[str, tuple[int, Path, int]] = {}  # tmp base -> (pid, directory, lock fd)


def owned_dir(base: Path) -> Path | None:
    """This process's scratch directory under base if it has one already."""
    entry = _owned.get(str(base))
    if entry is not None and entry[0] == os.getpid() and entry[1].is_dir():
        return entry[1]
    return None


def process_dir(base: Path) -> Path:
    """This process's scratch directory under base (tmp/), made and locked on first use."""
    key = str(base)
    existing = owned_dir(base)
    if existing is not None:
        return existing
    name = f"{OWNER_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
    staging = base / f"{NEW_PREFIX}{name}"
    fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        os.rename(staging, base / f"{name}{LOCK_SUFFIX}")
        os.mkdir(base / name, 0o700)
    except BaseException:
        os.close(fd)
        raise
    _owned[key] = (os.getpid(), base / name, fd)
    return base / name


def owned_dirs() -> list[Path]:
    """The scratch directories this process owns (a sweeper skips them)."""
    return [path for pid, path, _ in _owned.values() if pid == os.getpid()]


def release(base: Path) -> None:
    """Give up this process's scratch directory under base if nothing is left in it (a
    library caller done with the store; the next use makes a new one)."""
    entry = _owned.get(str(base))
    if entry is None or entry[0] != os.getpid():
        return
    pid, path, fd = entry
    try:
        os.rmdir(path)
    except OSError:
        return  # still in use
    del _owned[str(base)]
    with contextlib.suppress(OSError):
        os.unlink(f"{path}{LOCK_SUFFIX}")
    os.close(fd)


def remove_detached(path: Path, base: Path) -> None:
    """Remove the tree at path (inside base, the store's tmp/) in a detached process and
    return once that process owns it.

    Unlinking is the slow part of a large scratch tree, not making it: on this ext4 mounted
    with ``discard``, removing the 10,000 small files of an unpacked build context takes
    20-26 s (``rm -rf`` alike), while unpacking them takes 1 s. A remote build would hold
    its answer and a CLI its exit for that long. The remover takes a scratch directory of
    its own (its own lock) and renames the tree into it before the caller goes on, so a
    SIGKILL of either process at any point leaves an owner-less directory that the next
    command's sweep clears, as for any other scratch.
    """
    from pallet.base.detach import detach
    from pallet.base.files import remove_tree  # imported before the fork, not in the child

    def remover(report: int) -> None:
        _owned.pop(str(base), None)  # the parent's entry: this process makes its own
        mine = process_dir(base)
        os.rename(path, mine / path.name)
        os.write(report, b"y")
        os.close(report)
        _remove(mine / path.name)  # mounts inside detached first, as the sweep does
        release(base)

    taken = detach(remover) == b"y"
    if not taken:
        remove_tree(path, ignore_errors=True)  # the remover failed before taking it: do it here


@atexit.register
def remove_own() -> None:
    """Remove this process's scratch directories (at exit; a forked process that ends with
    os._exit calls it itself)."""
    for pid, path, fd in list(_owned.values()):
        if pid != os.getpid():
            continue  # a forked child exiting: the directory is its parent's
        with contextlib.suppress(OSError):
            _remove(path)
        with contextlib.suppress(OSError):
            os.unlink(f"{path}{LOCK_SUFFIX}")
        with contextlib.suppress(OSError):
            os.close(fd)


def leftovers(base: Path) -> list[Path]:
    """Entries of base whose owner is gone (what `sweep` removes), without removing them."""
    found = []
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return []
    mine = {str(path) for path in owned_dirs()}
    mine |= {f"{path}{LOCK_SUFFIX}" for path in mine}
    for entry in entries:
        if entry.path in mine:
            continue
        if _dead(Path(entry.path), entry.name):
            found.append(Path(entry.path))
    return found


_swept: set[str] = set()  # bases this process has swept (the CLI and Store.open both ask)


def sweep(base: Path) -> list[Path]:
    """Remove what dead processes left in base, once per process; returns what was removed.
    Never raises for an entry it cannot remove (a full or read-only disk must not stop the
    command)."""
    if str(base) in _swept:
        return []
    _swept.add(str(base))
    removed = []
    for path in leftovers(base):
        try:
            _remove(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def sweep_one(path: Path) -> None:
    """Remove one leftover that `leftovers` listed."""
    _remove(path)


def _dead(path: Path, name: str) -> bool:
    if name.startswith(NEW_PREFIX):
        return _older_than(path, 60)  # a lock file being made (or whose maker died there)
    if not name.startswith(OWNER_PREFIX):
        return _older_than(path, LEGACY_AGE)
    lock = path if name.endswith(LOCK_SUFFIX) else Path(f"{path}{LOCK_SUFFIX}")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return _older_than(path, 60)  # its lock already swept by another command
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False  # the owner holds it: alive
        raise
    finally:
        os.close(fd)  # closing drops a lock we just took: we only wanted to know
    return True


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - os.lstat(path).st_mtime > seconds
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    """Remove a leftover. Anything still mounted below it (a killed build step's bind mount)
    is detached first, and the removal never crosses into another filesystem."""
    if not path.is_dir() or path.is_symlink():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    detach_mounts_under(path)
    from pallet.base.files import remove_tree
    # one_device: a mount still inside (EBUSY) stops it, never emptying what the mount shows
    remove_tree(path, one_device=True)


def detach_mounts_under(path: Path) -> None:
    """Lazily unmount every mount at or below path, deepest first (also `machine rm`'s, before
    it removes a machine's install)."""
    prefix = str(path).rstrip("/") + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
            if point == str(path) or point.startswith(prefix):
                points.append(point)
    if not points:
        return
    from pallet.runtime.isolation import linux

    for point in sorted(points, key=len, reverse=True):
        with contextlib.suppress(OSError):
            linux.umount2(point, linux.MNT_DETACH)


_OCTAL = re.compile(r"\\([0-7]{3})")  # mountinfo writes space, tab, newline, \ as \ooo


def scratch_dir(root: Path) -> Path:
    """This process's scratch directory under root's tmp/, made on first use."""
    from pallet.base.files import private_dir
    base = Path(root) / "tmp"
    existing = owned_dir(base)
    if existing is not None:
        return existing
    private_dir(root)   # a root made here is private too, not left to the umask
    return process_dir(private_dir(base))


def adopt_temp_home(root: Path) -> None:
    """Atomic writes anywhere below root keep their temporaries in this process's scratch
    directory, so what a SIGKILL leaves between write and rename is swept with it. (Here,
    not in content.py: a container store adopts it without loading the blob store.)"""
    from pallet.base.files import set_temp_home
    set_temp_home(root, lambda: scratch_dir(root))

