"""Executors for RUN, COPY/ADD and WORKDIR steps (called by execute.StageRunner)."""

from __future__ import annotations

import fcntl
import os
import stat
from collections import deque
from pathlib import Path

import xxhash

# The COPY/bind-mount inputs (what a cached step still computes) live in copyinputs.py: a fully
# cached build imports that module and never this one.
from pallet.builder.copyinputs import PreparedCopy, bind_trees
from pallet.builder.layerview import LayeredView
from pallet.builder.sources import Ownership
from pallet.builder.steps import MountSpec, Step
from pallet.builder.steps_copy import LayerWriter, resolve_chown, write_copy
from pallet.base.errors import PalletError
from pallet.base.files import remove_tree

BUILD_HOSTNAME = "buildkitsandbox"
OUTPUT_TAIL = 12


def execute_copy(runner, step: Step, state, prepared: PreparedCopy, layer_dir: Path):
    """Write the COPY layer; returns the CopyReuse index to save once the layer is committed
    (None for copies that do not read the context)."""
    spec = step.copy
    view = LayeredView([]) if spec.link else LayeredView(list(state.lowerdirs))
    reuse = None
    if runner.context is not None and spec.from_stage is None and spec.from_image is None:
        from pallet.builder.cachekey import canonical
        from pallet.builder.copyreuse import CopyReuse
        lineage = CopyReuse.lineage(context_dir=str(runner.context.directory),
                                    step_desc=canonical(step.key_desc))
        reuse = CopyReuse(root=runner.root, lineage=lineage, layers_dir=runner.store.layers)
    try:
        write_copy(layer_dir=layer_dir, view=view, trees=prepared.trees, dest=spec.dest,
                   workdir=spec.workdir, owner=prepared.owner, chmod=prepared.chmod,
                   wildcard=len(spec.sources) + len(spec.inline) > 1, span=step.span,
                   reuse=reuse)
    finally:
        if reuse is not None:
            reuse.close()
    return reuse


def execute_chunked_copy(runner, step: Step, state, prepared: PreparedCopy, work: Path, *,
                         use_cache: bool):
    """A large copy of a context directory as several layers (copychunks.py): returns the
    stored layers, bottom first, and the index to save once they are recorded; None when the
    copy stays one layer."""
    from pallet.builder import copychunks
    from pallet.builder.cachekey import canonical
    from pallet.builder.copyreuse import CopyReuse

    spec = step.copy
    if runner.context is None or spec.from_stage is not None or spec.from_image is not None \
            or len(spec.sources) != 1 or spec.inline:
        return None
    options = runner.options
    base = canonical([state.key, step.key_desc, prepared.owner.uid, prepared.owner.gid,
                      prepared.chmod, options.compression, options.source_date_epoch])
    chunks = copychunks.plan_chunks(prepared.trees, base=base.decode())
    if chunks is None:
        return None
    lineage = CopyReuse.lineage(context_dir=str(runner.context.directory),
                                step_desc=b"chunks\0" + canonical(step.key_desc))
    index = copychunks.ChunkIndex(root=runner.root, lineage=lineage)
    reuse = CopyReuse.of_layers(layers_dir=runner.store.layers, files=index.previous_files({chunk.key for chunk in chunks}))
    view = LayeredView([]) if spec.link else LayeredView(list(state.lowerdirs))
    layers = []
    try:
        for number, chunk in enumerate(chunks):
            layer = index.reusable(chunk.key, runner.store) if use_cache else None
            if layer is not None:
                index.add(chunk.key, layer)
                layers.append(layer)
                continue
            layer_dir = work / f"chunk-{number}"
            layer_dir.mkdir()
            reuse.written = {}
            write_copy(layer_dir=layer_dir, view=view, trees=[chunk.tree], dest=spec.dest,
                       workdir=spec.workdir, owner=prepared.owner, chmod=prepared.chmod,
                       wildcard=False, span=step.span, reuse=reuse)
            if not chunk.directories:
                copychunks.placeholder_directories(layer_dir)
            layer = runner.store_layer_dir(step, layer_dir)
            if layer is None:
                continue    # an empty layer (a copy of empty directories only)
            index.add(chunk.key, layer, reuse.written)
            layers.append(layer)
    finally:
        reuse.close()
    return layers, index


def execute_workdir(runner, step: Step, state, layer_dir: Path) -> None:
    view = LayeredView(list(state.lowerdirs))
    existing = view.lstat(view.resolve(step.workdir))
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        return  # nothing to create: an empty diff, recorded as an empty layer
    owner = resolve_chown(step.user, view, span=step.span) if step.user else Ownership(0, 0)
    with LayerWriter(layer_dir=layer_dir, view=view, owner=owner, chmod=None) as writer:
        writer.ensure_dir(step.workdir)


# -- RUN -----------------------------------------------------------------------------------------

