"""Network endpoints: list, inspect, create, remove, connect, disconnect, prune
(runtime/network/ and runtime/container/netconnect.py)."""

from __future__ import annotations

import json

from pallet.api.protocol import ApiError, Reply


def _root(request):
    return request.server.root


def _in_use(root) -> set[str]:
    from pallet.runtime.network.cleanup import live_endpoints
    from pallet.runtime.network.store import NetworkStore
    return {n.id for n in NetworkStore(root).networks() if live_endpoints(root, n)}


def document(root, network) -> dict:
    """The spec's Network: objects never null."""
    from pallet.runtime.network.views import inspect_document
    doc = inspect_document(root, network)
    doc["IPAM"]["Options"] = doc["IPAM"].get("Options") or {}
    doc["IPAM"]["Config"] = doc["IPAM"].get("Config") or []
    for key in ("Options", "Labels", "Containers"):
        doc[key] = doc.get(key) or {}
    return doc


def list_networks(request) -> list:
    from pallet.base.errors import PalletError
    from pallet.runtime.network.networks import ensure_predefined
    from pallet.runtime.network.store import NetworkStore
    from pallet.runtime.network.views import matches, parse_filters
    root = _root(request)
    items = tuple(f"{key}={value}" for key, values in request.filters().items()
                  for value in values)
    try:
        wanted = parse_filters(items)
    except PalletError as error:
        raise ApiError(400, error.message) from error
    ensure_predefined(root)
    in_use = _in_use(root) if any(key == "dangling" for key, _ in wanted) else set()
    return [document(root, network) for network in NetworkStore(root).networks()
            if matches(network, wanted, in_use)]


def inspect(request) -> dict:
    from pallet.runtime.network.networks import get_network
    root = _root(request)
    return document(root, get_network(root, request.params["id"]))


def create(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.network.networks import CreateRequest, create_network
    body = request.json(required=True)
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"]:
        raise ApiError(400, "invalid JSON: a network needs a Name")
    if body.get("EnableIPv6"):
        raise ApiError(400, "pallet's networks are IPv4 only: EnableIPv6 is not supported")
    ipam = body.get("IPAM") or {}
    configs = ipam.get("Config") or []
    if len(configs) > 1:
        raise ApiError(400, "pallet's networks take one IPAM config (one subnet)")
    config = configs[0] if configs else {}
    for key in ("Labels", "Options"):
        value = body.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ApiError(400, f"invalid {key}: expected an object of strings")
    try:
        network = create_network(_root(request), CreateRequest(
            name=body["Name"], driver=body.get("Driver") or "bridge",
            subnet=config.get("Subnet") or "", gateway=config.get("Gateway") or "",
            ip_range=config.get("IPRange") or "", internal=bool(body.get("Internal")),
            labels=body.get("Labels") or {}, options=body.get("Options") or {}))
    except PalletError as error:
        status = 409 if "already exists" in error.message else \
            404 if "not found" in error.message else 400
        raise ApiError(status, error.message) from error
    return Reply(201, json.dumps({"Id": network.id, "Warning": ""}).encode(),
                 "application/json")


def remove(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.network.networks import remove_network
    from pallet.runtime.network.store import NetworkNotFound
    try:
        remove_network(_root(request), request.params["id"])
    except NetworkNotFound:
        raise
    except PalletError as error:
        raise ApiError(403, error.message) from error
    return Reply(204)


def _container(body) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str) or \
            not body["Container"]:
        raise ApiError(400, "invalid JSON: Container is required")
    return body["Container"]


def connect(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.netconnect import connect as connect_container
    from pallet.runtime.container.state import ContainerNotFound
    from pallet.runtime.network.store import NetworkNotFound
    body = request.json(required=True)
    container = _container(body)
    endpoint = body.get("EndpointConfig") or {}
    address = ((endpoint.get("IPAMConfig") or {}).get("IPv4Address")) or ""
    aliases = tuple(endpoint.get("Aliases") or ())
    try:
        connect_container(_root(request), request.params["id"], container, address=address,
                          aliases=aliases)
    except (NetworkNotFound, ContainerNotFound):
        raise
    except PalletError as error:
        raise ApiError(403 if "cannot be" in error.message else 400, error.message) from error
    return Reply(200)


def disconnect(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.netconnect import disconnect as disconnect_container
    from pallet.runtime.container.state import ContainerNotFound
    from pallet.runtime.network.store import NetworkNotFound
    body = request.json(required=True)
    container = _container(body)
    try:
        disconnect_container(_root(request), request.params["id"], container)
    except (NetworkNotFound, ContainerNotFound):
        raise
    except PalletError as error:
        if body.get("Force") and "is not connected" in error.message:
            return Reply(200)
        raise ApiError(403 if "cannot be" in error.message else 400, error.message) from error
    return Reply(200)


def prune(request) -> dict:
    from pallet.runtime.network.networks import prune_networks
    filters = request.filters()
    if filters:
        raise ApiError(400, f"pallet's network prune takes no filters yet (got "
                            f"{', '.join(sorted(filters))})")
    return {"NetworksDeleted": prune_networks(_root(request))}
