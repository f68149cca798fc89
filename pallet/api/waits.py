"""POST /containers/{name}/wait: the container's exit status when the condition holds.

Registered with the container's monitor before the answer's headers go out (docker run waits
for them before it starts the container), then the EXIT frame, or the record (or its "die"
event, once a --rm container removed itself) when the monitor ended without one.
"""

from __future__ import annotations

import json
import time

from pallet.api.protocol import ApiError
from pallet.api.streams import MonitorLink, client_gone, monitor_frames


def wait(request):
    from pallet.base.errors import PalletError
    from pallet.runtime.container.attach import EXIT, hello
    from pallet.runtime.container.lifecycle import get
    condition = request.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition: {condition!r}")
    record = request.container()
    root = request.server.root
    running = bool(record.state.get("Running"))
    if condition == "not-running" and not running and record.state.get("Status") != "restarting":
        return {"StatusCode": record.state.get("ExitCode", 0)}
    # Registered first, then the headers at once: `docker run` waits for them before it
    # starts the container, and the start must find this wait registered.
    link = None
    for attempt in range(250):
        try:
            link = MonitorLink(request.server, record, hello())
            break
        except (BrokenPipeError, ConnectionResetError):
            # the monitor left between our look at the record and our greeting: the
            # container is exiting, and its record says how once the monitor wrote it
            if attempt == 249:
                raise
            time.sleep(0.02)
            record = request.container()
            if condition != "removed" and not record.state.get("Running"):
                return {"StatusCode": record.state.get("ExitCode", 0)}
    try:
        writer = request.stream("application/json")
    except OSError:
        link.close()
        raise
    code = record.state.get("ExitCode", 0)
    error = None
    try:
        for kind, payload in monitor_frames(link, client=request.handler.connection,
                                            watch_eof=True):
            if kind is None:
                return   # the client left: nobody to answer
            if kind == EXIT:
                code = json.loads(payload).get("code", 0)
                break
        else:
            try:   # the monitor ended without telling (gone, or never started): its record
                state = get(root, record.id).state
                code = state.get("ExitCode", code)
                error = state.get("Error") or None
            except PalletError:
                recorded = last_exit_code(root, record.id)
                code = code if recorded is None else recorded
    finally:
        link.close()
    if condition == "removed":
        while (record.directory).exists():
            if client_gone(request.handler.connection):
                return
            time.sleep(0.02)
    document = {"StatusCode": code}
    if error:
        document["Error"] = {"Message": error}
    writer.json(document)
    writer.close()


def last_exit_code(root, container_id: str) -> int | None:
    """The exit code the container's last "die" event recorded: a --rm container's record is
    gone once it removed itself, its event log entry is not."""
    from pallet.runtime.store.events import read_events
    codes = [event for event in read_events(root) if event.get("Action") == "die"
             and (event.get("Actor") or {}).get("ID") == container_id]
    try:
        return int(codes[-1]["Actor"]["Attributes"]["exitCode"]) if codes else None
    except (KeyError, TypeError, ValueError):
        return None
