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


def _nanos(text: str | None, name: str) -> int | None:
    """since/until as clients send them: Unix seconds, maybe with a fraction ("1700.5",
    the docker CLI's "1700000000.000000001")."""
    if not text:
        return None
    seconds, _, fraction = text.partition(".")
    if not seconds.lstrip("-").isdigit() or (fraction and not fraction.isdigit()):
        raise ApiError(400, f"invalid {name}: {text!r} (Unix seconds expected)")
    return int(seconds) * 1_000_000_000 + int(fraction[:9].ljust(9, "0") if fraction else 0)


def events(request) -> None:
    from pallet.api.streams import client_gone
    from pallet.runtime.store.events import follow_events
    # dockerd takes any key here (no filters.Validate in getEvents): one it does not know
    # matches every event
    filters = request.filters()
    since = _nanos(request.arg("since"), "since")
    until = _nanos(request.arg("until"), "until")
    connection = request.handler.connection
    listeners = request.server.registry("event_listeners", lambda: [0])
    writer = request.stream("application/json")
    listeners[0] += 1
    try:
        for event in follow_events(request.server.root, since_ns=since, until_ns=until,
                                   filters=filters, stop=lambda: client_gone(connection)):
            writer.json(event)
        writer.close()
    except OSError:
        pass   # the client went away
    finally:
        listeners[0] -= 1
