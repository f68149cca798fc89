"""A container's upper dir is a full diff: renaming a lower-layer directory packs as a layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pallet.runtime.isolation import linux
from pallet.runtime.isolation.core import ContainerSpec, run_container
from pallet.runtime.image.layers import pack_layer, unpacked_layer_dir
from pallet.runtime.isolation.lowerdirs import overlay_data
from pallet.runtime.isolation.rootfs import OVERLAY_FULL_DIFF_OPTIONS
from pallet.runtime.store.content import Store
from tests.runtime.ctr_fixtures import busybox_lower, layer_dirs, leftovers  # noqa: F401


def test_container_overlays_turn_off_redirect_dir_and_metacopy():
    """Whatever the host overlay module's defaults, the options are explicit on every mount."""
    data = overlay_data("/l1:/l0", upper="/u", work="/w", options=OVERLAY_FULL_DIFF_OPTIONS)
    options = data.split(",")
    assert options[:3] == ["lowerdir=/l1:/l0", "upperdir=/u", "workdir=/w"]
    assert "redirect_dir=off" in options and "metacopy=off" in options


def _xattrs_under(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(directory, name)
            names = [x for x in os.listxattr(path, follow_symlinks=False)
                     if x in ("trusted.overlay.redirect", "trusted.overlay.metacopy")]
            if names:
                found[os.path.relpath(path, root)] = names
    return found


@pytest.mark.root
def test_moving_a_lower_directory_packs_into_a_correct_layer(busybox_lower, layer_dirs, tmp_path):
    upper, work = layer_dirs
    data_layer = tmp_path / "data-layer"       # a second lower layer with a directory tree
    (data_layer / "srv/conf/nested").mkdir(parents=True)
    (data_layer / "srv/conf/app.ini").write_text("[app]\n")
    (data_layer / "srv/conf/nested/deep.txt").write_text("deep\n")
    spec = ContainerSpec(rootfs_lowerdirs=(data_layer, busybox_lower), upper_dir=upper,
                         work_dir=work,
                         argv=("/bin/sh", "-c", "mv /srv/conf /srv/moved && chmod 700 /bin/busybox"
                               " && ls /srv/moved/nested/deep.txt"),
                         env=("PATH=/bin",))
    out: list[bytes] = []
    err: list[bytes] = []
    status = run_container(spec, stdout=out.append, stderr=err.append)
    assert status.code == 0, b"".join(err)
    assert b"".join(out).decode().strip() == "/srv/moved/nested/deep.txt"
    assert _xattrs_under(upper) == {}
    assert leftovers(upper, work) == []

    store = Store.open(tmp_path / "store")
    layer = pack_layer(store, upper)          # refuses redirect/metacopy upper dirs
    assert not layer.empty
    unpacked = unpacked_layer_dir(store, layer, layer.diff_id)
    merged = tmp_path / "merged"
    merged.mkdir()
    linux.mount("overlay", merged, "overlay", linux.MS_RDONLY,
                f"lowerdir={unpacked}:{data_layer}:{busybox_lower}")
    try:
        assert os.listdir(merged / "srv") == ["moved"]
        assert sorted(os.listdir(merged / "srv/moved")) == ["app.ini", "nested"]
        assert (merged / "srv/moved/nested/deep.txt").read_text() == "deep\n"
        assert (merged / "srv/moved/app.ini").read_text() == "[app]\n"
        copied = merged / "bin/busybox"     # chmod of a lower file copied up data, not metadata
        assert copied.stat().st_mode & 0o777 == 0o700
        assert copied.read_bytes() == (busybox_lower / "bin/busybox").read_bytes()
    finally:
        linux.umount2(merged)
