"""Compile a parsed build file into the build graph: stages, scopes, expanded steps.

    plan(buildfile, *, build_args, target, resolve_base, platform) -> BuildPlan

* Meta ARGs (before the first FROM) and the predefined platform ARGs form the global scope,
  visible only in FROM lines; a stage sees a global ARG only after re-declaring it.
* ``FROM name`` of an earlier stage continues that stage (config, ARGs in scope); ``scratch``
  is empty; anything else is an image that ``resolve_base(ref, span)`` finds (or pulls).
* Variables are expanded exactly where Docker expands them (see plan_steps.py).
* Only the stages the target needs are kept; ``COPY --from``/``--mount from=`` naming a stage
  adds an edge; a cycle is an error naming every instruction on it.
"""

from __future__ import annotations

from typing import Any

# BaseImage is part of this module's API (plan's resolve_base returns one); it is defined with
# the other names the planner's modules share, in plan_common.py.
from pallet.base.platforms import host_arch
from pallet.builder.plan_common import (BaseImage, ResolveBase,  # noqa: F401 (BaseImage: API)
                                        source_line_of, stage_reference)
from pallet.builder.steps import BuildPlan, StagePlan
from pallet.base.errors import PalletError


def platform_args(platform: str | None, target_stage: str) -> dict[str, str]:
    """BuildKit's predefined ARGs (global scope only)."""
    build = f"linux/{host_arch()}"
    target = platform or build
    parts = target.split("/")
    if len(parts) < 2 or parts[0] != "linux":
        raise PalletError(f"unsupported platform {target!r}", hint=f"this machine builds {build}")
    variant = parts[2] if len(parts) > 2 else ""
    return {"TARGETPLATFORM": target, "TARGETOS": parts[0], "TARGETARCH": parts[1],
            "TARGETVARIANT": variant, "BUILDPLATFORM": build, "BUILDOS": "linux",
            "BUILDARCH": host_arch(), "BUILDVARIANT": "", "TARGETSTAGE": target_stage}


def plan(buildfile, *, build_args: dict[str, str], target: str | None,
         resolve_base: ResolveBase, platform: str | None = None) -> BuildPlan:
    """Compile ``buildfile`` (pallet.grammar.ast.BuildFile) into a BuildPlan."""
    from graphlib import CycleError, TopologicalSorter

    from pallet.builder.plan_steps import StageCompiler
    from pallet.grammar.substitution import expand_word

    if not buildfile.stages:
        raise PalletError(f"{buildfile.path}: the build file has no FROM instruction",
                          hint="start the build file with FROM <image>")
    target_index = _target_index(buildfile, target)
    target_name = buildfile.stages[target_index].name or "default"

    # global scope: predefined ARGs, then meta ARGs in order
    global_scope: dict[str, str] = dict(platform_args(platform, target_name))
    for arg in buildfile.meta_args:
        for pair in arg.pairs:
            if pair.name in build_args:
                global_scope[pair.name] = build_args[pair.name]
            elif pair.default is not None:
                global_scope[pair.name] = expand_word(pair.default, global_scope,
                                                      escape=buildfile.escape).value
    declared_meta = {pair.name for arg in buildfile.meta_args for pair in arg.pairs}

    stage_names: dict[str, int] = {}
    for stage in buildfile.stages:
        if stage.name:
            if stage.name in stage_names:
                raise PalletError(f"duplicate stage name {stage.name!r}", span=stage.span,
                                  source_line=source_line_of(stage.from_))
            stage_names[stage.name] = stage.index

    # which stage each FROM builds on (by expanded name), to find what the target needs
    bases: dict[int, str] = {}
    base_stage: dict[int, int | None] = {}
    for stage in buildfile.stages:
        text = expand_word(stage.base, global_scope, escape=buildfile.escape).value
        bases[stage.index] = text
        earlier = stage_names.get(text.lower())
        base_stage[stage.index] = earlier if earlier is not None and earlier < stage.index else None

    compilers: dict[int, StageCompiler] = {}
    needed = _needed_stages(buildfile, target_index, base_stage, stage_names)
    edges: list[tuple[str, str]] = []
    stage_plans = []
    for stage in buildfile.stages:
        if stage.index not in needed:
            continue
        parent = compilers.get(base_stage[stage.index]) if base_stage[stage.index] is not None \
            else None
        compiler = StageCompiler(
            stage=stage, buildfile=buildfile, build_args=build_args, global_scope=global_scope,
            base_text=bases[stage.index], parent=parent, stage_names=stage_names,
            resolve_base=resolve_base, declared_meta=declared_meta, platform=global_scope)
        steps = compiler.compile()
        compilers[stage.index] = compiler
        stage_plans.append(StagePlan(index=stage.index, name=stage.name, steps=tuple(steps)))
        edges += [(a.id, b.id) for a, b in zip(steps, steps[1:])]
    edges += _stage_edges(stage_plans)
    by_id = {step.id: step for stage_plan in stage_plans for step in stage_plan.steps}
    predecessors: dict[str, set[str]] = {step_id: set() for step_id in by_id}
    for a, b in edges:
        predecessors[b].add(a)
    cycle = None
    try:
        TopologicalSorter(predecessors).prepare()
    except CycleError as error:
        cycle = error.args[1]
    if cycle:
        steps_on_cycle = [by_id[node] for node in dict.fromkeys(cycle)]
        where = "; ".join(f"{s.span}: {s.source_line}" for s in steps_on_cycle
                          if s.kind != "from" or s.span)
        first = steps_on_cycle[0]
        raise PalletError(f"circular dependency detected on stage: "
                          f"{buildfile.stages[first.stage].name or first.stage} ({where})",
                          span=first.span, source_line=first.source_line)
    return BuildPlan(stages=tuple(stage_plans), target=target_index, edges=tuple(edges))


