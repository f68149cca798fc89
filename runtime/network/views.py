"""What `network inspect` and `network ls` show, as Docker 20.10 shows it."""

from __future__ import annotations

from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.network.model import Network
from pallet.runtime.network.store import NetworkStore

FILTERS = ("driver", "id", "label", "name", "scope", "type", "dangling")


def inspect_document(root: Path, network: Network) -> dict:
    from pallet.runtime.network.cleanup import owner_alive
    containers = {}
    for endpoint in NetworkStore(root).endpoints(network.id):
        if owner_alive(endpoint):
            containers[endpoint.container_id] = {
                "Name": endpoint.name, "EndpointID": endpoint.endpoint_id,
                "MacAddress": endpoint.mac,
                "IPv4Address": f"{endpoint.address}/{endpoint.prefixlen}", "IPv6Address": ""}
    return {
        "Name": network.name, "Id": network.id, "Created": network.created, "Scope": "local",
        "Driver": network.driver, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": network.ipam_options,
                 "Config": [dict(entry) for entry in network.ipam_config]},
        "Internal": network.internal, "Attachable": False, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": containers,
        "Options": dict(network.options), "Labels": dict(network.labels),
    }


def _created_at(created: str) -> str:
    """Go's time.Time String(): '2026-11-30 07:59:03.5696046 +0000 UTC'."""
    day, _, clock = created.rstrip("Z").partition("T")
    if "." in clock:
        clock = clock.rstrip("0").rstrip(".")
    return f"{day} {clock} +0000 UTC"


def ls_row(network: Network, *, no_trunc: bool = False) -> dict:
    labels = ",".join(f"{k}={v}" for k, v in sorted(network.labels.items()))
    return {"CreatedAt": _created_at(network.created), "Driver": network.driver,
            "ID": network.id if no_trunc else network.id[:12], "IPv4": "true", "IPv6": "false",
            "Internal": "true" if network.internal else "false", "Labels": labels,
            "Name": network.name, "Scope": "local"}


def parse_filters(items: tuple[str, ...]) -> list[tuple[str, str]]:
    parsed = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PalletError("bad format of filter (expected name=value)")
        if key not in FILTERS:
            raise PalletError(f"Invalid filter '{key}'")
        if key == "type" and value not in ("custom", "builtin"):
            raise PalletError(f"Invalid filter: 'type'='{value}'")
        parsed.append((key, value))
    return parsed


def matches(network: Network, filters: list[tuple[str, str]], in_use: set[str]) -> bool:
    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        by_key.setdefault(key, []).append(value)
    for key, values in by_key.items():
        if key == "driver" and network.driver not in values:
            return False
        if key == "id" and not any(network.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v in network.name for v in values):
            return False
        if key == "scope" and "local" not in values:
            return False
        if key == "type" and ("builtin" if network.predefined else "custom") not in values:
            return False
        if key == "dangling":
            dangling = not network.predefined and network.id not in in_use
            if not any((v.lower() in ("true", "1")) == dangling for v in values):
                return False
        if key == "label":
            for value in values:
                name, has_value, wanted = value.partition("=")
                if name not in network.labels or (has_value and network.labels[name] != wanted):
                    return False
    return True
