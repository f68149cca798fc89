"""A supervised `pallet serve` for hosts without systemd (runs on the machine's host):

    python -m pallet.machine.supervise PIDFILE -- ARGV...

Runs ARGV, restarts it when it exits unasked (after 1 s, doubling to 30 s while it keeps dying
young), and on SIGTERM/SIGINT passes the signal on, waits for the child, removes PIDFILE and
exits 0. Written out rather than a supervisor package: the host gets nothing but pallet's venv,
and this is the whole job (what systemd's Restart=on-failure does where systemd runs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m pallet.machine.supervise PIDFILE -- ARGV...", file=sys.stderr)
        return 2
    pidfile, command = argv[0], argv[2:]
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    temporary = f"{pidfile}.tmp"
    with open(temporary, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    os.rename(temporary, pidfile)
    delay = 1.0
    try:
        while not stopping:
            started = time.monotonic()
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
            while True:
                try:
                    status = child.wait()
                    break
                except InterruptedError:
                    continue
            if stopping:
                break
            lived = time.monotonic() - started
            delay = 1.0 if lived > 60 else min(delay * 2, 30.0)
            print(f"supervise: {command[0]} exited with status {status}; restarting in "
                  f"{delay:.0f} s", file=sys.stderr, flush=True)
            deadline = time.monotonic() + delay
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait()
        try:
            os.unlink(pidfile)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
