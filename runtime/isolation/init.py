"""--init: a minimal reaper as the container's PID 1, like Docker's tini.

PID 1 of a PID namespace gets no default signal actions and inherits every orphan, so a plain
command as PID 1 neither dies on SIGTERM nor reaps zombies. This reaper forks the command,
forwards every catchable signal to it, reaps all children, and exits with the command's status
(re-raising its fatal signal as an exit code of 128+signal, as tini does).
"""

from __future__ import annotations

import json
import os
import signal

from pallet.runtime.isolation import process
from pallet.runtime.isolation.process import fd_limit
from pallet.runtime.isolation.rootfs import ChildContext

FORWARDED = tuple(s for s in signal.Signals
                  if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD))


def run_init(ctx: ChildContext, report_fd: int) -> None:
    """Fork the command, then reap and forward until it exits. Never returns."""
    # The reaper never execs, so close-on-exec never fires: drop every descriptor inherited
    # from the caller (its pipes would otherwise never see EOF).
    os.closerange(3, report_fd)
    os.closerange(report_fd + 1, fd_limit())
    child = os.fork()
    if child == 0:
        try:
            process.exec_command(ctx, report_fd)
        except process.ChildFailure as failure:
            os.write(report_fd, json.dumps({
                "error": f"failed to start container process: {failure.message}",
                "code": failure.code}).encode() + b"\n")
            os._exit(failure.code)
        os._exit(125)
    os.close(report_fd)
    for sig in FORWARDED:
        try:
            signal.signal(sig, lambda number, _frame: _forward(child, number))
        except (OSError, ValueError):
            continue
    code = 0
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(code)
        except InterruptedError:
            continue
        if pid == child:
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            os._exit(code)


def _forward(child: int, number: int) -> None:
    try:
        os.kill(child, number)
    except ProcessLookupError:
        pass
