#!/usr/bin/env python3
"""Registry benchmarks: `pallet push/pull` against `docker push/pull` (private dockerd) and
`skopeo copy`, same run, same private registry (Debian's docker-registry on 127.0.0.1).

    .venv/bin/python bench/bench_registry.py [--mb 200] [--repeat 3]

The image: busybox plus one layer of --mb MB (two thirds random, one third text, so gzip has
real work). Each round starts a fresh registry; each tool pushes the image to its own repository there and
pulls it back into an empty store. Prints Markdown (paste into bench/RESULTS-registry.md); each figure is
the median of --repeat runs.
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
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env or ENV)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr.decode()[-2000:]}")
    if os.environ.get("BENCH_VERBOSE"):
        print(f"{' '.join(argv[:3])}: {elapsed:.2f}s\n{result.stdout.decode()[-600:]}",
              file=sys.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pallet.runtime.image.archive import save_images
    from pallet.runtime.store.content import Store
    from tests.dockerd import private_dockerd
    from tests.images import make_busybox_image
    from tests.registry import private_registry

    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir="/var/tmp"))
    try:
        root = work / "root"
        make_busybox_image(root, "busybox:latest")
        context = work / "ctx"
        context.mkdir()
        third = args.mb * 1_000_000 // 3
        (context / "data").write_bytes(os.urandom(2 * third) + b"pallet bench line\n" * (third // 18))
        (context / "Dockerfile").write_text("FROM busybox\nCOPY data /data\n")
        subprocess.run([PALLET, "--root", str(root), "build", "-q", "-t", "big:1", str(context)],
                       check=True, capture_output=True, env=ENV)
        save_images(Store.open(root), ["big:1"], work / "big.tar")
        rows = {"push": {}, "pull": {}}
        samples: dict[tuple[str, str], list[float]] = {}
        with private_dockerd() as engine:
            engine.docker("load", "-i", str(work / "big.tar"))
            denv = engine.env()
            for n in range(args.repeat):
                # A fresh registry (new port) each round: no tool can mount blobs it pushed in
                # an earlier round (docker and skopeo remember where they pushed what).
                with private_registry(work / f"registry{n}") as registry:
                    ours, theirs = f"{registry.host}/p/big:1", f"{registry.host}/d/big:1"
                    viaskopeo = f"{registry.host}/s/big:1"
                    subprocess.run([PALLET, "--root", str(root), "tag", "big:1", ours],
                                   check=True, env=ENV)
                    engine.docker("tag", "big:1", theirs)
                    samples.setdefault(("push", "pallet"), []).append(
                        timed([PALLET, "--root", str(root), "push", ours]))
                    samples.setdefault(("push", "docker"), []).append(
                        timed(["docker", "push", theirs], denv))
                    samples.setdefault(("push", "skopeo"), []).append(timed(
                        ["skopeo", "copy", "--dest-tls-verify=false",
                         f"docker-archive:{work / 'big.tar'}", f"docker://{viaskopeo}"]))
                    fresh = work / f"fresh{n}"
                    samples.setdefault(("pull", "pallet"), []).append(
                        timed([PALLET, "--root", str(fresh), "pull", ours]))
                    engine.docker("rmi", "-f", theirs, "big:1")
                    samples.setdefault(("pull", "docker"), []).append(
                        timed(["docker", "pull", theirs], denv))
                    engine.docker("tag", theirs, "big:1")
                    engine.docker("rmi", theirs)
                    layout = work / f"layout{n}"
                    samples.setdefault(("pull", "skopeo"), []).append(timed(
                        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{viaskopeo}",
                         f"oci:{layout}:big"]))
                    shutil.rmtree(fresh, ignore_errors=True)
                    shutil.rmtree(layout, ignore_errors=True)
        for (what, tool), values in samples.items():
            rows[what][tool] = statistics.median(values)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; load average at the end: {load}\n")
    print(f"Image: busybox + one {args.mb} MB layer; median of {args.repeat} rounds, each with a "
          "fresh docker-registry 2.8 on 127.0.0.1 (plain HTTP, filesystem storage under /var/tmp)."
          " skopeo copies from the docker-archive of the same image (push) and into an OCI "
          "layout (pull): a reference for the wire, without an engine's store.\n")
    print("| operation | pallet (s) | docker (s) | skopeo copy (s) | pallet / docker |")
    print("|---|---:|---:|---:|---:|")
    for what in ("push", "pull"):
        r = rows[what]
        print(f"| {what} (registry empty / store empty) | {r['pallet']:.2f} | {r['docker']:.2f} | "
              f"{r['skopeo']:.2f} | {r['pallet'] / r['docker']:.2f} |")


if __name__ == "__main__":
    main()
