"""A large COPY of one context directory as several layers, so a rebuild's cost follows the
change, not the size of the copy.

Why: a COPY of 10,000 files (313 MB) as one layer meant that changing one byte re-made all of
it: a new 313 MB tar, its SHA-256, a tree of 10,000 links (1.6-3 s). A tar's digest cannot be
updated in the middle, so the only way to make less is to have smaller layers. BuildKit reuses
layers by content (COPY --link); here a large copy is cut into chunks of its files, each a
layer keyed by what it holds, and a rebuild makes only the chunks whose key changed.

The layers (standard ones: any OCI reader applies them in order), bottom first:
- chunk layers: the copy's files and symlinks in the walk's order, cut after each file whose
  path hashes (xxh3-64) to 0 modulo a spacing, a power of two chosen from the number of files
  (N / 32 < spacing <= N / 16), and after spacing files without such a cut: 25-51 chunks of
  at most spacing files (a cap of 2 x spacing made 16-37 chunks, but an edit then re-made
  ~700 files on average, ~400 now, and up to 1,024: 10,000 files, measured). The cuts
  depend on paths: a changed file moves no cut, an added or removed one at most those up to
  the next hashed cut. A chunk holds the directories above its files as placeholders (0755, root,
  mtime 0), so its bytes do not depend on directory metadata.
- a directory layer on top: every directory of the copy, and the parents copied up from the
  image, with the metadata the one-layer copy gives them; it hides the placeholders. An
  editor's save (a rename, a new directory mtime) re-makes this small layer and one chunk.
Each layer gets the step's history entry (the image spec pairs history entries with layers).
Copies under CHUNK_MIN_BYTES, and copies of several sources, a single file, an archive or
with --parents, stay one layer, the shape Docker gives them.

Keys: xxh3-128 over the step's parent key, its canonical text, ownership, chmod, compression,
SOURCE_DATE_EPOCH and each entry of the layer (path, kind, mode, owner, mtime, link target,
content hash). The same context gives the same chunks, so the image after a one-file change
has the layer digests of a build from scratch. The previous run of the same COPY (its lineage,
as in copyreuse.py) names the layers of its keys; one is reused only while its blob and its
unpacked directory are both in the store, and never under --no-cache. Unchanged files of a
chunk that is made again are hard-linked from the previous chunk (copyreuse.CopyReuse).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import xxhash

from pallet.builder.cache import write_json_atomic
from pallet.builder.sources import SourceEntry, SourceTree

CHUNK_MIN_BYTES = 64 << 20
CHUNKS = 16
FORMAT = "1"


@dataclass(frozen=True)
class Chunk:
    """One layer of a chunked COPY: its key and the entries it holds."""

    key: str
    tree: SourceTree
    directories: bool    # the directory layer (real metadata) rather than a file chunk


def plan_chunks(trees: list[SourceTree], *, base: str) -> list[Chunk] | None:
    """The layers of a copy of ``trees`` (None: one layer, as before). ``base``: the text
    every key starts from (the step, its parent and the options that shape a layer)."""
    if len(trees) != 1:
        return None
    tree = trees[0]
    if tree.kind != "dir" or tree.archive or tree.parents:
        return None
    root, *children = tree.entries
    files = [e for e in children if e.kind != "dir"]
    if not files or any(e.mtime_ns is None for e in files) or \
            sum(e.size for e in files) < CHUNK_MIN_BYTES:
        return None
    spacing = 1 << max(0, (len(files) // CHUNKS).bit_length() - 1)
    groups: list[list[SourceEntry]] = [[]]
    for entry in files:
        groups[-1].append(entry)
        if (xxhash.xxh3_64_intdigest(entry.relpath.encode()) >> 32) % spacing == 0 or \
                len(groups[-1]) >= spacing:
            groups.append([])
    if not groups[-1]:
        groups.pop()
    directories = {e.relpath: e for e in children if e.kind == "dir"}
    order = {e.relpath: index for index, e in enumerate(children) if e.kind == "dir"}
    chunks = []
    for group in groups:
        above: set[str] = set()
        for entry in group:
            parent = entry.relpath.rpartition("/")[0]
            while parent and parent not in above:
                above.add(parent)
                parent = parent.rpartition("/")[0]
        dirs = [directories[p] for p in sorted(above, key=order.__getitem__)]
        chunks.append(Chunk(key=_key(base, "chunk", group, tree.hashes),
                            tree=_subtree(tree, root, dirs + group), directories=False))
    dirs = list(directories.values())
    chunks.append(Chunk(key=_key(base, "dirs", [root, *dirs], tree.hashes),
                        tree=_subtree(tree, root, dirs), directories=True))
    return chunks


def _subtree(tree: SourceTree, root: SourceEntry, entries: list[SourceEntry]) -> SourceTree:
    return SourceTree(kind="dir", name=tree.name, entries=(root, *entries), hashes=tree.hashes)


def _key(base: str, what: str, entries: list[SourceEntry], hashes: dict) -> str:
    # one text hashed at once: the bytes an update per entry would give, in a third of the time
    text = "".join([f"\0{e.relpath}\0{e.kind}\0{e.mode:o}\0{e.uid}\0{e.gid}\0{e.mtime_ns}\0"
                    f"{e.link_target}\0{hashes.get(e.relpath, '')}" for e in entries])
    return xxhash.xxh3_128_hexdigest(f"{FORMAT}\0{what}\0{base}{text}".encode())


def placeholder_directories(layer_dir: Path) -> None:
    """Every directory below layer_dir (a chunk just written, ours alone) as 0755, root, mtime
    0: the directory layer above gives them their metadata."""
    stack = [os.fspath(layer_dir)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    os.chown(entry.path, 0, 0, follow_symlinks=False)
                    os.chmod(entry.path, 0o755)
                    os.utime(entry.path, ns=(0, 0), follow_symlinks=False)
                    stack.append(entry.path)


class ChunkIndex:
    """The previous run's chunks of one COPY lineage: key -> layer (one small file per
    lineage), and each chunk's files as copyreuse signatures (one file per chunk made, read
    only when that chunk is made again, to hard-link its unchanged files)."""

    def __init__(self, *, root: Path, lineage: str) -> None:
        self.directory = root / "cache" / "copychunks"
        self.path = self.directory / f"{lineage}.json"
        self.previous: dict[str, dict] = {}
        try:
            for item in json.loads(self.path.read_text())["chunks"]:
                if isinstance(item, dict) and isinstance(item.get("key"), str) and \
                        _is_key(item["key"]):
                    self.previous[item["key"]] = item
        except (OSError, ValueError, KeyError, TypeError):
            self.previous = {}
        self.current: list[dict] = []
        self.made: dict[str, dict[str, list]] = {}

    def _files_path(self, key: str) -> Path:
        return self.directory / "files" / f"{key}.json"

    def reusable(self, key: str, store):
        """The stored layer (runtime Layer) of this key, or None."""
        from pallet.builder.cache import LayerRef
        from pallet.runtime.image.layers import Layer
        item = self.previous.get(key)
        if item is None:
            return None
        try:
            ref = LayerRef.from_json(item["layer"])
        except (ValueError, KeyError, TypeError):
            return None
        if not store.has_blob(ref.digest) or \
                not (store.layers / ref.diff_id.split(":", 1)[1]).is_dir():
            return None
        return Layer(digest=ref.digest, size=ref.size, media_type=ref.media_type,
                     diff_id=ref.diff_id)

    def previous_files(self, keys: set[str]) -> dict[str, tuple[list, str]]:
        """relpath -> (signature, diff ID of the layer holding it) of the previous chunks
        whose keys are not among keys (the files of a kept chunk are in no other)."""
        files: dict[str, tuple[list, str]] = {}
        for key, item in self.previous.items():
            diff_id = (item.get("layer") or {}).get("diff_id")
            if key in keys or not isinstance(diff_id, str):
                continue
            try:
                signatures = json.loads(self._files_path(key).read_text())
            except (OSError, ValueError):
                continue
            if isinstance(signatures, dict):
                for rel, signature in signatures.items():
                    files[rel] = (signature, diff_id)
        return files

    def add(self, key: str, layer, files: dict[str, list] | None = None) -> None:
        """A chunk of this run: files given when it was made now (None: kept as it was)."""
        self.current.append({"key": key, "layer": {
            "digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size,
            "media_type": layer.media_type}})
        if files is not None:
            self.made[key] = files

    def save(self) -> None:
        # Hints, each checked when used (a layer's blob and directory, a linked file's stat):
        # a power cut that loses or tears them costs a chunk made again, so no fsync (four
        # per rebuild, each a journal commit of the shared disk).
        for key, files in self.made.items():
            write_json_atomic(self._files_path(key), files, durable=False)
        write_json_atomic(self.path, {"chunks": self.current}, durable=False)
        kept = {item["key"] for item in self.current}
        for key in self.previous.keys() - kept:   # this lineage's chunks no longer made
            self._files_path(key).unlink(missing_ok=True)


def _is_key(text: str) -> bool:
    return len(text) == 32 and not text.strip("0123456789abcdef")
