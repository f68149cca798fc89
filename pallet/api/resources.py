"""A container's filesystem changes and image commit, its resource use (stats) and limits
(update), and the engine's disk usage (/system/df): serialisations of the library's
runtime/container/changes.py, stats.py, update.py and store/check.py."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from pallet.api.protocol import ApiError, Reply

KINDS = {"C": 0, "A": 1, "D": 2}   # the spec's ChangeType


def changes(request) -> list:
    from pallet.runtime.container.changes import container_changes
    return [{"Path": change.path, "Kind": KINDS[change.kind]}
            for change in container_changes(request.container())]


def commit(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.changes import commit_container
    reference = request.arg("container")
    if not reference:
        raise ApiError(400, "bad parameter: container is required")
    record = request.container(reference)
    repository, tag = request.arg("repo") or "", request.arg("tag") or ""
    target = (f"{repository}:{tag}" if tag else repository) if repository else None
    body = request.json()
    if body:
        raise ApiError(400, "pallet's commit takes changes as Dockerfile instructions "
                            "(changes=), not a container config in the body")
    try:
        image = commit_container(request.server.root, record, target,
                                 author=request.arg("author") or "",
                                 message=request.arg("comment") or "",
                                 changes=tuple(request.query.get("changes") or ()),
                                 pause=request.flag("pause", True))
    except PalletError as error:
        if getattr(error, "http_status", None):
            raise
        raise ApiError(400, error.message) from error
    return Reply(201, json.dumps({"Id": image.id}).encode(), "application/json")


def update(request) -> dict:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.update import update_container
    body = request.json(required=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON: expected an object")
    known = {"Memory", "MemorySwap", "NanoCpus", "CpuQuota", "CpuPeriod", "PidsLimit",
             "RestartPolicy"}
    for key, value in body.items():
        if key not in known and value not in (None, 0, "", [], {}, False):
            raise ApiError(400, f"pallet cannot update {key} of a container")
    cpus = None
    if body.get("NanoCpus"):
        cpus = body["NanoCpus"] / 1e9
    elif body.get("CpuQuota"):
        cpus = body["CpuQuota"] / (body.get("CpuPeriod") or 100_000)
    restart = None
    if body.get("RestartPolicy"):
        policy = body["RestartPolicy"]
        count = policy.get("MaximumRetryCount") or 0
        restart = f"{policy.get('Name') or 'no'}:{count}" if count else \
            (policy.get("Name") or "no")
    try:
        update_container(request.server.root, request.params["name"],
                         memory=body.get("Memory") or None,
                         memory_swap=body.get("MemorySwap") or None, cpus=cpus,
                         pids=body.get("PidsLimit") or None, restart=restart)
    except PalletError as error:
        if getattr(error, "http_status", None) or type(error).__name__ == "ContainerNotFound":
            raise
        raise ApiError(500, error.message) from error
    return {"Warnings": []}


def _stamp(ns: int | None = None) -> str:
    moment = datetime.now(timezone.utc) if ns is None else \
        datetime.fromtimestamp(ns / 1e9, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cpu(sample) -> dict:
    return {"cpu_usage": {"total_usage": sample.cpu_ns, "usage_in_kernelmode": 0,
                          "usage_in_usermode": 0},
            "system_cpu_usage": sample.system_ns, "online_cpus": sample.online_cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def _stats_document(record, sample, previous, read: str, preread: str) -> dict:
    document = {
        "id": record.id, "name": f"/{record.name}", "os_type": "linux", "read": read,
        "preread": preread, "num_procs": 0,
        "pids_stats": {"current": sample.pids},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": sample.block_read},
            {"major": 0, "minor": 0, "op": "write", "value": sample.block_write}]},
        "storage_stats": {},
        "cpu_stats": _cpu(sample), "precpu_stats": _cpu(previous),
        "memory_stats": {"usage": sample.memory, "limit": sample.memory_limit, "stats": {}},
    }
    if record.config["HostConfig"].get("NetworkMode") != "host":
        document["networks"] = {"eth0": {"rx_bytes": sample.net_rx, "tx_bytes": sample.net_tx,
                                         "rx_packets": 0, "tx_packets": 0, "rx_errors": 0,
                                         "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}}
    return document


def stats(request):
    from pallet.api.streams import client_gone
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.stats import Sample, Sampler
    record = request.container()
    root = request.server.root
    sampler = Sampler()
    stream = request.flag("stream", True)
    if request.flag("one-shot"):
        (sample,) = sampler.take([record])
        return _stats_document(record, sample, Sample(), _stamp(), "0001-01-01T00:00:00Z")
    previous, previous_at = sampler.take([record])[0], _stamp()
    if not stream:
        time.sleep(1)   # docker's non-streamed answer carries a reading one second apart
        (sample,) = sampler.take([get(root, record.id)])
        return _stats_document(record, sample, previous, _stamp(), previous_at)
    writer = request.stream("application/json")
    connection = request.handler.connection
    try:
        while True:
            time.sleep(1)
            if client_gone(connection):
                return
            record = get(root, record.id)
            (sample,) = sampler.take([record])
            now = _stamp()
            writer.json(_stats_document(record, sample, previous, now, previous_at))
            if not record.state.get("Running"):
                writer.close()
                return
            previous, previous_at = sample, now
    except OSError:
        return


def disk_usage(request) -> dict:
    """The legacy shape API 1.44 answers with (LayersSize, Images, Containers, Volumes,
    BuildCache), serialised from the library's view (builder/usage.system_usage)."""
    from pallet.api.containers import summary
    from pallet.api.images import unix_time
    from pallet.api.volumes import document as volume_document
    from pallet.builder.usage import system_usage
    from pallet.runtime.store.references import familiar_string
    from pallet.runtime.store.usage import KINDS
    kinds = request.query.get("type") or []
    for kind in kinds:
        if kind not in KINDS:
            raise ApiError(400, f"unknown object type: {kind}")
    usage = system_usage(request.server.root, frozenset(kinds) if kinds else None)
    wanted = set(kinds or KINDS)
    answer: dict = {}
    if "image" in wanted:
        answer["LayersSize"] = usage.layers_size
        answer["Images"] = [{
            "Id": image.id, "ParentId": "",
            "RepoTags": [familiar_string(n) for n in image.references if "@" not in n],
            "RepoDigests": [familiar_string(n) for n in image.references if "@" in n],
            "Created": unix_time(image.created), "Size": image.size,
            "SharedSize": image.shared_size, "VirtualSize": image.size, "Labels": {},
            "Containers": image.containers} for image in usage.images]
    if "container" in wanted:
        answer["Containers"] = [dict(summary(c.row), SizeRw=c.size_rw, SizeRootFs=c.size_root_fs)
                                for c in usage.containers]
    if "volume" in wanted:
        answer["Volumes"] = []
        for entry in usage.volumes:
            document = volume_document(entry.volume)
            document["UsageData"] = {"Size": entry.size, "RefCount": entry.ref_count}
            answer["Volumes"].append(document)
    if "build-cache" in wanted:
        answer["BuildCache"] = [{
            "ID": e.id, "Parent": "", "Parents": [], "Type": e.type,
            "Description": e.description, "InUse": e.in_use, "Shared": e.shared, "Size": e.size,
            "CreatedAt": e.created, "LastUsedAt": e.last_used or None,
            "UsageCount": e.usage_count} for e in usage.build_cache]
        answer["BuilderSize"] = usage.build_cache_size
    return answer
