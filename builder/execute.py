"""Run the planned steps of one stage: cache lookup, execution, layer commit, records.

A stage's state after each step is a ``StageState``: its layers, the unpacked layer
directories (overlayfs lowerdirs, top-most first), the history so far and the cache key.
RUN goes through the runtime's isolation core; COPY/ADD and WORKDIR write their layer
directly (builder/steps_copy.py). A new layer's directory is packed into the store and then
*moved* into ``layers/<diffid>`` (it is already in overlay format), so the next step can use
it as a lowerdir without unpacking the blob again.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pallet.builder import cachekey
from pallet.builder.cache import CacheRecord, CacheRecords, LayerRef
from pallet.builder.defkeys import stage_reads
from pallet.builder.history import History
from pallet.builder.imageconfig import (add_history, created_time, history_entry,
                                        last_created)
from pallet.builder.steps import Step
from pallet.base.errors import PalletError


@dataclass(frozen=True)
class StageState:
    """A stage after a step: its layers, history and cache key (see the module docstring)."""

    layers: tuple  # pallet.runtime.image.layers.Layer, bottom first
    history: History
    key: str
    image_config: dict  # architecture/os/variant of the base
    store: Any = field(compare=False, repr=False)

    @cached_property
    def lowerdirs(self) -> tuple[Path, ...]:
        """The layers' directories, top-most first, unpacked only when a step first needs a
        filesystem: a build whose steps all hit (a fresh CI runner) unpacks nothing."""
        from pallet.runtime.image.layers import unpacked_layer_dir
        return tuple(unpacked_layer_dir(self.store, layer, layer.diff_id)
                     for layer in reversed(self.layers))


@dataclass(frozen=True)
class BuildOptions:
    """The options of one build that every step sees."""

    no_cache: bool
    no_cache_stages: frozenset[int]
    source_date_epoch: int | None
    network: str
    secrets: dict[str, bytes]
    memory: int | None = None
    cpus: float | None = None
    # Layers stay uncompressed in the local store, as in Docker's graph driver: packing
    # 300 MB with gzip costs seconds per rebuild; compression belongs to push/save time.
    compression: str = "none"
    entitlements: frozenset[str] = frozenset()  # granted with --allow: network.host, ...
    add_hosts: tuple[str, ...] = ()             # --add-host, for every RUN step's /etc/hosts


def check_entitlements(plan, granted: frozenset[str]) -> None:
    """BuildKit's rule, checked before anything runs (cached steps too): a RUN step of the
    build may leave the sandbox only with the entitlement the caller granted on the command
    line; a build file alone cannot ask for it."""
    for stage in plan.stages:
        for step in stage.steps:
            if step.run is None:
                continue
            for wanted, entitlement in ((step.run.network == "host", "network.host"),
                                        (step.run.security == "insecure", "security.insecure")):
                if wanted and entitlement not in granted:
                    raise PalletError(f"failed to load LLB: {entitlement} is not allowed",
                                      span=step.span, source_line=step.source_line,
                                      hint=f"if you trust this build file, grant it with "
                                           f"`pallet build --allow {entitlement}`")


class StepFailed(PalletError):
    """A step that ran and failed (exit code, output tail are in the message)."""


LARGE_LAYER = 1 << 20     # layers from 1 MiB up get their "writing layer" line in the log


class StageRunner:
    """Executes steps for the orchestrator; one instance per build (thread-safe per stage)."""

    def __init__(self, *, store, context, progress, options: BuildOptions, root: Path) -> None:
        self.store = store
        self.context = context
        self.progress = progress
        self.options = options
        self.root = root
        self.records = CacheRecords(store)
        self.states: dict[int, StageState] = {}
        self.stats = {"cached": 0, "executed": 0, "containers": 0}
        self._keys: list[tuple[int, str]] = []  # (stage, key) in execution order
        self.work_dirs: list[Path] = []  # swept again at the end, whatever interrupted a step
        # Set by the orchestrator when some step reads another stage (builder/defkeys.py):
        # step id -> definition key, the trees that pass read (step id -> (trees, digest)),
        # and how to build a stage on demand when a definition key's record went missing.
        self.definition_keys: dict[str, str | None] = {}
        self.gathered: dict[str, tuple] = {}
        self.ensure_stage = _no_stage_on_demand
        # Set by the orchestrator for a directory context: the pass that reads every step's
        # context sources, run once before the first of them (builder/contextload.py).
        self.load_context = None
        self.context_lock = threading.Lock()

    def sweep(self) -> None:
        """Remove every step work dir still present (an interrupt can land mid-cleanup)."""
        for work in self.work_dirs:
            if work.exists():
                try:
                    self.store.remove_tree(work)
                except OSError:
                    pass  # a concurrent unmount may still hold it; system check reports it

    def note_key(self, stage: int, key: str) -> None:
        """Remember a step key this build used (for --cache-to)."""
        self._keys.append((stage, key))

    def used_keys(self, stages: set[int] | None = None) -> list[str]:
        """Keys of every step (``stages`` None), or of the steps of the given stages."""
        return list(dict.fromkeys(key for stage, key in self._keys
                                  if stages is None or stage in stages))

    # -- FROM -----------------------------------------------------------------------------------
    def start_stage(self, step: Step) -> StageState:
        from pallet.runtime.image.images import resolve_image

        if step.base_stage is not None:
            return self.states[step.base_stage]
        if step.base_image is None:
            from pallet.base.platforms import host_arch  # FROM scratch only: cached builds skip it
            return StageState(layers=(), history=History(), store=self.store,
                              key=cachekey.scratch_base_key(),
                              image_config={"architecture": host_arch(), "os": "linux"})
        image = resolve_image(self.store, step.base_image)
        return StageState(layers=tuple(image.layer_objects(self.store)), store=self.store,
                          history=History.of(image.config.get("history") or ()),
                          key=cachekey.image_base_key(image.id),
                          image_config={k: image.config[k] for k in
                                        ("architecture", "os", "variant") if k in image.config})

    # -- one step -------------------------------------------------------------------------------
    def run_step(self, step: Step, state: StageState) -> StageState:
        if step.kind == "meta":
            self.progress.instant(step.id, step.title)  # every step gets its line
            key = cachekey.step_key(parent=state.key, step=step.key_desc, inputs=cachekey.NO_INPUTS)
            history = state.history
            if step.history is not None:
                # a metadata step takes the time of the step before it, so a fully cached
                # rebuild reproduces the same config and image ID (as BuildKit's does)
                history = history.add(history_entry(step.history,
                                                    created=last_created(state, self.options)))
            return replace(state, key=key, history=history)
        use_cache = not self.options.no_cache and step.stage not in self.options.no_cache_stages
        reads = stage_reads(step)
        definition = self.definition_keys.get(step.id) if reads else None
        if reads and any(index not in self.states for index in reads):
            # The content of a stage it reads is not at hand: the definition key first, and
            # the stage is built only when that misses.
            if use_cache and definition is not None:
                hit = self._from_cache(step, state, definition, by_definition=True)
                if hit is not None:
                    self.note_key(step.stage, definition)
                    return hit
            for index in reads:
                self.ensure_stage(index)
        if step.kind == "copy":
            from pallet.builder.copyinputs import prepare_copy
            prepared = prepare_copy(self, step, state)
            inputs = prepared.digest
        else:
            prepared = None
            inputs = cachekey.NO_INPUTS
            if step.kind == "run" and any(m.type == "bind" for m in step.run.mounts):
                from pallet.builder.copyinputs import bind_mounts_digest
                inputs = bind_mounts_digest(self, step)
        key = cachekey.step_key(parent=state.key, inputs=inputs,
                                step=cachekey.run_desc(step.key_desc, self.options.add_hosts))
        if definition == key:
            definition = None   # one key, one record
        if use_cache:
            hit = self._from_cache(step, state, key, definition=definition)
            if hit is not None:
                if prepared is not None:
                    prepared.cleanup()
                return hit
        self.progress.start(step.id, step.title)
        # Registered before it exists: a signal that lands during the mkdir syscall is raised
        # right after it, and the sweep must still know the directory.
        work = self.store.tmp / f"build-{os.urandom(8).hex()}"   # no `secrets` import: ~2 ms
        self.work_dirs.append(work)
        work.mkdir(mode=0o700)
        try:
            layer_dir = work / "layer"
            layer_dir.mkdir()
            from pallet.builder import steps_exec
            reuse = chunked = None
            if step.kind == "copy":
                chunked = steps_exec.execute_chunked_copy(self, step, state, prepared, work,
                                                          use_cache=use_cache)
            if chunked is not None:
                layers, index = chunked
                result = self._record(step, state, key, layers, definition)
                index.save()
            else:
                if step.kind == "run":
                    steps_exec.execute_run(self, step, state, work, layer_dir)
                elif step.kind == "copy":
                    reuse = steps_exec.execute_copy(self, step, state, prepared, layer_dir)
                elif step.kind == "workdir":
                    steps_exec.execute_workdir(self, step, state, layer_dir)
                else:
                    raise PalletError(f"internal: unknown step kind {step.kind}")
                result = self._commit(step, state, key, layer_dir, definition)
            if reuse is not None:
                top = result.layers[-1].diff_id if len(result.layers) > len(state.layers) \
                    else None
                reuse.save(top)
        except BaseException as error:
            reason = "interrupted" if isinstance(error, KeyboardInterrupt) else \
                getattr(error, "message", str(error))
            self.progress.error(step.id, reason.splitlines()[0] if reason else type(error).__name__)
            raise
        finally:
            if prepared is not None:
                prepared.cleanup()
            self.store.remove_tree(work)
        self.progress.done(step.id)
        self.stats["executed"] += 1
        return result

    def _from_cache(self, step: Step, state: StageState, key: str, *,
                    by_definition: bool = False, definition: str | None = None
                    ) -> StageState | None:
        """The state after a recorded step. ``by_definition``: key is a definition key, and the
        record names the content key the chain goes on with. ``definition``: a definition key
        to record beside this content key's record if it is not there yet (a cache made
        before definition keys, or the stage it reads was built in this run)."""
        from pallet.runtime.image.layers import Layer

        record = self.records.get(key)
        if record is None:
            return None
        if by_definition:
            key = record.extra.get("content_key")
            if not _is_key(key):
                return None
        elif definition is not None:
            if self.records.get(definition) is None and \
                    all(self.store.has_blob(ref.digest) for ref in record.layers()):
                self._put_alias(record, definition)
            self.note_key(step.stage, definition)
        refs = record.layers()
        if not all(self.store.has_blob(ref.digest) for ref in refs):
            return None  # a layer was pruned: rebuild the step (and rewrite the record)
        layers = state.layers + tuple(Layer(digest=ref.digest, size=ref.size,
                                            media_type=ref.media_type, diff_id=ref.diff_id)
                                      for ref in refs)
        self.progress.cached(step.id, step.title)
        self.stats["cached"] += 1
        entry = history_entry(record.history,
                              created=record.history.get("created") or created_time(self.options))
        return replace(state, layers=layers, history=add_history(state.history, entry, len(refs)),
                       key=key)

    def _put_alias(self, record: CacheRecord, definition: str) -> None:
        """The record again under the step's definition key, naming its content key."""
        self.records.put(CacheRecord(key=definition, layer=record.layer, below=record.below,
                                     config=record.config, history=record.history,
                                     extra={**record.extra, "content_key": record.key}))

    def _pack(self, step: Step, layer_dir: Path):
        """pack_layer, shown as BuildKit shows a layer it writes: "writing layer 45.20MB 1.2s"
        counting up on a terminal while the tar is made, and, for a layer of LARGE_LAYER bytes
        or more, "writing layer sha256:... 313.12MB 2.1s done" (the blob's size) once stored."""
        import time

        from pallet.builder.progress import transfer_size
        from pallet.runtime.image.layers import pack_layer
        started = time.monotonic()
        sinks: list = []
        self.progress.live_status(step.id, lambda: (
            f"writing layer {transfer_size(sinks[0].tell() if sinks else 0)} "
            f"{time.monotonic() - started:.1f}s"))
        try:
            layer = pack_layer(self.store, layer_dir, compression=self.options.compression,
                               source_date_epoch=self.options.source_date_epoch,
                               watch=sinks.append)
        finally:
            self.progress.live_status(step.id, None)
        if layer.uncompressed_size >= LARGE_LAYER:
            self.progress.status(step.id, f"writing layer {layer.digest} "
                                          f"{transfer_size(layer.size)} "
                                          f"{time.monotonic() - started:.1f}s done")
        return layer

    def _commit(self, step: Step, state: StageState, key: str, layer_dir: Path,
                definition: str | None = None) -> StageState:
        layer = self.store_layer_dir(step, layer_dir) if any(os.scandir(layer_dir)) else None
        return self._record(step, state, key, [layer] if layer is not None else [], definition)

    def store_layer_dir(self, step: Step, layer_dir: Path):
        """Pack layer_dir and move it into the store as the layer's unpacked directory; None
        for an empty diff."""
        layer = self._pack(step, layer_dir)
        if layer.empty:
            return None
        target = self.store.layers / layer.diff_id.split(":", 1)[1]
        if not target.exists():
            try:
                os.rename(layer_dir, target)
            except OSError:
                if not target.is_dir():
                    raise
        return layer

    def _record(self, step: Step, state: StageState, key: str, layers: list,
                definition: str | None = None) -> StageState:
        """The step's record (its layers, bottom first) and the state after it."""
        created = created_time(self.options)
        history = history_entry(step.history or {"created_by": step.title}, created=created,
                                empty_layer=not layers)
        refs = tuple(LayerRef(digest=layer.digest, diff_id=layer.diff_id, size=layer.size,
                              media_type=layer.media_type) for layer in layers)
        record = CacheRecord(key=key, layer=refs[-1] if refs else None, below=refs[:-1],
                             config=step.config, history=history)
        self.records.put(record)
        if definition is not None:
            self._put_alias(record, definition)
            self.note_key(step.stage, definition)
        return replace(state, layers=state.layers + tuple(layers),
                       history=add_history(state.history, history, len(layers)), key=key)


def _is_key(value) -> bool:
    return isinstance(value, str) and len(value) == 32 and not value.strip("0123456789abcdef")


def _no_stage_on_demand(index: int) -> None:
    raise PalletError(f"internal: stage {index} is needed but was not built")
