"""Local VMs (pallet/machine/vm, `machine create --driver qemu`): what they cost here.

    .venv/bin/python bench/bench_vm.py [--cold] [--boots 2] [--runs 5]

- `machine create --driver qemu` from cold (--cold: an empty VM cache and an empty machine
  storage: debootstrap with the packages downloaded again, pallet's wheel built) and warm (image
  and wheels cached), each create's output lines timestamped to split it into phases;
- the image cache's answer when warm (ensure_image);
- boot to ssh under TCG, and a clean poweroff (the launcher alone, no provisioning); whether
  KVM works here (the launcher's probe, and qemu's own words when it does not);
- `machine stop` and `machine start` of the provisioned machine (start = boot + the service);
- `pallet --context vm run --rm bb true` (the Engine API over TLS to the VM) against the local
  `pallet run --rm bb true` on this host, interleaved, and inside the guest pallet's run against
  docker.io's in the same rounds.
Medians; writes bench/RESULTS-vm.md with the machine and the load average the run saw (under TCG
the VM's speed follows the host's load; the host's 2 cores are shared with other sessions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_run import machine as describe_machine  # noqa: E402

PALLET = str(Path(sys.executable).parent / "pallet")
NAME = "vm"     # the machine, and so the context: `pallet --context vm ...`
PHASES = ("Creating machine", "Detecting", "Creating CA", "Building the wheels",
          "Installing pallet", "Checking connection", "pallet is up")
PHASE_NAMES = {"start": "checks", "Creating machine": "driver: image + overlay + boot to ssh",
               "Detecting": "probe the guest (ssh)", "Creating CA": "certificates",
               "Building the wheels": "wheelhouse",
               "Installing pallet": "install + start serve (ssh)",
               "Checking connection": "engine answers over TLS"}
BUSYBOX_TAR = ("set -e; mkdir -p /tmp/bb/bin /tmp/bb/tmp; cp /bin/busybox /tmp/bb/bin/; "
               "for a in $(/bin/busybox --list); do [ $a = busybox ] || "
               "ln -sf busybox /tmp/bb/bin/$a; done; tar -C /tmp/bb -cf /tmp/bb.tar .; "
               "pallet import /tmp/bb.tar bb:1 >/dev/null; systemctl start docker; "
               "docker import /tmp/bb.tar bb:1 >/dev/null")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def run(argv, env=None, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, env={**os.environ, **(env or {})}, capture_output=True,
                            **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({result.returncode}): "
                         f"{result.stderr.decode(errors='replace')[-2000:]}")
    return result


def create(env: dict) -> dict[str, float]:
    """`machine create --driver qemu vm`: seconds to each phase's line, and "total"."""
    started = time.monotonic()
    process = subprocess.Popen(
        [PALLET, "machine", "create", "--driver", "qemu", "--cpus", "2", "--memory", "1536",
         "--disk-size", "8", NAME], env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks = {}
    for line in process.stdout:
        for phase in PHASES:
            if line.startswith(phase) and phase not in marks:
                marks[phase] = time.monotonic() - started
    if process.wait() != 0:
        raise SystemExit(f"machine create failed: {process.stderr.read()[-3000:]}")
    marks["total"] = time.monotonic() - started
    return marks


def phase_split(marks: dict[str, float]) -> dict[str, float]:
    points = [("start", 0.0)] + [(p, marks[p]) for p in PHASES if p in marks]
    return {PHASE_NAMES[a]: b - a_time for (a, a_time), (_, b) in zip(points, points[1:])}


def remove(env: dict) -> float:
    return timed(lambda: run([PALLET, "machine", "rm", "-y", NAME], env=env, timeout=300))


def cold_create(scratch: Path) -> dict:
    """An empty VM cache and machine storage: the image is built (packages downloaded again)
    and pallet's wheel made, then the VM boots and is provisioned."""
    env = {"DOCKER_CONFIG": str(scratch / "docker"), "PALLET_VM_CACHE": str(scratch / "vm")}
    marks = create(env)
    built = next((scratch / "vm" / "images").glob("*/image.json"))
    found = {"marks": marks, "image": json.loads(built.read_text())["build_seconds"]}
    found["rm"] = remove(env)
    return found


def kvm_state() -> tuple[bool, str]:
    """The launcher's answer, and qemu's first words when KVM is tried here."""
    from pallet.machine.vm import image, qemu
    built = image.ensure_image()
    works = qemu.probe_kvm(built.kernel)
    tried = subprocess.run(
        [qemu.qemu_binary(), "-nodefaults", "-no-user-config", "-display", "none",
         "-no-reboot", "-machine", "q35", "-accel", "kvm", "-cpu", "host", "-m", "256",
         "-kernel", str(built.kernel), "-append", "console=ttyS0 panic=-1", "-serial", "null"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    said = (tried.stderr.strip().splitlines() or [f"exit {tried.returncode}"])[0]
    return works, said


def boot_times(boots: int) -> dict:
    from pallet.machine.vm import image, qemu
    built = image.ensure_image()
    found = {"boot": [], "poweroff": []}
    for _ in range(boots):
        with tempfile.TemporaryDirectory(prefix="bench-vm-") as scratch:
            directory = Path(scratch)
            qemu.make_overlay(built.disk, directory / "disk.qcow2")
            config = qemu.Config(name="benchboot", directory=directory, kernel=built.kernel,
                                 initrd=built.initrd, disk=directory / "disk.qcow2",
                                 memory_mb=1536)
            try:
                running = qemu.boot(config)
                found["boot"].append(running.boot_seconds)
                found["accel"] = running.accel
                found["poweroff"].append(timed(lambda: qemu.shutdown(directory,
                                                                     running.ssh_port)))
            finally:
                qemu.kill(directory)
    return found


def warm_machine(scratch: Path, runs: int) -> dict:
    """A create with the image and the wheels cached; run --rm through it against local runs
    and, inside the guest, pallet against docker.io; then stop, start and rm."""
    from pallet.machine import store, wheels
    from pallet.machine.vm import image
    env = {"DOCKER_CONFIG": str(scratch / "docker")}
    # warm means the image and the wheels both cached (the cold create made them, if it ran)
    os.environ.update(env)
    try:
        wheels.wheelhouse(store.storage_path() / "cache" / "wheels")
    finally:
        del os.environ["DOCKER_CONFIG"]
    found = {"image_warm": min(timed(image.ensure_image) for _ in range(5))}
    found["marks"] = create(env)
    try:
        ssh = [PALLET, "machine", "ssh", NAME]
        run(ssh + [BUSYBOX_TAR], env=env, timeout=900)
        local_root = scratch / "store"
        run([PALLET, "--root", str(local_root), "import", "-", "bb:1"],
            input=run(ssh + ["cat /tmp/bb.tar"], env=env).stdout)
        rows = {"remote": [], "local": [], "guest pallet": [], "guest docker": []}
        for _ in range(runs):
            rows["remote"].append(timed(lambda: run(
                [PALLET, "--context", NAME, "run", "--rm", "--network", "none", "bb:1", "true"],
                env=env, timeout=600)))
            rows["local"].append(timed(lambda: run(
                [PALLET, "--root", str(local_root), "run", "--rm", "--network", "none",
                 "bb:1", "true"])))
            for engine in ("pallet", "docker"):
                out = run(ssh + [f"s=$(date +%s%N); {engine} run --rm --network none bb:1 "
                                 "true; echo $(( $(date +%s%N) - s ))"], env=env).stdout
                rows[f"guest {engine}"].append(int(out.split()[-1]) / 1e9)
        found["rows"] = rows
        found["stop"] = timed(lambda: run([PALLET, "machine", "stop", NAME], env=env,
                                          timeout=600))
        started = time.monotonic()
        run([PALLET, "machine", "start", NAME], env=env, timeout=900)
        found["start"] = time.monotonic() - started
        while subprocess.run([PALLET, "--context", NAME, "version"], capture_output=True,
                             env={**os.environ, **env}, timeout=120).returncode != 0:
            time.sleep(0.5)
        found["start_engine"] = time.monotonic() - started
        found["rm"] = remove(env)
    finally:
        subprocess.run([PALLET, "machine", "rm", "-f", "-y", NAME],
                       env={**os.environ, **env}, capture_output=True)
    return found


def table(rows: list[tuple[str, str]]) -> list[str]:
    return ["| what | seconds |", "|---|---:|"] + [f"| {a} | {b} |" for a, b in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--boots", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS-vm.md"))
    args = parser.parse_args()
    from pallet.machine.vm import qemu
    described = describe_machine()
    loads = [loadavg()]
    qemu_version = subprocess.run([qemu.qemu_binary(), "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory(prefix="bench-vm-") as scratch_name:
        scratch = Path(scratch_name)
        cold = cold_create(scratch) if args.cold else None
        loads.append(loadavg())
        warm = warm_machine(scratch, args.runs)
        loads.append(loadavg())
    kvm, kvm_said = kvm_state()
    boots = boot_times(args.boots)
    loads.append(loadavg())

    rows = []
    if cold:
        rows.append(("`machine create --driver qemu`, cold (empty VM cache and machine storage)",
                     f"{cold['marks']['total']:.1f}"))
        rows.append(("  of which the image build (debootstrap with downloads, mke2fs -d)",
                     f"{cold['image']:.1f}"))
    rows.append(("`machine create --driver qemu`, warm (image and wheels cached)",
                 f"{warm['marks']['total']:.1f}"))
    rows.append(("the image cache's answer when warm (ensure_image)",
                 f"{warm['image_warm']:.4f}"))
    accel = boots.get("accel", "tcg")
    rows.append((f"boot to ssh ({accel}; the launcher alone, median of {len(boots['boot'])}: "
                 + ", ".join(f"{b:.1f}" for b in boots["boot"]) + ")",
                 f"{statistics.median(boots['boot']):.1f}"))
    rows.append(("clean poweroff (systemctl poweroff until qemu exits)",
                 f"{statistics.median(boots['poweroff']):.1f}"))
    rows.append(("`machine stop` (service, then the guest powered off)", f"{warm['stop']:.1f}"))
    rows.append(("`machine start` (boot to ssh + the service started)", f"{warm['start']:.1f}"))
    rows.append(("  until `pallet --context vm version` answers", f"{warm['start_engine']:.1f}"))
    rows.append(("`machine rm` (running VM killed, disk deleted)", f"{warm['rm']:.1f}"))
    medians = {key: statistics.median(values) for key, values in warm["rows"].items()}
    spread = {key: f"{min(values):.2f}-{max(values):.2f}" for key, values in warm["rows"].items()}
    runs = len(warm["rows"]["local"])
    rows.append((f"`pallet --context vm run --rm --network none bb true` (TLS API to the VM; "
                 f"{spread['remote']})", f"{medians['remote']:.2f}"))
    rows.append((f"local `pallet run --rm --network none bb true` on this host, same rounds "
                 f"({spread['local']})", f"{medians['local']:.2f}"))
    rows.append((f"in the guest: `pallet run --rm --network none bb true` "
                 f"({spread['guest pallet']})", f"{medians['guest pallet']:.2f}"))
    rows.append((f"in the guest: `docker run --rm --network none bb true`, same rounds "
                 f"({spread['guest docker']})", f"{medians['guest docker']:.2f}"))

    lines = ["# Local VMs: `pallet machine create --driver qemu` (bench/bench_vm.py)", "",
             f"Machine: {described}; qemu: {qemu_version}. Load average (1/5/15 min) at the "
             f"start {loads[0]}, after the cold create {loads[1]}, after the warm machine "
             f"{loads[2]}, at the end {loads[3]}. The 2 cores are shared with other sessions, and "
             "under TCG the guest's speed follows the host's load.", "",
             f"KVM: {'works' if kvm else 'does not work here'} — the launcher's probe answers "
             f"{'yes' if kvm else 'no'}; qemu with `-accel kvm -cpu host` says: `{kvm_said}`"
             + ("" if kvm else " (with `arch-capabilities=off` or `-cpu qemu64` the guest starts "
                "but the kernel prints nothing after its decompressor within 25 s): "
                "every figure below is under TCG (software emulation)."), "",
             f"Medians of {runs} interleaved rounds for the run rows (min-max in brackets). "
             "No peer for create/boot (docker-machine and podman machine are not packaged for "
             "Debian 12); docker.io inside the same guest is the peer for the run rows.", ""]
    lines += table(rows)
    ratio = medians["remote"] / medians["local"]
    lines += ["", f"Through the machine a `run --rm` costs {ratio:.1f}x the local one (the CLI "
              "here, the Engine API over TLS through qemu's user-mode forward, the container made by the guest's already-running `pallet serve`); it is "
              "below the in-guest CLI's own figure because there each run also starts a Python "
              "CLI under TCG. In the guest, pallet's run is "
              f"{medians['guest pallet'] / medians['guest docker']:.2f}x docker.io's (20.10, "
              "through dockerd and containerd)."]
    for title, result in (("cold", cold), ("warm", warm)):
        if result:
            lines += ["", f"Phases of the {title} create (s):", ""]
            lines += table([(k, f"{v:.1f}") for k, v in phase_split(result["marks"]).items()])
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
