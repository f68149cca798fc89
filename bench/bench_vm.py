"""Local VMs (pallet/machine/vm, `machine create --driver qemu`): what they cost here.

    python bench/bench_vm.py [--cold] [--boots 2] [--runs 5]

- image: `ensure_image` from an empty cache (--cold: debootstrap, packages fetched again) and
  from the warm cache;
- boot to ssh under TCG (and KVM where the probe says it works), and a clean poweroff;
- `machine create --driver qemu` with the image cached (boot + provisioning over ssh);
- `pallet run --rm IMAGE true` through the machine (`eval $(pallet machine env)`: the Engine API
  over TLS to the VM) against the local `pallet run` on this host, interleaved, and inside the
  guest pallet's run against docker.io's in the same rounds.
Medians; writes bench/RESULTS-vm.md with the load average the run saw (under TCG the VM's
speed follows the host's load).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PALLET = str(Path(sys.executable).parent / "pallet")


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def run(argv, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env={**os.environ, **(env or {})}, capture_output=True,
                          check=True, **kwargs)


def image_times(cold: bool) -> dict:
    from pallet.machine.vm import image
    found = {}
    if cold:
        with tempfile.TemporaryDirectory(prefix="bench-vm-") as scratch:
            os.environ["PALLET_VM_CACHE"] = scratch
            found["cold"] = timed(image.ensure_image)
            del os.environ["PALLET_VM_CACHE"]
    image.ensure_image()
    found["warm"] = min(timed(image.ensure_image) for _ in range(5))
    return found


def boot_times(boots: int) -> dict:
    from pallet.machine.vm import image, qemu
    built = image.ensure_image()
    found = {"boot": [], "poweroff": [], "kvm": qemu.probe_kvm(built.kernel)}
    for _ in range(boots):
        with tempfile.TemporaryDirectory(prefix="bench-vm-") as scratch:
            directory = Path(scratch)
            qemu.make_overlay(built.disk, directory / "disk.qcow2")
            config = qemu.Config(name="bench", directory=directory, kernel=built.kernel,
                                 initrd=built.initrd, disk=directory / "disk.qcow2")
            try:
                running = qemu.boot(config)
                found["boot"].append(running.boot_seconds)
                found["accel"] = running.accel
                found["poweroff"].append(timed(lambda: qemu.shutdown(directory, running.ssh_port)))
            finally:
                qemu.kill(directory)
    return found


def machine_times(runs: int) -> dict:
    found = {}
    with tempfile.TemporaryDirectory(prefix="bench-vm-") as scratch:
        env = {"DOCKER_CONFIG": str(Path(scratch) / "docker")}
        try:
            found["create"] = timed(lambda: run([PALLET, "machine", "create", "--driver", "qemu",
                                                 "--memory", "1536", "benchvm"], env=env))
            exports = run([PALLET, "machine", "env", "benchvm"], env=env).stdout.decode()
            remote = {}
            for line in exports.splitlines():
                if line.startswith("export "):
                    key, _, value = line[7:].partition("=")
                    remote[key] = shlex.split(value)[0]
            ssh = [PALLET, "machine", "ssh", "benchvm"]
            tar = ("mkdir -p /tmp/bb/bin && cp /bin/busybox /tmp/bb/bin/ && "
                   "for a in $(/bin/busybox --list); do [ $a = busybox ] || "
                   "ln -sf busybox /tmp/bb/bin/$a; done && tar -C /tmp/bb -cf /tmp/bb.tar . && "
                   "pallet import /tmp/bb.tar bb:1 && systemctl start docker && "
                   "docker import /tmp/bb.tar bb:1")
            run(ssh + [tar], env=env, timeout=900)
            local_root = Path(scratch) / "store"
            run([PALLET, "--root", str(local_root), "import", "-", "bb:1"],
                input=run(ssh + ["cat /tmp/bb.tar"], env=env).stdout)
            rows = {"remote": [], "local": [], "guest pallet": [], "guest docker": []}
            for _ in range(runs):
                rows["remote"].append(timed(lambda: run(
                    [PALLET, "run", "--rm", "--network", "none", "bb:1", "true"],
                    env={**env, **remote}, timeout=600)))
                rows["local"].append(timed(lambda: run(
                    [PALLET, "--root", str(local_root), "run", "--rm", "--network", "none",
                     "bb:1", "true"])))
                for engine in ("pallet", "docker"):
                    out = run(ssh + [f"s=$(date +%s%N); {engine} run --rm --network none bb:1 "
                                     "true; echo $(( $(date +%s%N) - s ))"], env=env).stdout
                    rows[f"guest {engine}"].append(int(out.split()[-1]) / 1e9)
            found.update({key: statistics.median(values) for key, values in rows.items()})
        finally:
            subprocess.run([PALLET, "machine", "rm", "-f", "-y", "benchvm"],
                           env={**os.environ, **env}, capture_output=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--boots", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    images = image_times(args.cold)
    boots = boot_times(args.boots)
    machine = machine_times(args.runs)
    load_after = os.getloadavg()[0]
    lines = ["# Local VMs (qemu)", "",
             f"`bench/bench_vm.py`; host load average {load_before:.1f} before, "
             f"{load_after:.1f} after (8 sessions share these 2 cores; TCG's speed follows it).",
             "", "| what | seconds |", "|---|---|"]
    if "cold" in images:
        lines.append(f"| image build, empty cache (debootstrap, downloads) | {images['cold']:.1f} |")
    lines.append(f"| image, cached | {images['warm']:.4f} |")
    accel = boots.get("accel", "tcg")
    lines.append(f"| boot to ssh ({accel}, median of {len(boots['boot'])}) | "
                 f"{statistics.median(boots['boot']):.1f} |")
    lines.append(f"| clean poweroff | {statistics.median(boots['poweroff']):.1f} |")
    lines.append(f"| KVM | {'works' if boots['kvm'] else 'probe failed: not used'} |")
    lines.append(f"| `machine create --driver qemu` (image cached) | {machine['create']:.1f} |")
    lines.append(f"| `pallet run --rm bb true` through the machine (TLS API) | "
                 f"{machine['remote']:.2f} |")
    lines.append(f"| local `pallet run --rm bb true` on this host, same rounds | "
                 f"{machine['local']:.2f} |")
    lines.append(f"| in the guest: `pallet run --rm bb true` | {machine['guest pallet']:.2f} |")
    lines.append("| in the guest: `docker run --rm bb true`, same rounds | "
                 f"{machine['guest docker']:.2f} |")
    (REPO / "bench" / "RESULTS-vm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
