"""Supervision of one container: start it, log its output, record its exit, restart it.

    supervise(store, id, attach=Attach(...)) -> ExitStatus   foreground: this process monitors
    start_detached(root, ref) -> record   forks a monitor, returns once the container runs

The same loop runs in the foreground (`pallet run` without -d, `start -a`: the CLI process is
the monitor and also copies output to the terminal) or in a detached monitor process forked
from the CLI (`run -d`, `start`), which outlives the CLI. The container is the monitor's child
with PDEATHSIG, so a killed monitor takes its container down and `ps` corrects the state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pallet.base.diskspace import is_no_space
from pallet.base.errors import PalletError
from pallet.base.units import ZERO_TIME, now_rfc3339
from pallet.runtime.container import state as cs
from pallet.runtime.container.config import spec_from_config
from pallet.runtime.container.lifecycle import get, refresh, remove_container
from pallet.runtime.container.networking import start_network
from pallet.runtime.isolation.core import StartError, start_container
from pallet.runtime.container.attach import AttachHub
from pallet.runtime.container.logs import LogWriter
from pallet.runtime.container.pump import pump
from pallet.runtime.isolation.spec import ExitStatus


@dataclass(frozen=True)
class Attach:
    """Where a foreground container's streams go (None = only into the log)."""

    stdin: int | None = None
    stdout: Callable[[bytes], object] | None = None
    stderr: Callable[[bytes], object] | None = None


def supervise(store: cs.ContainerStore, container_id: str, *, attach: Attach | None = None,
              on_started: Callable[[int], None] | None = None, clients=(),
              exits_after: bool = False) -> ExitStatus:
    """Run the container until it exits for good (after restarts); returns the last status.
    clients: attach connections made before the start (see attach.py), served from byte one.
    exits_after: this process ends once the container does (the CLI's foreground run), so
    its network may finish going away while the process ends (Session.close(exiting=))."""
    attach = attach or Attach()
    (store.dir / container_id / "stopping").unlink(missing_ok=True)  # a fresh start clears it
    hub = AttachHub(store.dir / container_id, clients,
                    on_attach=lambda: _attach_event(store, container_id))
    try:
        status = _supervise(store, container_id, attach, on_started, hub, exits_after)
    except StartError:
        hub.close()
        # Docker removes an --rm container whose start failed, whoever asked for the start
        if store.load(container_id).config["HostConfig"]["AutoRemove"]:
            remove_container(store, container_id, force=True, volumes=True)
        raise
    hub.close()
    record = store.load(container_id)
    if record.config["HostConfig"]["AutoRemove"]:
        remove_container(store, container_id, force=True, volumes=True)
    return status


def _attach_event(store: cs.ContainerStore, container_id: str) -> None:
    from pallet.runtime.store.events import container_event
    try:
        container_event(store.root, store.load(container_id), "attach")
    except PalletError:
        pass   # removed meanwhile: nothing to report it against


def _supervise(store, container_id, attach, on_started, hub, exits_after) -> ExitStatus:
    restarts = 0
    while True:
        record = store.load(container_id)
        try:
            status = _run_once(store, record, attach, on_started, hub, exits_after)
        except OSError as error:
            # A full disk must not leave a --rm container behind: removing it frees space.
            if is_no_space(error) and record.config["HostConfig"]["AutoRemove"]:
                remove_container(store, container_id, force=True, volumes=True)
            raise
        on_started = None
        try:
            record = store.load(container_id)   # `update` may have changed the policy meanwhile
        except PalletError:
            break
        policy = record.config["HostConfig"]["RestartPolicy"]
        if not _should_restart(policy, status, restarts, stop_requested(record)):
            break
        restarts += 1
        record.config["RestartCount"] = restarts
        store.save_config(container_id, record.config)
        store.update_state(container_id, Restarting=True, Status="restarting")
        time.sleep(min(0.1 * (2 ** restarts), 2.0))  # Docker backs off between restarts too
        if stop_requested(store.load(container_id)):  # stop/kill during the back-off
            store.update_state(container_id, Restarting=False, Status="exited")
            break
    return status


def stop_requested(record: cs.ContainerRecord) -> bool:
    return (record.directory / "stopping").exists()


