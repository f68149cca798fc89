"""HEALTHCHECK: probes run by the monitor inside the running container, Docker's State.Health.

Config.Healthcheck is Docker's shape: {"Test": ["CMD", ...] | ["CMD-SHELL", "cmd"] | ["NONE"],
"Interval", "Timeout", "StartPeriod" (nanoseconds, 0 = default), "Retries"}. The monitor calls
Prober.due() from its output loop and Prober.run() when a probe is due; results go to
state.json as State.Health {Status: starting|healthy|unhealthy, FailingStreak, Log (last 5)}.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

from pallet.base.units import now_rfc3339
from pallet.runtime.container import state as cs
from pallet.runtime.isolation.spec import ContainerSpec

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
KEEP_LOG = 5
MAX_OUTPUT = 4096

def probe_argv(test: list[str]) -> tuple[str, ...] | None:
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ("/bin/sh", "-c", " ".join(test[1:]))
    if test[0] == "CMD":
        return tuple(test[1:])
    return tuple(test)


class Prober:
    """Schedules and runs one container's health probes."""

    def __init__(self, store: cs.ContainerStore, container_id: str, config: dict,
                 spec: ContainerSpec, container_pid: int) -> None:
        self.store = store
        self.container_id = container_id
        self.argv = probe_argv(list(config.get("Test") or []))
        self.interval = (config.get("Interval") or 0) / 1e9 or DEFAULT_INTERVAL
        self.timeout = (config.get("Timeout") or 0) / 1e9 or DEFAULT_TIMEOUT
        self.start_period = (config.get("StartPeriod") or 0) / 1e9
        self.retries = config.get("Retries") or DEFAULT_RETRIES
        self.spec = spec
        self.pid = container_pid
        self.started = time.monotonic()
        self.next_at = self.started + self.interval
        self.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        if self.argv is not None:
            store.update_state(container_id, Health=self.health)

    def due(self) -> float | None:
        """Seconds until the next probe (None: no health check)."""
        if self.argv is None:
            return None
        return max(0.0, self.next_at - time.monotonic())

    def run(self) -> None:
        from pallet.runtime.container.execute import exec_in_container
        from pallet.runtime.isolation.core import StartError

        start = now_rfc3339()
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        spec = replace(self.spec, argv=self.argv, tty=False)
        output = b""
        try:
            try:
                running = exec_in_container(self.pid, spec, self.spec.cgroup_name or "",
                                            stdout=write_fd, stderr=write_fd)
            finally:
                os.close(write_fd)
            code, output = self._collect(running, read_fd)
        except StartError as error:
            code, output = -1, error.message.encode()
        finally:
            os.close(read_fd)
        self._record(start, code, output.decode("utf-8", "replace"))
        self.next_at = time.monotonic() + self.interval

    def _collect(self, running, read_fd: int) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.timeout
        output = b""
        os.set_blocking(read_fd, False)
        while True:
            try:
                chunk = os.read(read_fd, 65536)
                if chunk and len(output) < MAX_OUTPUT:
                    output += chunk[:MAX_OUTPUT - len(output)]
            except BlockingIOError:
                pass
            pid, status = os.waitpid(running.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status), output
            if time.monotonic() > deadline:
                os.kill(running.pid, signal.SIGKILL)
                os.waitpid(running.pid, 0)
                return -1, f"Health check exceeded timeout ({self.timeout:g}s)".encode()
            time.sleep(0.01)

    def _record(self, start: str, code: int, output: str) -> None:
        health = self.health
        health["Log"] = (health["Log"] + [{"Start": start, "End": now_rfc3339(), "ExitCode": code,
                                            "Output": output}])[-KEEP_LOG:]
        if code == 0:
            health["Status"] = "healthy"
            health["FailingStreak"] = 0
        elif time.monotonic() - self.started >= self.start_period:
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= self.retries:
                health["Status"] = "unhealthy"
        self.store.update_state(self.container_id, Health=health)
