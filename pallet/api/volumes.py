"""Volume endpoints: list, create, inspect, remove, prune (runtime/volume/)."""

from __future__ import annotations

import json

from pallet.api.protocol import ApiError, Reply


def _root(request):
    return request.server.root


def document(volume, users: dict | None = None) -> dict:
    """The spec's Volume: Labels and Options are objects, never null."""
    doc = volume.document()
    doc["Labels"] = doc.get("Labels") or {}
    doc["Options"] = doc.get("Options") or {}
    if users is not None:
        doc["UsageData"] = {"Size": -1, "RefCount": len(users.get(volume.name, []))}
    return doc


def list_volumes(request) -> dict:
    from pallet.runtime.volume.store import list_volumes as volumes_of, volume_users
    from pallet.runtime.volume.views import check_filters, matches
    wanted = check_filters(request.filters())
    users = volume_users(_root(request))
    return {"Volumes": [document(v) for v in volumes_of(_root(request))
                        if matches(v, users, wanted)],
            "Warnings": []}


def create(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.volume.store import create_volume
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON: expected an object")
    for key in ("Labels", "DriverOpts"):
        value = body.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ApiError(400, f"invalid {key}: expected an object of strings")
    try:
        volume = create_volume(_root(request), name=body.get("Name") or None,
                               labels=body.get("Labels") or {},
                               driver=body.get("Driver") or "local",
                               options=body.get("DriverOpts") or {})
    except PalletError as error:
        raise ApiError(400 if "not found" not in error.message else 404, error.message) \
            from error
    return Reply(201, json.dumps(document(volume)).encode(), "application/json")


def inspect(request) -> dict:
    from pallet.runtime.volume.store import get_volume
    return document(get_volume(_root(request), request.params["name"]))


def remove(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.volume.store import VolumeNotFound, remove_volume
    try:
        remove_volume(_root(request), request.params["name"], force=request.flag("force"))
    except VolumeNotFound:
        raise
    except PalletError as error:
        raise ApiError(409, error.message) from error
    return Reply(204)


def prune(request) -> dict:
    from pallet.runtime.volume.store import prune_volumes
    filters = request.filters()
    unknown = set(filters) - {"label", "label!", "all"}
    if unknown:
        raise ApiError(400, f"Invalid filter '{sorted(unknown)[0]}'")
    # API 1.42+: only anonymous volumes unless all=true; before, every unused one
    all_ = any(v.lower() in ("true", "1") for v in filters.get("all", [])) or \
        request.version < (1, 42)
    removed, reclaimed = prune_volumes(_root(request), all_=all_,
                                       labels=tuple(filters.get("label", [])),
                                       not_labels=tuple(filters.get("label!", [])))
    return {"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed}
