#!/usr/bin/env python3
"""The CI story of issue 6: a fresh runner rebuilds with the cache a previous run left in a
registry. pallet (`build --cache-from type=registry,ref=...`, after a `--cache-to` run) against
Docker's classic builder (`docker pull` of the previous image, then `build --cache-from` it),
same run, same private registry (docker-registry on 127.0.0.1).

    .venv/bin/python bench/bench_ci_cache.py [--repeat 3]

Project: bench_build.py's A (two stages, four RUN steps, 200 files). "Fresh runner" means a store
with only the busybox base: for pallet a new --root, for Docker the built images removed (and the
classic builder's cache with them). Prints Markdown (paste into bench/RESULTS-build.md).
"""

from __future__ import annotations

import argparse
import os
import platform
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
PALLET = str(Path(sys.executable).parent / "pallet")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env or ENV, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    return elapsed, result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from bench_build import make_small
    from pallet.runtime.image.archive import save_images
    from pallet.runtime.store.content import Store
    from tests.dockerd import private_dockerd
    from tests.images import make_busybox_image
    from tests.registry import private_registry

    work = Path(tempfile.mkdtemp(prefix="bench-ci-", dir="/var/tmp"))
    samples: dict[str, list[float]] = {}
    steps_run: dict[str, int] = {}
    try:
        base = work / "base"
        make_busybox_image(base, "busybox:latest")
        save_images(Store.open(base), ["busybox:latest"], work / "busybox.tar")
        context = work / "small"
        make_small(context)
        with private_registry(work / "registry") as registry, private_dockerd() as engine:
            denv = engine.env()
            denv["DOCKER_BUILDKIT"] = "0"
            engine.docker("load", "-i", str(work / "busybox.tar"))
            cache_ref = f"{registry.host}/ci/cache:main"
            image_ref = f"{registry.host}/ci/app:main"
            # the previous CI run: build once, leave the cache (pallet) / the image (Docker)
            first = work / "first"
            shutil.copytree(base, first, symlinks=True)
            run([PALLET, "--root", str(first), "build", "-q", "--cache-to",
                 f"type=registry,ref={cache_ref},mode=max", str(context)])
            run(["docker", "build", "-q", "-t", image_ref, str(context)], denv)
            run(["docker", "push", image_ref], denv)
            for n in range(args.repeat):
                fresh = work / f"fresh{n}"
                shutil.copytree(base, fresh, symlinks=True)
                elapsed, log = run([PALLET, "--root", str(fresh), "build", "--progress", "plain",
                                    "--cache-from", f"type=registry,ref={cache_ref}",
                                    str(context)])
                samples.setdefault("pallet", []).append(elapsed)
                # steps that ran (DONE) other than the FROMs; cache hits print CACHED instead
                steps_run["pallet"] = len(re.findall(r"^#\d+ DONE", log, re.M)) - \
                    len(re.findall(r"\] FROM ", log))
                # Docker's fresh runner: no built image, no build cache; pull, then build.
                engine.docker("rmi", "-f", image_ref)
                engine.docker("builder", "prune", "-a", "-f", check=False)
                pulled, _ = run(["docker", "pull", image_ref], denv)
                built, log = run(["docker", "build", "--cache-from", image_ref, str(context)],
                                 denv)
                samples.setdefault("docker", []).append(pulled + built)
                steps_run["docker"] = log.count("Running in")
                shutil.rmtree(fresh, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; load average at the end: {load}\n")
    print("| fresh runner, cache from a registry | pallet (s) | docker classic (s) | "
          "pallet / docker |")
    print("|---|---:|---:|---:|")
    p, d = statistics.median(samples["pallet"]), statistics.median(samples["docker"])
    print(f"| A rebuilt with the remote cache (median of {args.repeat}) | {p:.3f} | {d:.3f} | "
          f"{p / d:.2f} |")
    print(f"\nRUN steps executed on the fresh runner: pallet {steps_run['pallet']}, "
          f"docker {steps_run['docker']} (the classic builder's --cache-from reuses only the "
          "final stage's image history, so the first stage's RUN steps run again).")


if __name__ == "__main__":
    main()
