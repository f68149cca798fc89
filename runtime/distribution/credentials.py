"""Registry credentials, kept where and how Docker keeps them (no credential helper):
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``), ``"auths": {KEY: {"auth":
base64("user:password")}}``, where KEY is the registry host, or ``https://index.docker.io/v1/``
for Docker Hub. So `docker login` also logs pallet in, and the other way round.

    lookup(domain) -> (username, password) | None
    save(domain, username, password) -> Path      the file written (0600, atomic)
    remove(domain) -> bool                        whether there was an entry
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(directory) / "config.json"


def _key(domain: str) -> str:
    return DOCKER_HUB_KEY if domain in ("docker.io", "index.docker.io", "registry-1.docker.io") \
        else domain


def _load() -> dict:
    try:
        document = json.loads(config_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise PalletError(f"cannot read {config_path()}: {error}",
                          hint="fix or remove the file") from error
    return document if isinstance(document, dict) else {}


def lookup(domain: str) -> tuple[str, str] | None:
    auths = _load().get("auths") or {}
    key = _key(domain)
    entry = auths.get(key) or auths.get(f"https://{key}") or auths.get(f"http://{key}")
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, TypeError):
        return None
    return username, password


def _write(document: dict) -> Path:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, json.dumps(document, indent="\t") + "\n", mode=0o600)
    return path


def save(domain: str, username: str, password: str) -> Path:
    document = _load()
    auths = document.setdefault("auths", {})
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[_key(domain)] = {"auth": token}
    return _write(document)


def remove(domain: str) -> bool:
    document = _load()
    auths = document.get("auths") or {}
    found = [key for key in (_key(domain), f"https://{_key(domain)}", f"http://{_key(domain)}")
             if key in auths]
    for key in found:
        del auths[key]
    if found:
        _write(document)
    return bool(found)
