#!/usr/bin/env python3
"""Registry benchmarks: two commits of pallet, interleaved A/B, against `docker push/pull`
(private dockerd) and `skopeo copy`, in the same rounds, on the same private registry
(Debian's docker-registry on 127.0.0.1).

    .venv/bin/python bench/bench_registry.py --a REV --b REV [--mb 200] [--rounds 3]
                                             [--out bench/RESULTS-registry.md]

The image: busybox plus one layer of --mb MB (two thirds random, one third text, so gzip has
real work), built once and loaded into each revision's store (uncompressed layers, as builds
store them) and into dockerd. Each round starts a fresh registry (a new port: no tool can reuse
what it pushed in an earlier round) and, in alternating order of A and B:
  1. push to an empty registry (A, B, docker; skopeo copies the docker-archive as it is);
  2. push of the same image to a second repository of that registry (mounts, where a tool does);
  3. pull into an empty store (A, B, docker after rmi; skopeo into an OCI layout).
Each revision runs from its own worktree and venv (bench.abtest.install). Medians.
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

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TASKS = ("push", "push to a second repository", "pull")


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall, CPU seconds of the process and its children): on a loaded machine the wall
    swings with other work, the CPU much less (the docker CLI's CPU is not dockerd's work)."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env or ENV)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr.decode()[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-registry.md")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

    from pallet.runtime.image.archive import save_images
    from pallet.runtime.store.content import Store
    from tests.dockerd import private_dockerd
    from tests.images import make_busybox_image
    from tests.registry import private_registry

    engines = {"A": install(args.a), "B": install(args.b)}
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir="/var/tmp"))
    samples: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    start_machine = machine()
    try:
        base = work / "base"
        make_busybox_image(base, "busybox:latest")
        context = work / "ctx"
        context.mkdir()
        third = args.mb * 1_000_000 // 3
        (context / "data").write_bytes(os.urandom(2 * third) + b"pallet bench line\n" * (third // 18))
        (context / "Dockerfile").write_text("FROM busybox\nCOPY data /data\n")
        subprocess.run([str(engines["B"][1]), "--root", str(base), "build", "-q", "-t", "big:1",
                        str(context)], check=True, capture_output=True, env=ENV)
        save_images(Store.open(base), ["big:1"], work / "big.tar")
        stores = {}
        for label, (_, cli) in engines.items():
            stores[label] = work / f"store-{label}"
            subprocess.run([str(cli), "--root", str(stores[label]), "load", "-i",
                            str(work / "big.tar")], check=True, capture_output=True, env=ENV)
        with private_dockerd() as engine:
            engine.docker("load", "-i", str(work / "big.tar"))
            denv = {k: v for k, v in engine.env().items() if k != "PYTHONDONTWRITEBYTECODE"}
            for number in range(args.rounds):
                order = ("A", "B") if number % 2 == 0 else ("B", "A")
                with private_registry(work / f"registry{number}") as registry:
                    host = registry.host

                    def pallet(label: str, *argv: str) -> list[str]:
                        return [str(engines[label][1]), "--root", str(stores[label]), *argv]

                    def record(task: str, tool: str, seconds: tuple[float, float]) -> None:
                        samples.setdefault((task, tool), []).append(seconds[0])
                        cpu.setdefault((task, tool), []).append(seconds[1])

                    for repo in ("one", "two"):
                        task = "push" if repo == "one" else "push to a second repository"
                        for label in order:
                            ref = f"{host}/{label.lower()}{repo}/big:1"
                            subprocess.run(pallet(label, "tag", "big:1", ref), check=True)
                            record(task, label, timed(pallet(label, "push", ref)))
                        theirs = f"{host}/d{repo}/big:1"
                        engine.docker("tag", "big:1", theirs)
                        record(task, "docker", timed(["docker", "push", theirs], denv))
                        record(task, "skopeo", timed(
                            ["skopeo", "copy", "--dest-tls-verify=false",
                             f"docker-archive:{work / 'big.tar'}", f"docker://{host}/s{repo}/big:1"]))
                    for label in order:
                        fresh = work / f"fresh-{label}-{number}"
                        record("pull", label, timed(
                            [str(engines[label][1]), "--root", str(fresh), "pull",
                             f"{host}/{label.lower()}one/big:1"]))
                        shutil.rmtree(fresh, ignore_errors=True)
                    theirs = f"{host}/done/big:1"
                    engine.docker("rmi", "-f", theirs, f"{host}/dtwo/big:1", "big:1")
                    record("pull", "docker", timed(["docker", "pull", theirs], denv))
                    engine.docker("tag", theirs, "big:1")
                    engine.docker("rmi", theirs)
                    layout = work / f"layout{number}"
                    record("pull", "skopeo", timed(
                        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/sone/big:1",
                         f"oci:{layout}:big"]))
                    shutil.rmtree(layout, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    end_load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    lines = [f"# Registries: push and pull of a {args.mb} MB layer", "",
             time.strftime("Run %Y-%m-%d %H:%M UTC.", time.gmtime()), "",
             f"`bench/bench_registry.py --a {args.a} --b {args.b} --mb {args.mb} --rounds "
             f"{args.rounds}`: busybox plus one {args.mb} MB layer (two thirds random, one third "
             "text), a fresh docker-registry 2.8 on 127.0.0.1 each round (plain HTTP, filesystem "
             "storage under /var/tmp). skopeo copies the docker-archive of the same image (push; "
             "its layers go uncompressed) and into an OCI layout (pull): the wire and the disk "
             "without an engine's store. Interleaved, medians.", "",
             f"A = {engines['A'][0][:12]}, B = {engines['B'][0][:12]}", "",
             f"Machine: {start_machine}; load average at the end {end_load}", "",
             "| operation | A (s) | B (s) | docker (s) | skopeo copy (s) | B / A | B / docker | "
             "B / skopeo |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for task in TASKS:
        a, b, d, s = (statistics.median(samples[(task, tool)])
                      for tool in ("A", "B", "docker", "skopeo"))
        lines.append(f"| {task} | {a:.2f} | {b:.2f} | {d:.2f} | {s:.2f} | {b / a:.2f} | "
                     f"{b / d:.2f} | {b / s:.2f} |")
    lines += ["", "Per round (each ratio taken within one round, then the median: the load's drift "
              "cancels out) and CPU seconds (user + system of the tool's processes; docker's "
              "work is in dockerd, so it has none here):", "",
              "| operation | B / A | B / docker | B / skopeo | A CPU (s) | B CPU (s) | "
              "skopeo CPU (s) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for task in TASKS:
        b = samples[(task, "B")]
        ratios = [statistics.median(x / y for x, y in zip(b, samples[(task, tool)]))
                  for tool in ("A", "docker", "skopeo")]
        cpus = [statistics.median(cpu[(task, tool)]) for tool in ("A", "B", "skopeo")]
        lines.append(f"| {task} | " + " | ".join(f"{r:.2f}" for r in ratios) + " | "
                     + " | ".join(f"{c:.2f}" for c in cpus) + " |")
    lines.append("")
    for key, values in sorted(samples.items()):
        lines.append(f"- {key[1]} {key[0]}: " + ", ".join(f"{v:.2f}" for v in values)
                     + ("" if key[1] == "docker" else " (CPU " + ", ".join(
                         f"{v:.2f}" for v in cpu[key]) + ")"))
    text = "\n".join(lines) + "\n"
    if args.out.exists():   # the runs before stay below, each under its own heading
        earlier = args.out.read_text().split("\n", 1)[-1]
        text += f"\n## Earlier run\n{earlier}"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
