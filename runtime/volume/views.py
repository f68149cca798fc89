"""Docker's volume filters (`volume ls --filter`, GET /volumes), for both fronts.

    check_filters(filters) -> filters            raises InvalidFilter (Docker's words)
    matches(volume, users, filters) -> bool      users: volume_users(root)
"""

from __future__ import annotations

from pallet.base.errors import PalletError

KEYS = ("dangling", "label", "name", "driver")


class InvalidFilter(PalletError):
    http_status = 400


def check_filters(filters: dict[str, list[str]]) -> dict[str, list[str]]:
    for key in filters:
        if key not in KEYS:
            raise InvalidFilter(f"Invalid filter '{key}'")
    for value in filters.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidFilter(f"Invalid filter 'dangling=[{value}]'")
    return filters


def matches(volume, users: dict, filters: dict[str, list[str]]) -> bool:
    for value in filters.get("dangling", []):
        if (volume.name not in users) != (value.lower() in ("true", "1")):
            return False
    names = filters.get("name")
    if names and not any(n in volume.name for n in names):
        return False
    drivers = filters.get("driver")
    if drivers and "local" not in drivers:
        return False
    for item in filters.get("label", []):
        key, sep, value = item.partition("=")
        if key not in volume.labels or (sep and volume.labels[key] != value):
            return False
    return True
