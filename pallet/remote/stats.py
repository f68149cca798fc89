"""stats on a remote host: each container's GET /containers/{id}/stats?stream=0 (two readings
a second apart, taken by the host), read back into the engine's Samples so the local command's
own row and table (runtime/container/stats.stats_row, format.kinds.STATS) print them.

    stats(client, containers, *, all_, format_, no_stream, no_trunc) -> int

The containers are asked at once (one thread each: every answer takes the host a second).
Without --no-stream the screen is redrawn with a fresh round, as the local command does.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from pallet.remote.calls import api_call


def _samples(document: dict):
    from pallet.runtime.container.stats import Sample

    def one(cpu: dict) -> Sample:
        blkio = (document.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
        networks = (document.get("networks") or {}).values()
        memory = document.get("memory_stats") or {}
        return Sample(
            cpu_ns=int(((cpu or {}).get("cpu_usage") or {}).get("total_usage") or 0),
            system_ns=int((cpu or {}).get("system_cpu_usage") or 0),
            online_cpus=int((cpu or {}).get("online_cpus") or 1),
            memory=int(memory.get("usage") or 0), memory_limit=int(memory.get("limit") or 0),
            pids=int((document.get("pids_stats") or {}).get("current") or 0),
            block_read=sum(int(e.get("value") or 0) for e in blkio if e.get("op") == "read"),
            block_write=sum(int(e.get("value") or 0) for e in blkio
                            if e.get("op") == "write"),
            net_rx=sum(int(n.get("rx_bytes") or 0) for n in networks),
            net_tx=sum(int(n.get("tx_bytes") or 0) for n in networks))

    return one(document.get("precpu_stats") or {}), one(document.get("cpu_stats") or {})


def _row(client, name: str | None, ident: str, no_trunc: bool) -> dict:
    from pallet.runtime.container.stats import stats_row
    with api_call(1):
        response = client.get(client._url("/containers/{0}/stats", ident),
                              params={"stream": 0})
        client._raise_for_status(response)
        document = response.json()
    record = SimpleNamespace(id=document.get("id") or ident,
                             name=(document.get("name") or "").lstrip("/"))
    before, after = _samples(document)
    row = stats_row(record, before, after, name)
    if no_trunc:
        row["ID"] = record.id
    return row


def stats(client, containers, *, all_: bool, format_: str | None, no_stream: bool,
          no_trunc: bool) -> int:
    from pallet.format.kinds import STATS, listing
    from pallet.format.listing import compile_listing
    from pallet.remote.errors import RemoteError
    compile_listing(format_, STATS)           # a bad template fails before anything is asked
    if containers:
        chosen, failed = [], []
        for name in containers:
            try:
                with api_call(1):
                    chosen.append((name, client.inspect_container(name)["Id"]))
            except RemoteError as error:
                failed.append(error.message)
        if failed:
            sys.stderr.write("\n".join(failed) + "\n")
            return 1
    else:
        with api_call(1):
            listed = client.containers(all=all_)
        chosen = [(None, entry["Id"]) for entry in listed]
    with ThreadPoolExecutor(max_workers=max(len(chosen), 1)) as pool:
        while True:
            rows = list(pool.map(lambda pair: _row(client, pair[0], pair[1], no_trunc),
                                 chosen))
            text = listing(format_, rows, STATS)
            if no_stream:
                sys.stdout.write(text)
                sys.stdout.flush()
                return 0
            sys.stdout.write("\033[2J\033[H" + text)
            sys.stdout.flush()
