"""Stat cache: (path, size, mtime_ns, ctime_ns, inode, device) -> xxh3-128 of the file's content.

A rebuild with no changes must cost one lstat per context file, never a read. We therefore
remember, per context directory, the stat tuple a file had when we hashed it, and trust the
recorded hash only while the whole tuple is unchanged.

Why ctime and inode and not just size+mtime (BuildKit's fsutil compares size+mtime, which is
moby/buildkit#4817): a tool that rewrites a file and then restores its mtime (``touch -r``,
``cp -p``, ``git checkout`` of a same-sized blob with a fixed mtime) keeps size and mtime, but
the kernel always moves ctime forward on any write or utime call, and ``rename`` over a file
gives a new inode. Neither can be set from user space.

The "racy" window (as in git's racy-clean index entries): file timestamps come from a coarse
kernel clock (one jiffy, 1-10 ms), so a write that lands in the same tick as our read could
leave every stat field equal while the content differs. We therefore never persist an entry
whose mtime or ctime is within ``RACY_WINDOW_NS`` of the moment we started reading it; such a
file is simply hashed again next time.

The cache is one JSON file per context directory under ``ROOT/cache/stat/``, written
atomically (temp file, rename). Entries are validated on every use, so a stale, foreign
or concurrently overwritten cache file can cost re-reads but never a wrong hash. It is not
fsynced: it is a hint, and a file a power cut left empty or torn fails to parse and is an
empty cache (an fsync of its ~1 MB for 10,000 files cost 10-30 ms per build on a busy disk).
Each entry is one string, "size mtime ctime inode device digest" (a 10,000-entry file parses
in ~3 ms; as nested lists, format 1, it took ~20 ms to read and ~22 ms to write).

The file's first line is the whole cache; a build that learned a few entries appends them as
one line each (``[relpath, entry]``, or ``[relpath, null]`` for one dropped) with a single
O_APPEND write instead of rewriting 10,000 entries (~8 ms and 1 MB per one-file rebuild),
until the appended lines reach an eighth of the entries and the next save writes it whole.
Each line is read on its own: a torn one (a crash, a full disk) fails to parse and is
skipped (and the next save writes the file whole), and an append that lands in a file another
build has just replaced only adds true entries to it (each entry carries the stat it was
hashed at).
"""

from __future__ import annotations

import json
import os
import stat as statmod
import time
from dataclasses import dataclass
from pathlib import Path

import xxhash

RACY_WINDOW_NS = 50_000_000  # 50 ms: well above the coarsest kernel timestamp tick (10 ms at HZ=100)
READ_CHUNK = 1 << 20
FORMAT = 2
APPEND_MIN = 64    # appended lines allowed before a rewrite, for small caches
DIGEST_CHARS = 32   # xxh3-128 in hex


