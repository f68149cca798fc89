"""What confinement costs: two commits of pallet, interleaved A/B, with Docker beside them.

    .venv/bin/python bench/bench_confine.py --a REV --b REV [--files 2000] [--rounds 9]
        [--scenarios copy,cp,load,run] [--out bench/RESULTS-confine.md]

Each revision gets its own worktree, venv and store (abtest.install). Scenarios, each
run in alternating order (A B docker, then docker B A, ...), wall-clock medians:
  copy  a cold build (--no-cache) of `COPY data /data` with --files 1 KiB files: every file
        written through the layer writer (confine.Root since B);
  cp    `cp CTR:/data DIR` of those files out of a stopped container: the confined reader, the
        extractor on the host side (B), chroot + tarfile (A);
  load  `load -i` of that image (docker save) into an empty store (docker: after removing
        the image, so its layers are unpacked again): the layer extractor;
  run   `run --rm busybox true`: mount points made and checked through confine.Root (B).
Docker runs on a private dockerd (classic builder); its figures are the peer's, same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from abtest import (busybox_stores, docker_busybox, engines as make_engines,  # noqa: E402
                    machine, timed)
from tests.dockerd import private_dockerd  # noqa: E402

DOCKERFILE = "FROM busybox\nCOPY data /data\n"


def make_context(context: Path, files: int) -> None:
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    for index in range(files):
        path = context / "data" / f"d{index % 40:02d}" / f"f{index:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(512).hex().encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--scenarios", default="copy,cp,load,run",
                        help="load last but run: it removes docker's copy of the image")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-confine.md")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    engines = make_engines(args.a, args.b)
    work = Path(tempfile.mkdtemp(prefix="pallet-bench-confine-"))
    times: dict[tuple[str, str], list[float]] = {}
    try:
        context = work / "ctx"
        make_context(context, args.files)
        stores = busybox_stores(engines, work)
        with private_dockerd() as engine:
            env = docker_busybox(engine)
            docker = shutil.which("docker") or "docker"
            pallet = {label: [str(cli), "--root", str(stores[label])]
                      for label, (_, cli) in engines.items()}
            # the image and a stopped container of it, on every engine
            for label in engines:
                subprocess.run(pallet[label] + ["build", "-q", "-t", "files:1", str(context)],
                               check=True, stdout=subprocess.DEVNULL)
                subprocess.run(pallet[label] + ["create", "--name", "files", "files:1", "true"],
                               check=True, stdout=subprocess.DEVNULL)
            subprocess.run([docker, "build", "-q", "-t", "files:1", str(context)], check=True,
                           env=env, stdout=subprocess.DEVNULL)
            subprocess.run([docker, "create", "--name", "files", "files:1", "true"], check=True,
                           env=env, stdout=subprocess.DEVNULL)
            saved = work / "files.tar"
            subprocess.run([docker, "save", "-o", str(saved), "files:1"], check=True, env=env)
            out_dir = work / "out"

            def prepare(kind: str, label: str) -> None:
                """Untimed: what each timed command must start from."""
                shutil.rmtree(out_dir, ignore_errors=True)
                out_dir.mkdir()
                if kind == "load" and label == "docker":   # its layers must really go
                    subprocess.run([docker, "rm", "-f", "files"], env=env, capture_output=True)
                    subprocess.run([docker, "rmi", "-f", "files:1"], env=env,
                                   capture_output=True)
                elif kind == "load":
                    shutil.rmtree(work / f"load-{label}", ignore_errors=True)

            def command(kind: str, label: str) -> list[str]:
                if label == "docker":
                    return {"copy": [docker, "build", "-q", "--no-cache", str(context)],
                            "load": [docker, "load", "-q", "-i", str(saved)],
                            "cp": [docker, "cp", "files:/data", str(out_dir / "data")],
                            "run": [docker, "run", "--rm", "--network", "none", "busybox",
                                    "true"]}[kind]
                base = pallet[label]
                return {"copy": base + ["build", "-q", "--no-cache", str(context)],
                        "load": [base[0], "--root", str(work / f"load-{label}"), "load", "-q",
                                 "-i", str(saved)],
                        "cp": base + ["cp", "files:/data", str(out_dir / "data")],
                        "run": base + ["run", "--rm", "busybox", "true"]}[kind]

            for kind in scenarios:
                labels = ["A", "B", "docker"]
                for label in labels:  # warm-up: page cache, bytecode, compiled filters
                    prepare(kind, label)
                    timed(command(kind, label), env)
                rounds = args.rounds * (3 if kind == "run" else 1)
                for number in range(rounds):
                    for label in labels if number % 2 == 0 else list(reversed(labels)):
                        prepare(kind, label)
                        times.setdefault((kind, label), []).append(
                            timed(command(kind, label), env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    names = {"A": f"pallet A {engines['A'][0][:10]}", "B": f"pallet B {engines['B'][0][:10]}",
             "docker": "docker (private dockerd)"}
    whats = {"copy": f"cold build, COPY of {args.files} files", "load": "load -i (docker save)",
             "cp": f"cp CTR:/data ({args.files} files) out", "run": "run --rm busybox true"}
    lines = ["# Confinement cost (bench/bench_confine.py)", "", f"Machine: {machine()}", "",
             f"A = {args.a} ({engines['A'][0][:10]}), B = {args.b} ({engines['B'][0][:10]}); "
             f"interleaved, {args.rounds} rounds (run: {args.rounds * 3}); wall-clock medians "
             "in milliseconds.", "", "| what | engine | median ms | min ms |",
             "|---|---|---:|---:|"]
    for (kind, label), samples in times.items():
        lines.append(f"| {whats[kind]} | {names[label]} | {statistics.median(samples) * 1000:.1f}"
                     f" | {min(samples) * 1000:.1f} |")
    lines.append("")
    for kind in scenarios:
        a, b = (statistics.median(times[(kind, x)]) for x in ("A", "B"))
        lines.append(f"- {whats[kind]}: B - A = {(b - a) * 1000:+.1f} ms "
                     f"({(b / a - 1) * 100:+.1f} %)")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
