"""A host endpoint, checked as docker's ParseHost and connhelper check it.

    Host, TlsSettings                      frozen: what the transports need
    parse_host(url, tls, context) -> Host  unix://PATH, tcp://HOST[:PORT], ssh://[USER@]HOST[:PORT]
    config_dir()                           $DOCKER_CONFIG or ~/.docker
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pallet.base.errors import PalletError

DEFAULT_CONTEXT = "default"


@dataclass(frozen=True)
class TlsSettings:
    verify: bool                  # check the server's certificate against ca
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Host:
    url: str                      # as docker prints it: unix:///path, tcp://h:p, ssh://u@h:p
    scheme: str                   # "unix", "tcp" or "ssh"
    address: str                  # socket path, "host:port", or the ssh host name
    user: str | None = None       # ssh only
    port: int | None = None       # tcp and ssh (None: ssh's own default)
    tls: TlsSettings | None = None
    context: str = DEFAULT_CONTEXT   # the context it came from (version/info show it)


def config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def parse_host(url: str, tls: TlsSettings | None = None,
               context: str = DEFAULT_CONTEXT) -> Host:
    """One endpoint, checked as docker's ParseHost/connhelper do."""
    text = url.strip()
    if "://" not in text:
        # docker accepts a bare path or host:port (tcp); keep the same reading
        text = f"unix://{text}" if text.startswith("/") else f"tcp://{text}"
    scheme = text.split("://", 1)[0].lower()
    if scheme == "unix":
        path = text[len("unix://"):]
        if not path.startswith("/"):
            raise PalletError(f"invalid host {url!r}: a unix:// address needs an absolute "
                              "path (unix:///run/pallet/pallet.sock)")
        return Host(url=f"unix://{path}", scheme="unix", address=path, tls=None,
                    context=context)
    if scheme == "tcp":
        return _tcp(url, text, tls, context)
    if scheme == "ssh":
        return _ssh(url, text, context)
    if scheme in ("http", "https"):
        return _tcp(url, "tcp://" + text.split("://", 1)[1], tls, context)
    raise PalletError(f"invalid host {url!r}: unsupported protocol {scheme!r} "
                      "(use unix://, tcp:// or ssh://)")


def _tcp(original: str, text: str, tls: TlsSettings | None, context: str) -> Host:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise PalletError(f"invalid host {original!r}: {error}") from error
    if not parts.hostname:
        raise PalletError(f"invalid host {original!r}: no host name or address")
    if parts.path not in ("", "/"):
        raise PalletError(f"invalid host {original!r}: a tcp:// address takes no path")
    port = port or (2376 if tls is not None else 2375)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Host(url=f"tcp://{host}:{port}", scheme="tcp", address=f"{host}:{port}", port=port,
                tls=tls, context=context)


def _ssh(original: str, text: str, context: str) -> Host:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise PalletError(f"invalid ssh host {original!r}: {error}") from error
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        # docker turns a path into `docker --host unix://PATH system dial-stdio`; the host
        # side of pallet always dials its own socket, so a path would be silently ignored
        raise PalletError(f"invalid ssh host {original!r}: an ssh:// address takes no path "
                          f"(got {parts.path!r}); pallet's host side dials its own socket",
                          hint="use ssh://[user@]host[:port]")
    if parts.password is not None:
        raise PalletError(f"invalid ssh host {original!r}: plain-text passwords are not "
                          "supported (use keys or ssh-agent)")
    if not parts.hostname:
        raise PalletError(f"invalid ssh host {original!r}: no host name")
    user = parts.username
    netloc = (f"{user}@" if user else "") + parts.hostname + (f":{port}" if port else "")
    return Host(url=f"ssh://{netloc}", scheme="ssh", address=parts.hostname, user=user,
                port=port, context=context)
