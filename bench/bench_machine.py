"""How long `pallet machine create --driver generic` takes against a namespace host
(tests/sshhost.py: sshd in a network namespace behind a veth pair), and `machine rm`.

    .venv/bin/python bench/bench_machine.py [--runs N] [--out bench/RESULTS-machine.md]

No peer tool: docker-machine is not packaged for Debian 12 (and it installs Docker from the
internet, which this host does not reach). Beside pallet's times, the same run measures the
floors of what create must do over ssh in the same rounds, interleaved: `ssh HOST true` (one
connection) and copying the same wheelhouse through `ssh HOST tar -x` (the bytes create sends).
The first create runs with an empty wheel cache (pallet's wheel built by pip, the dependency
wheels fetched from pip's cache/index); the rest with the cache warm. Each create's output lines
are timestamped to split it into its phases.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_run import machine  # noqa: E402
from tests.machine.conftest import new_prefix, remove_prefix  # noqa: E402
from tests.sshhost import ssh_host  # noqa: E402

PALLET = Path(sys.executable).parent / "pallet"
PHASES = ("Detecting", "Creating CA", "Building the wheels", "Installing pallet",
          "Checking connection", "pallet is up")


def create(host, config: Path, prefix: str, name: str) -> dict[str, float]:
    """Seconds to each phase's line, and "total"."""
    env = dict(os.environ, DOCKER_CONFIG=str(config))
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(PALLET), "machine", "create", "--driver", "generic",
         "--generic-ip-address", host.address, "--generic-ssh-key", str(host.key),
         "--pallet-prefix", prefix, "--pallet-link-dir", "none", name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks = {}
    for line in process.stdout:
        for phase in PHASES:
            if line.startswith(phase):
                marks[phase] = time.perf_counter() - start
    if process.wait() != 0:
        raise SystemExit(f"create failed: {process.stderr.read()}")
    marks["total"] = time.perf_counter() - start
    return marks


def remove(config: Path, name: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(PALLET), "machine", "rm", "-y", name], check=True,
                   env=dict(os.environ, DOCKER_CONFIG=str(config)), capture_output=True)
    return time.perf_counter() - start


def floors(host, wheels: list[Path]) -> tuple[float, float]:
    start = time.perf_counter()
    subprocess.run(host.ssh_argv() + ["true"], check=True)
    connect = time.perf_counter() - start
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for wheel in wheels:
            tar.add(wheel, arcname=wheel.name)
    target = tempfile.mkdtemp(prefix="bench-machine-copy-")
    try:
        start = time.perf_counter()
        subprocess.run(host.ssh_argv() + [f"tar -xf - -C {target}"], input=buffer.getvalue(),
                       check=True)
        copy = time.perf_counter() - start
    finally:
        shutil.rmtree(target, ignore_errors=True)
    return connect, copy


def phase_split(marks: dict[str, float]) -> dict[str, float]:
    points = [("start", 0.0)] + [(p, marks[p]) for p in PHASES if p in marks]
    names = {"start": "checks + driver", "Detecting": "probe the host (ssh)",
             "Creating CA": "certificates", "Building the wheels": "wheelhouse",
             "Installing pallet": "install + start serve (ssh)",
             "Checking connection": "TLS check"}
    return {names[a]: b_time - a_time for (a, a_time), (_, b_time) in zip(points, points[1:])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS-machine.md"))
    args = parser.parse_args()
    config = Path(tempfile.mkdtemp(prefix="bench-machine-config-"))
    described = machine()     # its load average is the one at the start
    loads = [" ".join(open("/proc/loadavg").read().split()[:3])]
    warm, removals, connects, copies = [], [], [], []
    try:
        with ssh_host() as host:
            prefix = new_prefix()
            try:
                cold = create(host, config, prefix, "cold")
                removals.append(remove(config, "cold"))
            finally:
                remove_prefix(prefix)
            from pallet.machine.wheels import wheelhouse
            wheels = list(wheelhouse(config / "machine" / "cache" / "wheels").all)
            size = sum(w.stat().st_size for w in wheels) / 2**20
            for number in range(args.runs):
                prefix = new_prefix()
                try:
                    if number % 2:   # the order alternates between rounds
                        connect, copy = floors(host, wheels)
                        warm.append(create(host, config, prefix, f"w{number}"))
                    else:
                        warm.append(create(host, config, prefix, f"w{number}"))
                        connect, copy = floors(host, wheels)
                    connects.append(connect)
                    copies.append(copy)
                    removals.append(remove(config, f"w{number}"))
                finally:
                    remove_prefix(prefix)
    finally:
        shutil.rmtree(config, ignore_errors=True)
    loads.append(" ".join(open("/proc/loadavg").read().split()[:3]))
    median = statistics.median
    lines = [
        "# `pallet machine` benchmarks (bench/bench_machine.py)", "",
        f"Machine: {described}; at the end {loads[-1]}", "",
        f"`pallet machine create --driver generic` against a namespace host over ssh "
        f"({args.runs} warm runs after one cold; wheelhouse {len(wheels)} wheels, "
        f"{size:.1f} MiB). No peer tool: docker-machine is not packaged here; the floors are "
        "ssh itself, measured in the same rounds.", "",
        "| what | median s | min s | max s |", "|---|---:|---:|---:|",
        f"| create, cold wheel cache | {cold['total']:.2f} | | |",
        f"| create, warm wheel cache | {median(w['total'] for w in warm):.2f} | "
        f"{min(w['total'] for w in warm):.2f} | {max(w['total'] for w in warm):.2f} |",
        f"| machine rm (service stopped, store and prefix removed) | {median(removals):.2f} | "
        f"{min(removals):.2f} | {max(removals):.2f} |",
        f"| floor: `ssh HOST true` | {median(connects):.3f} | {min(connects):.3f} | "
        f"{max(connects):.3f} |",
        f"| floor: the wheelhouse through `ssh HOST tar -x` | {median(copies):.3f} | "
        f"{min(copies):.3f} | {max(copies):.3f} |", "",
        "Phases of a warm create (medians, s):", "",
        "| phase | s |", "|---|---:|",
    ]
    splits = [phase_split(w) for w in warm]
    for phase in splits[0]:
        lines.append(f"| {phase} | {median(s[phase] for s in splits):.2f} |")
    lines += ["", "Cold create phases (s): " + ", ".join(
        f"{k} {v:.2f}" for k, v in phase_split(cold).items()), ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
