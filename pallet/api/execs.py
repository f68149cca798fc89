"""Exec endpoints: create, start (hijacked), resize, inspect.

An exec instance lives in the server's memory, as in dockerd: created, started once, and
inspected for its ExitCode (the docker CLI's exit status). The exec'd process is this server's
child, in the container's namespaces and cgroup (runtime/container/execute.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import termios
import threading
from dataclasses import dataclass, field

from pallet.api.protocol import ApiError, Reply
from pallet.base.errors import PalletError
from pallet.api.streams import MULTIPLEXED, RAW, STDCOPY

MAX_EXECS = 1024


@dataclass
class ExecSession:
    id: str
    container_id: str
    command: tuple[str, ...]
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    env: tuple[str, ...] = ()
    user: str | None = None
    workdir: str | None = None
    privileged: bool = False
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    console: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ExecRegistry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, ExecSession] = {}

    def add(self, session: ExecSession) -> None:
        with self.lock:
            if len(self.sessions) >= MAX_EXECS:   # forget the oldest finished ones
                for key in [k for k, s in self.sessions.items() if s.exit_code is not None]:
                    del self.sessions[key]
                    if len(self.sessions) < MAX_EXECS // 2:
                        break
            self.sessions[session.id] = session

    def get(self, exec_id: str) -> ExecSession:
        with self.lock:
            session = self.sessions.get(exec_id)
        if session is None:
            raise ApiError(404, f"No such exec instance: {exec_id}")
        return session


def _registry(request) -> ExecRegistry:
    return request.server.registry("execs", ExecRegistry)


def _strings(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"invalid {what}: expected a list of strings")
    return tuple(value)


def create(request) -> Reply:
    from pallet.runtime.container.lifecycle import get
    record = get(request.server.root, request.params["name"])
    body = request.json(required=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON: expected an object")
    command = _strings(body.get("Cmd"), "Cmd")
    if not command:
        raise ApiError(400, "No exec command specified")
    if not record.state.get("Running"):
        raise ApiError(409, f"Container {record.id} is not running")
    if record.state.get("Paused"):
        raise ApiError(409, f"Container {record.id} is paused, unpause the container before exec")
    session = ExecSession(
        id=os.urandom(32).hex(), container_id=record.id, command=command,
        tty=bool(body.get("Tty")), stdin=bool(body.get("AttachStdin")),
        stdout=bool(body.get("AttachStdout")), stderr=bool(body.get("AttachStderr")),
        env=_strings(body.get("Env"), "Env"), user=body.get("User") or None,
        workdir=body.get("WorkingDir") or None, privileged=bool(body.get("Privileged")))
    _registry(request).add(session)
    from pallet.runtime.store.events import exec_event
    exec_event(request.server.root, record, "exec_create", session.id, command)
    return Reply(201, json.dumps({"Id": session.id}).encode(), "application/json")


def _check_startable(request, session: ExecSession) -> None:
    from pallet.runtime.container.lifecycle import get
    record = get(request.server.root, session.container_id)
    if not record.state.get("Running"):
        raise ApiError(409, f"Container {record.id} is not running")


def _launch(request, session: ExecSession, stdio):
    from pallet.base.errors import PalletError
    from pallet.runtime.container.execute import exec_in_container, exec_spec
    from pallet.runtime.container.lifecycle import get
    record = get(request.server.root, session.container_id)
    if not record.state.get("Running"):
        raise ApiError(409, f"Container {record.id} is not running")
    from pallet.runtime.store.events import exec_event
    exec_event(request.server.root, record, "exec_start", session.id, session.command)
    spec, container_spec = exec_spec(record, session.command, env=session.env,
                                     user=session.user, workdir=session.workdir,
                                     tty=session.tty, privileged=session.privileged)
    try:
        return exec_in_container(record.state["Pid"], spec, f"pallet-{record.id[:16]}",
                                 stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                                 detach=stdio[3], container_spec=container_spec)
    except PalletError as error:
        session.exit_code = error.exit_code
        raise ApiError(500, error.message) from error


def start(request):
    registry = _registry(request)
    session = registry.get(request.params["id"])
    body = request.json() or {}
    with session.lock:
        if session.started:
            raise ApiError(409, f"Exec {session.id} has already been started")
        session.started = True
    if body.get("Detach"):
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            running = _launch(request, session, (None, null, null, True))
            running.wait()   # the intermediate child; the command lives on in the container
        finally:
            os.close(null)
        if running.console is not None:
            os.close(running.console)
        session.exit_code = 0
        return Reply(200)
    _attached(request, session)


def _attached(request, session: ExecSession) -> None:
    fds: list[int] = []
    connection = None
    try:
        if session.tty:
            stdio = (None, None, None, False)
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            fds += [out_r, out_w, err_r, err_w]
            stdin_r = stdin_w = None
            if session.stdin:
                stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
                fds += [stdin_r, stdin_w]
            stdio = (stdin_r, out_w, err_w, False)
        _check_startable(request, session)
        # The 101 before the process: a client reading the answer's head through a buffer
        # (docker-py) would otherwise swallow the first output with it (dockerd's order too).
        content_type = RAW if session.tty or request.version < (1, 42) else MULTIPLEXED
        connection = request.hijack(content_type)
        try:
            running = _launch(request, session, stdio)
        except ApiError as error:
            # Docker's words in the stream; the exit code (126/127) comes from inspect
            text = error.message.encode() + b"\r\n"
            connection.sendall(text if session.tty else STDCOPY.pack(2, len(text)) + text)
            return
        session.pid, session.running, session.console = running.pid, True, running.console
        for fd in stdio[:3]:
            if fd is not None:
                os.close(fd)
                fds.remove(fd)
        outputs = {running.console: 1} if session.tty else {out_r: 1, err_r: 2}
        if session.stdin:
            # the stdin thread gets a descriptor of its own and closes it: it may still be
            # writing when this thread is done and closes the others
            if session.tty:
                target = os.dup(running.console)
            else:
                target = stdin_w
                fds.remove(stdin_w)
            threading.Thread(target=_pump_stdin, daemon=True,
                             args=(request.handler.rfile, target, session.tty)).start()
        _pump_output(connection, outputs, session)
        session.exit_code = running.wait().code
        from pallet.runtime.container.lifecycle import get
        from pallet.runtime.store.events import exec_event
        with contextlib.suppress(PalletError):   # the container may be gone by now
            exec_event(request.server.root, get(request.server.root, session.container_id),
                       "exec_die", session.id, exitCode=session.exit_code)
    finally:
        session.running = False
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(2)   # also ends the stdin thread's read
        if session.console is not None:
            with contextlib.suppress(OSError):
                os.close(session.console)
            session.console = None
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _pump_stdin(rfile, target: int, tty: bool) -> None:
    try:
        while data := rfile.read1(65536):
            os.write(target, data)
        if tty:
            os.write(target, b"\x04")   # EOF on a terminal is ^D
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(target)


def _pump_output(connection, outputs: dict[int, int], session: ExecSession) -> None:
    from pallet.base.fdio import pump_until_eof
    tty = session.tty
    wanted = {1: session.stdout or tty, 2: session.stderr}
    client = {"alive": True}

    def sender(stream: int):
        def send(data: bytes) -> None:
            if not client["alive"] or not wanted[stream]:
                return
            try:
                connection.sendall(data if tty else STDCOPY.pack(stream, len(data)) + data)
            except OSError:
                client["alive"] = False   # keep draining so the process never blocks on us
        return send

    pump_until_eof({fd: sender(stream) for fd, stream in outputs.items()})


def resize(request) -> Reply:
    session = _registry(request).get(request.params["id"])
    height, width = request.int_arg("h", 0), request.int_arg("w", 0)
    if session.console is None:
        if not session.tty:
            raise ApiError(400, "resize of an exec without a TTY")
        raise ApiError(404, f"exec {session.id} is not running")
    with contextlib.suppress(OSError):
        fcntl.ioctl(session.console, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    return Reply(200)


def inspect(request) -> dict:
    session = _registry(request).get(request.params["id"])
    return {
        "CanRemove": False, "ContainerID": session.container_id, "DetachKeys": "",
        "ExitCode": session.exit_code if session.exit_code is not None else 0,
        "ID": session.id, "OpenStderr": session.stderr, "OpenStdin": session.stdin,
        "OpenStdout": session.stdout, "Running": session.running,
        "Pid": session.pid,
        "ProcessConfig": {"arguments": list(session.command[1:]),
                          "entrypoint": session.command[0], "privileged": session.privileged,
                          "tty": session.tty, "user": session.user or ""},
    }
