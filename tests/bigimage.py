"""A one-layer image of random bytes (incompressible, so its blob is as big as its content),
made with `pallet import` into a store and pushed to a registry: what progress tests move.

    push_big_image(work_dir, registry_host, size=16 << 20) -> (store, reference)
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

from tests.conftest import PALLET


def push_big_image(work: Path, registry_host: str, size: int = 16 << 20,
                   repository: str = "prog/big:1") -> tuple[Path, str]:
    archive = work / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        data = os.urandom(size)
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    store = work / "store"
    reference = f"{registry_host}/{repository}"
    env = {k: v for k, v in os.environ.items() if k != "PALLET_ROOT"}
    for args in (("import", str(archive), reference), ("push", reference)):
        result = subprocess.run([str(PALLET), "--root", str(store), *args], capture_output=True,
                                env=env, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
    archive.unlink()
    return store, reference
