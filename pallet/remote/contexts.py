"""Contexts, stored exactly where and how the docker CLI stores them, so `docker context ls` and
`pallet context ls` show the same:

    $DOCKER_CONFIG (default ~/.docker)/
        config.json                                  "currentContext": NAME
        contexts/meta/<sha256 of NAME>/meta.json      {"Name", "Metadata": {"Description"},
                                                      "Endpoints": {"docker": {"Host",
                                                      "SkipTLSVerify"}}}
        contexts/tls/<sha256 of NAME>/docker/{ca,cert,key}.pem

    Context            one stored context (frozen); .host() -> hosts.Host
    load(name) / all_contexts() / create(...) / remove(name) / set_current(name)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write
from pallet.remote.hosts import DEFAULT_CONTEXT, Host, TlsSettings, config_dir, parse_host

NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


class ContextError(PalletError):
    bare = True     # docker prints these alone: 'context "x" does not exist'


@dataclass(frozen=True)
class Context:
    name: str
    description: str = ""
    docker_host: str = ""
    skip_tls_verify: bool = False
    tls_files: tuple[str, ...] = ()          # which of TLS_FILES the context holds
    extra_metadata: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def meta_path(self) -> Path:
        return _meta_dir(self.name)

    @property
    def tls_path(self) -> Path:
        return _tls_dir(self.name)

    def host(self) -> Host:
        tls = None
        if self.tls_files:
            files = {name: str(self.tls_path / "docker" / name) if name in self.tls_files
                     else None for name in TLS_FILES}
            tls = TlsSettings(verify=not self.skip_tls_verify, ca=files["ca.pem"],
                              cert=files["cert.pem"], key=files["key.pem"])
        if not self.docker_host:
            raise ContextError(f'context "{self.name}" has no docker endpoint')
        return parse_host(self.docker_host, tls, context=self.name)


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _root() -> Path:
    return config_dir() / "contexts"


def _meta_dir(name: str) -> Path:
    return _root() / "meta" / _digest(name)


def _tls_dir(name: str) -> Path:
    return _root() / "tls" / _digest(name)


def check_name(name: str) -> None:
    if name == DEFAULT_CONTEXT:
        raise ContextError(f'"{DEFAULT_CONTEXT}" is a reserved context name')
    if not re.match(NAME_PATTERN, name):
        raise ContextError(f'context name "{name}" is invalid, names are validated against '
                           f'regexp "{NAME_PATTERN}"')


def _parse(document: dict, path: Path) -> Context:
    if not isinstance(document, dict) or not isinstance(document.get("Name"), str):
        raise ContextError(f"context metadata {path} is not a Docker context (no Name)")
    name = document["Name"]
    metadata = document.get("Metadata") or {}
    endpoint = ((document.get("Endpoints") or {}).get("docker")) or {}
    tls_dir = _tls_dir(name) / "docker"
    held = tuple(f for f in TLS_FILES if (tls_dir / f).is_file())
    return Context(name=name, description=str(metadata.get("Description") or ""),
                   docker_host=str(endpoint.get("Host") or ""),
                   skip_tls_verify=bool(endpoint.get("SkipTLSVerify")), tls_files=held,
                   extra_metadata={k: v for k, v in metadata.items() if k != "Description"})


def load(name: str) -> Context:
    path = _meta_dir(name) / "meta.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ContextError(f'context "{name}": context not found: open {path}: no such file '
                           "or directory",
                           hint='see "pallet context ls", or "pallet context create"') from None
    except (OSError, ValueError) as error:
        raise ContextError(f'context "{name}": cannot read {path}: {error}') from error
    return _parse(document, path)


def exists(name: str) -> bool:
    return (_meta_dir(name) / "meta.json").is_file()


def all_contexts() -> list[Context]:
    """Every stored context (unreadable ones skipped: `context ls` must still list the rest)."""
    found = []
    try:
        entries = list(os.scandir(_root() / "meta"))
    except FileNotFoundError:
        return []
    for entry in entries:
        path = Path(entry.path) / "meta.json"
        try:
            found.append(_parse(json.loads(path.read_text()), path))
        except (OSError, ValueError, PalletError):
            continue
    return found


def create(name: str, host: str, *, description: str = "", skip_tls_verify: bool = False,
           tls_sources: dict[str, str] | None = None) -> Context:
    """A new context; ``tls_sources`` maps ca.pem/cert.pem/key.pem to files copied in."""
    check_name(name)
    if exists(name):
        raise ContextError(f'context "{name}" already exists')
    materials = {}
    for target, source in (tls_sources or {}).items():
        try:
            materials[target] = Path(source).read_bytes()
        except OSError as error:
            raise ContextError(f"unable to create docker endpoint config: open {source}: "
                               f"{(error.strerror or str(error)).lower()}") from error
    meta = {"Name": name, "Metadata": {"Description": description} if description else {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}}}
    meta_dir, tls_dir = _meta_dir(name), _tls_dir(name) / "docker"
    try:
        if materials:
            tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for target, data in materials.items():
                atomic_write(tls_dir / target, data, mode=0o600)
        meta_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        # meta.json last: a context exists once it is there, so a failure leaves none
        atomic_write(meta_dir / "meta.json", json.dumps(meta, separators=(",", ":")),
                     mode=0o644)
    except OSError as error:
        shutil.rmtree(_tls_dir(name), ignore_errors=True)
        raise ContextError(f'cannot store context "{name}" under {_root()}: {error}') from error
    return load(name)


def remove(name: str) -> None:
    if name == DEFAULT_CONTEXT:
        raise ContextError(f'context "{DEFAULT_CONTEXT}" cannot be removed')
    if not exists(name):
        raise ContextError(f'context "{name}" does not exist')
    shutil.rmtree(_meta_dir(name))
    shutil.rmtree(_tls_dir(name), ignore_errors=True)


def _config_path() -> Path:
    return config_dir() / "config.json"


def _read_config() -> dict:
    try:
        document = json.loads(_config_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ContextError(f"cannot read {_config_path()}: {error}",
                           hint="fix or remove the file") from error
    return document if isinstance(document, dict) else {}


def set_current(name: str) -> None:
    """config.json's currentContext ("default" removes the key, as docker does); the file's
    other keys (auths, ...) are kept."""
    document = _read_config()
    if name == DEFAULT_CONTEXT:
        document.pop("currentContext", None)
    else:
        document["currentContext"] = name
    path = _config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, json.dumps(document, indent="\t"), mode=0o600)
