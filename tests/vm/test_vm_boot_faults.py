"""The VM launcher (pallet/machine/vm/qemu.py) on VMs that cannot boot: a clear error with the
console's last lines (the one that says why kept), nothing left running."""

from __future__ import annotations

import os
import re

import pytest

from pallet.base.errors import PalletError
from pallet.machine.vm import image as vm_image
from pallet.machine.vm import qemu
from tests.vm.guestvm import qemu_processes

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.xdist_group("vm"),
              pytest.mark.timeout(1800)]


@pytest.mark.parametrize("fault", ["corrupted disk", "too little memory"])
def test_a_vm_that_cannot_boot_is_a_clear_error_and_leaves_nothing(tmp_path, fault):
    image = vm_image.ensure_image()
    disk = tmp_path / "disk.qcow2"
    memory = 1024
    if fault == "corrupted disk":
        garbage = tmp_path / "garbage.raw"
        garbage.write_bytes(os.urandom(1 << 20) * 64)
        qemu.make_overlay(garbage, disk)
    else:
        qemu.make_overlay(image.disk, disk)
        memory = 96     # the kernel panics (out of memory) before it reaches the initramfs
    config = qemu.Config(name="noboot", directory=tmp_path, kernel=image.kernel,
                         initrd=image.initrd, disk=disk, cpus=1, memory_mb=memory,
                         boot_timeout=600)
    with pytest.raises(PalletError) as raised:
        qemu.boot(config)
    message = raised.value.message
    assert "machine noboot's VM stopped while booting; the last console lines:" in message
    assert re.search(r"Kernel panic|ALERT!|Out of memory|Gave up waiting", message), message
    assert qemu.is_running(tmp_path) is None and qemu_processes(tmp_path) == []
