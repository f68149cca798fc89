"""A JSON GET on the selected host without the docker SDK, for the listings (ps, images,
network ls, volume ls): the SDK's import (requests, urllib3, docker) is most of a remote command's time
(bench/RESULTS-remote-start.md), and a single GET needs none of it.

    listing(ctx, path, params, filters) -> JSON   GET path with filters= as JSON: here on
                                                  unix:// and tcp:// (plain or TLS), through
                                                  the SDK's session on ssh:// (its transport)
    get_json(ctx, path, params) -> object         the GET itself (unix:// and tcp:// only)

http.client from the standard library speaks the HTTP; the path is unversioned, so the host
answers in its own API version (the docker CLI negotiates to the same). Errors are the SDK
path's: an error status -> "Error response from daemon: M", a failed connection or TLS
handshake -> errors.connection_error's paragraph.
"""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlencode

from pallet.remote.errors import RemoteError, connection_error, tls_failure

TIMEOUT = 60   # seconds per socket operation, as the SDK client's


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def _tls_context(settings):
    """docker-py's TLSConfig over ssl: the server checked against the given CA (or the
    system's) when verify is on, the client certificate shown when there is one."""
    import ssl
    context = ssl.create_default_context(cafile=settings.ca if settings.verify else None)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.cert and settings.key:
        context.load_cert_chain(settings.cert, settings.key)
    return context


def _connection(host):
    if host.scheme == "unix":
        return _UnixConnection(host.address)
    name, _, port = host.address.rpartition(":")
    if host.tls is None:
        return http.client.HTTPConnection(name, int(port), timeout=TIMEOUT)
    return http.client.HTTPSConnection(name, int(port), timeout=TIMEOUT,
                                       context=_tls_context(host.tls))


def listing(ctx, path: str, params: dict, filters: dict):
    from pallet.remote import client, host
    if filters:
        params = {**params, "filters": json.dumps(filters)}
    if host(ctx).scheme in ("unix", "tcp"):
        return get_json(ctx, path, params)
    api = client(ctx)
    return api._result(api._get(api._url(path), params=params), True)


def get_json(ctx, path: str, params: dict | None = None):
    import ssl

    from pallet.remote import host as selected
    host = selected(ctx)
    query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
    connection = _connection(host)
    try:
        connection.request("GET", path + (f"?{query}" if query else ""),
                           headers={"User-Agent": "pallet", "Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
    except ssl.SSLError as error:
        raise tls_failure(host, error) from error
    except (OSError, http.client.HTTPException) as error:
        raise connection_error(host, error) from error
    finally:
        connection.close()
    if response.status >= 400:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = body.decode(errors="replace").strip()
        message = message or f"the host answered HTTP {response.status} without a message"
        raise RemoteError(f"Error response from daemon: {message}", exit_code=1)
    try:
        return json.loads(body)
    except ValueError as error:
        raise RemoteError(f"the host at {host.url} answered {path} with something other "
                          "than JSON", exit_code=1) from error
