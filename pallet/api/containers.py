"""Container endpoints: list, inspect, start, stop, restart, kill, pause, unpause, rename,
remove, prune, top. Creating is create.py; streams (attach, logs) are streams.py, wait is waits.py."""

from __future__ import annotations

import functools

from pallet.api.protocol import ApiError, Reply


def _root(request):
    return request.server.root


@functools.lru_cache(maxsize=4096)   # a container's Created never changes; lists repeat it
def _unix(text: str) -> int:
    from pallet.base.units import parse_rfc3339
    moment = parse_rfc3339(text)
    return int(moment.timestamp()) if moment else 0


def _mount_points(mounts) -> list:
    return [{"Type": m["Type"], "Name": m.get("Name", ""), "Source": m.get("Source", ""),
             "Destination": m["Destination"], "Driver": m.get("Driver", ""),
             "Mode": m.get("Mode", ""), "RW": m.get("RW", True),
             "Propagation": m.get("Propagation", "")}
            for m in mounts]


def _networks(networks: dict) -> dict:
    return {name: {"NetworkID": value.get("NetworkID", ""), "EndpointID": "", "Gateway": "",
                   "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}
            for name, value in networks.items()}


def summary(row) -> dict:
    """A ContainerSummary (GET /containers/json) of one of the library's container rows."""
    from pallet.runtime.network.ports import api_ports
    document = {
        "Id": row.id, "Names": [f"/{row.name}"], "Image": row.image, "ImageID": row.image_id,
        "Command": row.command, "Created": _unix(row.created), "Ports": api_ports(row.ports),
        "Labels": row.labels, "State": row.state, "Status": row.status,
        "HostConfig": {"NetworkMode": row.network},
        "NetworkSettings": {"Networks": _networks(row.networks)},
        "Mounts": _mount_points(row.mount_points),
    }
    if row.health and row.health.get("Status"):
        document["Health"] = {"Status": row.health["Status"],
                              "FailingStreak": row.health.get("FailingStreak", 0)}
    return document


def list_containers(request) -> list:
    from pallet.runtime.container.views import container_rows
    limit = request.int_arg("limit", -1)
    if request.flag("latest"):
        limit = 1
    if request.arg("before") or request.arg("since"):
        raise ApiError(400, "before and since are filters since API 1.22: use filters=")
    rows = container_rows(_root(request), request.filters(), all_=request.flag("all"),
                          last=limit if limit > 0 else -1)
    documents = [summary(row) for row in rows]
    if request.flag("size"):
        for document in documents:
            document["SizeRw"] = 0
            document["SizeRootFs"] = 0
    return documents


def inspect(request) -> dict:
    from pallet.runtime.container.views import inspect_document
    record = request.container()
    document = inspect_document(record)
    state = document["State"]
    state.setdefault("Error", "")
    if state.get("Health") is None:
        state.pop("Health", None)
    settings = document.get("NetworkSettings") or {}
    for name, endpoint in list((settings.get("Networks") or {}).items()):
        # the spec's arrays and objects: left out rather than null
        settings["Networks"][name] = {k: v for k, v in endpoint.items() if v is not None}
    for key in ("SecondaryIPAddresses", "SecondaryIPv6Addresses"):
        if settings.get(key) is None:
            settings.pop(key, None)
    document["Mounts"] = _mount_points(record.config.get("Mounts") or [])
    # The library's document keeps Docker 20.10's nulls (the CLI prints them); the API leaves
    # empty fields out, as the spec's types (arrays, objects) allow.
    for section in ("Config", "HostConfig"):
        document[section] = {k: v for k, v in document[section].items() if v is not None}
    if request.flag("size"):
        document["SizeRw"] = 0
        document["SizeRootFs"] = 0
    return document


def start(request) -> Reply:
    from pallet.runtime.container.monitor import start_detached
    from pallet.api.streams import pending_attaches
    record = request.container()
    if record.state.get("Running"):
        return Reply(304)
    clients = pending_attaches(request.server).take(record.id)
    try:
        start_detached(_root(request), record.id, clients=clients)
    except Exception as error:
        from pallet.base.errors import PalletError
        if isinstance(error, PalletError) and not getattr(error, "http_status", None):
            raise ApiError(400 if error.exit_code in (126, 127) else 500, error.message) \
                from error
        raise
    finally:
        for sock in clients:   # the monitor holds its own copies now
            sock.close()
    return Reply(204)


def _timeout(request) -> int | None:
    return request.int_arg("t", None)


def stop(request) -> Reply:
    from pallet.runtime.container.lifecycle import stop_container
    record = request.container()
    if not record.state.get("Running") and record.state.get("Status") != "restarting":
        return Reply(304)
    stop_container(_root(request), record.id, _timeout(request))
    return Reply(204)


def restart(request) -> Reply:
    from pallet.runtime.container.lifecycle import stop_container
    from pallet.runtime.container.monitor import start_detached
    record = request.container()
    stop_container(_root(request), record.id, _timeout(request))
    start_detached(_root(request), record.id)
    return Reply(204)


def kill(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.lifecycle import kill_container, parse_signal
    record = request.container()
    signal_name = request.arg("signal") or "KILL"
    try:
        parse_signal(signal_name)
    except PalletError as error:
        raise ApiError(400, error.message) from error
    if not record.state.get("Running"):
        raise ApiError(409, f"Container {record.id} is not running")
    kill_container(_root(request), record.id, signal_name)
    return Reply(204)


def _pause(request, paused: bool) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.lifecycle import set_paused
    record = request.container()
    try:
        set_paused(_root(request), record.id, paused)
    except PalletError as error:
        # dockerd answers 409 here; the spec lists no 409 for pause, only 500
        raise ApiError(500, error.message) from error
    return Reply(204)


def pause(request) -> Reply:
    return _pause(request, True)


def unpause(request) -> Reply:
    return _pause(request, False)


def rename(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.lifecycle import rename_container
    from pallet.runtime.container.state import NameConflict
    new_name = request.arg("name") or ""
    record = request.container()
    if not new_name or "/" in new_name.lstrip("/"):
        raise ApiError(400, f"Invalid container name ({new_name}), only "
                            "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    try:
        rename_container(_root(request), record.id, new_name)
    except NameConflict:
        raise
    except PalletError as error:
        raise ApiError(400 if "Invalid container name" in error.message else 409,
                       error.message) from error
    return Reply(204)


def remove(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.lifecycle import remove_container
    from pallet.runtime.container.state import ContainerStore
    record = request.container()
    if request.flag("link"):
        raise ApiError(400, "pallet keeps no container links to remove")
    try:
        remove_container(ContainerStore(_root(request)), record.id, force=request.flag("force"),
                         volumes=request.flag("v"))
    except PalletError as error:
        if record.state.get("Running"):
            raise ApiError(409, error.message) from error
        raise
    return Reply(204)


def prune(request) -> dict:
    from pallet.runtime.container.lifecycle import prune_containers
    filters = request.filters()
    unknown = set(filters) - {"until", "label", "label!"}
    if unknown:
        raise ApiError(400, f"invalid filter '{sorted(unknown)[0]}'")
    if filters:
        raise ApiError(400, "pallet's container prune takes no filters yet")
    removed = prune_containers(_root(request))
    return {"ContainersDeleted": removed or None, "SpaceReclaimed": 0}


def top(request) -> dict:
    from pallet.runtime.container.views import top_processes
    record = request.container()
    if not record.state.get("Running"):
        raise ApiError(500, f"Container {record.id} is not running")
    titles, processes = top_processes(record, (request.arg("ps_args") or "-ef").split())
    return {"Titles": titles, "Processes": processes}

