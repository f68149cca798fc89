"""Test helper shared by every part: a busybox image in a private store, made without network.

    make_busybox_image(root: Path, ref: str = "busybox:latest", *, changes=('CMD ["sh"]',)) -> str
        Imports the busybox rootfs tarball (samples/base/make_rootfs.py) into the store at root
        and returns the image ID (sha256:...). The tarball is made once and cached in the temp
        dir (keyed by the busybox binary's size and mtime), so each call costs ~0.1 s.
    busybox_rootfs_tarball() -> Path
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAKE_ROOTFS = REPO / "samples" / "base" / "make_rootfs.py"
BUSYBOX = Path("/bin/busybox")


def busybox_rootfs_tarball() -> Path:
    """The busybox rootfs tarball, built once per machine state and reused (atomic rename)."""
    st = BUSYBOX.stat()
    key = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}:{MAKE_ROOTFS.stat().st_mtime_ns}"
                         .encode()).hexdigest()[:16]
    cached = Path(tempfile.gettempdir()) / f"pallet-test-busybox-{os.getuid()}-{key}.tar"
    if not cached.exists():
        partial = cached.with_suffix(f".{os.getpid()}.part")
        subprocess.run([sys.executable, str(MAKE_ROOTFS), str(partial)], check=True)
        os.replace(partial, cached)
    return cached


def make_busybox_image(root: Path, ref: str = "busybox:latest", *,
                       changes: tuple[str, ...] = ('CMD ["sh"]',)) -> str:
    """Import busybox as `ref` into the store at root; returns the image ID."""
    from pallet.runtime.image.importing import import_rootfs
    from pallet.runtime.store.content import Store

    from pallet.runtime.store import scratch

    store = Store.open(Path(root))
    with open(busybox_rootfs_tarball(), "rb") as source:
        image = import_rootfs(store, source, tags=[ref] if ref else [], changes=list(changes),
                              source_name="busybox-rootfs.tar")
    scratch.release(store.tmp_base)  # the test process keeps no scratch in the store it made
    return image.id
