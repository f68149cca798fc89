"""The VM launcher (pallet/machine/vm/qemu.py) on VMs that cannot boot: a clear error with the
console's last lines (the one that says why kept), nothing left running; and on a VM that
cannot be asked to power off."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from pallet.base.errors import PalletError
from pallet.machine.vm import image as vm_image
from pallet.machine.vm import qemu, ssh
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


def test_shutdown_of_a_vm_that_cannot_be_asked_kills_it(tmp_path):
    """A guest that answers nothing (here a qemu whose CPUs never start, -S: its forwarded ssh
    port accepts and stays silent, as a hung guest's does) is killed by shutdown, which reports
    it was not clean (`machine stop` of a hung VM; the old code got there too, after its ssh
    and the whole grace period: about 60 s against 5 s here). It costs no guest CPU."""
    port = qemu.free_port()
    subprocess.Popen([qemu.qemu_binary(), "-name", "pallet-hung", "-nodefaults",
                      "-no-user-config", "-display", "none", "-S", "-m", "64",
                      "-pidfile", str(tmp_path / "qemu.pid"),
                      "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
                      "-device", "virtio-net-pci,netdev=net0"], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while qemu.is_running(tmp_path) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert qemu.is_running(tmp_path) is not None
        ssh.ensure_key(tmp_path)
        assert qemu.shutdown(tmp_path, port) is False     # not clean: it was killed
        assert qemu.is_running(tmp_path) is None and qemu_processes(tmp_path) == []
    finally:
        qemu.kill(tmp_path)
