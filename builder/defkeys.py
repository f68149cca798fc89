"""Definition keys: each step's second cache key, derived from the build definition alone, and
the stages a build can therefore leave unbuilt (the rule is in builder/cachekey.py's docstring).

A step that reads another stage (``COPY --from=STAGE``, ``RUN --mount=type=bind,from=STAGE``)
has a content key only once that stage has run. Its definition key needs nothing run: it
folds in the definition key of the stage it reads instead of that stage's files. Before any
stage runs, ``needed_stages`` looks those keys up; a stage whose every reader hits (a fresh CI
runner with a mode=min cache of the final stage) is never built. ``StageRunner.run_step``
then takes the recorded result, and its content key, from the definition key's record.

Only plans where some step reads another stage pay for this: the pass reads the context
files those stages copy (memoised for the run that follows, ``StageRunner.gathered``).
"""

from __future__ import annotations

from pathlib import Path

from pallet.builder import cachekey
from pallet.builder.steps import BuildPlan, Step
from pallet.base.errors import PalletError


def stage_reads(step: Step) -> list[int]:
    """The stages whose files this step reads (not the stage it is built FROM)."""
    if step.kind == "copy" and step.copy.from_stage is not None:
        return [step.copy.from_stage]
    if step.kind == "run":
        return [m.from_stage for m in step.run.mounts
                if m.type == "bind" and m.from_stage is not None]
    return []


def reads_other_stages(plan: BuildPlan) -> bool:
    return any(stage_reads(step) for stage in plan.stages for step in stage.steps[1:])


def definition_keys(runner, plan: BuildPlan, scratch: Path) -> dict[str, str | None]:
    """step id -> definition key, for every step after a FROM (None where the definition
    alone cannot name the step's inputs, e.g. a source that is missing: that step is looked
    up by content only, and the stage it reads is built)."""
    from graphlib import TopologicalSorter

    stages = {stage.index: stage for stage in plan.stages}
    keys: dict[str, str | None] = {}
    stage_keys: dict[int, str | None] = {}
    for index in TopologicalSorter(plan.stage_dependencies()).static_order():
        steps = stages[index].steps
        key = _base_key(runner, steps[0], stage_keys)
        for step in steps[1:]:
            if key is not None:
                inputs = _definition_inputs(runner, step, stage_keys, scratch)
                desc = cachekey.run_desc(step.key_desc, runner.options.add_hosts)
                key = None if inputs is None else \
                    cachekey.step_key(parent=key, step=desc, inputs=inputs)
            keys[step.id] = key
        stage_keys[index] = key
    return keys


def needed_stages(runner, plan: BuildPlan, keys: dict[str, str | None]) -> set[int]:
    """The target, the stages it is built FROM, and every stage some needed step reads whose
    definition key has no record (or may not use the cache)."""
    stages = {stage.index: stage for stage in plan.stages}
    options = runner.options
    needed: set[int] = set()
    pending = [plan.target]
    while pending:
        index = pending.pop()
        if index in needed:
            continue
        needed.add(index)
        steps = stages[index].steps
        if steps[0].base_stage is not None:
            pending.append(steps[0].base_stage)
        cache_usable = not options.no_cache and index not in options.no_cache_stages
        for step in steps[1:]:
            for read in stage_reads(step):
                key = keys.get(step.id)
                if read in options.no_cache_stages or not cache_usable or key is None \
                        or runner.records.get(key) is None:
                    pending.append(read)
    return needed


def _base_key(runner, first: Step, stage_keys: dict[int, str | None]) -> str | None:
    if first.base_stage is not None:
        return stage_keys.get(first.base_stage)
    if first.base_image is None:
        return cachekey.scratch_base_key()
    image_id = _image_id(runner, first.base_image)
    return None if image_id is None else cachekey.image_base_key(image_id)


def _image_id(runner, reference: str) -> str | None:
    from pallet.runtime.image.images import resolve_image
    try:
        return resolve_image(runner.store, reference).id
    except PalletError:
        return None   # the step itself reports it, where it runs


def _definition_inputs(runner, step: Step, stage_keys: dict[int, str | None],
                       scratch: Path) -> str | None:
    """The inputs part of the formula with another stage's files replaced by that stage's
    definition key and an image's files by its ID; context files, downloads and heredocs are
    digested as for the content key (identical to it without --chown/--chmod)."""
    if step.kind == "copy":
        spec = step.copy
        if spec.from_stage is not None:
            return _token_digest("stage", stage_keys.get(spec.from_stage))
        if spec.from_image is not None:
            return _token_digest("image", _image_id(runner, spec.from_image))
        from pallet.builder.copyinputs import gather_trees
        from pallet.builder.sources import trees_digest
        gathered = runner.gathered.get(step.id)   # the context pass may have read them
        try:
            trees = gathered[0] if gathered else gather_trees(runner, step, scratch)
        except PalletError:
            return None   # reported by the step itself, in its place in the progress
        digest = trees_digest(trees, uid=None, gid=None, chmod=None)
        runner.gathered[step.id] = (trees, digest)
        return digest
    if step.kind == "run" and any(m.type == "bind" for m in step.run.mounts):
        digest = cachekey.InputDigest()
        for index, mount in enumerate(step.run.mounts):
            if mount.type != "bind":
                continue
            if mount.from_stage is not None:
                value = stage_keys.get(mount.from_stage)
                label = "stage"
            elif mount.from_image is not None:
                value = _image_id(runner, mount.from_image)
                label = "image"
            else:
                from pallet.builder.copyinputs import bind_trees
                from pallet.builder.sources import trees_digest
                try:
                    trees = bind_trees(runner, step, mount)
                except PalletError:
                    return None
                value = trees_digest(trees, uid=None, gid=None, chmod=None)
                label = ""
            if value is None:
                return None
            # the same token as the content key's for a context bind, so the keys agree there
            digest.add_token(f"bind{index}", f"{label}:{value}" if label else value)
        return digest.hexdigest()
    return cachekey.NO_INPUTS


def _token_digest(label: str, value: str | None) -> str | None:
    if value is None:
        return None
    digest = cachekey.InputDigest()
    digest.add_token(label, value)
    return digest.hexdigest()
