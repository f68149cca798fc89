"""The planned build: frozen step records that the planner emits and the executors consume.

Everything here is already expanded (variables substituted with the stage's ARG/ENV scope)
and carries the image config *after* the step, so executors only touch filesystems.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pallet.base.errors import Span


@dataclass(frozen=True)
class MountSpec:
    """One ``RUN --mount`` after expansion. ``from_stage`` names a stage by index; otherwise
    ``from_image`` an image; neither means the build context (bind) or nothing."""

    type: str  # bind | cache | tmpfs | secret | ssh
    target: str
    source: str = ""
    from_stage: int | None = None
    from_image: str | None = None
    readonly: bool = True
    id: str = ""
    sharing: str = "shared"
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    required: bool = False
    env: str | None = None


@dataclass(frozen=True)
class InlineFile:
    """A file the step provides itself (RUN's shebang heredoc script, COPY <<EOF bodies)."""

    name: str
    data: str
    mode: int


@dataclass(frozen=True)
class RunSpec:
    """A RUN step as the isolation core will run it."""

    argv: tuple[str, ...]
    env: tuple[str, ...]          # the process environment (ENV, ARGs in scope, proxy args)
    cwd: str
    user: str
    mounts: tuple[MountSpec, ...]
    network: str                  # default | none | host
    security: str                 # sandbox | insecure
    script: InlineFile | None = None  # mounted read-only at /dev/pipes/<name>


@dataclass(frozen=True)
class CopySpec:
    """A COPY or ADD step: its sources, destination and flags."""

    is_add: bool
    sources: tuple[str, ...]
    inline: tuple[InlineFile, ...]
    dest: str
    workdir: str
    from_stage: int | None
    from_image: str | None
    chown: str | None
    chmod: str | None
    link: bool
    parents: bool
    exclude: tuple[str, ...]
    checksum: str | None
    unpack: bool | None


@dataclass(frozen=True)
class Step:
    """One node of the build graph."""

    id: str                       # "<stage>.<n>", n = 0 for the FROM
    stage: int
    kind: str                     # from | run | copy | workdir | meta
    title: str                    # progress title, e.g. "[build 2/4] RUN make"
    span: Span | None
    source_line: str | None
    # The container config after this step; None for a metadata step that is not the last
    # of its stage (the planner copies the config only where an executor needs it).
    config: dict[str, Any] | None
    history: dict[str, Any] | None  # {"created_by", "empty_layer", "comment"} or None
    key_desc: dict[str, Any]      # the canonical step (cachekey.step_key's ``step``)
    run: RunSpec | None = None
    copy: CopySpec | None = None
    workdir: str | None = None    # WORKDIR to create (kind "workdir")
    user: str = ""                # USER in effect (owner of a created WORKDIR)
    base_image: str | None = None  # kind "from": the image reference
    base_stage: int | None = None  # kind "from": the stage it starts from
    author: str | None = None     # MAINTAINER in effect


@dataclass(frozen=True)
class StagePlan:
    """One stage of the plan: its steps in order."""

    index: int
    name: str | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class BuildPlan:
    """The stages to build (only those the target needs), in file order, and the graph's
    edges (step id -> step id: parent layer, ``COPY --from``, ``--mount from=``)."""

    stages: tuple[StagePlan, ...]
    target: int
    edges: tuple[tuple[str, str], ...]

    def steps(self) -> dict[str, Step]:
        return {step.id: step for stage in self.stages for step in stage.steps}

    def stage_dependencies(self) -> dict[int, set[int]]:
        """Each stage -> the stages it needs first (FROM an earlier stage, ``COPY --from``,
        ``--mount from=``): the order the build runs them in (graphlib.TopologicalSorter)."""
        stage_of = {step.id: stage.index for stage in self.stages for step in stage.steps}
        needs: dict[int, set[int]] = {stage.index: set() for stage in self.stages}
        for a, b in self.edges:
            if stage_of[a] != stage_of[b]:
                needs[stage_of[b]].add(stage_of[a])
        return needs
