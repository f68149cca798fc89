"""The build orchestrator: context + build file -> plan -> cached, isolated steps -> image.

    build(request: BuildRequest, *, root, progress="auto", quiet=False, progress_stream=None)
        -> BuildResult            (the request: builder/request.py)

Stages run in dependency order; stages that do not depend on each other run on two threads
(the machine has two cores). The image is committed and tags moved only after every step
succeeded, so a failed or interrupted build tags nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pallet.base.errors import PalletError
from pallet.base.files import remove_tree
from pallet.builder.request import BuildRequest, ContextSource


@dataclass(frozen=True)
class BuildResult:
    """What a build made: the image, the names it got, and the step counts."""

    image_id: str
    tags: tuple[str, ...]
    stats: dict = field(default_factory=dict, compare=False)


def build(request: BuildRequest, *, root: Path, progress: str = "auto", quiet: bool = False,
          progress_stream: TextIO | None = None) -> BuildResult:
    """Build what request asks in the store at root; progress is shown as asked (a front's
    choice: auto, tty, plain, quiet) on progress_stream (stderr by default)."""
    from pallet.builder.execute import BuildOptions, StageRunner, check_entitlements
    from pallet.builder.imageconfig import final_image_config
    from pallet.builder.progress import make_progress
    from pallet.runtime.store.content import Store

    from pallet.runtime.image.committing import normalize_tags
    normalize_tags(request.tags)  # a bad -t fails before any work, as docker build does
    store = Store.open(root)
    # Garbage collection (rmi, image prune, system check --repair) waits while the build runs:
    # from the scratch dirs in tmp/ and each freshly packed layer until the image is committed
    # and its cache record written, nothing the build uses is referenced by anything else yet.
    # Base-image layers in use as lowerdirs are covered too.
    lease = contextlib.ExitStack()
    lease.enter_context(store.lease())
    try:
        progress_view = make_progress(progress, quiet=quiet, stream=progress_stream)
        scratch = store.temp_dir("context-")
    except BaseException:
        lease.close()
        raise
    runner = None
    build_context = None
    unpacked = 0
    try:
        context_dir, stream_dockerfile, unpacked, kept_cache = _materialise_context(
            request.context, scratch, progress_view, root=root, hold=lease)
        if request.dockerfile_in_context and context_dir is not None and \
                request.dockerfile_text is None and stream_dockerfile is None:
            text, path, dockerfile_file = _read_dockerfile_in(context_dir, request.dockerfile)
        else:
            text, path, dockerfile_file = _read_dockerfile(
                context_dir, request.dockerfile, request.dockerfile_text or stream_dockerfile)
        args = dict(request.build_args)
        source_date_epoch = request.source_date_epoch
        if source_date_epoch is None and "SOURCE_DATE_EPOCH" in args:
            source_date_epoch = _epoch(args["SOURCE_DATE_EPOCH"])
        if source_date_epoch is not None:
            args.setdefault("SOURCE_DATE_EPOCH", str(source_date_epoch))
        for spec in request.cache_from:
            from pallet.builder.cacheio import import_cache
            import_cache(store=store, root=root, spec=spec, progress=progress_view)
        built_plan = _plan(store, root, text=text, path=path, args=args, target=request.target,
                           platform=request.platform, pull=request.pull)
        # buildx grants network.host itself for `--network host` on the command line.
        granted = request.allow | ({"network.host"} if request.network == "host" else set())
        check_entitlements(built_plan, granted)
        build_context = _open_context(root, context_dir, dockerfile_file,
                                      persistent=request.context.directory is not None,
                                      stat_cache=kept_cache)
        no_cache_stages = frozenset(s.index for s in built_plan.stages
                                    if s.name in set(request.no_cache_filter)
                                    or str(s.index) in set(request.no_cache_filter))
        options = BuildOptions(no_cache=request.no_cache, no_cache_stages=no_cache_stages,
                               source_date_epoch=source_date_epoch, network=request.network,
                               secrets=dict(request.secrets), memory=request.memory,
                               cpus=request.cpus, compression=request.compression,
                               entitlements=granted, add_hosts=request.add_hosts)
        runner = StageRunner(store=store, context=build_context, progress=progress_view,
                             options=options, root=root)
        if request.context.directory is not None:   # a stream showed its own transfer
            from pallet.builder.contextload import load_context
            runner.load_context = lambda: load_context(runner, built_plan, progress_view)
        from pallet.builder.stages import run_stages
        run_stages(runner, built_plan)
        final_stage = next(s for s in built_plan.stages if s.index == built_plan.target)
        state = runner.states[final_stage.index]
        config = final_image_config(state=state, step=final_stage.steps[-1],
                                    labels=dict(request.labels), options=options)
        from pallet.runtime.image.committing import commit_image
        progress_view.message("exporting layers")
        image = _already_tagged(store, config, state.layers, request.tags) or commit_image(
            store, config=config, layers=list(state.layers), tags=list(request.tags))
        progress_view.message(f"writing image {image.id}")
        for name in image.references:
            progress_view.message(f"naming to {name}")
        if build_context is not None:
            build_context.stat_cache.save()
        for spec in request.cache_to:
            from pallet.builder.cacheio import export_cache
            keys = runner.used_keys(None if _cache_mode(spec) == "max" else _final_chain(built_plan))
            export_cache(store=store, root=root, spec=spec, keys=keys, progress=progress_view)
        return BuildResult(image_id=image.id, tags=tuple(image.references),
                           stats=dict(runner.stats))
    finally:
        try:
            progress_view.close()
            if runner is not None:
                runner.sweep()
            if build_context is not None:
                build_context.close()
            _remove_scratch(store, scratch, unpacked)
        finally:
            lease.close()


def _plan(store, root: Path, *, text: str, path: str, args: dict[str, str],
          target: str | None, platform: str | None, pull: bool):
    """Plan the build, or reuse the plan of an identical earlier build (plancache.py). With
    pull, every base image is pulled first (once per name), so a cached plan is reused only
    while the registry still has the image it was made with."""
    from pallet.builder import plancache

    key = plancache.plan_key(text=text, path=path, build_args=args, target=target,
                             platform=platform)
    pulled: set[str] = set()

    def fresh(ref: str) -> None:
        if pull and ref not in pulled:
            from pallet.runtime.distribution.transfer import pull_image
            pull_image(store, ref, platform=platform)
            pulled.add(ref)

    def current_id(ref: str) -> str | None:
        from pallet.runtime.image.images import resolve_image
        fresh(ref)
        try:
            return resolve_image(store, ref).id
        except PalletError:
            return None

    cached = plancache.load(root, key, current_id)
    if cached is not None:
        return cached
    from pallet.builder.plan import plan
    from pallet.grammar import parse

    bases: dict[str, str] = {}

    def resolve(ref, span):
        fresh(ref)
        base = _resolve_base(store, ref, span)
        bases[ref] = base.id
        return base

    built_plan = plan(parse(text, path), build_args=args, target=target, resolve_base=resolve,
                      platform=platform)
    plancache.store(root, key, built_plan, bases)
    return built_plan


def _already_tagged(store, config: dict, layers, tags):
    """The existing image when every tag already names exactly this config: a no-change
    rebuild then writes nothing at all (no blob, no index update, no fsync)."""
    from pallet.runtime.image.images import resolve_image
    wanted = dict(config, rootfs={"type": "layers", "diff_ids": [l.diff_id for l in layers]})
    if not tags:
        # the ID commit_image would give (sha256 of its compact JSON); checked by comparing
        # the found config, so a different serialisation only costs a normal commit
        import json

        from pallet.runtime.store.digests import new_sha256
        compact = json.dumps(wanted, separators=(",", ":")).encode()
        digest = new_sha256(len(compact))
        digest.update(compact)
        image_id = "sha256:" + digest.hexdigest()
        try:
            image = resolve_image(store, image_id)
        except PalletError:
            return None
        return image if image.config == wanted else None
    found = None
    for tag in tags:
        try:
            image = resolve_image(store, tag)
        except PalletError:
            return None
        if image.config != wanted or (found is not None and image.id != found.id):
            return None
        found = image
    return found


def _cache_mode(spec: str) -> str:
    """BuildKit's --cache-to mode: "min" (default) exports the final image's steps only,
    "max" every step of every stage."""
    for part in spec.split(","):
        if part.startswith("mode="):
            mode = part.split("=", 1)[1]
            if mode not in ("min", "max"):
                raise PalletError(f"invalid --cache-to mode {mode!r}", hint="use mode=min or mode=max")
            return mode
    return "min"


def _final_chain(built_plan) -> set[int]:
    """The target stage and the stages it is built FROM (its layers are in the image)."""
    steps = {s.index: s.steps[0] for s in built_plan.stages}
    chain = {built_plan.target}
    current = steps[built_plan.target]
    while current.base_stage is not None:
        chain.add(current.base_stage)
        current = steps[current.base_stage]
    return chain


def _epoch(text: str) -> int:
    try:
        return int(text)
    except ValueError as error:
        raise PalletError(f"invalid SOURCE_DATE_EPOCH {text!r}: not an integer") from error


def _resolve_base(store, ref: str, span):
    from pallet.builder.plan import BaseImage
    from pallet.runtime.image.images import resolve_image
    try:
        image = resolve_image(store, ref)
    except PalletError as error:
        raise PalletError(f"base image {ref}: not found locally ({error.message})", span=span,
                          hint=f"pull or load {ref} first (pallet pull {ref})") from error
    return BaseImage(id=image.id, config=image.config)


# An unpacked context of this many entries or more is removed by a detached process
# (runtime/store/scratch.remove_detached says why); below it a fork costs more than it saves.
DETACHED_REMOVAL_ENTRIES = 2000


def _remove_scratch(store, scratch: Path, unpacked: int) -> None:
    if unpacked >= DETACHED_REMOVAL_ENTRIES:
        from pallet.runtime.store.scratch import remove_detached
        try:
            remove_detached(scratch, store.tmp_base)
            return
        except OSError:
            pass  # no fork or no rename (a full process table): remove it here instead
    remove_tree(scratch, ignore_errors=True)


def _materialise_context(context: ContextSource, scratch: Path, progress, *, root: Path,
                         hold) -> tuple[Path | None, bytes | None, int, object | None]:
    """A directory context is used in place; a stream is a tar (unpacked safely, or synced
    into the tree kept under context.keep, shown as a transfer) or a bare build file (no
    context), as ``docker build - < X`` decides by content. Returns (directory, build file,
    entries unpacked into scratch, the kept tree's stat cache)."""
    if context.directory is not None:
        if not context.directory.is_dir():
            raise PalletError(f"unable to prepare context: path {str(context.directory)!r} not found")
        return context.directory.resolve(), None, 0, None
    from pallet.builder.contextstream import load_stream_context
    found = load_stream_context(context.stream, scratch, progress, root=root,
                                keep=context.keep, hold=hold)
    return found.directory, found.dockerfile, found.entries, found.stat_cache


def _read_dockerfile(context_dir: Path | None, dockerfile: str | None,
                     text: str | bytes | None) -> tuple[str, str, Path | None]:
    """(text, the name used in messages, the file itself or None when it came from stdin)."""
    if text is not None:
        shown = dockerfile if dockerfile not in (None, "-") else "Dockerfile"
        if isinstance(text, bytes):
            from pallet.grammar.lines import decode
            text = decode(text, shown)
        return text, shown, None
    if dockerfile is None:
        if context_dir is not None:
            from pallet.builder.context import default_dockerfile
            from pallet.runtime.isolation.confine import Root
            with Root(context_dir) as context:
                name = default_dockerfile(context)
            if name is not None:
                return _read_dockerfile_in(context_dir, name)
        raise PalletError("failed to read dockerfile: open Dockerfile: no such file or directory",
                          hint="add a Dockerfile to the context or name one with -f")
    candidate = Path(dockerfile)
    if not candidate.is_absolute() and not candidate.exists() and context_dir is not None:
        # not a file the caller named on the host: the build file inside the context
        return _read_dockerfile_in(context_dir, dockerfile, missing=PalletError(
            f"failed to read dockerfile: open {dockerfile}: no such file or directory",
            hint="check the -f path"))
    from pallet.grammar.lines import MAX_FILE_BYTES, decode
    shown = str(dockerfile or candidate.name)
    try:
        with open(candidate, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # one byte more tells it is too large
    except FileNotFoundError as error:
        raise PalletError(f"failed to read dockerfile: open {dockerfile}: no such file or directory",
                          hint="check the -f path") from error
    except OSError as error:
        raise PalletError(f"failed to read dockerfile {shown}: {error.strerror}") from error
    return decode(data, shown), shown, candidate.absolute()


def _read_dockerfile_in(context_dir: Path, dockerfile: str | None, *,
                        missing: PalletError | None = None) -> tuple[str, str, Path]:
    """The build file named inside the context, opened confined to it (RESOLVE_IN_ROOT: a
    symlink in a client's tar can never make it a host file)."""
    from pallet.grammar.lines import MAX_FILE_BYTES, decode
    from pallet.runtime.isolation.confine import Root
    from pallet.builder.context import read_in_context
    name = dockerfile or "Dockerfile"
    rel = "/".join(part for part in name.split("/") if part not in ("", "."))
    with Root(context_dir) as context:
        data = read_in_context(context, rel, limit=MAX_FILE_BYTES)
        if data is None:
            raise missing or PalletError(f"Cannot locate specified Dockerfile: {name}",
                                         hint="name a file inside the build context")
        real = context.realpath(rel)
    return decode(data, name), name, context_dir / real.lstrip("/")


def _open_context(root: Path, context_dir: Path | None, dockerfile: Path | None, *,
                  persistent: bool, stat_cache=None):
    """``persistent``: a directory the user keeps (its stat cache is worth saving); a tar
    from stdin is unpacked fresh each time, so its stat cache is kept in memory only; a kept
    tree (builder/keptcontext.py) comes with its own, already told every file's hash."""
    if context_dir is None:
        return None
    from pallet.builder.context import BuildContext, ignore_file_text
    from pallet.builder.statcache import StatCache

    text = ignore_file_text(context_dir=context_dir, dockerfile=dockerfile)
    ignore = None
    if text is not None:
        from pallet.grammar.dockerignore import IgnoreRules
        ignore = IgnoreRules.parse(text)
    if stat_cache is None:
        stat_cache = StatCache.for_context(root=root, context_dir=context_dir) if persistent \
            else StatCache(context_dir=context_dir, cache_file=None)
    return BuildContext(directory=context_dir, ignore=ignore, stat_cache=stat_cache)
