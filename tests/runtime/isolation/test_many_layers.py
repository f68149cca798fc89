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


def _docker_archive(path: Path, count: int = COUNT) -> None:
    """busybox, then one small layer per step: l{i} added; the last layers overwrite a file
    of the first one, delete another and make a directory opaque."""
    layers = [busybox_rootfs_tarball().read_bytes(),
              _tar([("data/keep/old", b"old\n"), ("data/gone", b"gone\n"),
                    ("data/opaque/old", b"old\n")])]
    layers += [_tar([(f"layers/l{i:04d}", f"{i}\n".encode())]) for i in range(2, count - 1)]
    layers.append(_tar([("data/keep/old", b"new\n"), ("data/.wh.gone", b""),
                        ("data/opaque/.wh..wh..opq", b""), ("data/opaque/new", b"new\n")]))
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"layer {i}"} for i in range(count)]}).encode()
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
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [f"many:{count}"],
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


def test_volumes_cp_and_export_of_a_600_layer_container(pallet_root, tmp_path):
    # Each of these mounted its own overlay of all the layers, which the kernel refuses past
    # 500 (and mount(2) past one page of options): the volume copy-up failed the run, cp and
    # export of the stopped container failed with "Invalid argument".
    archive = tmp_path / "many.tar"
    _docker_archive(archive)
    loaded = run_pallet("load", "-i", str(archive), root=pallet_root, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    ran = run_pallet("run", "--name", "many", "-v", "/data", "many:600", "sh", "-c",
                     "cat /data/keep/old; ls /data/opaque; test -e /data/gone || echo gone; "
                     "rm /layers/l0003; echo mine > /layers/mine",
                     root=pallet_root, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.decode().split() == ["new", "new", "gone"]   # copied up as the image has it
    copied = run_pallet("cp", "many:/layers/l0002", str(tmp_path / "l2"), root=pallet_root)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "l2").read_text() == "2\n"
    (tmp_path / "in").write_text("from host\n")
    put = run_pallet("cp", str(tmp_path / "in"), "many:/layers/", root=pallet_root)
    assert put.returncode == 0, put.stderr
    exported = run_pallet("export", "many", root=pallet_root, timeout=300)
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        names = set(tar.getnames())
        assert {"./layers/l0002", "./layers/l0598", "./layers/mine", "./layers/in",
                "./data/keep/old", "./bin/busybox"} <= names
        assert "./layers/l0003" not in names and "./data/gone" not in names
        assert tar.extractfile("./data/keep/old").read() == b"new\n"
    assert run_pallet("rm", "-v", "many", root=pallet_root).returncode == 0


def test_cp_and_export_of_a_stopped_container_with_a_long_layer_list(pallet_root, tmp_path):
    # 80 layers: far below overlayfs's limit, but their store paths overflow the one page of
    # mount options (4096 bytes), which only the container start handled.
    archive = tmp_path / "many.tar"
    _docker_archive(archive, 80)
    assert run_pallet("load", "-i", str(archive), root=pallet_root).returncode == 0
    created = run_pallet("create", "--name", "long", "many:80", root=pallet_root)
    assert created.returncode == 0, created.stderr
    lowers = json.loads(run_pallet("inspect", "long", root=pallet_root).stdout)[0][
        "GraphDriver"]["Data"]["LowerDir"]
    assert len(lowers) > 4096
    copied = run_pallet("cp", "long:/layers/l0077", str(tmp_path / "l77"), root=pallet_root)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "l77").read_text() == "77\n"
    exported = run_pallet("export", "long", root=pallet_root)
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        assert tar.extractfile("./data/keep/old").read() == b"new\n"
    assert run_pallet("rm", "long", root=pallet_root).returncode == 0
