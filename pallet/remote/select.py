"""Which host a command talks to, resolved as the docker CLI resolves it.

    HostOptions        the global options (-H, --context, --tls*) as cli.py parsed them
    resolve(options)   -> Host | None       None: the local, daemonless store (context "default")
    current_context_name() -> str           config.json's currentContext, else "default"

Order (docker/cli's resolveContextName and ParseHost): -H, else --context, else PALLET_HOST,
else DOCKER_HOST, else DOCKER_CONTEXT, else config.json's currentContext, else "default".
-H together with --context is docker's "conflicting options" error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.remote.contexts import load
from pallet.remote.hosts import DEFAULT_CONTEXT, Host, TlsSettings, config_dir, parse_host


@dataclass(frozen=True)
class HostOptions:
    hosts: tuple[str, ...] = ()
    context: str | None = None
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None


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


