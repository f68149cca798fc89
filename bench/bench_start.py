#!/usr/bin/env python3
"""Start-up of `run`, `exec` and `ps -a` (issue 15 part 2): two commits of pallet, interleaved
A/B, with Docker on a private dockerd (tests/dockerd.py) in the same rounds.

    .venv/bin/python bench/bench_start.py --a REV --b REV [--rounds 30]
                                          [--out bench/RESULTS-start.md]

Per round, in alternating order (A B docker, then docker B A):
  1. `run --rm --network none busybox true`;
  2. `exec C true` into a running `sleep` container (each engine its own);
  3. `ps -a` with 200 containers in the store (pallet only: the issue's case).
Each revision runs from its own worktree and venv (bench/abtest.install), with its own store
and its own XDG_CACHE_HOME (pallet's compiled-dataclass cache: two revisions sharing one would
rewrite each other's files on every command). The 1-minute load average is sampled every round:
the machine is shared, so the figures are comparable within a run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import resource
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
from tests.dockerd import private_dockerd  # noqa: E402
from tests.images import busybox_rootfs_tarball  # noqa: E402


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU user+sys of the command and the children it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--installed", action="store_true",
                        help="install each revision as a user does (a wheel), not editable")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-start.md")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # users have bytecode caches
    editable = not args.installed
    engines = {"A": install(args.a, editable=editable), "B": install(args.b, editable=editable)}
    work = Path(tempfile.mkdtemp(prefix="pallet-bench-start-"))
    start_machine = machine()
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    loads: list[float] = []
    bases: dict[str, list[str]] = {}
    envs: dict[str, dict] = {}
    try:
        tarball = busybox_rootfs_tarball()
        for label, (_, cli) in engines.items():
            store = work / f"store-{label}"
            bases[label] = [str(cli), "--root", str(store)]
            envs[label] = dict(os.environ, XDG_CACHE_HOME=str(work / f"cache-{label}"))
            subprocess.run([*bases[label], "import", "--change", 'CMD ["sh"]', str(tarball),
                            "busybox:latest"], check=True, stdout=subprocess.DEVNULL,
                           env=envs[label])
            subprocess.run([*bases[label], "run", "-d", "--network", "none", "--name", "target",
                            "busybox", "sleep", "3600"], check=True, stdout=subprocess.DEVNULL,
                           env=envs[label])
            for _ in range(200):
                subprocess.run([*bases[label], "create", "--network", "none", "busybox", "true"],
                               check=True, stdout=subprocess.DEVNULL, env=envs[label])
        with private_dockerd() as engine:
            engine.docker("import", "--change", 'CMD ["sh"]', str(tarball), "busybox:latest")
            denv = {k: v for k, v in engine.env().items() if k != "PYTHONDONTWRITEBYTECODE"}
            engine.docker("run", "-d", "--network", "none", "--name", "target", "busybox",
                          "sleep", "3600")
            docker = shutil.which("docker") or "docker"
            tasks = {
                "run --rm --network none busybox true": {
                    **{label: ([*bases[label], "run", "--rm", "--network", "none", "busybox",
                                "true"], envs[label]) for label in engines},
                    "docker": ([docker, "run", "--rm", "--network", "none", "busybox", "true"],
                               denv)},
                "exec C true": {
                    **{label: ([*bases[label], "exec", "target", "true"], envs[label])
                       for label in engines},
                    "docker": ([docker, "exec", "target", "true"], denv)},
                "ps -a (200 containers)": {
                    label: ([*bases[label], "ps", "-a"], envs[label]) for label in engines},
            }
            for task, commands in tasks.items():
                for argv, env in commands.values():  # warm-up
                    timed(argv, env)
            for number in range(args.rounds):
                loads.append(float(open("/proc/loadavg").read().split()[0]))
                for task, commands in tasks.items():
                    order = list(commands) if number % 2 == 0 else list(reversed(commands))
                    for label in order:
                        argv, env = commands[label]
                        times.setdefault((task, label), []).append(timed(argv, env))
            engine.docker("rm", "-f", "target")
    finally:
        for label in bases:
            subprocess.run([*bases[label], "rm", "-f", "target"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=envs[label])
        shutil.rmtree(work, ignore_errors=True)
    names = {"A": f"pallet A {engines['A'][0][:10]}", "B": f"pallet B {engines['B'][0][:10]}",
             "docker": "docker (private dockerd)"}
    lines = ["# Start-up: run, exec, ps -a (bench/bench_start.py)", "",
             f"Machine: {start_machine}; load average at the end "
             f"{' '.join(open('/proc/loadavg').read().split()[:3])}", "",
             f"A = {args.a} ({engines['A'][0][:10]}), B = {args.b} ({engines['B'][0][:10]}); "
             f"{'installed as a wheel (pip install), ' if args.installed else 'editable installs, '}"
             f"{args.rounds} interleaved rounds; wall-clock medians in milliseconds. 1-minute "
             f"load average over the rounds: {min(loads):.2f} .. {max(loads):.2f} (median "
             f"{statistics.median(loads):.2f}).", "",
             "CPU: user+sys of the command and what it waited for (for pallet the whole work, "
             "the container's process included; for docker only its CLI, dockerd's share is "
             "not in it): the steadier figure for A against B on a loaded machine.", "",
             "| task | engine | median ms | min ms | CPU median ms |", "|---|---|---:|---:|---:|"]
    for (task, label), samples in times.items():
        walls = [wall for wall, _ in samples]
        cpus = [cpu for _, cpu in samples]
        lines.append(f"| {task} | {names[label]} | {statistics.median(walls) * 1000:.1f} | "
                     f"{min(walls) * 1000:.1f} | {statistics.median(cpus) * 1000:.1f} |")
    lines.append("")
    for task in tasks:
        a, b = (statistics.median(w for w, _ in times[(task, x)]) for x in ("A", "B"))
        ca, cb = (statistics.median(c for _, c in times[(task, x)]) for x in ("A", "B"))
        line = (f"- {task}: B - A = {(b - a) * 1000:+.1f} ms ({(b / a - 1) * 100:+.1f} %), CPU "
                f"{(cb - ca) * 1000:+.1f} ms")
        if (task, "docker") in times:
            docker_median = statistics.median(w for w, _ in times[(task, "docker")])
            line += f"; A / docker {a / docker_median:.2f}x, B / docker {b / docker_median:.2f}x"
        lines.append(line)
    # earlier runs stay below the new one (as bench_rebuild and bench_registry keep theirs)
    earlier = args.out.read_text().split("\n", 1)[1] if args.out.exists() else ""
    args.out.write_text("\n".join(lines) + "\n" + ("\n## Earlier runs\n" + earlier
                                                   if earlier.strip() else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
