#!/usr/bin/env python3
"""The CI story (issues 6 and 15): a fresh runner rebuilds with the cache a previous run left in
a registry. Two commits of pallet, interleaved A/B, each `build --cache-from type=registry,ref=...`
after its own `--cache-to ...,mode=MODE` run (mode=min by default, BuildKit's default: only the
final image's steps are exported), against Docker's classic builder on the same private
registry (docker-registry on 127.0.0.1): `docker pull` of the previous image, then
`build --cache-from` it.

    .venv/bin/python bench/bench_ci_cache.py --a REV --b REV [--rounds 5] [--mode min]
                                             [--out bench/RESULTS-cicache.md]

Project: bench_build.py's A (two stages, four RUN steps, 200 files). "Fresh runner" means a store
with only the busybox base: for pallet a new --root, for Docker the built image removed and the
builder cache pruned. Each revision runs from its own worktree and venv (bench.abtest.install).
Per round the order alternates (A, B, docker / B, A, docker). Medians; the load average is
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench.abtest import install, machine  # noqa: E402


def run(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    return elapsed, result.stdout + result.stderr


def steps_ran(log: str) -> int:
    """Steps that ran (DONE) other than the FROMs; cache hits print CACHED instead."""
    return len(re.findall(r"^#\d+ DONE", log, re.M)) - len(re.findall(r"\] FROM ", log))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=("min", "max"), default="min")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-cicache.md")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # users have bytecode caches

    from bench_build import make_small
    from tests.dockerd import private_dockerd
    from tests.images import busybox_rootfs_tarball
    from tests.registry import private_registry

    engines = {"A": install(args.a), "B": install(args.b)}
    work = Path(tempfile.mkdtemp(prefix="bench-ci-", dir="/var/tmp"))
    samples: dict[str, list[float]] = {}
    ran: dict[str, list[int]] = {}
    start_machine = machine()
    try:
        tarball = busybox_rootfs_tarball()
        context = work / "small"
        make_small(context)
        with private_registry(work / "registry") as registry, private_dockerd() as engine:
            denv = {k: v for k, v in engine.env().items() if k != "PYTHONDONTWRITEBYTECODE"}
            denv["DOCKER_BUILDKIT"] = "0"
            engine.docker("import", "--change", 'CMD ["sh"]', str(tarball), "busybox:latest")
            image_ref = f"{registry.host}/ci/app:main"
            bases, caches = {}, {}
            for label, (_, cli) in engines.items():
                bases[label] = work / f"base-{label}"
                subprocess.run([str(cli), "--root", str(bases[label]), "import", "--change",
                                'CMD ["sh"]', str(tarball), "busybox:latest"], check=True,
                               stdout=subprocess.DEVNULL)
                # the previous CI run of this revision: build once, leave the cache
                first = work / f"first-{label}"
                shutil.copytree(bases[label], first, symlinks=True)
                caches[label] = f"{registry.host}/ci/cache-{label.lower()}:main"
                run([str(cli), "--root", str(first), "build", "-q", "--cache-to",
                     f"type=registry,ref={caches[label]},mode={args.mode}", str(context)])
            run(["docker", "build", "-q", "-t", image_ref, str(context)], denv)
            run(["docker", "push", image_ref], denv)
            for number in range(args.rounds):
                order = ("A", "B") if number % 2 == 0 else ("B", "A")
                for label in order:
                    fresh = work / f"fresh-{label}-{number}"
                    shutil.copytree(bases[label], fresh, symlinks=True)
                    elapsed, log = run([str(engines[label][1]), "--root", str(fresh), "build",
                                        "--progress", "plain", "--cache-from",
                                        f"type=registry,ref={caches[label]}", str(context)])
                    samples.setdefault(label, []).append(elapsed)
                    ran.setdefault(label, []).append(steps_ran(log))
                    shutil.rmtree(fresh, ignore_errors=True)
                # Docker's fresh runner: no built image, no build cache; pull, then build.
                engine.docker("rmi", "-f", image_ref)
                engine.docker("builder", "prune", "-a", "-f", check=False)
                pulled, _ = run(["docker", "pull", image_ref], denv)
                built, log = run(["docker", "build", "--cache-from", image_ref, str(context)],
                                 denv)
                samples.setdefault("docker", []).append(pulled + built)
                ran.setdefault("docker", []).append(log.count("Running in"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    end_load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    a, b, d = (statistics.median(samples[k]) for k in ("A", "B", "docker"))
    lines = [
        f"# CI cache: a fresh runner with a mode={args.mode} registry cache", "",
        f"`bench/bench_ci_cache.py --a {args.a} --b {args.b} --rounds {args.rounds} "
        f"--mode {args.mode}`: bench_build's project A (two stages, four RUN steps, 200 files) "
        f"on a fresh store that imports the cache the previous run pushed with "
        f"`--cache-to type=registry,...,mode={args.mode}`; Docker's classic builder pulls the "
        "previous image and builds with `--cache-from` it (no buildx here). Interleaved, "
        "medians.", "",
        f"A = {engines['A'][0][:12]}, B = {engines['B'][0][:12]}", "",
        f"Machine: {start_machine}; load average at the end {end_load}", "",
        "| fresh runner | A (s) | B (s) | docker classic (s) | B / A | B / docker |",
        "|---|---:|---:|---:|---:|---:|",
        f"| project A with the remote cache | {a:.3f} | {b:.3f} | {d:.3f} | {b / a:.2f} | "
        f"{b / d:.2f} |", "",
        f"Steps executed on the fresh runner (per round): A {ran['A']}, B {ran['B']}, docker "
        f"{ran['docker']} RUN steps (the classic builder's --cache-from reuses only the final "
        "stage's image history, so the first stage's RUN steps run again)."]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
