"""An image of 600 layers runs. overlayfs stacks at most 500 lower layers and mount(2) takes
one page of options: the bottom layers are flattened into one directory (whiteouts applied by
the kernel, so deletions above still hide them) and long lowerdir lists go through short
names. Before, `run` failed with "mount overlay rootfs: Invalid argument"."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import run_pallet
from tests.images import busybox_rootfs_tarball

pytestmark = pytest.mark.root

COUNT = 600


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _docker_archive(path: Path) -> None:
    """busybox, then one small layer per step: l{i} added; the last layers overwrite a file
    of the first one, delete another and make a directory opaque."""
    layers = [busybox_rootfs_tarball().read_bytes(),
              _tar([("data/keep/old", b"old\n"), ("data/gone", b"gone\n"),
                    ("data/opaque/old", b"old\n")])]
    layers += [_tar([(f"layers/l{i:04d}", f"{i}\n".encode())]) for i in range(2, COUNT - 1)]
    layers.append(_tar([("data/keep/old", b"new\n"), ("data/.wh.gone", b""),
                        ("data/opaque/.wh..wh..opq", b""), ("data/opaque/new", b"new\n")]))
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"layer {i}"} for i in range(COUNT)]}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(path, "w") as archive:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
        add(config_name, config)
        names = []
        for diff_id, layer in zip(diff_ids, layers):
            names.append(f"{diff_id[7:]}/layer.tar")
            add(names[-1], layer)
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": ["many:600"],
                                          "Layers": names}]).encode())


def test_an_image_of_600_layers_runs_with_the_right_files(pallet_root, tmp_path):
    archive = tmp_path / "many.tar"
    _docker_archive(archive)
    loaded = run_pallet("load", "-i", str(archive), root=pallet_root, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    script = ("ls /layers | wc -l; cat /layers/l0002 /layers/l0598 /data/keep/old; "
              "ls /data; ls /data/opaque; test -x /bin/sh && echo shell")
    ran = run_pallet("run", "--rm", "many:600", "sh", "-c", script, root=pallet_root,
                     timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.decode().split() == [
        str(COUNT - 3), "2", "598", "new",   # overwritten above the flattened layers
        "keep", "opaque",                      # data/gone: its whiteout is above them
        "new",                                 # the opaque directory hides the old file
        "shell"]
    assert run_pallet("ps", "-aq", root=pallet_root).stdout == b""  # --rm removed it
