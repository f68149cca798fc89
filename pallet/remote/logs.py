"""logs on a remote host: GET /containers/{id}/logs, demultiplexed onto stdout and stderr.

    logs(client, request: LogsRequest) -> None

As the docker CLI: the container is inspected first (its Tty decides whether the body is
stdcopy frames or raw bytes), then the log is copied as it arrives; with --follow until the
host ends the stream (the container stopped). --since/--until are sent as the Unix seconds
the CLI sends (fractions kept). A reader that goes away (`| head`) or a host that drops the
connection ends the command quietly, as a finished stream does.
"""

from __future__ import annotations

from dataclasses import dataclass

from pallet.remote.calls import api_call


@dataclass(frozen=True)
class LogsRequest:
    container: str
    follow: bool = False
    tail: str = "all"
    timestamps: bool = False
    since: int | None = None        # nanoseconds since the epoch
    until: int | None = None
    details: bool = False


def _seconds(nanoseconds: int) -> str:
    whole, fraction = divmod(nanoseconds, 1_000_000_000)
    return f"{whole}.{fraction:09d}" if fraction else str(whole)


def logs(client, request: LogsRequest) -> None:
    import requests.exceptions
    import urllib3.exceptions

    from pallet.base.fdio import write_all
    from pallet.remote.hijack import STDERR, Demux
    with api_call(1):
        record = client.inspect_container(request.container)
    params = {"stdout": 1, "stderr": 1, "follow": int(request.follow),
              "timestamps": int(request.timestamps), "tail": request.tail,
              "details": int(request.details)}
    if request.since is not None:
        params["since"] = _seconds(request.since)
    if request.until is not None:
        params["until"] = _seconds(request.until)
    with api_call(1):
        response = client.get(client._url("/containers/{0}/logs", record["Id"]), params=params,
                              stream=True)
        client._raise_for_status(response)
    demux = None if record["Config"].get("Tty") else Demux()
    try:
        for chunk in response.raw.stream(65536, decode_content=False):
            if demux is None:
                write_all(1, chunk, reader_gone=True)
                continue
            for kind, payload in demux.feed(chunk):
                write_all(2 if kind == STDERR else 1, payload, reader_gone=True)
    except (urllib3.exceptions.ProtocolError, requests.exceptions.ConnectionError,
            ConnectionError):
        return    # the host went away mid-stream: what came is shown, the command ends
    finally:
        response.close()