def execute_run(runner, step: Step, state, work: Path, layer_dir: Path) -> None:
    from pallet.runtime.isolation.core import ContainerSpec, Mount, run_container

    spec = step.run
    env = list(spec.env)
    mounts: list = []
    locks: list[int] = []
    sandbox = net = None
    try:
        for index, mount in enumerate(spec.mounts):
            mounts += _container_mounts(runner, step, mount, work / f"mount-{index}", env, locks)
        if spec.script is not None:
            script = work / "script" / spec.script.name
            script.parent.mkdir()
            script.write_text(spec.script.data)
            os.chmod(script, spec.script.mode)
            mounts.append(Mount(type="bind", source=str(script),
                                target=f"/dev/pipes/{spec.script.name}", readonly=True))
        network = runner.options.network if spec.network == "default" else spec.network
        if network == "default":
            # BuildKit's sandbox: a namespace of the step's own on the default bridge, with
            # outbound access (the same code as `run`), gone with the step.
            from pallet.runtime.network.session import open_build_sandbox
            sandbox = open_build_sandbox(runner.root)
            network, net = "none", sandbox.config
        upper = layer_dir
        work_dir = work / "overlay-work"
        work_dir.mkdir()
        container = ContainerSpec(
            rootfs_lowerdirs=tuple(state.lowerdirs), upper_dir=upper, work_dir=work_dir,
            argv=spec.argv, env=tuple(env), cwd=spec.cwd, user=spec.user,
            hostname=BUILD_HOSTNAME, network=network, mounts=tuple(mounts),
            privileged=spec.security == "insecure", memory=runner.options.memory,
            cpus=runner.options.cpus, net=net, extra_hosts=_extra_hosts(runner),
            scratch_upper=True)
        tail: deque[bytes] = deque(maxlen=200)

        def sink(chunk: bytes) -> None:
            tail.append(chunk)
            runner.progress.output(step.id, chunk)

        runner.stats["containers"] += 1
        status = run_container(container, stdout=sink, stderr=sink)
    finally:
        if sandbox is not None:
            # The veths go on a thread (20-40 ms of RCU grace periods here) while the step's
            # layer is packed and recorded; they have unique names, the endpoint is released
            # in line, and the process's exit waits for the thread inside the kernel.
            sandbox.close(exiting=True)
        for fd in locks:
            os.close(fd)
        remove_tree(work / "overlay-work", ignore_errors=True)
    if status.code != 0:
        lines = b"".join(tail).decode("utf-8", "replace").splitlines()[-OUTPUT_TAIL:]
        shown = " ".join(spec.argv)
        detail = f"exit code: {status.code}" + (" (killed: out of memory)" if status.oom_killed else "")
        raise PalletError(
            f"process \"{shown}\" did not complete successfully: {detail}"
            + ("\n" + "\n".join(f"  {line}" for line in lines) if lines else ""),
            span=step.span, source_line=step.source_line, exit_code=1)


def _extra_hosts(runner) -> tuple[str, ...]:
    if not runner.options.add_hosts:
        return ()
    from pallet.runtime.network.networks import resolve_host_gateway
    return resolve_host_gateway(runner.root, runner.options.add_hosts)


def cache_mount_dir(root: Path, mount: MountSpec) -> Path:
    """The directory of a RUN --mount=type=cache: one per id (the planner prefixes the id with
    BUILDKIT_CACHE_MOUNT_NS when the build sets it, as BuildKit does) in this store root only.
    Created with the mode, uid and gid asked (BuildKit's defaults: 0755 root:root) whatever the
    umask, private (0700) until it is owned and moded, so it is never world-writable unless
    mode= asks for it; the parents are private to the store's owner."""
    from pallet.runtime.store.content import private_dir

    parent = private_dir(private_dir(root / "cache") / "mounts")
    directory = parent / xxhash.xxh3_128_hexdigest(mount.id.encode())
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        return directory
    os.chown(directory, mount.uid or 0, mount.gid or 0)
    os.chmod(directory, mount.mode if mount.mode is not None else 0o755)
    return directory


def _container_mounts(runner, step: Step, mount: MountSpec, scratch: Path, env: list[str],
                      locks: list[int]) -> list:
    from pallet.runtime.isolation.core import Mount
    scratch.mkdir()
    if mount.type == "tmpfs":
        options = (f"size={mount.size}",) if mount.size else ()
        return [Mount(type="tmpfs", target=mount.target, options=options)]
    if mount.type == "cache":
        directory = cache_mount_dir(runner.root, mount)
        if mount.sharing == "locked":
            fd = os.open(directory, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
            locks.append(fd)
        return [Mount(type="bind", source=str(directory), target=mount.target,
                      readonly=mount.readonly)]
    if mount.type == "secret":
        value = runner.options.secrets.get(mount.id)
        if value is None:
            if mount.required:
                raise PalletError(f"secret {mount.id} not found", span=step.span,
                                  source_line=step.source_line,
                                  hint=f"pass it with --secret id={mount.id},src=FILE")
            return []
        if mount.env:
            env.append(f"{mount.env}={value.decode('utf-8', 'replace')}")
        if not mount.target:
            return []
        path = scratch / "secret"
        path.write_bytes(value)
        os.chmod(path, mount.mode if mount.mode is not None else 0o400)
        os.chown(path, mount.uid or 0, mount.gid or 0)
        return [Mount(type="bind", source=str(path), target=mount.target, readonly=True)]
    if mount.type == "bind":
        source_dir = scratch / "src"
        trees = bind_trees(runner, step, mount)
        source_dir.mkdir()
        writer_view = LayeredView([])
        tree = trees[0]
        if tree.kind == "dir":
            write_copy(layer_dir=source_dir, view=writer_view, trees=[tree], dest="/",
                       workdir="/", owner=Ownership(None, None), chmod=None, wildcard=False)
            return [Mount(type="bind", source=str(source_dir), target=mount.target,
                          readonly=mount.readonly)]
        write_copy(layer_dir=source_dir, view=writer_view, trees=[tree], dest="/file",
                   workdir="/", owner=Ownership(None, None), chmod=None, wildcard=False)
        return [Mount(type="bind", source=str(source_dir / "file"), target=mount.target,
                      readonly=mount.readonly)]
    raise PalletError(f"RUN --mount=type={mount.type} is not supported", span=step.span,
                      source_line=step.source_line)