@dataclass(frozen=True)
class StatTuple:
    """The stat fields that must all be unchanged for a recorded content hash to be trusted."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> "StatTuple":
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns,
                   inode=st.st_ino, device=st.st_dev)

    def as_list(self) -> list[int]:
        return [self.size, self.mtime_ns, self.ctime_ns, self.inode, self.device]


def hash_file_content(path: Path | int, counter=None) -> tuple[str, int]:
    """Stream a regular file (a path, or a descriptor this takes over) through xxh3-128;
    returns (hex digest, bytes read). counter.bytes_read grows as the file is read (the build's
    "transferring context" count moves inside a large file)."""
    hasher = xxhash.xxh3_128()
    total = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            chunk = handle.read(READ_CHUNK)
            if not chunk:
                break
            hasher.update(chunk)
            total += len(chunk)
            if counter is not None:
                counter.bytes_read += len(chunk)
    return hasher.hexdigest(), total


class StatCache:
    """Content hashes of the regular files under one context directory, keyed by relative path.

    Use ``content_hash(relpath, st)`` with the lstat result the caller already has (the context
    walk needs it anyway), then ``save()`` once at the end of the build.
    ``files_hashed`` / ``bytes_read`` count the reads this instance had to do.
    """

    def __init__(self, *, context_dir: Path, cache_file: Path | None) -> None:
        self.context_dir = context_dir
        self.cache_file = cache_file
        self._entries: dict[str, str] = {}   # relpath -> _stat_text + digest
        self._changed: dict[str, str | None] = {}   # since the load (None: dropped)
        self._appended = -1   # lines after the file's first as loaded; -1: no file of ours
        self.files_hashed = 0
        self.bytes_read = 0
        if cache_file is not None:
            self._entries, self._appended = _load_entries(cache_file, context_dir)

    @classmethod
    def for_context(cls, *, root: Path, context_dir: Path) -> "StatCache":
        """The persisted stat cache of ``context_dir`` in the store at ``root``."""
        context_dir = context_dir.resolve()
        return cls(context_dir=context_dir, cache_file=cache_file_for(root, context_dir))

    def content_hash(self, relpath: str, st: os.stat_result, *, root=None) -> str:
        """The xxh3-128 hex digest of the regular file ``relpath`` whose lstat is ``st``;
        read through ``root`` (the context's confine.Root) when given."""
        if not statmod.S_ISREG(st.st_mode):
            raise ValueError(f"{relpath} is not a regular file")
        current = _stat_text(st)
        entry = self._entries.get(relpath)
        if entry is not None and entry[:-DIGEST_CHARS] == current:
            return entry[-DIGEST_CHARS:]
        started_ns = time.time_ns()
        if root is None:
            digest, _ = hash_file_content(self.context_dir / relpath, self)
            after_st = os.lstat(self.context_dir / relpath)
        else:
            # non-blocking: a file swapped for a FIFO meanwhile must not hang the build
            digest, _ = hash_file_content(
                root.open(relpath, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), self)
            after_st = root.lstat(relpath) or st
        self.files_hashed += 1
        # Re-stat after reading: if the file changed while we read it, the digest is of a
        # mixture; record nothing and let the next build read it again.
        after = _stat_text(after_st)
        newest = max(st.st_mtime_ns, st.st_ctime_ns)
        if after == current and newest + RACY_WINDOW_NS < started_ns:
            self._entries[relpath] = self._changed[relpath] = current + digest
        elif relpath in self._entries:
            del self._entries[relpath]
            self._changed[relpath] = None
        return digest

    def known(self, relpath: str, st: os.stat_result) -> str | None:
        """The recorded hash of relpath while its stat tuple is unchanged, else None."""
        entry = self._entries.get(relpath)
        if entry is not None and entry[:-DIGEST_CHARS] == _stat_text(st):
            return entry[-DIGEST_CHARS:]
        return None

    def record(self, relpath: str, st: os.stat_result, digest: str) -> None:
        """Record a hash its caller knows exactly: it wrote (or compared) those bytes itself
        and nothing else writes the tree (a kept context, under its lock), so the racy window
        of content_hash, which guards against writers we do not know of, does not apply."""
        value = _stat_text(st) + digest
        if self._entries.get(relpath) != value:
            self._entries[relpath] = self._changed[relpath] = value

    def forget_missing(self, present) -> None:
        """Drop the entries of paths not in present (a kept context's removed files)."""
        gone = [relpath for relpath in self._entries if relpath not in present]
        for relpath in gone:
            del self._entries[relpath]
            self._changed[relpath] = None

    def save(self) -> None:
        """Persist what was learned (no-op when nothing was): appended when it is little,
        else the whole cache written atomically (see the module docstring)."""
        if self.cache_file is None or not self._changed:
            return
        if self._appended >= 0 and self._appended + len(self._changed) <= \
                max(APPEND_MIN, len(self._entries) // 8) and self._append():
            self._appended += len(self._changed)
        else:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            payload = {"format": FORMAT, "context": str(self.context_dir),
                       "entries": self._entries}
            from pallet.base.files import atomic_write

            atomic_write(self.cache_file, json.dumps(payload, separators=(",", ":")) + "\n",
                         durable=False)
            self._appended = 0
        self._changed = {}

    def _append(self) -> bool:
        lines = "".join(json.dumps([relpath, value], separators=(",", ":")) + "\n"
                        for relpath, value in self._changed.items()).encode()
        try:
            fd = os.open(self.cache_file, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False      # gone since it was read: written whole instead
        try:
            return os.write(fd, lines) == len(lines)   # one write: appends never interleave
        except OSError:
            return False
        finally:
            os.close(fd)


def _stat_text(st: os.stat_result) -> str:
    """The StatTuple fields as an entry starts with them (asked once per context file)."""
    return "%d %d %d %d %d " % (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def cache_file_for(root: Path, context_dir: Path) -> Path:
    """Where the stat cache of context_dir lives in the store at root."""
    name = xxhash.xxh3_128_hexdigest(os.fsencode(str(Path(context_dir).resolve())))
    return Path(root) / "cache" / "stat" / f"{name}.json"


def _load_entries(cache_file: Path, context_dir: Path) -> tuple[dict[str, str], int]:
    """The entries of a cache file and the number of lines appended to it (-1: no file of
    this format and context). Anything unreadable or foreign is an empty cache (entries are
    hints): it costs re-reads and is replaced on save."""
    try:
        text = cache_file.read_text()
        base, _, appended = text.partition("\n")
        payload = json.loads(base)
    except (OSError, ValueError):
        return {}, -1
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or \
            payload.get("context") != str(context_dir) or \
            not isinstance(payload.get("entries"), dict):
        return {}, -1
    # A value that is not a string (a foreign or damaged file) would break the slicing above.
    entries = {rel: value for rel, value in payload["entries"].items()
               if type(value) is str and len(value) > DIGEST_CHARS}
    lines = appended.splitlines()
    for line in lines:
        try:
            relpath, value = json.loads(line)
        except (ValueError, TypeError):
            continue          # torn by a crash or a full disk
        if type(relpath) is not str:
            continue
        if value is None:
            entries.pop(relpath, None)
        elif type(value) is str and len(value) > DIGEST_CHARS:
            entries[relpath] = value
    # appended to only after a whole line: a torn last line (or a file without the line end)
    # is written over whole by the next save
    return entries, len(lines) if text.endswith("\n") else -1