def _target_index(buildfile, target: str | None) -> int:
    if target is None:
        return len(buildfile.stages) - 1
    for stage in buildfile.stages:
        if stage.name == target.lower():
            return stage.index
    names = ", ".join(s.name for s in buildfile.stages if s.name) or "none"
    raise PalletError(f"failed to reach build target {target} in Dockerfile",
                      hint=f"named stages: {names}")


def _from_values(instruction) -> list[tuple[str, Any]]:
    """(--from value, instruction) pairs of COPY --from and RUN --mount from=."""
    values = []
    if getattr(instruction, "from_", None):
        values.append((instruction.from_, instruction))
    for mount in getattr(instruction, "mounts", ()) or ():
        if mount.from_:
            values.append((mount.from_, instruction))
    return values


def _needed_stages(buildfile, target: int, base_stage: dict[int, int | None],
                   stage_names: dict[str, int]) -> set[int]:
    needed: set[int] = set()
    pending = [target]
    while pending:
        index = pending.pop()
        if index in needed:
            continue
        needed.add(index)
        if base_stage[index] is not None:
            pending.append(base_stage[index])
        for instruction in buildfile.stages[index].instructions:
            for value, inst in _from_values(instruction):
                ref = stage_reference(value, stage_names, stage_count=len(buildfile.stages),
                                      span=inst.span, source_line=source_line_of(inst))
                if ref is not None:
                    pending.append(ref)
    return needed


def _stage_edges(stage_plans: list[StagePlan]) -> list[tuple[str, str]]:
    edges = []
    last = {plan.index: plan.steps[-1].id for plan in stage_plans}
    for stage_plan in stage_plans:
        for step in stage_plan.steps:
            sources = []
            if step.kind == "from" and step.base_stage is not None:
                sources.append(step.base_stage)
            if step.copy is not None and step.copy.from_stage is not None:
                sources.append(step.copy.from_stage)
            if step.run is not None:
                sources.extend(m.from_stage for m in step.run.mounts if m.from_stage is not None)
            for source in sources:
                if source not in last:
                    raise PalletError(f"stage {source} is not part of this build",
                                      span=step.span, source_line=step.source_line)
                edges.append((last[source], step.id))
    return edges
