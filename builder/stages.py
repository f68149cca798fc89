"""The stage scheduler: every stage the target needs runs once the stages it reads are done
(graphlib's TopologicalSorter over BuildPlan.stage_dependencies()), a chain on the calling
thread, independent stages on two threads; a stage only read by steps whose definition keys
hit is not run at all (builder/defkeys.py).

    run_stages(runner, built_plan)    runner: execute.StageRunner; fills runner.states
    run_stage(runner, stage, ensure)  one stage's steps, in order
"""

from __future__ import annotations


def run_stages(runner, built_plan) -> None:
    """Run every needed stage once the stages it needs are done; independent ones in
    parallel. A stage only read by steps whose definition keys hit is not run at all
    (builder/defkeys.py); it is built on demand if such a record vanishes meanwhile."""
    import threading
    from graphlib import TopologicalSorter

    stages = {s.index: s for s in built_plan.stages}
    needed = set(stages)
    options = runner.options
    if not options.no_cache:
        from pallet.builder import defkeys
        if defkeys.reads_other_stages(built_plan):
            scratch = runner.store.temp_dir("defkeys-")
            runner.work_dirs.append(scratch)
            runner.definition_keys = defkeys.definition_keys(runner, built_plan, scratch)
            needed = defkeys.needed_stages(runner, built_plan, runner.definition_keys)
            for index in sorted(set(stages) - needed):
                # what mode=max exports of a stage not run: its records, where they exist
                for step in stages[index].steps[1:]:
                    if runner.definition_keys.get(step.id):
                        runner.note_key(index, runner.definition_keys[step.id])
    locks = {index: threading.Lock() for index in stages}

    def ensure(index: int) -> None:
        with locks[index]:
            if index not in runner.states:
                run_stage(runner, stages[index], ensure)

    runner.ensure_stage = ensure
    dependencies = {index: needs & needed
                    for index, needs in built_plan.stage_dependencies().items()
                    if index in needed}
    order = TopologicalSorter(dependencies)
    order.prepare()          # plan() already refused circles, with the instructions named
    waiting: list[int] = []
    # The pool (and concurrent.futures, ~6 ms of imports) only when two stages are ready at
    # once: a chain of stages, the common case, runs on this thread with no pool at all.
    pool = None
    running: dict = {}
    try:
        while order.is_active():
            waiting += sorted(order.get_ready())
            if not running and len(waiting) == 1:
                # one stage at a time: run it here, so Ctrl-C reaches the container code
                index = waiting.pop()
                ensure(index)
                order.done(index)
                continue
            if waiting:
                if pool is None:
                    from concurrent.futures import ThreadPoolExecutor
                    pool = ThreadPoolExecutor(max_workers=2)
                for index in waiting:
                    running[pool.submit(ensure, index)] = index
                waiting = []
            from concurrent.futures import FIRST_COMPLETED, wait
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                index = running.pop(future)
                future.result()  # re-raises the stage's error; the pool drains the others
                order.done(index)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def run_stage(runner, stage, ensure) -> None:
    steps = list(stage.steps)
    if steps[0].base_stage is not None:
        ensure(steps[0].base_stage)   # already built, unless built on demand
    if steps[0].base_image is not None:
        runner.progress.start(steps[0].id, steps[0].title)
        state = runner.start_stage(steps[0])
        runner.progress.done(steps[0].id)
    else:
        state = runner.start_stage(steps[0])
    for step in steps[1:]:
        state = runner.run_step(step, state)
        runner.note_key(stage.index, state.key)
    runner.states[stage.index] = state
