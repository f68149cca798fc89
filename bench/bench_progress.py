#!/usr/bin/env python3
"""What live progress costs: `pallet pull` of a 200 MB layer on loopback, drawn on a terminal
(a pty this script opens, 120 columns), printed as plain lines (a pipe), and with -q; the
docker CLI against a private dockerd pulling the same image from the same registry, on a
terminal and with -q, beside it. Interleaved rounds, each pull into an empty store, medians.

    .venv/bin/python bench/bench_progress.py [--mb 200] [--rounds 7] [--no-docker]

Prints Markdown for bench/RESULTS-progress.md, with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PALLET = str(Path(sys.executable).parent / "pallet")


def _env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PALLET_ROOT"}
    env["TERM"] = "xterm"
    env.update(extra or {})
    return env


def _pipe(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr.decode()[-2000:]}")
    return elapsed


def _pty(argv: list[str], env: dict) -> float:
    from tests.ptyrun import run_in_pty

    start = time.perf_counter()
    run = run_in_pty(argv, env=env, columns=120)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{run.raw.decode(errors='replace')[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()

    from tests.bigimage import push_big_image
    from tests.dockerd import DOCKER, private_dockerd
    from tests.registry import private_registry

    work = Path(tempfile.mkdtemp(prefix="bench-progress-", dir="/var/tmp"))
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {}
    try:
        with private_registry(work / "registry") as registry, \
                (private_dockerd() if not args.no_docker else _nothing()) as engine:
            _, reference = push_big_image(work, registry.host, args.mb << 20)
            modes = {
                "pallet pull -q (pipe)": lambda s: _pipe(
                    [PALLET, "--root", str(s), "pull", "-q", reference], _env()),
                "pallet pull (terminal, live display)": lambda s: _pty(
                    [PALLET, "--root", str(s), "pull", reference], _env()),
                "pallet pull (pipe, plain lines)": lambda s: _pipe(
                    [PALLET, "--root", str(s), "pull", reference], _env()),
            }
            if engine is not None:
                docker_env = _env({"DOCKER_HOST": engine.host, "DOCKER_CLI_HINTS": "false",
                                   "DOCKER_CONFIG": str(work / "docker-config")})

                def docker(argv_tail, runner):
                    def run(_store):
                        subprocess.run([DOCKER, "rmi", "-f", reference], capture_output=True,
                                       env=docker_env)
                        return runner([DOCKER, *argv_tail, reference], docker_env)
                    return run

                modes["docker pull -q (pipe)"] = docker(["pull", "-q"], _pipe)
                modes["docker pull (terminal)"] = docker(["pull"], _pty)
            for round_ in range(args.rounds):
                order = list(modes)
                if round_ % 2:
                    order.reverse()
                for name in order:
                    store = work / "store-pull"
                    shutil.rmtree(store, ignore_errors=True)
                    times.setdefault(name, []).append(modes[name](store))
                    shutil.rmtree(store, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    meter_cost = _meter_cost(args.mb << 20)
    quiet = statistics.median(times["pallet pull -q (pipe)"])
    print(f"## Progress cost: pull of a {args.mb} MB layer on loopback\n")
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.rounds} interleaved rounds, medians (min-max); load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after.\n")
    print("| command | median s | min-max s | vs pallet -q |")
    print("|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | "
              f"{(median / quiet - 1) * 100:+.1f}% |")
    print(f"\nThe meter alone (in process, {args.mb} MB read through it in the 128 kB pieces "
          f"a download uses, against the same reads without it; best of 5): "
          f"{meter_cost[0] * 1000:.1f} ms with, {meter_cost[1] * 1000:.1f} ms without.")


def _meter_cost(size: int) -> tuple[float, float]:
    import io

    from pallet.base.progress import Collect, Meter

    data = bytes(size)
    results = []
    for metered in (True, False):
        best = float("inf")
        for _ in range(5):
            stream = io.BytesIO(data)
            if metered:
                stream = Meter(stream, Collect(), "layer", "Downloading", size, piece=128 << 10)
            start = time.perf_counter()
            while stream.read(128 << 10):
                pass
            best = min(best, time.perf_counter() - start)
        results.append(best)
    return results[0], results[1]


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
