"""Builder test fixtures: a store with busybox, a build helper, and image flattening."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from tests.images import make_busybox_image


@pytest.fixture
def busybox_root(pallet_root: Path) -> Path:
    make_busybox_image(pallet_root)
    return pallet_root


def write_tree(base: Path, files: dict[str, str | bytes]) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return base


def build_image(root: Path, context: Path, *, quiet_stream=None, progress: str = "plain",
                quiet: bool = False, **request):
    """Run the library build with plain progress captured; returns (result, progress text).
    request: BuildRequest's fields."""
    from pallet.builder.build import build
    from pallet.builder.request import BuildRequest, ContextSource

    stream = quiet_stream or io.StringIO()
    result = build(BuildRequest(context=ContextSource(directory=context), **request), root=root,
                   progress=progress, quiet=quiet, progress_stream=stream)
    return result, stream.getvalue()


def flatten(root: Path, reference: str) -> dict[str, tuple]:
    """path -> (kind, mode, uid, gid, sha256-of-content | link target) of an image's rootfs."""
    from pallet.builder.layerview import LayeredView
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.store.content import Store

    store = Store.open(root)
    view = LayeredView(layer_dirs(store, resolve_image(store, reference)))
    out: dict[str, tuple] = {}

    def walk(directory: str) -> None:
        for name in view.listdir(directory):
            path = f"{directory.rstrip('/')}/{name}"
            found = view.lookup(path)
            st = os.lstat(found)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                out[path] = ("dir", mode, st.st_uid, st.st_gid, "")
                walk(path)
            elif stat.S_ISLNK(st.st_mode):
                out[path] = ("symlink", mode, st.st_uid, st.st_gid, os.readlink(found))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(found.read_bytes()).hexdigest()
                out[path] = ("file", mode, st.st_uid, st.st_gid, digest)
            else:
                out[path] = ("other", mode, st.st_uid, st.st_gid, "")

    walk("/")
    return out


def image_config(root: Path, reference: str) -> dict:
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    return resolve_image(Store.open(root), reference).config


def read_file(root: Path, reference: str, path: str) -> str:
    from pallet.builder.layerview import LayeredView
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.store.content import Store
    store = Store.open(root)
    text = LayeredView(layer_dirs(store, resolve_image(store, reference))).read_text(path)
    assert text is not None, f"{path} missing in {reference}"
    return text
