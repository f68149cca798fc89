"""Rebuilding a COPY layer by hard-linking the files that did not change.

When a COPY reruns because one of 10,000 files changed, the other 9,999 files it writes are
byte-for-byte and inode-for-inode (mode, owner, mtime) what the previous version of the same
COPY wrote. Store layer directories are immutable (they are overlay lowerdirs and are only
ever removed whole), so the new layer may share those inodes through hard links instead of
creating and filling 9,999 files again. The index of a COPY's files is kept per *lineage*:
xxh3 of the context directory and the canonical step (without its inputs), under
ROOT/cache/copyreuse/. A file is linked only when its content hash, mode, owner, size and
mtime all equal the recorded ones and the old layer file still has them.
"""

from __future__ import annotations

import json
import stat as statmod
import threading
from pathlib import Path

import xxhash

from pallet.builder.cache import write_json_atomic


class CopyReuse:
    def __init__(self, *, root: Path, lineage: str, layers_dir: Path) -> None:
        self.path = root / "cache" / "copyreuse" / f"{lineage}.json"
        self.layers_dir = layers_dir
        self.previous: dict[str, list] = {}
        self.previous_dir: Path | None = None
        # a chunked COPY's files live in several layers: relpath -> its layer directory
        self.previous_dirs: dict[str, Path] = {}
        self.written: dict[str, list] = {}
        self.linked = 0
        self._lock = threading.Lock()
        self._roots: dict[Path, object] = {}   # confine.Root of each previous dir, opened once
        try:
            data = json.loads(self.path.read_text())
            self.previous = data["files"]
            self.previous_dir = layers_dir / data["diff_id"].split(":", 1)[1]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.previous = {}

    @classmethod
    def of_layers(cls, *, layers_dir: Path, files: dict[str, tuple[list, str]]) -> "CopyReuse":
        """An index over several previous layers: relpath -> (signature, diff ID)."""
        reuse = cls.__new__(cls)
        reuse.path = None
        reuse.layers_dir = layers_dir
        reuse.previous = {rel: signature for rel, (signature, _) in files.items()}
        reuse.previous_dir = None
        dirs = {diff_id: layers_dir / diff_id.split(":", 1)[1]
                for diff_id in {diff_id for _, diff_id in files.values()}}
        reuse.previous_dirs = {rel: dirs[diff_id] for rel, (_, diff_id) in files.items()}
        reuse.written = {}
        reuse.linked = 0
        reuse._lock = threading.Lock()
        reuse._roots = {}
        return reuse

    @staticmethod
    def lineage(*, context_dir: str, step_desc: bytes) -> str:
        return xxhash.xxh3_128_hexdigest(context_dir.encode() + b"\0" + step_desc)

    def link_or_none(self, relpath: str, *, size: int, mtime_ns: int, content_hash: str,
                     mode: int, uid: int, gid: int, root) -> bool:
        """Hard-link the previous layer's identical file at ``relpath`` in ``root`` (the new
        layer's confine.Root); True when done. Both ends are resolved inside their layer.
        size and mtime_ns are the source's, as seen when content_hash was taken."""
        signature = [content_hash, mode, uid, gid, size, mtime_ns]
        with self._lock:
            self.written[relpath] = signature
        directory = self.previous_dirs.get(relpath, self.previous_dir)
        if not content_hash or self.previous.get(relpath) != signature or directory is None:
            return False
        try:
            previous = self._previous_root(directory)
            st = previous.lstat(relpath)
        except OSError:
            return False
        if st is None or not statmod.S_ISREG(st.st_mode) or (statmod.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                               st.st_size, st.st_mtime_ns) != tuple(signature[1:]):
            return False
        try:
            root.link(relpath, relpath, source=previous)
        except OSError:
            return False
        with self._lock:
            self.linked += 1
        return True

    def _previous_root(self, directory: Path):
        found = self._roots.get(directory)
        if found is None:
            from pallet.runtime.isolation.confine import Root
            found = self._roots[directory] = Root(directory)
        return found

    def close(self) -> None:
        roots, self._roots = self._roots, {}
        for root in roots.values():
            root.close()

    def save(self, diff_id: str | None) -> None:
        if diff_id is None or not self.written or self.path is None:
            return
        write_json_atomic(self.path, {"diff_id": diff_id, "files": self.written})