def _should_restart(policy: dict, status: ExitStatus, restarts: int, stopped: bool) -> bool:
    name = policy.get("Name") or ""
    if stopped or name in ("", "no"):
        return False
    if name == "on-failure":
        limit = policy.get("MaximumRetryCount") or 0
        return status.code != 0 and (limit == 0 or restarts < limit)
    return True  # always, unless-stopped


def _run_once(store: cs.ContainerStore, record: cs.ContainerRecord, attach: Attach,
              on_started, hub: AttachHub, exits_after: bool = False) -> ExitStatus:
    mounts = record.config.get("Mounts") or []
    if any(mount.get("Type") == "volume" for mount in mounts):
        # only then: the volume modules bring uuid, platform and shutil (~5 ms of a start)
        from pallet.runtime.volume.store import mount_container_volumes
        mount_container_volumes(store.root, mounts)
    spec = spec_from_config(record.config, record.directory)
    if spec.tty and attach.stdin is not None and os.isatty(attach.stdin):
        import dataclasses
        import fcntl
        import struct
        import termios
        rows, columns = struct.unpack("HHHH", fcntl.ioctl(attach.stdin, termios.TIOCGWINSZ,
                                                           b"\0" * 8))[:2]
        spec = dataclasses.replace(spec, console_size=(rows, columns))
    elif spec.tty and hub.console_size is not None:   # `run -it`'s client, attached before
        import dataclasses
        spec = dataclasses.replace(spec, console_size=hub.console_size)
    log = LogWriter(record.directory / f"{record.id}-json.log")
    pipes: dict[int, str] = {}
    child_ends: list[int] = []
    pty_master = None
    stdin_w = None   # the write end of an open stdin (-i): the hub's once the container runs
    network = None
    try:
        if spec.tty:
            child_stdio = (None, None, None)  # the container allocates its own console
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            pipes.update({out_r: "stdout", err_r: "stderr"})
            child_ends += [out_w, err_w]
            stdin = attach.stdin
            if stdin is None and record.config["Config"].get("OpenStdin"):
                # `run -d -i`: Docker keeps the stdin of a detached container open (nothing
                # writes to it until an attach), so `cat` waits instead of reading EOF.
                stdin, stdin_w = os.pipe2(os.O_CLOEXEC)
                child_ends.append(stdin)
            child_stdio = (stdin, out_w, err_w)
        from pallet.runtime.store.events import container_event, volume_events
        try:
            network = start_network(store.root, record, spec)
            volume_events(store.root, record.id, record.config.get("Mounts") or [], "mount")
            running = start_container(network.spec, stdin=child_stdio[0], stdout=child_stdio[1],
                                      stderr=child_stdio[2])
        except StartError as error:
            ever_started = not record.state.get("StartedAt", ZERO_TIME).startswith("0001")
            store.update_state(record.id, Status="exited" if ever_started else "created",
                               ExitCode=error.exit_code, Error=error.message, Running=False)
            raise
        for fd in child_ends:
            os.close(fd)
        child_ends.clear()
        open_stdin = bool(record.config["Config"].get("OpenStdin"))
        if running.console is not None:
            pty_master = running.console
            pipes[pty_master] = "stdout"
            _copy_window_size(attach.stdin, pty_master)
            if attach.stdin is not None and os.isatty(attach.stdin):
                signal.signal(signal.SIGWINCH,
                              lambda *_: _copy_window_size(attach.stdin, pty_master))
        store.update_state(record.id, Status="running", Running=True, Paused=False,
                           Restarting=False, OOMKilled=False, Dead=False, Pid=running.pid,
                           PidStart=cs.process_start_time(running.pid), ExitCode=0, Error="",
                           StartedAt=now_rfc3339(), FinishedAt=ZERO_TIME,
                           MonitorPid=os.getpid(),
                           MonitorStart=cs.process_start_time(os.getpid()))
        container_event(store.root, record, "start")
        hub.started(stdin_w if stdin_w is not None else (pty_master if open_stdin else None),
                    tty=spec.tty, stdin_once=bool(record.config["Config"].get("StdinOnce")),
                    console=pty_master)
        stdin_w = None   # the hub closes it (at the client's EOF with StdinOnce, or at exit)
        if on_started:
            on_started(running.pid)
        prober = None
        if record.config["Config"].get("Healthcheck"):
            from pallet.runtime.container.health import Prober
            prober = Prober(store, record.id, record.config["Config"]["Healthcheck"], spec,
                            running.pid)
        try:
            pump(pipes, log, attach, hub, pty_master, prober)
            status = running.wait()
        finally:
            running.cleanup()
            # before the state says exited: `rm`, `network rm` then find it gone
            network.close(exiting=exits_after)
        try:
            current = store.load(record.id)   # renamed while it ran: the event names it now
        except PalletError:
            current = record
        # before the state says "exited": whoever waits for that (stop) records after "die"
        container_event(store.root, current, "die", exitCode=status.code)
        volume_events(store.root, record.id, record.config.get("Mounts") or [], "unmount")
        store.update_state(record.id, Status="exited", Running=False, Paused=False, Pid=0,
                           PidStart=None, ExitCode=status.code, OOMKilled=status.oom_killed,
                           FinishedAt=now_rfc3339(), MonitorPid=0, MonitorStart=None)
        hub.exited(status.code)
        return status
    finally:
        if network is not None:
            network.close()
        hub.exited_quietly()
        for fd in child_ends + list(pipes) + ([stdin_w] if stdin_w is not None else []):
            try:
                os.close(fd)
            except OSError:
                continue
        try:
            log.close()
        except OSError as error:
            if not is_no_space(error):
                raise  # a partial last line that found no room is lost, as above


