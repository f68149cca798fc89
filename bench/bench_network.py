"""Networking benchmarks: the cost of the default bridge, throughput through a published port,
and whether start-up slows down as a network fills.

    .venv/bin/python bench/bench_network.py [--runs N] [--out bench/RESULTS-network.md]

1. `run --rm busybox true` on pallet's default bridge vs `--network none`, and Docker's
   `docker run --rm` (its default bridge) / `--network none` on a private dockerd with a bridge
   of its own: interleaved (one of each per round), medians.
2. Bulk transfer (256 MiB from busybox httpd, fetched by curl to /dev/null) through a published
   port on 127.0.0.1 (pallet: nftables DNAT; Docker: its docker-proxy) vs straight to the
   container's address: median MiB/s over the rounds.
3. `run -d` on one user network: the 1st..10th start vs the 41st..50th.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_run import machine, versions  # noqa: E402
from tests.dockerd import private_dockerd  # noqa: E402
from tests.images import make_busybox_image  # noqa: E402
from tests.netutil import remove_store_network  # noqa: E402

PALLET = Path(sys.executable).parent / "pallet"
SERVE = ("sh", "-c", "mkdir -p /w && dd if=/dev/zero of=/w/big bs=1M count=256 2>/dev/null && "
         "exec httpd -f -p 80 -h /w")


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return time.perf_counter() - start


def interleaved(commands: dict[str, tuple[list[str], dict | None]], runs: int) -> dict[str, list]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name, (argv, env) in commands.items():  # warm-up
        timed(argv, env)
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            times[name].append(timed(argv, env))
    return times


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def throughput(url: str, rounds: int) -> float:
    """Median MiB/s of curl fetching url (the file is 256 MiB)."""
    rates = []
    deadline = time.monotonic() + 30
    while subprocess.run(["curl", "-sf", "-o", "/dev/null", "-r", "0-0", url]).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never answered")
        time.sleep(0.2)
    for _ in range(rounds):
        result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}", url],
                                capture_output=True, text=True, check=True)
        rates.append(float(result.stdout) / (1 << 20))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-network.md")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(REPO / d) for d in
                    ("pallet", "runtime", "grammar", "builder", "base"))], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="pallet-bench-net-"))
    root = work / "store"
    pallet = [str(PALLET), "--root", str(root)]
    lines = ["# Network benchmarks (bench/bench_network.py)", "", f"Machine: {machine()}", "",
             f"Tools: {versions()}", ""]
    try:
        make_busybox_image(root, "busybox:latest")
        subprocess.run([*pallet, "save", "-o", str(work / "bb.tar"), "busybox:latest"], check=True)
        with private_dockerd(networking=True) as engine:
            engine.docker("load", "-i", str(work / "bb.tar"))
            env = engine.env()
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            times = interleaved({
                "pallet run --rm (bridge)": ([*pallet, "run", "--rm", "busybox", "true"], None),
                "pallet run --rm --network none":
                    ([*pallet, "run", "--rm", "--network", "none", "busybox", "true"], None),
                "docker run --rm (bridge)": (["docker", "run", "--rm", "busybox", "true"], env),
                "docker run --rm --network none":
                    (["docker", "run", "--rm", "--network", "none", "busybox", "true"], env),
            }, args.runs)
            lines += [f"## run --rm busybox true ({args.runs} interleaved rounds, medians)", "",
                      "| command | median ms | p90 ms |", "|---|---:|---:|"]
            for name, values in times.items():
                values.sort()
                lines.append(f"| {name} | {statistics.median(values) * 1000:.1f} | "
                             f"{values[int(len(values) * 0.9) - 1] * 1000:.1f} |")
            bridge = statistics.median(times["pallet run --rm (bridge)"])
            none = statistics.median(times["pallet run --rm --network none"])
            docker = statistics.median(times["docker run --rm (bridge)"])
            lines += ["", f"Bridge costs {1000 * (bridge - none):.1f} ms over `--network none`; "
                      f"pallet on the bridge takes {bridge / docker:.2f}x Docker's time on its "
                      "bridge.", ""]
            port_p, port_d = free_port(), free_port()
            subprocess.run([*pallet, "run", "-d", "--name", "bulk", "-p", f"127.0.0.1:{port_p}:80",
                            "busybox", *SERVE], check=True, stdout=subprocess.DEVNULL)
            engine.docker("run", "-d", "--name", "bulk", "-p", f"127.0.0.1:{port_d}:80",
                          "busybox", *SERVE)
            ip_p = subprocess.run([*pallet, "inspect", "-f", "{{.NetworkSettings.IPAddress}}",
                                   "bulk"], capture_output=True, text=True).stdout.strip()
            ip_d = engine.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}",
                                 "bulk").stdout.decode().strip()
            rounds = max(3, args.runs // 4)
            rates = {
                "pallet: published port on 127.0.0.1 (nftables DNAT)":
                    throughput(f"http://127.0.0.1:{port_p}/big", rounds),
                "pallet: the container's address": throughput(f"http://{ip_p}/big", rounds),
                "docker: published port on 127.0.0.1 (docker-proxy)":
                    throughput(f"http://127.0.0.1:{port_d}/big", rounds),
                "docker: the container's address": throughput(f"http://{ip_d}/big", rounds),
            }
            lines += [f"## Bulk transfer, 256 MiB by curl from busybox httpd ({rounds} rounds, "
                      "medians)", "", "| path | MiB/s |", "|---|---:|"]
            lines += [f"| {name} | {rate:.0f} |" for name, rate in rates.items()]
            ratio = rates["pallet: published port on 127.0.0.1 (nftables DNAT)"] / \
                rates["pallet: the container's address"]
            lines += ["", f"pallet's published port runs at {ratio:.2f}x the direct path.", ""]
            subprocess.run([*pallet, "rm", "-f", "bulk"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*pallet, "network", "create", "fill"], check=True, stdout=subprocess.DEVNULL)
        starts = []
        for index in range(50):
            starts.append(timed([*pallet, "run", "-d", "--network", "fill", "busybox", "sleep",
                                 "600"]))
        lines += ["## run -d on one user network, 50 containers", "",
                  f"1st-10th: median {statistics.median(starts[:10]) * 1000:.1f} ms; "
                  f"41st-50th: median {statistics.median(starts[40:]) * 1000:.1f} ms", ""]
        ids = subprocess.run([*pallet, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        subprocess.run([*pallet, "rm", "-f", *ids], stdout=subprocess.DEVNULL)
    finally:
        if root.exists():
            ids = subprocess.run([*pallet, "ps", "-aq"], capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run([*pallet, "rm", "-f", *ids], stdout=subprocess.DEVNULL)
            remove_store_network(root)
        shutil.rmtree(work, ignore_errors=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
