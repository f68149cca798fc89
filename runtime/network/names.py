"""Host-wide names of what a store's networks create: bridges, nft tables, veths.

Interface and nft table names are global to the host, while pallet may run several stores on it
(tests and helpers each use their own): every name is derived from the store, so two stores
never collide. The default store (/var/lib/pallet) gets Docker-like short names (bridge
`pallet0`, nft table `pallet`); any other store gets a tag, the first 6 hex digits of the
SHA-256 of its absolute path (bridge `pallet-<tag>`, table `pallet-<tag>`). User networks'
bridges are `pbr-<network id prefix>` (Docker's are br-<id>: a different prefix keeps the two
apart on one host). Every bridge pallet makes carries the alias "pallet:<store path>", which is
how `system check --repair` tells its own bridges from anyone else's.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STORE = Path("/var/lib/pallet")
ALIAS_PREFIX = "pallet:"
IFNAMSIZ = 15  # usable characters of an interface name


def store_tag(root: Path) -> str:
    """'' for the default store, else 6 hex digits naming this store on the host."""
    path = os.path.abspath(root)
    if path == str(DEFAULT_STORE):
        return ""
    from pallet.runtime.store.digests import new_sha256  # no OpenSSL load on `run`
    digest = new_sha256(len(path))
    digest.update(path.encode())
    return digest.hexdigest()[:6]


def default_bridge(root: Path) -> str:
    tag = store_tag(root)
    return f"pallet-{tag}" if tag else "pallet0"


def user_bridge(network_id: str) -> str:
    return f"pbr-{network_id[:11]}"


def nft_table(root: Path) -> str:
    tag = store_tag(root)
    return f"pallet-{tag}" if tag else "pallet"


def bridge_alias(root: Path) -> str:
    return f"{ALIAS_PREFIX}{os.path.abspath(root)}"


def new_veth_name() -> str:
    """Docker's shape for the host end of a container's veth pair: veth + 7 hex digits."""
    return f"veth{os.urandom(4).hex()[:7]}"


def valid_interface_name(name: str) -> bool:
    return 0 < len(name) <= IFNAMSIZ and "/" not in name and not any(c.isspace() for c in name) \
        and name not in (".", "..")
