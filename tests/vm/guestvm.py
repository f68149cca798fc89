"""A booted Debian VM with this tree's pallet installed, for the cgroup v2 checks.

    with GuestVm.start(tmp) as vm:       one boot (TCG here), pallet from a wheel of this tree
        vm.sh("pallet run --rm bb true")

The image comes from pallet.machine.vm.image (cached under pallet's data dir, built once per
recipe). The VM boots a throwaway qcow2 overlay in the test's temp dir; the guest has no network
but the forwarded sshd (restrict=on), so pallet and its dependencies go in as wheels, made as
`pallet machine` makes them (pallet.machine.wheels: pallet's from this tree, its dependencies'
at the versions installed here, cached under the VM cache). Teardown
powers the guest off (killed after a grace period) and ends the ssh master connection, both by
PID; the overlay goes with the temp dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from pallet.machine import wheels as machine_wheels
from pallet.machine.vm import image as vm_image
from pallet.machine.vm import qemu

IMAGE = "bb:1"   # a static busybox image, the same tarball imported into both engines


def wheelhouse(out: Path) -> tuple[Path, str, list[str]]:
    """pallet's wheel (this tree), its dependencies' and pypa's installer, as `pallet machine`
    makes them (pallet.machine.wheels, cached under the VM cache), copied into out/."""
    house = machine_wheels.wheelhouse(vm_image.data_dir() / "wheels")
    out.mkdir(parents=True)
    for wheel in house.all:
        shutil.copy2(wheel, out / wheel.name)
    return out, house.installer.name, [w.name for w in (house.pallet, *house.dependencies)]


class GuestVm:
    def __init__(self, running: qemu.Running, timings: dict[str, float]) -> None:
        self.running = running
        self.client = running.ssh()
        self.timings = timings

    @classmethod
    def start(cls, tmp: Path, *, cpus: int = 2, memory_mb: int = 1536) -> "GuestVm":
        timings: dict[str, float] = {}
        started = time.monotonic()
        image = vm_image.ensure_image()
        timings["image"] = time.monotonic() - started
        directory = tmp / "vm"
        directory.mkdir()
        disk = directory / "disk.qcow2"
        qemu.make_overlay(image.disk, disk)
        wheels, installer, names = wheelhouse(tmp / "wheels")
        config = qemu.Config(name="cgv2", directory=directory, kernel=image.kernel,
                             initrd=image.initrd, disk=disk, cpus=cpus, memory_mb=memory_mb)
        running = qemu.boot(config)
        timings["boot"] = running.boot_seconds
        vm = cls(running, timings)
        try:
            started = time.monotonic()
            vm.client.put(wheels, "/root/wheels")
            # dockerd starts meanwhile (on the other vCPU); the wheels go into a venv without
            # pip through pypa's installer, as `pallet machine` installs a host (pip itself
            # costs a minute and more under TCG)
            listed = " ".join(f"/root/wheels/{name}" for name in names)
            vm.sh("systemctl start --no-block docker.service && python3 -m venv --without-pip "
                  f"/opt/pallet && PYTHONPATH=/root/wheels/{installer} /opt/pallet/bin/python "
                  f"-m installer --no-compile-bytecode {listed} && "
                  "ln -s /opt/pallet/bin/pallet /usr/local/bin/pallet", timeout=900)
            timings["install"] = time.monotonic() - started
            started = time.monotonic()
            # One busybox tarball, imported into both engines: the same image on both sides.
            vm.sh("set -e; mkdir -p /tmp/bb/bin /tmp/bb/tmp /tmp/bb/etc; "
                  "cp /bin/busybox /tmp/bb/bin/; for a in $(/bin/busybox --list); do "
                  "[ $a = busybox ] || ln -s busybox /tmp/bb/bin/$a; done; "
                  "echo 'root:x:0:0:root:/root:/bin/sh' > /tmp/bb/etc/passwd; "
                  "tar -C /tmp/bb -cf /tmp/bb.tar .; systemctl start docker.service; "
                  f"docker import /tmp/bb.tar {IMAGE} >/dev/null; "
                  f"pallet import /tmp/bb.tar {IMAGE} >/dev/null", timeout=600)
            timings["engines"] = time.monotonic() - started
        except BaseException:
            vm.stop()
            raise
        return vm

    def sh(self, script: str, *, check: bool = True, timeout: float = 300
           ) -> subprocess.CompletedProcess:
        """A shell script in the guest as root, in a logind session scope (as a root login)."""
        return self.client.run(script, check=check, timeout=timeout)

    def cpu_seconds(self) -> float:
        """CPU time the VM's qemu has used so far (both of its vCPU threads and its I/O)."""
        import os
        fields = Path(f"/proc/{self.running.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        try:
            self.timings["qemu_cpu"] = self.cpu_seconds()
        except (OSError, IndexError, ValueError):
            pass
        try:
            qemu.shutdown(self.running.directory, self.running.ssh_port, grace=60)
        finally:
            self.client.close()
            qemu.kill(self.running.directory)


def qemu_processes(directory: Path) -> list[int]:
    """PIDs of any qemu whose command line names this directory."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmdline and str(directory).encode() in cmdline:
                found.append(int(entry))
    return found
