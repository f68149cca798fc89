"""The docker SDK's APIClient for a hosts.Host: unix://, tcp:// (TLS) and ssh:// (transport.py).

    client_for(ctx) -> docker.APIClient   one per command (kept in ctx.meta), made on first use
    connect(host)   -> docker.APIClient   the API version negotiated with the server
"""

from __future__ import annotations

from pallet.remote.hosts import Host

_META_KEY = "pallet.remote.client"
TIMEOUT = 60          # seconds per socket operation, docker-py's default


def client_for(ctx):
    meta = ctx.meta
    api = meta.get(_META_KEY)
    if api is None:
        from pallet.remote.dispatch import selected_host
        api = meta[_META_KEY] = connect(selected_host(ctx))
        ctx.call_on_close(api.close)
    return api


def connect(host: Host):
    import sys
    # The SDK's own ssh transport (paramiko) is never used here (transport.py is ours); the
    # SDK imports it only if it can, and it costs more start-up than the rest of the SDK.
    sys.modules.setdefault("paramiko", None)
    from pallet.remote.errors import translated
    dialer = None
    if host.scheme == "ssh":
        from pallet.remote.transport import SshDialer
        dialer = SshDialer(host)
    with translated(host, dialer):
        # The API version is negotiated as the docker CLI does it (/_ping's Api-Version, one
        # small request) on the connection the client then keeps using.
        probe = _client(host, MIN_API_VERSION, dialer)
        response = probe.get(f"{probe.base_url}/_ping", timeout=TIMEOUT)
        response.raise_for_status()
        response.close()
        server = response.headers.get("Api-Version") or MIN_API_VERSION
        api = _client(host, server, dialer)
        api.adapters = probe.adapters       # the pools, with the connection already open
        return api


MIN_API_VERSION = "1.24"


def _client(host: Host, version: str, dialer):
    from docker.api.client import APIClient
    if host.scheme == "unix":
        api = APIClient(base_url=host.url, version=version, timeout=TIMEOUT)
    elif host.scheme == "tcp":
        api = APIClient(base_url=_tcp_url(host), version=version, timeout=TIMEOUT,
                        tls=_tls_config(host))
    else:
        from pallet.remote.transport import SshAdapter
        # made for a placeholder socket, its one adapter then replaced: the SDK sends
        # everything to http+docker://localhost, whatever carries it
        api = APIClient(base_url="unix:///run/pallet/ssh-placeholder.sock", version=version,
                        timeout=TIMEOUT)
        api.mount("http+docker://", SshAdapter(dialer, TIMEOUT))
    # requests would let REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace the host's CA (and proxy
    # variables reroute it): the host and its TLS files are the ones selected, as in docker
    api.trust_env = False
    api.pallet_dialer = dialer      # errors.translated asks it why an ssh session failed
    return api


def _tcp_url(host: Host) -> str:
    return ("https://" if host.tls else "http://") + host.address


def _tls_config(host: Host):
    if host.tls is None:
        return False
    from docker.tls import TLSConfig
    settings = host.tls
    client_cert = (settings.cert, settings.key) if settings.cert and settings.key else None
    verify = (settings.ca or True) if settings.verify else False
    return TLSConfig(client_cert=client_cert, ca_cert=settings.ca, verify=verify)


def post(api, path: str, params: dict | None = None, timeout: float | None = None):
    """A POST the SDK has no method for (stop with a signal), on the client's own session and
    negotiated version; an error status raises requests' HTTPError (errors.py words it)."""
    from urllib.parse import quote
    url = f"{api.base_url}/v{api.api_version}{quote(path)}"
    response = api.post(url, params=params or {}, timeout=timeout or TIMEOUT)
    response.raise_for_status()
    return response
