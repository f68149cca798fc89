"""stats and commit: pallet vs Docker (a private dockerd), in the same run, interleaved.

    .venv/bin/python bench/bench_parity.py [--runs N] [--baseline REV] [--out FILE]

  1. `stats --no-stream` over 20 running busybox containers (issue 13: under 300 ms)
  2. `commit` of a container that changed one 100 MB file (issue 13: no slower than docker)

Each round runs every tool once per task, in a rotating order (so a burst of load on this
shared machine falls on each tool in turn), and the medians over the rounds are reported, with
the CPU time (user + system) of the CLI process beside its wall clock: on a loaded machine the
wall clock is mostly waiting for a core. commit's container is made afresh (untimed, then
`sync`) before every timed commit. --baseline REV adds that revision of pallet (its own
worktree and venv, bench/abtest.install, and its own store) as a third tool.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.abtest import install, machine  # noqa: E402
from tests.dockerd import DOCKER, private_dockerd  # noqa: E402
from tests.images import make_busybox_image  # noqa: E402

PALLET = Path(sys.executable).parent / "pallet"
IMAGE = "bench/busybox:1"
CHANGE = "dd if=/dev/urandom of=/big bs=1M count=100 2>/dev/null"
CONTAINERS = 20


def run(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({process.returncode})")
    return wall, usage.ru_utime + usage.ru_stime


def quiet(argv: list[str], env: dict | None = None) -> None:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", default=None, help="a pallet revision to compare with")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS-parity.md"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-parity-"))
    started = machine()
    clis = {"pallet": PALLET}
    if args.baseline:
        commit, cli = install(args.baseline)
        clis[f"pallet {commit[:9]}"] = cli
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        with private_dockerd() as engine:
            tools = {}
            for index, (name, cli) in enumerate(clis.items()):
                root = work / f"store{index}"
                make_busybox_image(root, IMAGE)
                tools[name] = ([str(cli), "--root", str(root)], None, [])
            archive = work / "image.tar"
            quiet([str(PALLET), "--root", str(work / "store0"), "save", "-o", str(archive), IMAGE])
            engine.docker("load", "-i", str(archive))
            tools["docker"] = ([DOCKER], engine.env(), ["--network", "none"])
            for name, (argv, env, net) in tools.items():
                for index in range(CONTAINERS):
                    quiet(argv + ["run", "-d", *net, "--name", f"s{index}", IMAGE, "sleep",
                                  "3600"], env)
            names = list(tools)
            for round_ in range(args.runs):
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for name in order:
                    argv, env, _ = tools[name]
                    samples.setdefault(("stats --no-stream (20 containers)", name), []).append(
                        run(argv + ["stats", "--no-stream"], env))
            for name, (argv, env, _) in tools.items():
                quiet(argv + ["rm", "-f", *[f"s{i}" for i in range(CONTAINERS)]], env)
            for round_ in range(args.runs):
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for name in order:
                    argv, env, net = tools[name]
                    quiet(argv + ["rm", "-f", "c1"], env)
                    quiet(argv + ["rmi", "out:1"], env)
                    quiet(argv + ["run", *net, "--name", "c1", IMAGE, "sh", "-c", CHANGE], env)
                    os.sync()
                    samples.setdefault(("commit (one 100 MB file)", name), []).append(
                        run(argv + ["commit", "c1", "out:1"], env))
            for name, (argv, env, _) in tools.items():
                quiet(argv + ["rm", "-f", "c1"], env)
                quiet(argv + ["rmi", "out:1"], env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = ["# stats and commit: pallet vs docker", "",
             f"Machine: {started}; load average at the end "
             f"{' '.join(open('/proc/loadavg').read().split()[:3])}.",
             f"{args.runs} rounds, each tool once per round in a rotating order (interleaved); "
             "medians. dockerd 20.10, a private instance (tests/dockerd.py); all stores on the "
             "same disk. CPU = user + system time of the CLI process (docker's CLI only: the "
             "daemon's work is not in it).", "",
             "| task | tool | median wall (ms) | min | max | median CPU (ms) |",
             "|---|---|---|---|---|---|"]
    for (task, tool), values in samples.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        lines.append(f"| {task} | {tool} | {statistics.median(walls) * 1000:.0f} | "
                     f"{min(walls) * 1000:.0f} | {max(walls) * 1000:.0f} | "
                     f"{statistics.median(cpus) * 1000:.0f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
