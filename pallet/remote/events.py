"""events on a remote host (contract: pallet/remote/__init__.py): GET /events, each JSON
message printed by the local command's printer. Without --until it follows until interrupted,
as the local command does; the host's end of the stream (it stopped) ends it quietly."""

from __future__ import annotations

import json


def _seconds(moment: float) -> str:
    """The docker CLI's since/until parameter: Unix seconds and nanoseconds."""
    nanos = round(moment * 1e9)
    return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


def events(ctx, filters, format_, since, until) -> None:
    from pallet.commands.events import event_printer, event_query
    from pallet.remote import client
    start, stop, wanted = event_query(filters, since, until)
    emit = event_printer(format_)
    params = {}
    if start is not None:
        params["since"] = _seconds(start)
    if stop is not None:
        params["until"] = _seconds(stop)
    if wanted:
        params["filters"] = json.dumps(wanted)
    api = client(ctx)
    response = api._get(api._url("/events"), params=params, stream=True, timeout=None)
    api._raise_for_status(response)
    try:
        for line in response.iter_lines():
            if line.strip():
                emit(json.loads(line))
    finally:
        response.close()
