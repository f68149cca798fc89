"""System endpoints: /_ping, /version, /info, /auth, /system/df, /events."""

from __future__ import annotations

from pallet.api.protocol import API_VERSION, MIN_API_VERSION, ApiError, Reply

_NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


def ping(request) -> Reply:
    # Builder-Version 1: the classic builder (/build); BuildKit's session API is not served.
    headers = {**_NO_CACHE, "Builder-Version": "1", "Swarm": "inactive"}
    return Reply(200, b"OK", "text/plain; charset=utf-8", headers)


def version(request) -> dict:
    from pallet.runtime.info import engine_version
    return engine_version(API_VERSION, MIN_API_VERSION)


def info(request) -> dict:
    from pallet.runtime.info import engine_info
    document = engine_info(request.server.root)
    document["NEventsListener"] = request.server.registry("event_listeners", lambda: [0])[0]
    return document


def auth(request) -> dict:
    """`docker login` against the engine: check the credentials with the registry."""
    from pallet.runtime.distribution.registry import RegistryClient, RegistryError
    body = request.json(required=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON: expected an object")
    server = (body.get("serveraddress") or "docker.io").removeprefix("https://") \
        .removeprefix("http://").split("/")[0]
    if server in ("index.docker.io", "registry-1.docker.io"):
        server = "docker.io"
    username, password = body.get("username") or "", body.get("password") or ""
    client = RegistryClient(server, "", credentials=(username, password))
    try:
        client.check_login()
    except RegistryError as error:
        raise ApiError(401, error.message) from error
    return {"Status": "Login Succeeded", "IdentityToken": ""}
