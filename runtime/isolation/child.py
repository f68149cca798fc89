"""The container's PID 1 before exec: the forked child of core.start_container joins its
cgroup, unshares its namespaces, runs CHILD_STEPS in order (mounts, pivot_root, limits, user,
capabilities, seccomp), then execs the command (or pallet's init). What it tells the parent
goes as JSON lines on the report pipe; a failure names the step that failed.

    child_main(ctx, cgroup, report_fd, stdio, lifeline)   never returns
    CHILD_STEPS                                            the set-up, in order
Everything it calls is imported here, before the fork: after pivot_root nothing can be.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import termios
from collections.abc import Callable

from pallet.runtime.isolation import linux, process, rootfs
from pallet.runtime.isolation.cgroups import Cgroup
from pallet.runtime.isolation.init import run_init

CHILD_STEPS: tuple[Callable[[rootfs.ChildContext], None], ...] = (
    rootfs.make_mounts_private,
    rootfs.mount_overlay_rootfs,
    rootfs.mount_proc,
    rootfs.mount_dev,
    rootfs.mount_dev_pts,
    rootfs.mount_dev_shm,
    rootfs.mount_sys,
    rootfs.mount_sys_fs_cgroup,
    rootfs.bind_etc_files,
    rootfs.mount_declared,
    process.set_hostname,
    process.bring_up_loopback,
    rootfs.pivot_into_rootfs,
    rootfs.mask_paths,
    rootfs.readonly_paths,
    process.set_rlimits,
    process.resolve_user,
    process.make_workdir,
    process.allocate_console,
    rootfs.readonly_rootfs,
    process.drop_capabilities,
    process.set_no_new_privs,
    process.load_seccomp_before_user,
    process.switch_user,
    process.enter_workdir,
    process.load_seccomp_last,
)


def child_main(ctx: rootfs.ChildContext, cgroup: Cgroup, report_fd: int,
                stdio: tuple[int | None, int | None, int | None], lifeline: int) -> None:
    """The container's PID 1 before exec. Never returns; never runs the caller's cleanup."""
    code, message = 125, "container set-up failed"
    step_name = "start"
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        poller = select.poll()  # not select(): descriptor numbers may pass FD_SETSIZE
        poller.register(lifeline, select.POLLIN)
        if poller.poll(0):  # readable or hung up = EOF: our parent is gone
            os._exit(125)
        os.close(lifeline)
        linux.reset_signal_dispositions()
        os.setsid()
        for target, fd in enumerate(stdio):
            if fd is not None and fd != target:
                os.dup2(fd, target)
        if ctx.spec.tty and ctx.console_fd is None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the caller passed a pty slave as stdio
        os.umask(0o022)
        step_name = "join cgroup"
        cgroup.join_self()
        step_name = "unshare namespaces"
        flags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC | linux.CLONE_NEWCGROUP
        if ctx.spec.net is not None and ctx.spec.net.netns:
            step_name = "join network namespace"
            process.join_network_namespace(ctx)
        elif ctx.spec.network == "none":
            flags |= linux.CLONE_NEWNET
        linux.unshare(flags)
        for step in CHILD_STEPS:
            step_name = step.__name__.replace("_", " ")
            step(ctx)
            if step is rootfs.pivot_into_rootfs:
                process.refuse_imports()   # the search path now names the image's files
        write_report(report_fd, {"created": ctx.created, "copied_up": ctx.copied_up})
        if ctx.spec.init:
            step_name = "init"
            run_init(ctx, report_fd)  # never returns
        step_name = "exec"
        process.exec_command(ctx, report_fd)
    except process.ChildFailure as failure:
        code, message = failure.code, failure.message
        if failure.runtime:
            message = f"failed to start container process: {message}"
    except BaseException as error:  # noqa: BLE001 - every failure must reach the parent
        message = f"failed to start container process: {step_name}: {error}"
    try:
        write_report(report_fd, {"created": ctx.created, "copied_up": ctx.copied_up,
                           "error": message, "code": code})
    finally:
        os._exit(code)


def write_report(fd: int, record: dict) -> None:
    os.write(fd, json.dumps(record).encode() + b"\n")
