"""The inputs of a COPY/ADD or a ``RUN --mount=type=bind``: resolve the sources, ownership and
mode, and digest them for the cache key, before anything is written.

Split from steps_exec.py because a cached step needs exactly this and nothing of the executors:
a fully cached build imports this module, not steps_exec (nor the runtime's isolation core).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pallet.builder.layerview import LayeredView
from pallet.builder.sources import (Ownership, SourceEntry, SourceTree, apply_excludes,
                                    inline_tree, trees_digest, trees_from_context,
                                    trees_from_view)
from pallet.builder.steps import MountSpec, Step
from pallet.base.errors import PalletError
from pallet.base.files import make_temp_dir, remove_tree


@dataclass
class PreparedCopy:
    """A COPY's sources, owner and mode, resolved before anything is written."""

    trees: list[SourceTree]
    owner: Ownership
    chmod: int | None
    digest: str
    scratch: Path

    def cleanup(self) -> None:
        remove_tree(self.scratch, ignore_errors=True)


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _is_git(source: str) -> bool:
    return source.startswith(("git@", "git://")) or (
        _is_url(source) and source.split("#", 1)[0].split("?", 1)[0].endswith(".git"))


def reads_only_context(step: Step) -> bool:
    """A COPY/ADD whose every source is in the build context (no stage, image, URL, git
    repository or heredoc): gathering it reads the context and nothing else."""
    if step.kind != "copy":
        return False
    spec = step.copy
    return (spec.from_stage is None and spec.from_image is None and not spec.inline
            and not any(_is_url(s) or _is_git(s) for s in spec.sources))


def _stage_view(runner, stage: int) -> LayeredView:
    return LayeredView(list(runner.states[stage].lowerdirs))


def _image_view(runner, reference: str, step: Step) -> LayeredView:
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.layers import layer_dirs
    try:
        image = resolve_image(runner.store, reference)
    except PalletError as error:
        raise PalletError(f"{error.message} (named by --from={reference})", span=step.span,
                          source_line=step.source_line,
                          hint="name an earlier stage, or pull/load the image first") from error
    return LayeredView(layer_dirs(runner.store, image))


def prepare_copy(runner, step: Step, state) -> PreparedCopy:
    """Resolve sources, ownership and mode; compute the input digest (before any write)."""
    spec = step.copy
    scratch = make_temp_dir(runner.store.tmp, "copy-")
    try:
        dest_view = LayeredView(list(state.lowerdirs))
        owner = Ownership(None, None)
        if spec.chown:
            from pallet.builder.steps_copy import resolve_chown
            owner = resolve_chown(spec.chown, dest_view, span=step.span)
        chmod = None
        if spec.chmod:
            from pallet.builder.steps_copy import parse_chmod
            chmod = parse_chmod(spec.chmod, span=step.span)
        if runner.load_context is not None and reads_only_context(step):
            with runner.context_lock:     # stages run on two threads: one pass, run once
                if runner.load_context is not None:
                    runner.load_context()
                    runner.load_context = None
        # the context pass or the definition keys' pass may have read them already
        gathered = runner.gathered.get(step.id)
        if gathered is None:
            trees = gather_trees(runner, step, scratch)
            raw_digest = None
        else:
            trees, raw_digest = gathered
        if raw_digest is not None and owner == Ownership(None, None) and chmod is None:
            digest = raw_digest
        else:
            digest = trees_digest(trees, uid=owner.uid, gid=owner.gid, chmod=chmod)
        return PreparedCopy(trees=trees, owner=owner, chmod=chmod, digest=digest, scratch=scratch)
    except BaseException:
        remove_tree(scratch, ignore_errors=True)
        raise


def gather_trees(runner, step: Step, scratch: Path) -> list[SourceTree]:
    """The trees a COPY/ADD writes, before ownership and mode (downloads and heredoc bodies go
    to scratch, which must live as long as the trees are used)."""
    spec = step.copy
    trees: list[SourceTree] = []
    for source in spec.sources:
        if _is_git(source):
            raise PalletError(f"ADD of a git repository is not supported: {source}",
                              span=step.span, source_line=step.source_line,
                              hint="clone it into the context and COPY it")
        if _is_url(source):
            if not spec.is_add:
                raise PalletError("source can't be a URL for COPY", span=step.span,
                                  source_line=step.source_line, hint="use ADD for URLs")
            from pallet.builder.download import download, url_filename
            path, _ = download(source, scratch, checksum=spec.checksum, span=step.span)
            trees.append(SourceTree(kind="file", name=url_filename(source), entries=(
                SourceEntry(relpath="", host_path=path, kind="file", mode=0o600, uid=0,
                            gid=0),)))
        elif spec.from_stage is not None or spec.from_image is not None:
            view = _stage_view(runner, spec.from_stage) if spec.from_stage is not None \
                else _image_view(runner, spec.from_image, step)
            what = f"stage {spec.from_stage}" if spec.from_stage is not None \
                else spec.from_image
            trees += trees_from_view(view, source, span=step.span,
                                     source_line=step.source_line, what=what)
        else:
            if runner.context is None:
                raise PalletError("COPY from the build context, but the build has no context",
                                  span=step.span, source_line=step.source_line)
            found = trees_from_context(runner.context, source, span=step.span,
                                       source_line=step.source_line, parents=spec.parents)
            if spec.is_add and spec.unpack is not False:
                found = [_mark_archive(t) if t.kind == "file" and _is_tar(t) else t
                         for t in found]
            trees += found
    for inline in spec.inline:
        trees.append(inline_tree(inline.name, inline.data, scratch=scratch))
    return apply_excludes(trees, spec.exclude)


def _is_tar(tree: SourceTree) -> bool:
    from pallet.runtime.image.unpack import is_tar
    try:
        fd = tree.entries[0].open()
    except OSError:
        return False   # copied as a file, where the error is reported
    return is_tar(fd, name=tree.name)


def _mark_archive(tree: SourceTree) -> SourceTree:
    from dataclasses import replace
    return replace(tree, archive=True)


def bind_trees(runner, step: Step, mount: MountSpec) -> list[SourceTree]:
    """The trees a RUN --mount=type=bind shows: a stage's, an image's or the context's."""
    if mount.from_stage is not None or mount.from_image is not None:
        view = _stage_view(runner, mount.from_stage) if mount.from_stage is not None \
            else _image_view(runner, mount.from_image, step)
        return trees_from_view(view, mount.source or "/", span=step.span,
                               source_line=step.source_line, what="the mount source")
    if runner.context is None:
        raise PalletError("RUN --mount=type=bind needs a build context", span=step.span)
    return trees_from_context(runner.context, mount.source or ".", span=step.span,
                              source_line=step.source_line, parents=False)


def bind_mounts_digest(runner, step: Step) -> str:
    """What a RUN reads through bind mounts is an input: their content goes into the key
    (cache mounts and secrets never do)."""
    from pallet.builder.cachekey import InputDigest
    digest = InputDigest()
    for index, mount in enumerate(step.run.mounts):
        if mount.type == "bind":
            trees = bind_trees(runner, step, mount)
            digest.add_token(f"bind{index}", trees_digest(trees, uid=None, gid=None, chmod=None))
    return digest.hexdigest()
