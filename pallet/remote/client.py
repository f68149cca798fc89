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
    from docker.api.client import APIClient
    from pallet.remote.errors import translated

    dialer = None
    if host.scheme == "ssh":
        from pallet.remote.transport import SshDialer
        dialer = SshDialer(host)
    with translated(host, dialer):
        if host.scheme == "unix":
            return APIClient(base_url=host.url, version="auto", timeout=TIMEOUT)
        if host.scheme == "tcp":
            return APIClient(base_url=_tcp_url(host), version="auto", timeout=TIMEOUT,
                             tls=_tls_config(host))
        return _ssh_client(dialer)


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


def _ssh_client(dialer):
    import requests
    from docker.api.client import APIClient
    from pallet.remote.transport import SshAdapter

    adapter = SshAdapter(dialer, TIMEOUT)
    # The version is negotiated as the docker CLI does (/_ping's Api-Version) on the adapter's
    # first ssh session, which the client then keeps using.
    session = requests.Session()
    session.mount("http+docker://", adapter)
    response = session.get("http+docker://localhost/_ping", timeout=TIMEOUT)
    response.raise_for_status()
    response.close()
    server = response.headers.get("Api-Version") or "1.24"
    # made for a placeholder socket, its one adapter then replaced: the SDK sends everything
    # to http+docker://localhost, whatever carries it
    api = APIClient(base_url="unix:///run/pallet/ssh-placeholder.sock", version=server,
                    timeout=TIMEOUT)
    api.mount("http+docker://", adapter)
    api.pallet_dialer = adapter.dialer   # errors.translated asks it why a connection failed
    return api
