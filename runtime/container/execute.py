"""`exec`: start another process inside a running container's namespaces and cgroup.

    exec_in_container(pid, spec, cgroup_name, stdin=, stdout=, stderr=) -> RunningExec

spec is a ContainerSpec carrying argv/env/cwd/user and the container's capability settings
(rootfs fields are unused). The new process joins the cgroup, then the cgroup, IPC, UTS, network
and mount namespaces of the container's PID 1 (the PID namespace via the same unshare-less trick
as isolation: setns for our next child only), chroots into PID 1's root, and runs the same
user/capability/exec steps as the container's first process.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass

from pallet.runtime.isolation import linux, process, seccomp
from pallet.runtime.isolation.cgroups import Cgroup
from pallet.runtime.isolation.rootfs import ChildContext
from pallet.runtime.isolation.spec import ContainerSpec, ExitStatus, StartError

NAMESPACES = (("cgroup", linux.CLONE_NEWCGROUP), ("ipc", linux.CLONE_NEWIPC),
              ("uts", linux.CLONE_NEWUTS), ("net", linux.CLONE_NEWNET), ("mnt", linux.CLONE_NEWNS))

# No make_workdir: docker exec -w does not create the directory (run -w does).
EXEC_STEPS = (process.resolve_user, process.allocate_console,
              process.drop_capabilities, process.set_no_new_privs,
              process.load_seccomp_before_user, process.switch_user, process.enter_workdir,
              process.load_seccomp_last)


@dataclass
class RunningExec:
    """A started exec process: its PID, its exit once waited for, its console (-t)."""

    pid: int
    status: ExitStatus | None = None
    console: int | None = None  # -t: pty master from the container's devpts (caller closes)

    def wait(self) -> ExitStatus:
        if self.status is None:
            _, wait_status = os.waitpid(self.pid, 0)
            self.status = ExitStatus.from_wait_status(wait_status)
        return self.status


def exec_spec(record, command, *, env=(), user: str | None = None, workdir: str | None = None,
              tty: bool = False, privileged: bool = False) -> tuple[ContainerSpec, ContainerSpec]:
    """(the exec'd process's spec, the container's own): the container's with Docker's exec
    overrides (TERM for a TTY, then the given environment; the container's user and workdir
    unless given). The container's spec goes to exec_in_container as container_spec."""
    from dataclasses import replace
    from pallet.runtime.container.config import merge_env, spec_from_config
    base = spec_from_config(record.config, record.directory)
    exec_env = merge_env(list(base.env), ["TERM=xterm"] if tty else [])
    return replace(base, argv=tuple(command), env=tuple(merge_env(exec_env, list(env))),
                   user=user if user is not None else base.user, cwd=workdir or base.cwd,
                   tty=tty, privileged=privileged or base.privileged), base


def exec_in_container(container_pid: int, spec: ContainerSpec, cgroup_name: str, *,
                      stdin: int | None = None, stdout: int | None = None,
                      stderr: int | None = None, detach: bool = False,
                      container_spec: ContainerSpec | None = None) -> RunningExec:
    """container_spec is the container's own spec: its seccomp filter applies to the new
    process, resolved against the container's capabilities, as Docker's exec keeps the
    container's filter (`exec --privileged` widens the capabilities, not the filter)."""
    try:
        filter_program = seccomp.program_for(container_spec or spec)
    except seccomp.ProfileError as error:
        raise StartError(error.message, exit_code=126) from error
    fds = {name: os.open(f"/proc/{container_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
           for name, _ in NAMESPACES}
    pid_ns = os.open(f"/proc/{container_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    root_fd = os.open(f"/proc/{container_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    cgroup = Cgroup.attach(cgroup_name)
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    console_parent = console_child = None
    if spec.tty:
        import socket
        console_parent, console_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = -1
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        linux.setns(pid_ns, linux.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            _child(spec, cgroup, fds, root_fd, write_fd,
                   (stdin if stdin is not None else null, stdout, stderr), detach,
                   console_child.fileno() if console_child is not None else None,
                   filter_program)
    finally:
        if pid != 0:
            linux.setns(own_pid_ns, linux.CLONE_NEWPID)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            for fd in (*fds.values(), pid_ns, root_fd, own_pid_ns, write_fd, null):
                os.close(fd)
            if console_child is not None:
                console_child.close()
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    running = RunningExec(pid)
    if console_parent is not None:
        with console_parent:
            import socket
            _, received, _, _ = socket.recv_fds(console_parent, 16, 1)
        running.console = received[0] if received else None
    if chunks:
        message = json.loads(b"".join(chunks).splitlines()[-1])
        if "error" in message:
            running.wait()
            raise StartError(message["error"], exit_code=message["code"])
        running.pid = message.get("pid", pid)
    return running


def _child(spec, cgroup, fds, root_fd, report_fd, stdio, detach, console_fd,
           filter_program) -> None:
    code, message = 126, "exec failed"
    try:
        linux.reset_signal_dispositions()
        for target, fd in enumerate(stdio):
            if fd is not None and fd != target:
                os.dup2(fd, target)
        if spec.tty:
            os.setsid()  # allocate_console makes the new pty our controlling terminal
        cgroup.join_self()
        for name, flag in NAMESPACES:
            linux.setns(fds[name], flag)
        process.refuse_imports()   # the container's mounts: the search path is the image's
        os.fchdir(root_fd)
        os.chroot(".")
        os.umask(0o022)
        ctx = ChildContext(spec=spec, rootfs=None, etc_dir=None, empty_lower=None,  # type: ignore[arg-type]
                           console_fd=console_fd, bind_console=False, seccomp=filter_program)
        for step in EXEC_STEPS:
            step(ctx)
        if detach and os.fork() != 0:
            os._exit(0)  # the exec'd process is re-parented to the container's PID 1
        process.exec_command(ctx, report_fd)
    except process.ChildFailure as failure:
        # docker exec (engine 20.10, the one tests compare with) reports every start failure,
        # not-found included, as 126; a daemon-side failure (an unknown user) without runc's
        # wording around it.
        message = failure.message
        if not failure.runtime:
            os.write(report_fd, json.dumps({"error": message, "code": code}).encode() + b"\n")
            os._exit(code)
    except BaseException as error:  # noqa: BLE001 - every failure must reach the caller
        message = str(error)
    try:
        os.write(report_fd, json.dumps({"error": f"OCI runtime exec failed: exec failed: "
                                                 f"unable to start container process: {message}"
                                                 ": unknown",
                                        "code": code}).encode() + b"\n")
    finally:
        os._exit(code)