def _copy_window_size(source: int | None, target: int) -> None:
    import fcntl
    import termios
    if source is None or not os.isatty(source):
        return
    size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
    fcntl.ioctl(target, termios.TIOCSWINSZ, size)


def spawn_detached(store: cs.ContainerStore, container_id: str, clients=()) -> int:
    """Fork a monitor that outlives us; return once the container runs (or raise its error).
    clients: sockets of attaches made before the start; the monitor takes them over."""
    from pallet.base.detach import detach

    def monitor(report: int) -> None:
        try:
            _monitor_main(store, container_id, report, clients)
        finally:
            from pallet.runtime.store import scratch
            scratch.remove_own()   # os._exit runs no atexit handlers

    # Nothing of the caller's (store locks, pipes to its caller, a server's listening sockets)
    # may live on in the monitor: only the report pipe and the clients.
    answer = detach(monitor, keep=[sock.fileno() for sock in clients])
    message = json.loads(answer or b'{"error": "the monitor exited before the container started", "code": 125}')
    if "error" in message:
        raise PalletError(message["error"], exit_code=message.get("code", 125))
    return message["pid"]


def start_detached(root: Path, reference: str, clients=()) -> cs.ContainerRecord:
    store = cs.ContainerStore(root)
    record = get(root, reference)
    with start_lock(record):
        record = refresh(store, store.load(record.id))  # another start may have won
        if record.state.get("Running"):
            return record
        spawn_detached(store, record.id, clients)
    return store.load(record.id)


@contextlib.contextmanager
def start_lock(record: cs.ContainerRecord):
    """Serialises starts of one container, so two `pallet start`s never run two monitors.

    A POSIX record lock, not flock: the monitor forked while it is held must not inherit it.
    """
    fd = os.open(record.directory / ".start.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _monitor_main(store: cs.ContainerStore, container_id: str, notify_fd: int,
                  clients=()) -> None:
    def started(pid: int) -> None:
        os.write(notify_fd, json.dumps({"pid": pid}).encode())
        os.close(notify_fd)

    try:
        supervise(store, container_id, on_started=started, clients=clients)
    except PalletError as error:
        _report(notify_fd, error.message, error.exit_code)
    except Exception as error:
        # Not ours to expect, but the starter must learn what it was: this process has no
        # terminal, and "the monitor exited before the container started" names no cause.
        import traceback
        where = traceback.extract_tb(error.__traceback__)[-1]
        _report(notify_fd, f"the container's monitor failed: {type(error).__name__}: {error} "
                           f"({Path(where.filename).name}:{where.lineno})", 125)
        raise


def _report(notify_fd: int, message: str, code: int) -> None:
    try:
        os.write(notify_fd, json.dumps({"error": message, "code": code}).encode())
    except OSError:
        pass   # the container had started: the starter has its answer and is gone
