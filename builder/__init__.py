"""Stage 2: plan the build graph, key the cache, run the steps, commit the image.

Public API (the CLI and the API server call these; nothing else is needed):

    from pallet.builder.build import build, BuildResult
    from pallet.builder.request import BuildRequest, ContextSource
    request = BuildRequest(context=ContextSource(directory=Path) | ContextSource(stream=BinaryIO),
                           dockerfile=None | "path" | "-", dockerfile_text=None, tags=("app:1",),
                           build_args={}, target=None, labels={}, no_cache=False,
                           no_cache_filter=(), pull=False, secrets={"id": b"value"},
                           network="default"|"none"|"host", platform=None,
                           source_date_epoch=None, memory=None, cpus=None,
                           cache_from=("type=local,src=DIR",), cache_to=("type=local,dest=DIR",),
                           compression="none"|"gzip"|"zstd", allow=frozenset())
    result = build(request, root=Path, progress="auto"|"tty"|"plain"|"quiet", quiet=False,
                   progress_stream=None)
    result.image_id, result.tags, result.stats  # stats: cached / executed / containers

    from pallet.builder.plan import plan, BaseImage      # AST -> BuildPlan (steps, edges, stage_dependencies())
    from pallet.builder.prune import prune_cache, cache_usage
    from pallet.builder.cachekey import step_key           # the key formula (docstring)

On disk (under the store root): cache/records/ (step key -> layer + config + history),
cache/stat/ (stat cache per context), cache/plans/ (compiled plans), cache/copyreuse/,
cache/mounts/ (RUN --mount=type=cache). Build layers are ordinary store blobs and layers/<diffid>
directories, kept by the store's garbage-collection roots (roots/buildcache/<key>.json, one per
record with a layer, written through pallet.runtime.store.roots): the engine reads no record.
"""
