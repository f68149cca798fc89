#!/usr/bin/env python3
"""Rebuilds (issue 15): the one-file rebuild of the 10,000-file / 300 MB context and the small
project's no-op rebuild, two commits of pallet interleaved A/B with `docker build` (classic
builder, private dockerd from tests/dockerd.py) in the same rounds.

    .venv/bin/python bench/bench_rebuild.py --a REV --b REV [--rounds 7] [--fast-rounds 21]
                                            [--out bench/RESULTS-rebuild.md]

- one file: bench_build's B context (`COPY data /data` + `RUN du -s /data > /usage`); each
  round changes the last 8 bytes of data/d00/f0 before each tool's rebuild, so every rebuild
  sees one changed file against its own previous build.
- no-op: bench_build's A project (two stages, four RUN, 200 files), built once, then rebuilt
  unchanged.
- floors: what no implementation of the one-file rebuild avoids on this machine, timed in this
  process: a bare os.scandir walk of the context, the same walk with an lstat per entry, the
  RUN step's own work (`du -s /data` over a freshly mounted overlay of B's image layers, as
  the step sees them, in a private mount namespace) and B's interpreter starting (`python -c
  pass`, the venv's).
The run is appended to --out as a section of its own (the file keeps earlier runs).
Each revision runs from its own worktree and venv (bench.abtest.install), its own store and its
own XDG_CACHE_HOME. Wall clock medians (IQR), CPU (user+sys of the process and its children)
beside; dockerd's CPU is not counted for docker (its CLI alone is). The load average is taken
before every round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.abtest import (busybox_stores, cpu_timed, docker_busybox, install,  # noqa: E402
                          machine, paired, rounds, spread)
from bench.bench_build import make_big, make_small  # noqa: E402


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def floors(context: Path, repeat: int = 7) -> dict[str, float]:
    def walk(path: str, stat: bool) -> int:
        count = 0
        with os.scandir(path) as entries:
            for entry in entries:
                count += 1
                if stat:
                    entry.stat(follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    count += walk(entry.path, stat)
        return count

    out = {}
    for name, stat in (("scandir walk", False), ("scandir walk + lstat", True)):
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            walk(str(context), stat)
            samples.append(time.perf_counter() - started)
        out[name] = statistics.median(samples)
    return out


def du_floor(cli: Path, store: Path, context: Path, env: dict, repeat: int = 7) -> float:
    """`du -s /data` over a fresh overlay of the layers of the image B built last (the layers
    under its RUN layer, as the step mounts them), in a private mount namespace."""
    import json
    import subprocess
    image = subprocess.run([str(cli), "--root", str(store), "build", "-q", str(context)],
                           env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
    inspected = subprocess.run([str(cli), "--root", str(store), "image", "inspect", image],
                               env=env, check=True, capture_output=True, text=True).stdout
    layers = json.loads(inspected)[0]["RootFS"]["Layers"][:-1]
    names = ":".join(layer.split(":", 1)[1] for layer in reversed(layers))   # topmost first
    work = Path(tempfile.mkdtemp(prefix="du-floor-", dir=store / "tmp"))
    script = (f"cd {store / 'layers'} && mount -t overlay overlay -o lowerdir={names},"
              f"upperdir={work}/up,workdir={work}/work,volatile {work}/root && "
              f"start=$(date +%s%N) && du -s {work}/root/data >/dev/null && "
              f"echo $(( $(date +%s%N) - start ))")
    samples = []
    try:
        for _ in range(repeat):
            for name in ("up", "work", "root"):
                shutil.rmtree(work / name, ignore_errors=True)
                (work / name).mkdir()
            out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                  script], check=True, capture_output=True, text=True).stdout
            samples.append(int(out.split()[-1]) / 1e9)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return statistics.median(samples)


def start_floor(cli: Path, repeat: int = 21) -> float:
    import subprocess
    python = cli.parent / "python"
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", "pass"], check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--fast-rounds", type=int, default=21)
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-rebuild.md")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # users have bytecode caches

    from tests.dockerd import private_dockerd

    installed = {"A": install(args.a), "B": install(args.b)}
    work = Path(tempfile.mkdtemp(prefix="bench-rebuild-", dir="/var/tmp"))
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    loads: dict[str, list[float]] = {}
    start_machine = machine()
    stores: dict = {}
    try:
        stores = busybox_stores(installed, work)
        big, small = work / "big", work / "small"
        make_big(big, args.mb, args.files)
        make_small(small)
        envs = {}
        for label in installed:
            envs[label] = {**os.environ, "XDG_CACHE_HOME": str(work / f"xdg-{label}")}
        target = big / "data" / "d00" / "f0"
        counter = iter(range(10**8))

        def change() -> None:
            target.write_bytes(target.read_bytes()[:-8] + f"{next(counter):08d}".encode())

        with private_dockerd() as engine:
            docker_env = docker_busybox(engine)

            def command(label: str, context: Path) -> tuple[list[str], dict]:
                if label == "docker":
                    return ["docker", "build", "-q", str(context)], docker_env
                return ([str(installed[label][1]), "--root", str(stores[label]), "build", "-q",
                         str(context)], envs[label])

            labels = ("A", "B", "docker")
            for label in labels:                       # first builds, not measured
                for context in (big, small):
                    cpu_timed(*command(label, context))
            for order in rounds(labels, args.rounds):
                loads.setdefault("one file", []).append(load())
                for label in order:
                    change()
                    samples.setdefault((label, "one file"), []).append(
                        cpu_timed(*command(label, big)))
            for order in rounds(labels, args.fast_rounds):
                loads.setdefault("no-op", []).append(load())
                for label in order:
                    samples.setdefault((label, "no-op"), []).append(
                        cpu_timed(*command(label, small)))
        measured_floors = floors(big)
        measured_floors["RUN du -s /data over a fresh overlay of B's layers"] = du_floor(
            installed["B"][1], stores["B"], big, envs["B"])
        measured_floors["B's interpreter start (python -c pass)"] = start_floor(installed["B"][1])
    finally:
        from tests.netutil import remove_store_network
        for store in stores.values():   # the RUN steps' bridges and nft tables go with them
            remove_store_network(Path(store))
        shutil.rmtree(work, ignore_errors=True)   # the contexts: ~10,000 files, once
    end_load = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def walls(label: str, task: str) -> list[float]:
        return [wall for wall, _ in samples[(label, task)]]

    def cpu(label: str, task: str) -> float:
        return statistics.median(c for _, c in samples[(label, task)]) * 1000

    title = "# Rebuilds: one file changed in a 10,000-file context, and a no-op rebuild"
    lines = [f"## Run of {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC", "",
             f"`bench/bench_rebuild.py --a {args.a} --b {args.b} --rounds {args.rounds} "
             f"--fast-rounds {args.fast_rounds}` (module docstring: what is measured). "
             "Interleaved rounds (A B docker, then docker B A, ...); medians (IQR) of wall "
             "clock in ms, CPU user+sys of the client process and its children beside "
             "(dockerd's own CPU is not in docker's figure).", "",
             f"A = {installed['A'][0][:12]}, B = {installed['B'][0][:12]}; docker 20.10, classic "
             "builder (DOCKER_BUILDKIT unset: 20.10's default).", "",
             f"Machine: {start_machine}; load average at the end {end_load}", "",
             "| rebuild | A wall | B wall | docker wall | A CPU | B CPU | docker CLI CPU | "
             "B / A (paired) | B / docker (paired) |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for task in ("one file", "no-op"):
        lines.append(
            f"| {task} | {spread(walls('A', task))} | {spread(walls('B', task))} | "
            f"{spread(walls('docker', task))} | {cpu('A', task):.0f} | {cpu('B', task):.0f} | "
            f"{cpu('docker', task):.0f} | {paired(walls('A', task), walls('B', task)):.2f} | "
            f"{paired(walls('docker', task), walls('B', task)):.2f} |")
    lines.append("")
    for task, values in loads.items():
        lines.append(f"- load average (1 min) before each {task} round: "
                     + ", ".join(f"{v:.1f}" for v in values))
    lines.append("- floors of the one-file rebuild, this process: " + ", ".join(
        f"{name} {value * 1000:.1f} ms" for name, value in measured_floors.items()))
    for key, values in sorted(samples.items()):
        lines.append(f"- {key[0]} {key[1]}: " + ", ".join(f"{w * 1000:.0f}" for w, _ in values))
    text = "\n".join(lines) + "\n"
    before = args.out.read_text().rstrip("\n") + "\n\n" if args.out.exists() else title + "\n\n"
    args.out.write_text(before + text)
    print(text)


if __name__ == "__main__":
    main()
