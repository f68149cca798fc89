"""Which host a command talks to, resolved as the docker CLI resolves it.

    HostOptions        the global options (-H, --context, --tls*) as cli.py parsed them
    resolve(options)   -> Host | None       None: the local, daemonless store (context "default")
    parse_host(url, tls, context) -> Host   one endpoint URL checked (unix://, tcp://, ssh://)
    config_dir()       $DOCKER_CONFIG or ~/.docker (contexts and currentContext live there)

Order (docker/cli's resolveContextName and ParseHost): -H, else --context, else PALLET_HOST,
else DOCKER_HOST, else DOCKER_CONTEXT, else config.json's currentContext, else "default".
-H together with --context is docker's "conflicting options" error.
"""

from __future__ import annotations

import json
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


@dataclass(frozen=True)
class HostOptions:
    hosts: tuple[str, ...] = ()
    context: str | None = None
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None


def config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def current_context_name() -> str:
    """config.json's currentContext ("default" when unset or the file is missing)."""
    path = config_dir() / "config.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return DEFAULT_CONTEXT
    except (OSError, ValueError) as error:
        raise PalletError(f"cannot read the Docker client configuration {path}: {error}",
                          hint="fix or remove the file") from error
    name = document.get("currentContext") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_CONTEXT


def resolve(options: HostOptions) -> Host | None:
    if options.hosts and options.context:
        raise PalletError("conflicting options: either specify --host or --context, not both")
    if len(options.hosts) > 1:
        raise PalletError("specify only one -H (pallet talks to one host at a time)")
    environment_host = os.environ.get("PALLET_HOST") or os.environ.get("DOCKER_HOST")
    url = options.hosts[0] if options.hosts else None
    if url is None and not options.context and environment_host:
        url = environment_host
    if url is not None:
        return parse_host(url, _tls_from_options(options))
    name = options.context or os.environ.get("DOCKER_CONTEXT") or current_context_name()
    if name == DEFAULT_CONTEXT:
        return None
    from pallet.remote.contexts import load
    return load(name).host()


def _tls_from_options(options: HostOptions) -> TlsSettings | None:
    """--tls/--tlsverify and the DOCKER_TLS_VERIFY/DOCKER_CERT_PATH environment, as docker's
    flags: explicit file flags win; default files ($DOCKER_CERT_PATH or ~/.docker/{ca,cert,
    key}.pem) are used only when they exist."""
    verify = options.tlsverify or bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not (options.tls or verify or options.tlscacert or options.tlscert or options.tlskey):
        return None
    directory = Path(os.environ.get("DOCKER_CERT_PATH") or config_dir())

    def pick(given: str | None, name: str) -> str | None:
        if given:
            if not os.path.isfile(given):
                raise PalletError(f"could not read TLS file {given}: no such file")
            return given
        default = directory / name
        return str(default) if default.is_file() else None

    ca = pick(options.tlscacert, "ca.pem")
    if verify and ca is None:
        raise PalletError(f"--tlsverify needs the CA certificate: no {directory / 'ca.pem'} "
                          "(give --tlscacert or set DOCKER_CERT_PATH)")
    return TlsSettings(verify=verify, ca=ca, cert=pick(options.tlscert, "cert.pem"),
                       key=pick(options.tlskey, "key.pem"))


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
