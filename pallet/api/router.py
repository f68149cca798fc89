"""The route table and the dispatcher: path -> endpoint, version check, errors as JSON.

Routes are written as in moby's router (`/containers/{name}/json`); `{name:.*}` takes slashes
(image names have them). Endpoint modules are named by string and imported on first use.
"""

from __future__ import annotations

import importlib
import re
import socket
import sys
import traceback

from pallet.base.errors import PalletError
from pallet.api.protocol import (API_VERSION, MIN_API_VERSION, ApiError, Handler, Reply, Request,
                                 split_target, version_tuple)

# (method, pattern, "module:function"); the first match wins, so fixed paths come before
# the image routes whose {name:.*} would swallow them.
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/_ping", "system:ping"),
    ("HEAD", "/_ping", "system:ping"),
    ("GET", "/version", "system:version"),
    ("GET", "/info", "system:info"),
    ("GET", "/events", "system:events"),
    ("GET", "/system/df", "resources:disk_usage"),
    ("POST", "/auth", "system:auth"),
    # images
    ("GET", "/images/json", "images:list_images"),
    ("POST", "/images/create", "distribution:create_image"),
    ("POST", "/images/load", "images:load"),
    ("GET", "/images/get", "images:save_many"),
    ("POST", "/images/prune", "images:prune"),
    ("GET", "/images/search", "images:search"),
    ("GET", "/images/{name:.*}/json", "images:inspect"),
    ("GET", "/images/{name:.*}/history", "images:history"),
    ("GET", "/images/{name:.*}/get", "images:save_one"),
    ("POST", "/images/{name:.*}/tag", "images:tag"),
    ("POST", "/images/{name:.*}/push", "distribution:push"),
    ("DELETE", "/images/{name:.*}", "images:delete"),
    ("GET", "/distribution/{name:.*}/json", "distribution:inspect"),
    ("POST", "/build", "build:build"),
    ("POST", "/build/prune", "build:prune"),
    ("POST", "/commit", "resources:commit"),
    # containers
    ("GET", "/containers/json", "containers:list_containers"),
    ("POST", "/containers/create", "create:create"),
    ("POST", "/containers/prune", "containers:prune"),
    ("GET", "/containers/{name}/json", "containers:inspect"),
    ("GET", "/containers/{name}/top", "containers:top"),
    ("GET", "/containers/{name}/logs", "streams:logs"),
    ("GET", "/containers/{name}/changes", "resources:changes"),
    ("GET", "/containers/{name}/export", "archive:export"),
    ("GET", "/containers/{name}/stats", "resources:stats"),
    ("POST", "/containers/{name}/resize", "streams:resize"),
    ("POST", "/containers/{name}/start", "containers:start"),
    ("POST", "/containers/{name}/stop", "containers:stop"),
    ("POST", "/containers/{name}/restart", "containers:restart"),
    ("POST", "/containers/{name}/kill", "containers:kill"),
    ("POST", "/containers/{name}/update", "resources:update"),
    ("POST", "/containers/{name}/rename", "containers:rename"),
    ("POST", "/containers/{name}/pause", "containers:pause"),
    ("POST", "/containers/{name}/unpause", "containers:unpause"),
    ("POST", "/containers/{name}/attach", "streams:attach"),
    ("POST", "/containers/{name}/wait", "waits:wait"),
    ("DELETE", "/containers/{name}", "containers:remove"),
    ("HEAD", "/containers/{name}/archive", "archive:stat"),
    ("GET", "/containers/{name}/archive", "archive:get"),
    ("PUT", "/containers/{name}/archive", "archive:put"),
    # exec
    ("POST", "/containers/{name}/exec", "execs:create"),
    ("POST", "/exec/{id}/start", "execs:start"),
    ("POST", "/exec/{id}/resize", "execs:resize"),
    ("GET", "/exec/{id}/json", "execs:inspect"),
    # networks and volumes (the engine's network/ and volume/ parts)
    ("GET", "/networks", "networks:list_networks"),
    ("POST", "/networks/create", "networks:create"),
    ("POST", "/networks/prune", "networks:prune"),
    ("GET", "/networks/{id}", "networks:inspect"),
    ("DELETE", "/networks/{id}", "networks:remove"),
    ("POST", "/networks/{id}/connect", "networks:connect"),
    ("POST", "/networks/{id}/disconnect", "networks:disconnect"),
    ("GET", "/volumes", "volumes:list_volumes"),
    ("POST", "/volumes/create", "volumes:create"),
    ("POST", "/volumes/prune", "volumes:prune"),
    ("GET", "/volumes/{name}", "volumes:inspect"),
    ("DELETE", "/volumes/{name}", "volumes:remove"),
]


def _compile(pattern: str) -> re.Pattern:
    def group(match: re.Match) -> str:
        name, _, expression = match.group(1).partition(":")
        return f"(?P<{name}>{expression or '[^/]+'})"
    return re.compile("^" + re.sub(r"\{([^}]+)\}", group, pattern) + "$")


def error_status(error: PalletError) -> int:
    """The spec's status for a library error, by its type (never by its text)."""
    status = getattr(error, "http_status", None)
    if status:
        return status
    from pallet.runtime.image.images import ImageNotFound
    from pallet.runtime.image.removal import ImageConflict
    from pallet.runtime.container.state import ContainerNotFound, NameConflict
    from pallet.runtime.volume.store import VolumeNotFound
    not_found = [ImageNotFound, ContainerNotFound, VolumeNotFound]
    try:
        from pallet.runtime.network.store import NetworkNotFound
        not_found.append(NetworkNotFound)
    except ModuleNotFoundError:
        pass
    if isinstance(error, tuple(not_found)):
        return 404
    if isinstance(error, (ImageConflict, NameConflict)):
        return 409
    return 500


