"""BuildKit's "[internal] load build context" for a directory context.

BuildKit sends the context's files to the daemon before the steps that copy them run, and
shows it as a step of its own: `transferring context: 313.12MB 2.1s` counting up on a
terminal, then `... done`. pallet reads the context in place, so what it "transfers" is what
it must read: the files the build's COPY/ADD steps select whose content the stat cache does
not know yet (unchanged files cost a stat, as BuildKit's incremental sync sends only what
changed). This pass gathers those steps' sources before the stages run and leaves them in
StageRunner.gathered, where the steps take them (nothing is walked or read twice).

    load_context(runner, plan, progress) -> None
"""

from __future__ import annotations

import time

from pallet.base.errors import PalletError
from pallet.base.files import make_temp_dir, remove_tree
from pallet.builder.copyinputs import gather_trees, reads_only_context
from pallet.builder.progress import transfer_size

STEP_ID = "internal-context"


def load_context(runner, plan, progress) -> None:
    if runner.context is None:
        return
    steps = [step for stage in plan.stages for step in stage.steps[1:]
             if reads_only_context(step) and step.id not in runner.gathered]
    if not steps:
        return
    cache = runner.context.stat_cache
    first = cache.bytes_read
    started = time.monotonic()

    def text() -> str:
        return (f"transferring context: {transfer_size(cache.bytes_read - first)} "
                f"{time.monotonic() - started:.1f}s")

    progress.start(STEP_ID, "[internal] load build context")
    progress.live_status(STEP_ID, text)
    scratch = make_temp_dir(runner.store.tmp, "context-")
    try:
        for step in steps:
            try:
                runner.gathered[step.id] = (gather_trees(runner, step, scratch), None)
            except PalletError:
                continue      # the step reports it where it runs, in its place in the output
    finally:
        remove_tree(scratch, ignore_errors=True)
    progress.status(STEP_ID, f"{text()} done")
    progress.done(STEP_ID)
