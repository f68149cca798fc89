"""Networking benchmarks: the cost of the default bridge, throughput through a published port,
and whether start-up slows down as a network fills.

    .venv/bin/python bench/bench_network.py [--runs N] [--a REV --b REV] [--skip-bulk]
                                            [--out bench/RESULTS-network.md]

1. `run --rm busybox true` on pallet's default bridge vs `--network none`, and Docker's
   `docker run --rm` (its default bridge) / `--network none` on a private dockerd with a bridge
   of its own: interleaved (one of each per round, the order reversed every other round),
   medians. With --a/--b, two commits of pallet (each from its own worktree and venv,
   abtest.install, and its own store) run side by side in the same rounds; sections 2
   and 3 then use B.
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


def interleaved(commands: dict[str, tuple[list[str], dict | None]], runs: int,
                loads: list[float], cpu: dict[str, list[float]]) -> dict[str, list]:
    """Wall times per command; cpu gets user+sys of each command and the children it waited
    for (pallet's whole work; only the CLI's for docker, whose daemon does the work)."""
    import resource
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name, (argv, env) in commands.items():  # warm-up
        timed(argv, env)
    for number in range(runs):
        loads.append(float(open("/proc/loadavg").read().split()[0]))
        order = list(commands) if number % 2 == 0 else list(reversed(commands))
        for name in order:
            argv, env = commands[name]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[name].append(timed(argv, env))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.setdefault(name, []).append(after.ru_utime - before.ru_utime +
                                            after.ru_stime - before.ru_stime)
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


class _SkipBulk(Exception):
    pass


def fill(pallets: dict[str, list[str]], envs: dict[str, dict]) -> list[str]:
    """`run -d` of 50 containers on one user network: the first ten against the last ten
    (each engine its own store and network, their starts alternating)."""
    for pallet in pallets.values():
        subprocess.run([*pallet, "network", "create", "fill"], check=True,
                       stdout=subprocess.DEVNULL)
    starts: dict[str, list[float]] = {label: [] for label in pallets}
    load = open("/proc/loadavg").read().split()[0]
    for _ in range(50):
        for label, pallet in pallets.items():
            starts[label].append(timed([*pallet, "run", "-d", "--network", "fill", "busybox",
                                        "sleep", "600"], envs[label]))
    for pallet in pallets.values():
        ids = subprocess.run([*pallet, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        subprocess.run([*pallet, "rm", "-f", *ids], stdout=subprocess.DEVNULL)
    lines = ["## run -d on one user network, 50 containers", "",
             f"Load average at the start: {load}", ""]
    for label, values in starts.items():
        first, last = statistics.median(values[:10]), statistics.median(values[40:])
        lines.append(f"pallet {label}: 1st-10th median {first * 1000:.1f} ms; 41st-50th median "
                     f"{last * 1000:.1f} ms ({(last / first - 1) * 100:+.0f} %)".replace("  ", " "))
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--a", help="a revision to compare (A); needs --b")
    parser.add_argument("--b", help="the revision after (B)")
    parser.add_argument("--skip-bulk", action="store_true", help="sections 1 and 3 only")
    parser.add_argument("--skip-fill", action="store_true", help="no 50-container section")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-network.md")
    args = parser.parse_args()
    engines = {"": (None, PALLET)}
    if args.a or args.b:
        from bench.abtest import install
        engines = {"A": install(args.a), "B": install(args.b)}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(REPO / d) for d in
                    ("pallet", "runtime", "grammar", "builder", "base"))], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="pallet-bench-net-"))
    roots = {label: work / f"store{label}" for label in engines}
    label_b = list(engines)[-1]
    root = roots[label_b]
    pallet = [str(engines[label_b][1]), "--root", str(root)]
    lines = ["# Network benchmarks (bench/bench_network.py)", "", f"Machine: {machine()}", "",
             f"Tools: {versions()}", ""]
    if args.a or args.b:
        lines += [f"A = {args.a} ({engines['A'][0][:10]}), B = {args.b} "
                  f"({engines['B'][0][:10]}), each with its own store", ""]
    try:
        try:
            for label in engines:
                make_busybox_image(roots[label], "busybox:latest")
            subprocess.run([*pallet, "save", "-o", str(work / "bb.tar"), "busybox:latest"],
                           check=True)
            with private_dockerd(networking=True) as engine:
                engine.docker("load", "-i", str(work / "bb.tar"))
                env = engine.env()
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                commands = {}
                for label, (_, cli) in engines.items():
                    base = [str(cli), "--root", str(roots[label]), "run", "--rm"]
                    name = f"pallet {label} ".replace("  ", " ")
                    # each revision its own compiled-dataclass cache (one shared cache would be
                    # rewritten by whichever revision ran last)
                    own = dict(os.environ, XDG_CACHE_HOME=str(work / f"cache{label}"))
                    commands[f"{name}run --rm (bridge)"] = ([*base, "busybox", "true"], own)
                    commands[f"{name}run --rm --network none"] = (
                        [*base, "--network", "none", "busybox", "true"], own)
                commands["docker run --rm (bridge)"] = (
                    ["docker", "run", "--rm", "busybox", "true"], env)
                commands["docker run --rm --network none"] = (
                    ["docker", "run", "--rm", "--network", "none", "busybox", "true"], env)
                loads: list[float] = []
                cpu: dict[str, list[float]] = {}
                times = interleaved(commands, args.runs, loads, cpu)
                lines += [f"## run --rm busybox true ({args.runs} interleaved rounds, medians)", "",
                          f"1-minute load average over the rounds: {min(loads):.2f} .. "
                          f"{max(loads):.2f} (median {statistics.median(loads):.2f})", "",
                          "| command | median ms | p90 ms | CPU median ms |",
                          "|---|---:|---:|---:|"]
                for name, values in times.items():
                    values = sorted(values)
                    lines.append(f"| {name} | {statistics.median(values) * 1000:.1f} | "
                                 f"{values[int(len(values) * 0.9) - 1] * 1000:.1f} | "
                                 f"{statistics.median(cpu[name]) * 1000:.1f} |")
                docker = statistics.median(times["docker run --rm (bridge)"])
                docker_none = statistics.median(times["docker run --rm --network none"])
                lines.append("")
                for label in engines:
                    name = f"pallet {label} ".replace("  ", " ")
                    bridge = statistics.median(times[f"{name}run --rm (bridge)"])
                    none = statistics.median(times[f"{name}run --rm --network none"])
                    cpu_cost = statistics.median(cpu[f"{name}run --rm (bridge)"]) - \
                        statistics.median(cpu[f"{name}run --rm --network none"])
                    lines += [f"{name.strip()}: the bridge costs {1000 * (bridge - none):.1f} ms "
                              f"({1000 * cpu_cost:.1f} ms of CPU) over "
                              f"`--network none`; on the bridge {bridge / docker:.2f}x "
                              "Docker's time on its bridge; with --network none "
                              f"{none / docker_none:.2f}x Docker's with --network none.", ""]
                if args.skip_bulk:
                    raise _SkipBulk
                port_p, port_d = free_port(), free_port()
                subprocess.run([*pallet, "run", "-d", "--name", "bulk", "-p",
                                f"127.0.0.1:{port_p}:80",
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
        except _SkipBulk:
            pass
        if not args.skip_fill:
            lines += fill({label: [str(cli), "--root", str(roots[label])]
                           for label, (_, cli) in engines.items()},
                          {label: dict(os.environ, XDG_CACHE_HOME=str(work / f"cache{label}"))
                           for label in engines})
    finally:
        for label, store in roots.items():
            if store.exists():
                base = [str(engines[label][1]), "--root", str(store)]
                ids = subprocess.run([*base, "ps", "-aq"], capture_output=True,
                                     text=True).stdout.split()
                if ids:
                    subprocess.run([*base, "rm", "-f", *ids], stdout=subprocess.DEVNULL)
                remove_store_network(store)
        shutil.rmtree(work, ignore_errors=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
