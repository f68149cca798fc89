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

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ElementTree
from importlib import metadata
from pathlib import Path

from pallet.machine import wheels as machine_wheels
from pallet.machine.vm import image as vm_image
from pallet.machine.vm import qemu
from tests.conftest import REPO

IMAGE = "bb:1"   # a static busybox image, the same tarball imported into both engines


def wheelhouse(out: Path) -> tuple[Path, str, list[str]]:
    """pallet's wheel (this tree), its dependencies' and pypa's installer, as `pallet machine`
    makes them (pallet.machine.wheels, cached under the VM cache), copied into out/."""
    house = machine_wheels.wheelhouse(vm_image.data_dir() / "wheels")
    out.mkdir(parents=True)
    for wheel in house.all:
        shutil.copy2(wheel, out / wheel.name)
    return out, house.installer.name, [w.name for w in (house.pallet, *house.dependencies)]


def _requirements(name: str, found: dict[str, str]) -> None:
    from packaging.requirements import Requirement
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if key not in found:
            found[key] = metadata.version(requirement.name)
            _requirements(requirement.name, found)


# What the tests run in the guest import beyond pallet's own dependencies: pytest and its
# timeout plugin, and the Engine API tests' spec check (pyyaml, jsonschema).
TEST_PACKAGES = ("pytest", "pytest-timeout", "pyyaml", "jsonschema")


def pytest_wheels(out: Path) -> list[str]:
    """TEST_PACKAGES and what they need beyond pallet's own dependencies (already in the
    guest's venv), at the versions installed here, as wheels in out/ (from pip's cache and
    configured indexes, as pallet.machine.wheels fetches pallet's; the guest reaches no index).
    Cached under the VM cache by their pins."""
    pins = {name: metadata.version(name) for name in TEST_PACKAGES}
    for name in list(pins):
        _requirements(name, pins)
    for name in machine_wheels.dependency_pins():
        pins.pop(name, None)
    cache = vm_image.data_dir() / "wheels" / ("tests-" + hashlib.sha256(
        json.dumps(sorted(pins.items())).encode()).hexdigest()[:16])
    if not cache.is_dir():
        staging = cache.with_name(f".{cache.name}-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q",
                        "download", "--no-deps", "--only-binary=:all:", "-d", str(staging),
                        *[f"{name}=={version}" for name, version in pins.items()]],
                       check=True, capture_output=True)
        try:
            staging.rename(cache)
        except OSError:     # another session got there first (same pins, same wheels)
            shutil.rmtree(staging, ignore_errors=True)
    out.mkdir()
    names = []
    for wheel in sorted(cache.glob("*.whl")):
        shutil.copy2(wheel, out / wheel.name)
        names.append(wheel.name)
    assert len(names) == len(pins), (names, pins)
    return names


def suite_tarball(out: Path) -> Path:
    """This tree's tests/, samples/ (the tests' busybox image is made by a sample's script) and
    pyproject.toml (markers, the per-test timeout) as a tar."""
    with tarfile.open(out, "w") as tar:
        tar.add(REPO / "pyproject.toml", arcname="pyproject.toml")
        for top in ("tests", "samples"):
            tar.add(REPO / top, arcname=top,
                    filter=lambda info: None if "__pycache__" in info.name else info)
    return out


def collected(selection: tuple[str, ...]) -> list[str]:
    """The test ids a selection names, as pytest collects them here."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider", "-o", "addopts=", *selection],
                            cwd=REPO, capture_output=True, text=True, check=True)
    return [line for line in listed.stdout.splitlines() if "::" in line]


def junit_outcomes(xml: str) -> dict[str, str]:
    """test id -> passed | failure | error | skipped, from pytest's --junitxml report."""
    outcome = {}
    for case in ElementTree.fromstring(xml).iter("testcase"):
        bad = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome[f"{case.get('classname')}::{case.get('name')}"] = bad[0] if bad else "passed"
    return outcome


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

    def run_pytest(self, tmp: Path, selection: tuple[str, ...], timeout: float
                   ) -> tuple[dict[str, str], str]:
        """This tree's tests run by pytest in the guest, against the pallet installed there
        (the tests find the CLI beside the venv's python): ({test id: outcome}, pytest's last
        lines). pytest is killed after timeout seconds."""
        names = pytest_wheels(tmp / "testwheels")
        self.client.put(tmp / "testwheels", "/root/testwheels")
        self.client.put(suite_tarball(tmp / "suite.tar"), "/root/suite.tar")
        listed = " ".join(f"/root/testwheels/{name}" for name in names)
        self.sh("set -e; rm -rf /root/suite; mkdir /root/suite; "
                "tar -C /root/suite -xf /root/suite.tar; "
                "/opt/pallet/bin/python -c 'import pytest_timeout, yaml, jsonschema' "
                "2>/dev/null || "
                "PYTHONPATH=$(ls /root/wheels/installer-*.whl) /opt/pallet/bin/python -m "
                f"installer --no-compile-bytecode {listed}", timeout=600)
        # addopts names xdist's --dist: xdist is not installed there (one process runs them)
        ran = self.sh(f"cd /root/suite && timeout -k 10 {timeout:.0f} /opt/pallet/bin/python "
                      "-m pytest -p no:cacheprovider -o addopts= -q -rfEs "
                      "--junitxml=/root/junit.xml " + " ".join(selection) + " 2>&1 | tail -80",
                      check=False, timeout=timeout + 120)
        report = self.sh("cat /root/junit.xml", check=False)
        if report.returncode != 0:
            return {}, ran.stdout
        return junit_outcomes(report.stdout), ran.stdout

    def cpu_seconds(self) -> float:
        """CPU time the VM's qemu has used so far (both of its vCPU threads and its I/O)."""
        import os
        fields = Path(f"/proc/{self.running.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> bool:
        """Power the guest off (qemu.shutdown, as `machine stop` does); True when it went down
        by itself, without being killed."""
        try:
            self.timings["qemu_cpu"] = self.cpu_seconds()
        except (OSError, IndexError, ValueError):
            pass
        try:
            started = time.monotonic()
            clean = qemu.shutdown(self.running.directory, self.running.ssh_port, grace=60)
            self.timings["poweroff"] = time.monotonic() - started
        finally:
            self.client.close()
            qemu.kill(self.running.directory)
        return clean


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
