"""Start-up after the house-keeping (issue 10): two commits of pallet, interleaved A/B.

    .venv/bin/python bench/bench_house.py --a REV --b REV [--rounds 40]
                                          [--out bench/RESULTS-house.md]

Each revision runs from its own worktree and venv (abtest.install: made once under
/tmp/pallet-bench-venvs/<commit>) with its own store holding the same busybox image. Per round,
in alternating order (A then B, then B then A), wall clock of:
  1. `pallet --help`
  2. `pallet check` of bench_check's generated 1,000-line build file
  3. a fully cached `pallet build -q` (two stages, COPY and RUN, nothing changed)
  4. `pallet run --rm busybox true`
and, in the same rounds, `docker --help` and `docker run --rm --network none busybox true` on a
private dockerd (the peer tool's figures on the same machine at the same time). Medians, with
bytecode caches on (as users run).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_check import generate  # noqa: E402
from bench.abtest import (busybox_stores, docker_busybox, engines as make_engines,  # noqa: E402
                          cpu_timed, machine, paired, rounds, spread, timed)
from tests.dockerd import private_dockerd  # noqa: E402

DOCKERFILE = "FROM busybox AS first\nCOPY a /a\nRUN cat /a > /b\nFROM busybox\nCOPY --from=first /b /c\n"
TASKS = ("--help", "check 1,000 lines", "cached build", "run --rm true")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-house.md")
    args = parser.parse_args()
    engines = make_engines(args.a, args.b)
    work = Path(tempfile.mkdtemp(prefix="pallet-bench-house-"))
    context = work / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "a").write_text("a\n")
    buildfile = work / "Dockerfile.1000"
    buildfile.write_text(generate(1000))
    stores = busybox_stores(engines, work)
    commands: dict[str, dict[str, list[str]]] = {}
    for label, (_, cli) in engines.items():
        base = [str(cli), "--root", str(stores[label])]
        subprocess.run(base + ["build", "-q", str(context)], check=True, stdout=subprocess.DEVNULL)
        commands[label] = {"--help": [str(cli), "--help"],
                           "check 1,000 lines": [str(cli), "check", "-f", str(buildfile), str(work)],
                           "cached build": base + ["build", "-q", str(context)],
                           "run --rm true": base + ["run", "--rm", "busybox", "true"]}
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    start_machine = machine()
    with private_dockerd() as engine:
        env = docker_busybox(engine)
        docker = {"--help": ["docker", "--help"],
                  "run --rm true": ["docker", "run", "--rm", "--network", "none", "busybox", "true"]}
        for label in ("A", "B"):          # warm-up: bytecode caches, page cache
            for argv in commands[label].values():
                subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for order in rounds(("A", "B"), args.rounds):
            for task in TASKS:
                for label in order:
                    wall, used = cpu_timed(commands[label][task])
                    times.setdefault((label, task), []).append(wall)
                    cpu.setdefault((label, task), []).append(used)
                if task in docker:
                    times.setdefault(("docker", task), []).append(timed(docker[task], env=env))
    subprocess.run(["rm", "-rf", str(work)], check=False)
    lines = [f"# Start-up A/B: {args.a} (A) against {args.b} (B)", "",
             f"`bench/bench_house.py`, {args.rounds} interleaved rounds, medians in ms.", "",
             f"A = {engines['A'][0][:12]}, B = {engines['B'][0][:12]}", "",
             f"Machine: {start_machine}", "",
             "| task | A median (IQR) | B median (IQR) | B/A of medians | B/A paired, median "
             "(IQR) | CPU ms A / B, paired B/A | docker |", "|---|---|---|---|---|---|---|"]

    for task in TASKS:
        a_times, b_times = times[("A", task)], times[("B", task)]
        a, b = statistics.median(a_times), statistics.median(b_times)
        # each round ran A and B back to back: their ratio cancels the load of that moment
        ratios = [y / x for x, y in zip(a_times, b_times)]
        r1, _, r3 = statistics.quantiles(ratios, n=4)
        r2 = paired(a_times, b_times)
        peer = times.get(("docker", task))
        peer_text = f"{statistics.median(peer) * 1000:.1f}" if peer else "-"
        a_cpu, b_cpu = cpu[("A", task)], cpu[("B", task)]
        cpu_text = (f"{statistics.median(a_cpu) * 1000:.1f} / {statistics.median(b_cpu) * 1000:.1f}"
                    f", {paired(a_cpu, b_cpu):.3f}")
        lines.append(f"| {task} | {spread(a_times)} | {spread(b_times)} | {b / a:.3f} | "
                     f"{r2:.3f} ({r1:.3f}-{r3:.3f}) | {cpu_text} | {peer_text} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
