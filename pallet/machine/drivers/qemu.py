"""The qemu driver: a local Debian VM (pallet.machine.vm) as a machine's host, as Docker
Machine's VirtualBox driver and podman machine make one.

create builds the image if the cache lacks it (minutes, once per recipe), gives the machine a
copy-on-write disk over it (<machine dir>/disk.qcow2, --qemu-disk-size GB, the root file system
grown to it at boot), boots it with the machine's own ssh key, and hands it to the common
provisioning like any host. The guest's sshd and `pallet serve` are forwarded to free 127.0.0.1
ports chosen at create and kept, so the context's URL stays valid across restarts (the engine
listens on the same port number inside the guest).
stop powers the guest off (systemctl poweroff over ssh; killed after a grace period), start
boots the same disk again, remove kills the VM and deletes its disk with the directory.
"""

from __future__ import annotations

import click

from pallet.base.errors import PalletError
from pallet.machine.drivers import RUNNING, STOPPED, Driver, SshAddress

class QemuDriver(Driver):
    name = "qemu"
    owns_host = True

    @classmethod
    def options(cls) -> list:
        return [
            click.Option(["--qemu-cpus", "--cpus", "qemu_cpus"], type=click.IntRange(1, 64),
                         default=2, show_default=True, help="qemu: number of CPUs of the VM"),
            click.Option(["--qemu-memory", "--memory", "qemu_memory"],
                         type=click.IntRange(256, 1 << 20), default=2048, show_default=True,
                         help="qemu: memory of the VM in MB"),
            click.Option(["--qemu-disk-size", "--disk-size", "qemu_disk_size"],
                         type=click.IntRange(4, 4096), default=20, show_default=True,
                         help="qemu: disk size of the VM in GB"),
        ]

    # -- the VM ------------------------------------------------------------------------------
    def _config(self):
        from pathlib import Path

        from pallet.machine.vm import qemu
        image = Path(self.state["image"])
        return qemu.Config(name=self.state["name"], directory=self.directory,
                           kernel=image / "vmlinuz", initrd=image / "initrd.img",
                           disk=self.directory / "disk.qcow2", cpus=self.state["cpus"],
                           memory_mb=self.state["memory"], ssh_port=self.state["ssh_port"],
                           # the same number inside: provisioning makes `pallet serve` listen
                           # on the port engine_address() names
                           forwards=((self.state["engine_port"], self.state["engine_port"]),),
                           restrict=False, grow=True)

    def create(self, name: str, flags: dict) -> None:
        from pallet.machine.vm import image as vm_image
        from pallet.machine.vm import qemu
        qemu.qemu_binary()       # no qemu: say so before building anything
        built = vm_image.ensure_image(progress=lambda text: click.echo(f"(image) {text}"))
        ssh_port = qemu.free_port()
        engine_port = qemu.free_port()
        while engine_port == ssh_port:
            engine_port = qemu.free_port()
        self.state = {"name": name, "image": str(built.directory),
                      "cpus": flags.get("qemu_cpus") or 2,
                      "memory": flags.get("qemu_memory") or 2048,
                      "disk_size": flags.get("qemu_disk_size") or 20,
                      "ssh_port": ssh_port, "engine_port": engine_port}
        qemu.make_overlay(built.disk, self.directory / "disk.qcow2", self.state["disk_size"])
        qemu.boot(self._config())

    def ssh_address(self) -> SshAddress:
        return SshAddress(host="127.0.0.1", port=int(self.state["ssh_port"]), user="root",
                          key=str(self.directory / "id_ed25519"))

    def engine_address(self) -> tuple[str, int]:
        return "127.0.0.1", int(self.state["engine_port"])

    def listen_address(self) -> str:
        return "0.0.0.0"    # inside the guest; only the forwarded 127.0.0.1 port reaches it

    def power_state(self) -> str:
        from pallet.machine.vm import qemu
        return RUNNING if qemu.is_running(self.directory) else STOPPED

    def start(self) -> None:
        from pallet.machine.vm import qemu
        if qemu.is_running(self.directory):
            return
        if not (self.directory / "disk.qcow2").exists():
            raise PalletError(f"machine {self.state.get('name')} has no disk any more "
                              f"({self.directory / 'disk.qcow2'}): remove it and create it again")
        qemu.boot(self._config())

    def stop(self) -> None:
        from pallet.machine.vm import qemu
        qemu.shutdown(self.directory, int(self.state["ssh_port"]))

    def remove(self) -> None:
        from pallet.machine.vm import qemu, ssh
        ssh.Client(self.directory, int(self.state.get("ssh_port") or 0)).close()
        qemu.kill(self.directory)
        (self.directory / "disk.qcow2").unlink(missing_ok=True)