def error_message(error: PalletError) -> str:
    """The library error's text as the engine words it: an image not found is named as
    dockerd names it (`No such image: nosuch:latest`, not the `nosuch` that was asked)."""
    from pallet.runtime.image.images import ImageNotFound
    if isinstance(error, ImageNotFound) and error.reference is not None:
        from pallet.runtime.store.references import engine_spelling
        return f"No such image: {engine_spelling(error.reference)}"
    return error.message


class Router:
    def __init__(self) -> None:
        self.routes = [(method, _compile(pattern), target) for method, pattern, target in ROUTES]
        self.modules: dict[str, object] = {}

    def find(self, method: str, path: str):
        """(endpoint, params) or raise 404/405."""
        allowed = False
        for route_method, regex, target in self.routes:
            match = regex.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed = True
                continue
            module_name, _, function = target.partition(":")
            module = self.modules.get(module_name)
            if module is None:
                try:
                    module = importlib.import_module(f"pallet.api.{module_name}")
                except ModuleNotFoundError as error:
                    if error.name != f"pallet.api.{module_name}":
                        raise
                    raise ApiError(501, f"{method} {path} is not implemented by pallet yet") \
                        from None
                self.modules[module_name] = module
            endpoint = getattr(module, function, None)
            if endpoint is None:
                raise ApiError(501, f"{method} {path} is not implemented by pallet yet")
            return endpoint, match.groupdict()
        if allowed:
            raise ApiError(405, "method not allowed")
        raise ApiError(404, "page not found")

    def dispatch(self, handler: Handler) -> None:
        request = None
        handler.answered = False
        try:
            path, version, query = split_target(handler)
            if version is None:
                version = version_tuple(API_VERSION)
            elif version > version_tuple(API_VERSION):
                raise ApiError(400, f"client version {version[0]}.{version[1]} is too new. "
                                    f"Maximum supported API version is {API_VERSION}")
            elif version < version_tuple(MIN_API_VERSION):
                raise ApiError(400, f"client version {version[0]}.{version[1]} is too old. "
                                    f"Minimum supported API version is {MIN_API_VERSION}, "
                                    "please upgrade your client to a newer version")
            endpoint, params = self.find(handler.command, path)
            request = Request(handler, handler.command, path, version, query, params)
            with handler.server.tracking(request):
                result = endpoint(request)
            if handler.answered:
                return
            headers = _closing(request)
            if isinstance(result, Reply):
                handler.send_bytes(result.status, result.body, result.content_type,
                                   {**result.headers, **headers})
            elif result is None:
                handler.send_bytes(204, b"", None, headers)
            else:
                handler.send_json(200, result, headers)
        except (BrokenPipeError, ConnectionResetError, socket.timeout) as error:
            # The client's connection, or one of the engine's own (a container's monitor
            # going away between a look at its state and a greeting): only the first means
            # nobody is left to answer. Closing silently on the second dropped a request
            # that the client had sent on a kept-alive connection ("Remote end closed
            # connection without response", seen once in the 4-client soak).
            from pallet.api.streams import client_gone
            if handler.answered or client_gone(handler.connection):
                handler.close_connection = True
            else:
                self._fail(handler, 500, f"the engine lost a connection of its own: {error}",
                           request)
        except ApiError as error:
            self._fail(handler, error.status, error.message, request)
        except PalletError as error:
            self._fail(handler, error_status(error), error_message(error), request)
        except Exception as error:  # noqa: BLE001 - a bug: logged, answered 500, server lives
            traceback.print_exc(file=sys.stderr)
            self._fail(handler, 500, f"internal error: {type(error).__name__}: {error}", request)
        finally:
            # An unread body would be taken for the next request on this connection.
            if request is not None and request.unread_body():
                handler.close_connection = True

    @staticmethod
    def _fail(handler: Handler, status: int, message: str, request=None) -> None:
        if handler.answered:
            # Headers are out: a stream ends with Docker's in-band error, a hijack just closes.
            handler.close_connection = True
            return
        try:
            handler.send_json(status, {"message": message}, _closing(request))
        except OSError:
            handler.close_connection = True


# A body left unread up to this size is read and dropped so the connection stays usable (Go's
# net/http server does the same with 256 KiB); a larger rest closes the connection.
DRAIN_BYTES = 256 * 1024
DRAIN_SECONDS = 2


def _closing(request) -> dict:
    """The headers that tell the client this connection ends with this answer (so it never
    sends its next request on a connection we close), when the request's body could not be
    read to its end; {} when the connection stays open."""
    if request is None or not request.unread_body():
        return {}
    connection = request.handler.connection
    try:
        connection.settimeout(DRAIN_SECONDS)    # a client sending slowly is not waited for
        body = request.body()
        left = DRAIN_BYTES
        while left > 0 and not body.done:
            data = body.read(min(65536, left))
            if not data:
                break
            left -= len(data)
        if body.done:
            return {}
    except (ApiError, OSError):
        pass
    finally:
        try:
            connection.settimeout(request.handler.timeout)
        except OSError:
            pass
    return {"Connection": "close"}
