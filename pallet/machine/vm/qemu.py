"""Launching and stopping a VM of the pallet image with qemu-system-x86_64.

    boot(config) -> Running        start, wait until sshd answers with the machine's key
    shutdown(running, grace=...)   clean poweroff over ssh, then SIGTERM/SIGKILL after grace
    is_running(directory) -> int | None   the qemu PID when that VM's qemu is alive

Direct kernel boot (-kernel/-initrd/-append) of the image's cloud kernel, systemd as init,
user-mode networking with only the guest's sshd forwarded to 127.0.0.1:<free port>
(restrict=on: the guest reaches nothing else), the serial console written to
<directory>/console.log (qemu's own messages in qemu.log), a QMP socket for a hard stop. qemu
runs in a session of its own, so a VM outlives the command that started it; its PID file names
it, and every kill first checks that the PID still belongs to a qemu started for that
directory. KVM is used when a probe shows it
boots the kernel here (probe_kvm, cached per kernel and qemu), else TCG.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.machine.vm import ssh

QEMU = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"


@dataclass(frozen=True)
class Config:
    name: str
    directory: Path       # the machine's own files: disk overlay, key, pidfile, console log
    kernel: Path
    initrd: Path
    disk: Path            # a qcow2 overlay over the image's disk (make_overlay)
    cpus: int = 2
    memory_mb: int = 1024
    ssh_port: int = 0     # 0: a free port now
    accel: str = ""       # "kvm" | "tcg" | "": probe
    grow: bool = False    # resize the root file system to the disk at boot
    boot_timeout: float = 300.0
    forwards: tuple[tuple[int, int], ...] = ()   # more (127.0.0.1 port, guest port) pairs
    restrict: bool = True  # the guest reaches nothing but the forwards (False: NAT out)


@dataclass(frozen=True)
class Running:
    name: str
    directory: Path
    pid: int
    ssh_port: int
    accel: str
    boot_seconds: float

    @property
    def console(self) -> Path:
        return self.directory / "console.log"

    def ssh(self) -> "ssh.Client":
        return ssh.Client(self.directory, self.ssh_port)


def qemu_binary() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise PalletError(f"{QEMU} is not installed on this host: a qemu machine needs it "
                          f"(apt-get install {QEMU_PACKAGE} qemu-utils)")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_overlay(base: Path, path: Path, size_gb: int | None = None) -> None:
    """A copy-on-write disk over the image's raw disk (the image is never written)."""
    tool = shutil.which("qemu-img")
    if tool is None:
        raise PalletError("qemu-img is not installed on this host: a qemu machine needs it "
                          "(apt-get install qemu-utils)")
    argv = [tool, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(path)]
    if size_gb:
        argv.append(f"{size_gb}G")
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise PalletError(f"could not make the machine's disk {path}: "
                          f"{result.stderr.strip() or result.returncode}")


# the line that says why, when a kernel trace or a long message pushes it out of the tail
_WHY = ("Kernel panic", "ALERT!", "Out of memory")


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return ""
    every = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
    kept = every[-lines:]
    why = [line for line in every if any(word in line for word in _WHY)]
    if why and why[-1] not in kept:
        kept = [why[-1], "..."] + kept
    return "\n  ".join(kept)


def console_tail(directory: Path, lines: int = 12) -> str:
    """The console's last lines, and qemu's own messages when it wrote any."""
    console = _tail(directory / "console.log", lines) or "(no console output)"
    qemu = _tail(directory / "qemu.log", 4)
    return console + (f"\n  qemu: {qemu}" if qemu else "")


def _argv(config: Config, accel: str, port: int) -> list[str]:
    key = (config.directory / "id_ed25519.pub").read_bytes()
    append = ["console=ttyS0", "earlyprintk=serial,ttyS0", "root=/dev/vda", "rw",
              "net.ifnames=0", "panic=1",
              "quiet", f"pallet.hostname={config.name}",
              "pallet.key=" + base64.b64encode(key).decode()]
    if config.grow:
        append.append("pallet.grow=1")
    d = config.directory
    netdev = f"user,id=net0,restrict={'on' if config.restrict else 'off'}," + ",".join(
        f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for host, guest in ((port, 22), *config.forwards))
    return [qemu_binary(), "-name", f"pallet-{config.name}", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-pidfile", str(d / "qemu.pid"),
            "-machine", "q35", "-accel", accel, "-cpu", "host" if accel == "kvm" else "max",
            "-smp", str(config.cpus), "-m", str(config.memory_mb),
            "-kernel", str(config.kernel), "-initrd", str(config.initrd),
            "-append", " ".join(append),
            "-drive", f"file={config.disk},if=virtio,format=qcow2,discard=unmap",
            "-netdev", netdev,
            "-device", "virtio-net-pci,netdev=net0",
            "-chardev", f"file,id=serial0,path={d / 'console.log'}",
            "-serial", "chardev:serial0",
            "-qmp", f"unix:{d / 'qmp.sock'},server=on,wait=off"]


