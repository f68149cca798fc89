"""Sizes of layers the store has seen (layerinfo/<diffid-hex>.json): the tar's bytes and
Docker's SIZE (the content bytes), recorded when a layer is packed, imported or unpacked.

    record_layer_size(store, diff_id, tar_size, content_size)
    layer_size(store, diff_id) -> tar bytes | None
    layer_content_size(store, diff_id) -> Docker's SIZE bytes | None
"""

from __future__ import annotations

from pallet.base.files import atomic_write, private_dir
from pallet.runtime.store.content import Store
from pallet.runtime.store.digests import sha256_hex


def record_layer_size(store: Store, diff_id: str, tar_size: int, content_size: int) -> None:
    """Remember a layer's uncompressed tar size and its content size (file bytes + symlink
    targets, hard links once: what Docker shows as a layer's SIZE)."""
    directory = private_dir(store.root / "layerinfo")
    path = directory / sha256_hex(diff_id, what="diff ID")
    if not path.exists():
        atomic_write(path, f"{tar_size} {content_size}".encode(), tmp_dir=store.tmp)


def _layer_info(store: Store, diff_id: str) -> list[int] | None:
    try:
        values = [int(v) for v in (store.root / "layerinfo" / diff_id[len("sha256:"):]).read_text().split()]
    except (OSError, ValueError):
        return None
    return values if len(values) == 2 else None


def layer_size(store: Store, diff_id: str) -> int | None:
    """The uncompressed tar size of a layer, if pallet has seen it (None otherwise)."""
    info = _layer_info(store, diff_id)
    return info[0] if info else None


def layer_content_size(store: Store, diff_id: str) -> int | None:
    """Docker's layer SIZE (content bytes), if pallet has seen the layer (None otherwise)."""
    info = _layer_info(store, diff_id)
    return info[1] if info else None
