"""COPY/ADD sources as SourceTrees: from the context, another stage or image, a URL, a heredoc.

Each tree lists exactly the entries the copy will write, so the same list feeds both the
cache key's input digest and the copy itself.
"""

from __future__ import annotations

import dataclasses
import os
import stat as statmod
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from pallet.builder.cachekey import InputDigest
from pallet.builder.context import BuildContext, has_wildcard, wildcard_matcher
from pallet.builder.layerview import LayeredView, split_path
from pallet.builder.statcache import hash_file_content
from pallet.base.errors import PalletError, Span


@dataclass(frozen=True)
class SourceEntry:
    """One thing to copy: ``relpath`` below its source root ("" = the root itself)."""

    relpath: str
    host_path: Path | str
    kind: str  # "file" | "dir" | "symlink"
    mode: int
    uid: int
    gid: int
    link_target: str = ""
    # A build-context entry: host_path is read as `origin` through the context's confine.Root
    # (resolved inside the context by the kernel), never by its host path.
    origin: str = ""
    context: object = field(default=None, compare=False, hash=False, repr=False)
    # A context entry's size and mtime as the context walk saw them (None elsewhere): what a
    # chunked COPY keys its layers by without a second stat per file (copychunks.py).
    size: int = 0
    mtime_ns: int | None = None

    @classmethod
    def of_context(cls, entry, base: str, context) -> "SourceEntry":
        """The SourceEntry of a context walk's ContextEntry, under the context directory base
        (a string) read through context (its confine.Root). Made without the frozen
        __init__, whose eleven object.__setattr__ calls cost ~25 ms for a 10,000-file copy
        (~8 ms this way): it fills the same fields (tests/builder/test_context.py checks the
        two are equal), and the instance is as frozen as any other."""
        made = object.__new__(cls)
        made.__dict__.update(relpath=entry.relpath, host_path=f"{base}/{entry.origin}"
                             if entry.origin else base, kind=entry.kind, mode=entry.mode, uid=0,
                             gid=0, link_target=entry.link_target, origin=entry.origin,
                             context=context, size=entry.size, mtime_ns=entry.mtime_ns)
        return made

    def open(self) -> int:
        """The file, opened for reading; a last-component symlink is never followed."""
        if self.context is not None:
            return self.context.open(self.origin, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        return os.open(self.host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def lstat(self) -> os.stat_result:
        if self.context is not None:
            st = self.context.lstat(self.origin)
            if st is None:
                raise FileNotFoundError(2, "removed from the build context", str(self.host_path))
            return st
        return os.lstat(self.host_path)


@dataclass(frozen=True)
class SourceTree:
    """A resolved source: a file (one entry) or a directory (its entries, root first).

    ``name`` is the name a file lands under in a directory destination; ``parents`` is the
    path kept under the destination for ``COPY --parents`` ("" otherwise)."""

    kind: str
    name: str
    entries: tuple[SourceEntry, ...]
    parents: str = ""
    archive: bool = False  # ADD: a local tar archive to extract at the destination
    hashes: dict = field(default_factory=dict, compare=False, hash=False)  # relpath -> xxh3


@dataclass(frozen=True)
class Ownership:
    """Owner for copied files; ``None`` keeps each source entry's own uid/gid."""

    uid: int | None
    gid: int | None


def trees_from_context(context: BuildContext, source: str, *, span: Span | None,
                       source_line: str | None, parents: bool) -> list[SourceTree]:
    pivot = ""
    if parents and "/./" in source:
        pivot, source = source.split("/./", 1)[0], source.replace("/./", "/", 1)
    trees = []
    base = str(context.directory)
    for selection in context.select(source, span=span, source_line=source_line):
        # host paths as plain strings: 10,000 pathlib objects cost ~0.1 s per cached rebuild
        root = context.root
        entries = tuple(SourceEntry.of_context(e, base, root) for e in selection.entries)
        hashes = {e.relpath: e.content_hash for e in selection.entries}
        kept = _parents_path(selection.root_origin, pivot) if parents else ""
        if parents and selection.kind == "file":
            kept = kept.rpartition("/")[0]
        trees.append(SourceTree(kind=selection.kind, name=selection.name, entries=entries,
                                 parents=kept, hashes=hashes))
    return trees


def _parents_path(origin: str, pivot: str) -> str:
    pivot = "/".join(split_path(pivot))
    if pivot and origin.startswith(pivot + "/"):
        return origin[len(pivot) + 1:]
    return origin


def trees_from_view(view: LayeredView, source: str, *, span: Span | None,
                    source_line: str | None, what: str) -> list[SourceTree]:
    """Select ``source`` (wildcards allowed) in another stage's or image's filesystem."""
    parts = split_path(source)
    candidates = ["/"]
    for part in parts:
        next_candidates = []
        for base in candidates:
            resolved = view.resolve(base)
            if has_wildcard(part):
                matcher = wildcard_matcher(part, span=span, source_line=source_line)
                next_candidates += [f"{resolved.rstrip('/')}/{n}" for n in view.listdir(resolved)
                                    if matcher.match(n)]
            else:
                candidate = f"{resolved.rstrip('/')}/{part}"
                if view.lookup(view.resolve(candidate, follow_last=False)) is not None:
                    next_candidates.append(candidate)
        candidates = next_candidates
    if not candidates:
        raise PalletError(f"COPY failed: {source}: not found in {what}", span=span,
                          source_line=source_line)
    trees = []
    for candidate in candidates:
        resolved = view.resolve(candidate)
        found = view.lookup(resolved)
        if found is None:
            raise PalletError(f"COPY failed: {source}: dangling symlink in {what}", span=span,
                              source_line=source_line)
        st = os.lstat(found)
        name = candidate.rstrip("/").rpartition("/")[2] or "/"
        if statmod.S_ISDIR(st.st_mode):
            entries = (_view_entry("", found, st),) + tuple(_walk_view(view, resolved, ""))
            trees.append(SourceTree(kind="dir", name=name, entries=entries))
        else:
            trees.append(SourceTree(kind="file", name=name, entries=(_view_entry("", found, st),)))
    return trees


def _walk_view(view: LayeredView, image_dir: str, rel: str):
    for name in view.listdir(image_dir):
        path = f"{image_dir.rstrip('/')}/{name}"
        found = view.lookup(path)
        if found is None:
            continue
        st = os.lstat(found)
        child_rel = f"{rel}/{name}" if rel else name
        kind = _kind(st)
        if kind is None:
            continue
        yield _view_entry(child_rel, found, st)
        if kind == "dir":
            yield from _walk_view(view, path, child_rel)


def _kind(st: os.stat_result) -> str | None:
    if statmod.S_ISDIR(st.st_mode):
        return "dir"
    if statmod.S_ISREG(st.st_mode):
        return "file"
    if statmod.S_ISLNK(st.st_mode):
        return "symlink"
    return None


def _view_entry(rel: str, host: Path, st: os.stat_result) -> SourceEntry:
    kind = _kind(st) or "file"
    return SourceEntry(relpath=rel, host_path=host, kind=kind, mode=statmod.S_IMODE(st.st_mode),
                       uid=st.st_uid, gid=st.st_gid,
                       link_target=os.readlink(host) if kind == "symlink" else "")


def inline_tree(name: str, data: str, *, scratch: Path, mode: int = 0o644) -> SourceTree:
    path = scratch / f"inline-{xxhash.xxh3_64_hexdigest(name.encode())}"
    path.write_text(data)
    os.chmod(path, mode)
    return SourceTree(kind="file", name=name, entries=(
        SourceEntry(relpath="", host_path=path, kind="file", mode=mode, uid=0, gid=0),))


def apply_excludes(trees: list[SourceTree], patterns: tuple[str, ...]) -> list[SourceTree]:
    """``--exclude``: drop entries matching the patterns (patternmatcher rules, as BuildKit;
    a pattern matching a directory drops everything below it, unless a "!" pattern takes some
    of it back). Paths are relative to the source root; a file source is matched by its name.
    The directories above a kept entry are kept too (BuildKit's walker emits an excluded
    parent of an included file), so ``--exclude=s --exclude=!s/sub`` copies s/sub in s."""
    if not patterns:
        return trees
    from pallet.grammar.dockerignore import IgnoreRules
    rules = IgnoreRules.from_patterns(patterns)
    out = []
    for tree in trees:
        if tree.kind == "file":
            if not rules.excludes(tree.name):
                out.append(tree)
            continue
        kept = {e.relpath for e in tree.entries if e.relpath and not rules.excludes(e.relpath)}
        for relpath in list(kept):
            parent = relpath.rpartition("/")[0]
            while parent and parent not in kept:
                kept.add(parent)
                parent = parent.rpartition("/")[0]
        out.append(dataclasses.replace(tree, entries=tuple(
            e for e in tree.entries if e.relpath == "" or e.relpath in kept)))
    return out


def trees_digest(trees: list[SourceTree], *, uid: int | None, gid: int | None,
                 chmod: int | None) -> str:
    """The COPY input digest (cachekey module docstring): entries as they will land."""
    digest = InputDigest()
    for index, tree in enumerate(trees):
        hashes = tree.hashes
        digest.add_token("tree", f"{index}:{tree.kind}:{tree.name}:{tree.parents}:{tree.archive}")
        for entry in tree.entries:
            content = ""
            if entry.kind == "file":
                content = hashes.get(entry.relpath) or hash_file_content(entry.host_path)[0]
            mode = chmod if chmod is not None else entry.mode
            digest.add(path=f"{index}/{entry.relpath}", kind=entry.kind, mode=mode,
                       uid=entry.uid if uid is None else uid,
                       gid=entry.gid if gid is None else gid,
                       link_target=entry.link_target, content_hash=content)
    return digest.hexdigest()
