"""What the sandbox costs: two commits of pallet, interleaved A/B, with Docker beside them.

    .venv/bin/python bench/bench_sandbox.py --a REV --b REV [--rounds 30] [--builds 8]
                                            [--out bench/RESULTS-sandbox.md]

Each revision is checked out in a temporary worktree with its own venv (made like
scripts/setup does, kept under /tmp/pallet-bench-venvs/<commit> for the next run), and gets its
own store with the same busybox image. Per round, in alternating order (A B D, then D B A, ...):
  1. `pallet run --rm busybox true` with A, with B, with B and `--security-opt
     seccomp=unconfined` (what seccomp alone costs within B), and `docker run --rm --network
     none busybox true` on a private dockerd;
  2. a cold build (`build --no-cache` of three RUN steps on busybox) with A, B, and
     `docker build --no-cache` (classic builder, the only one here).
Wall-clock medians; interleaving spreads the machine's load (2 cores shared by other work)
over all three instead of favouring whichever ran in a quiet moment.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.abtest import (busybox_stores, docker_busybox, engines as make_engines,  # noqa: E402
                          machine, rounds, timed)
from tests.dockerd import private_dockerd  # noqa: E402

DOCKERFILE = "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nRUN cat /one /two\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--builds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-sandbox.md")
    args = parser.parse_args()
    engines = make_engines(args.a, args.b)
    work = Path(tempfile.mkdtemp(prefix="pallet-bench-sandbox-"))
    times: dict[tuple[str, str], list[float]] = {}
    try:
        context = work / "ctx"
        context.mkdir()
        (context / "Dockerfile").write_text(DOCKERFILE)
        stores = busybox_stores(engines, work)
        with private_dockerd() as engine:
            env = docker_busybox(engine)
            docker = shutil.which("docker") or "docker"

            def commands(kind: str) -> dict[str, list[str]]:
                out = {}
                for label, (_, cli) in engines.items():
                    base = [str(cli), "--root", str(stores[label])]
                    out[label] = (base + ["run", "--rm", "busybox", "true"] if kind == "run" else
                                  base + ["build", "-q", "--no-cache", str(context)])
                if kind == "run":  # B without its filter: the share seccomp has in B - A
                    _, cli = engines["B"]
                    out["B unconfined"] = [str(cli), "--root", str(stores["B"]), "run", "--rm",
                                           "--security-opt", "seccomp=unconfined", "busybox",
                                           "true"]
                out["docker"] = ([docker, "run", "--rm", "--network", "none", "busybox", "true"]
                                 if kind == "run" else
                                 [docker, "build", "-q", "--no-cache", str(context)])
                return out

            for kind, count in (("run", args.rounds), ("build", args.builds)):
                argvs = commands(kind)
                for argv in argvs.values():  # warm-up: caches, page cache, compiled filter
                    timed(argv, env)
                for order in rounds(argvs, count):
                    for label in order:
                        times.setdefault((kind, label), []).append(timed(argvs[label], env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    names = {"A": f"pallet A {engines['A'][0][:10]}", "B": f"pallet B {engines['B'][0][:10]}",
             "B unconfined": "pallet B, --security-opt seccomp=unconfined",
             "docker": "docker (private dockerd)"}
    lines = ["# Sandbox cost (bench/bench_sandbox.py)", "", f"Machine: {machine()}", "",
             f"A = {args.a} ({engines['A'][0][:10]}), B = {args.b} ({engines['B'][0][:10]}); "
             f"interleaved, {args.rounds} rounds of run, {args.builds} of build; "
             "wall-clock medians in milliseconds.", "",
             "| what | engine | median ms | min ms |", "|---|---|---:|---:|"]
    for (kind, label), samples in times.items():
        what = "run --rm busybox true" if kind == "run" else "cold build, 3 RUN steps"
        lines.append(f"| {what} | {names[label]} | {statistics.median(samples) * 1000:.1f} | "
                     f"{min(samples) * 1000:.1f} |")
    for kind in ("run", "build"):
        a, b = (statistics.median(times[(kind, x)]) for x in ("A", "B"))
        lines.append("")
        lines.append(f"{kind}: B - A = {(b - a) * 1000:+.1f} ms ({(b / a - 1) * 100:+.1f} %)")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