def boot(config: Config) -> Running:
    """Start the VM and wait until its sshd lets the machine's key in; on failure nothing is
    left running and the error carries the console's last lines."""
    ssh.ensure_key(config.directory)
    accel = config.accel or os.environ.get("PALLET_VM_ACCEL") or \
        ("kvm" if probe_kvm(config.kernel) else "tcg")
    port = config.ssh_port or free_port()
    for stale in ("console.log", "qemu.log", "qemu.pid", "qmp.sock"):
        (config.directory / stale).unlink(missing_ok=True)
    started = time.monotonic()
    # Started in a session of its own (it outlives this command), its messages in qemu.log:
    # -daemonize would send them to /dev/null, and they are what explains a VM that dies at once.
    with open(config.directory / "qemu.log", "wb") as log:
        process = subprocess.Popen(_argv(config, accel, port), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log, start_new_session=True)
    while is_running(config.directory) is None and process.poll() is None:
        time.sleep(0.05)
    pid = is_running(config.directory)
    if pid is None:
        process.wait()
        raise PalletError(f"qemu could not start machine {config.name}: "
                          + (_tail(config.directory / "qemu.log") or f"exit {process.returncode}"))
    running = Running(config.name, config.directory, pid, port, accel, 0.0)
    client = running.ssh()
    deadline = started + config.boot_timeout
    try:
        while True:
            if is_running(config.directory) is None:
                raise PalletError(f"machine {config.name}'s VM stopped while booting; the last "
                                  "console lines:\n  " + console_tail(config.directory))
            if time.monotonic() > deadline:
                raise PalletError(f"machine {config.name} did not answer ssh within "
                                  f"{config.boot_timeout:.0f} s ({accel}); the last console "
                                  "lines:\n  " + console_tail(config.directory))
            if client.banner() and client.run(["true"], check=False, timeout=60).returncode == 0:
                break
            time.sleep(0.5)
    except BaseException:
        kill(config.directory)
        raise
    return Running(config.name, config.directory, pid, port, accel,
                   round(time.monotonic() - started, 2))


def is_running(directory: Path) -> int | None:
    """The PID of the qemu serving this directory, if it is alive (and really that qemu)."""
    try:
        pid = int((directory / "qemu.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    if str(directory / "qemu.pid").encode() not in cmdline.split(b"\0"):
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else pid


def _wait_gone(directory: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_running(directory) is None:
            return True
        time.sleep(0.2)
    return is_running(directory) is None


def kill(directory: Path, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after grace: the VM's qemu only, by its checked PID."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pid = is_running(directory)
        if pid is None:
            break
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(directory, grace):
            break
    (directory / "qmp.sock").unlink(missing_ok=True)


def shutdown(directory: Path, port: int, grace: float = 60.0) -> bool:
    """Power the guest off cleanly (systemctl poweroff over ssh); kill it after grace, or at
    once when the guest cannot even be asked (a hung VM: its sshd sends no banner).
    True when it went down by itself."""
    if is_running(directory) is None:
        return True
    client = ssh.Client(directory, port)
    asked = client.banner()
    if asked:
        try:
            client.run(["systemctl", "--no-block", "poweroff"], check=False, timeout=30)
        except PalletError:     # hung after the banner: nothing will power it off
            asked = False
    clean = asked and _wait_gone(directory, grace)
    if not clean:
        kill(directory)
    client.close()
    (directory / "qmp.sock").unlink(missing_ok=True)
    return clean


def probe_kvm(kernel: Path) -> bool:
    """Whether KVM boots this kernel here: /dev/kvm may exist while a guest cannot run under
    it (nested virtualisation off). The kernel is started under KVM with no root; reaching
    its 'Kernel panic' about the missing root within 20 s means KVM works. The answer is
    cached beside the kernel per qemu version, so the probe runs once."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    version = subprocess.run([qemu_binary(), "--version"], capture_output=True,
                             text=True).stdout.split("\n")[0]
    stamp = kernel.parent / "kvm-probe"
    if stamp.exists():
        saved_version, _, answer = stamp.read_text().partition("\n")
        if saved_version == version:
            return answer.strip() == "yes"
    works = _probe(kernel)
    try:
        stamp.write_text(f"{version}\n{'yes' if works else 'no'}\n")
    except OSError:
        pass  # a read-only cache only costs the probe again
    return works


def _probe(kernel: Path) -> bool:
    argv = [qemu_binary(), "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-machine", "q35", "-accel", "kvm", "-cpu", "host", "-m", "256",
            "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1",
            "-serial", "stdio"]
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
    except OSError:
        return False
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return b"Kernel panic" in output
