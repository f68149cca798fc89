"""The isolation core: run one process tree in fresh namespaces over an overlayfs root.

Public API (the builder runs every RUN step through it; keep it stable):

    from pallet.runtime.isolation.core import ContainerSpec, Mount, ExitStatus, run_container
    status = run_container(spec, stdin=None, stdout=fd_or_callable, stderr=fd_or_callable)
    # -> ExitStatus(code: int, signal: int | None, oom_killed: bool)

    running = start_container(spec, stdin=fd, stdout=fd, stderr=fd)   # returns once exec'd
    running.pid; running.kill(signal); status = running.wait(); running.cleanup()

stdout/stderr may be a file descriptor, a callable receiving bytes chunks, or None (inherit
ours). stdin may be a descriptor or None (/dev/null). With spec.tty the container allocates
its pty from its own devpts (runc's console socket): run_container pumps it to stdout, and
start_container hands the master to the caller as running.console. Start failures raise
StartError (a PalletError whose exit_code is Docker's: 125 set-up, 126 cannot execute, 127
not found). Safe to call from several threads at once.
After run_container returns or raises (even on KeyboardInterrupt) nothing is left: no mount
(every mount lives in the container's private mount namespace), no cgroup directory, no
process, and no mount-point file or directory in upper_dir that the image did not have.
If the caller is SIGKILLed, PDEATHSIG (armed before anything else; a lifeline pipe covers the
instant before) kills the container, and the next start_container sweeps the dead caller's
cgroup and scratch dir.

Set-up order (docs/architecture.md), parent side then child side:
  parent: cgroup -> scratch dir (rootfs mount point, /etc files) -> fork into a new PID ns
  child:  join cgroup -> uts/ipc/mount/net/cgroup namespaces (or join spec.net.netns) -> private
          propagation -> overlay
          rootfs -> /proc, /dev, /dev/pts, /dev/shm, /sys -> /etc bind mounts -> declared
          mounts -> hostname, lo -> pivot_root -> masked/readonly paths, read-only root ->
          rlimits, user lookup, workdir -> capability bounding set, no_new_privs -> seccomp
          (without no_new_privs) -> user -> workdir -> seccomp (with no_new_privs) -> exec
Each parent step registers its cleanup; child steps (child.py: CHILD_STEPS) are undone by
namespace teardown.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from pallet.base.fdio import pump_until_eof
from pallet.base.files import make_temp_dir, private_dir, remove_tree
from pallet.runtime.isolation import linux, rootfs, seccomp
from pallet.runtime.isolation.child import child_main  # up front: the child cannot import after pivot_root
from pallet.runtime.isolation.cgroups import Cgroup, Limits, sweep_stale
from pallet.runtime.isolation.etcfiles import write_etc_files
from pallet.runtime.isolation.spec import (ContainerSpec, ExitStatus, Mount, NetworkConfig,
                                           StartError, Ulimit)

__all__ = ["ContainerSpec", "Mount", "NetworkConfig", "Ulimit", "ExitStatus", "StartError",
           "RunningContainer", "run_container", "start_container"]

RUN_DIR = Path(os.environ.get("PALLET_RUN_DIR", "/run/pallet"))
BLOCKED_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
CGROUP_PREFIX = "pallet-run-"

Output = int | Callable[[bytes], object] | None

@dataclass
class RunningContainer:
    """A started container: its PID 1 (host PID), cgroup and what must be cleaned up."""

    pid: int
    spec: ContainerSpec
    cgroup: Cgroup
    scratch: Path
    created: list[str] = field(default_factory=list)
    copied_up: list[str] = field(default_factory=list)
    status: ExitStatus | None = None
    console: int | None = None  # -t: the pty master (the caller reads/writes and closes it)
    _cleaned: bool = False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal PID 1; SIGKILL to PID 1 takes the whole PID namespace down with it."""
        if self.status is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def poll(self) -> ExitStatus | None:
        if self.status is None:
            pid, wait_status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = ExitStatus.from_wait_status(
                    wait_status, oom_killed=self.cgroup.oom_killed())
        return self.status

    def wait(self) -> ExitStatus:
        if self.status is None:
            _, wait_status = os.waitpid(self.pid, 0)
            self.status = ExitStatus.from_wait_status(
                wait_status, oom_killed=self.cgroup.oom_killed())
        return self.status

    def cleanup(self) -> None:
        """Kill anything left, remove the cgroup, scratch dir and mount points. Idempotent."""
        if self._cleaned:
            return
        if self.status is None:
            self.kill(signal.SIGKILL)
            self.wait()
        self.cgroup.destroy()
        rootfs.remove_mountpoints(self.spec, self.created, self.copied_up)
        remove_tree(self.scratch, ignore_errors=True)
        self._cleaned = True


def run_container(spec: ContainerSpec, *, stdin: int | None = None, stdout: Output = None,
                  stderr: Output = None) -> ExitStatus:
    """Run spec's process to completion; see the module docstring for the guarantees."""
    pumps: dict[int, Callable[[bytes], object]] = {}
    child_fds: list[int] = []
    try:
        out_fd = _output_fd(stdout, pumps, child_fds)
        err_fd = _output_fd(stderr, pumps, child_fds)
        running = start_container(spec, stdin=stdin, stdout=out_fd, stderr=err_fd)
    except BaseException:
        for fd in list(pumps) + child_fds:
            os.close(fd)
        raise
    try:
        for fd in child_fds:
            os.close(fd)
        child_fds.clear()
        if running.console is not None:  # -t: all output arrives on the pty master
            pumps[running.console] = _console_sink(stdout)
        pump_until_eof(pumps)
        return running.wait()
    finally:
        for fd in pumps:
            os.close(fd)
        running.cleanup()


def _console_sink(target: Output) -> Callable[[bytes], object]:
    if callable(target):
        return target
    fd = 1 if target is None else target
    return lambda chunk: os.write(fd, chunk)


def _output_fd(target: Output, pumps: dict, child_fds: list[int]) -> int | None:
    if target is None or isinstance(target, int):
        return target
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    pumps[read_fd] = target
    child_fds.append(write_fd)
    return write_fd


def start_container(spec: ContainerSpec, *, stdin: int | None = None, stdout: int | None = None,
                    stderr: int | None = None) -> RunningContainer:
    """Start spec's process and return once it has exec'd (or raise StartError)."""
    try:  # compiled (or read from its cache) first: a bad profile leaves nothing to undo
        filter_program = seccomp.program_for(spec)
    except seccomp.ProfileError as error:
        raise StartError(error.message, exit_code=125) from error
    private_dir(RUN_DIR)   # 0700 whatever the umask, as Docker's /run/docker
    sweep_stale(CGROUP_PREFIX)
    _sweep_scratch()
    name = spec.cgroup_name or f"{CGROUP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    cgroup = Cgroup.create(name, Limits(memory=spec.memory, memory_swap=spec.memory_swap,
                                        cpus=spec.cpus, pids=spec.pids,
                                        restrict_devices=not spec.privileged))
    scratch = Path("/nonexistent")
    running: RunningContainer | None = None
    try:
        scratch = make_temp_dir(RUN_DIR, f"ctr-{os.getpid()}-")
        ctx = rootfs.ChildContext(spec=spec, rootfs=scratch / "rootfs",
                                  etc_dir=spec.etc_dir or scratch / "etc",
                                  empty_lower=scratch / "empty", seccomp=filter_program)
        ctx.rootfs.mkdir()
        ctx.empty_lower.mkdir()
        if spec.etc_dir is None:
            ctx.etc_dir.mkdir()
            write_etc_files(spec, ctx.etc_dir)
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        # The lifeline's write end lives only in this process: the child sees EOF on it if we
        # died before its PDEATHSIG was armed (the one window PDEATHSIG cannot cover).
        lifeline_read, lifeline_write = os.pipe2(os.O_CLOEXEC)
        console_parent = console_child = None
        if spec.tty:
            import socket
            console_parent, console_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            ctx.console_fd = console_child.fileno()
        stdio = (_stdin_fd(stdin), stdout, stderr)
        # An interrupt (KeyboardInterrupt from a handler) must not land between fork and
        # recording the PID, or the child would be lost: signals wait until `running` exists.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED_SIGNALS)
        pid = -1
        try:
            try:
                pid = _fork_into_new_pid_namespace()
                if pid == 0:
                    os.close(lifeline_write)
                    child_main(ctx, cgroup, write_fd, stdio, lifeline_read)  # never returns
                running = RunningContainer(pid=pid, spec=spec, cgroup=cgroup, scratch=scratch)
            finally:
                os.close(write_fd)
                os.close(lifeline_read)
                if console_child is not None:
                    console_child.close()
                if stdin is None and stdio[0] is not None:
                    os.close(stdio[0])
            try:
                report = _read_report(read_fd)
            finally:
                os.close(lifeline_write)
            running.created = report.get("created", [])
            running.copied_up = report.get("copied_up", [])
            if console_parent is not None:
                with console_parent:
                    import socket
                    _, fds, _, _ = socket.recv_fds(console_parent, 16, 1)
                running.console = fds[0] if fds else None
        finally:
            # Signals wait until the PID is recorded and set-up has finished (exec'd or failed):
            # an interrupt then lands where the except clause below can clean everything up.
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if "error" in report:
            running.wait()
            running.cleanup()
            raise StartError(report["error"], exit_code=report.get("code", 125))
        return running
    except BaseException:
        if running is not None:
            running.cleanup()
        else:
            cgroup.destroy()
            remove_tree(scratch, ignore_errors=True)
        raise


def _sweep_scratch() -> None:
    """Remove scratch dirs of callers that died without cleaning up (SIGKILL): named
    ctr-<owner pid>-..., they hold only empty mount points once the owner's containers died."""
    try:
        entries = os.listdir(RUN_DIR)
    except OSError:
        return
    for entry in entries:
        owner = entry.split("-")[1] if entry.startswith("ctr-") else ""
        if owner.isdigit() and not linux.pid_exists(int(owner)):
            remove_tree(RUN_DIR / entry, ignore_errors=True)


def _stdin_fd(stdin: int | None) -> int:
    return stdin if stdin is not None else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


def _read_report(read_fd: int) -> dict:
    """Read the child's JSON lines until EOF (EOF = exec succeeded or the child died)."""
    chunks = []
    try:
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    report: dict = {}
    for line in b"".join(chunks).splitlines():
        report.update(json.loads(line))
    return report


def _fork_into_new_pid_namespace() -> int:
    """Fork a child that is PID 1 of a new PID namespace; our own namespace is restored.

    unshare(CLONE_NEWPID) only changes where this thread's *next* child goes, so we unshare,
    fork once, and setns back to our own PID namespace. The caller blocks signals around this
    call until it has recorded the PID (see _signals_blocked).
    """
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        linux.unshare(linux.CLONE_NEWPID)
        pid = os.fork()
    finally:
        if pid != 0:
            linux.setns(own, linux.CLONE_NEWPID)
            os.close(own)
    return pid
