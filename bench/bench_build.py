#!/usr/bin/env python3
"""Build benchmarks, pallet against `docker build` (classic builder, private dockerd) and
`buildah bud --layers` (overlay storage driver, chroot isolation), same run:

  A. a two-stage build file with four RUN steps and a 200-file context:
     cold build (--no-cache) and no-change rebuild;
  B. a 10,000-file context of --mb MB: no-change rebuild, and rebuild after changing one file
     (the COPY of the context and the steps after it rerun);
  C. per-RUN overhead: ten `RUN true` steps, --no-cache, minus a one-step build, divided by 9;
  D. peak RSS of pallet during B's cold build and rebuild (getrusage of the child);
  E. a cProfile of a fully cached build of B (top entries) and the heavy modules it imported.

    .venv/bin/python bench/bench_build.py [--mb 300] [--files 10000] [--repeat 3] [--fast-runs 21]

Prints Markdown (paste into bench/RESULTS-build.md). Each figure is the median of --repeat
runs, page cache warm for both tools; the no-change rebuild of A (~0.1 s) is the median of
--fast-runs runs of each tool taken in turn (pallet, docker, buildah, pallet, ...), so a busy
moment on this shared machine hits all three alike. pallet runs as users run it: the
`.venv/bin/pallet` console script, bytecode caching on (PYTHONDONTWRITEBYTECODE removed).
"""

from __future__ import annotations

import argparse
import os
import platform
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
PALLET = [str(Path(sys.executable).parent / "pallet")]
PALLET_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

TWO_STAGE = """FROM busybox AS build
COPY src /src
RUN cd /src && cat *.txt | wc -c > /size
RUN mkdir -p /out && cp /size /out/size && sha1sum /src/* > /out/sums
FROM busybox
COPY --from=build /out /app
RUN ls /app > /app/listing
RUN echo done > /app/done
"""

BIG = """FROM busybox
COPY data /data
RUN du -s /data > /usage
"""


def run(argv: list[str], *, env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stdout.decode()}\n{result.stderr.decode()}")
    return elapsed


def median(function, repeat: int) -> float:
    return statistics.median(function() for _ in range(repeat))


def make_small(context: Path) -> None:
    (context / "src").mkdir(parents=True)
    for index in range(200):
        (context / "src" / f"f{index}.txt").write_text(f"file {index}\n" * 20)
    (context / "Dockerfile").write_text(TWO_STAGE)


def make_big(context: Path, total_mb: int, files: int) -> None:
    data = context / "data"
    size = total_mb * 1_000_000 // files
    block = os.urandom(size)
    for index in range(files):
        directory = data / f"d{index % 100:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{index}").write_bytes(block[index % 97:] + block[:index % 97])
    (context / "Dockerfile").write_text(BIG)


def pallet_build(root: Path, context: Path, *extra: str) -> float:
    return run(PALLET + ["--root", str(root), "build", "-q", *extra, str(context)], env=PALLET_ENV)


def interleaved_medians(functions: list, runs: int) -> list[float]:
    """Median of `runs` calls of each function, called in turn (f0, f1, f2, f0, ...)."""
    samples: list[list[float]] = [[] for _ in functions]
    for _ in range(runs):
        for index, function in enumerate(functions):
            samples[index].append(function())
    return [statistics.median(column) for column in samples]


def peak_rss_mb(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(argv, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024


def profile_cached(root: Path, context: Path) -> str:
    code = ("import cProfile, pstats, io, sys\n"
            "from pallet.cli import main\n"
            "prof = cProfile.Profile()\n"
            f"sys.argv = ['pallet', '--root', {str(root)!r}, 'build', '-q', {str(context)!r}]\n"
            "prof.enable()\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "prof.disable()\n"
            "out = io.StringIO()\n"
            "pstats.Stats(prof, stream=out).sort_stats('cumulative').print_stats(12)\n"
            "heavy = [m for m in ('pyroute2', 'lark', 'networkx', 'zstandard') if m in sys.modules]\n"
            "print('HEAVY:', heavy, file=sys.stderr)\n"
            "print(out.getvalue(), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return result.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fast-runs", type=int, default=21)
    parser.add_argument("--workdir", default="/var/tmp",
                        help="where the contexts, the pallet store and dockerd's data live")
    args = parser.parse_args()

    from pallet.runtime.image.archive import save_images
    from pallet.runtime.store.content import Store
    from tests.dockerd import private_dockerd
    from tests.images import make_busybox_image

    work = Path(tempfile.mkdtemp(prefix="bench-build-", dir=args.workdir))
    rows: list[tuple[str, float, float, float]] = []
    notes: list[str] = []
    try:
        root = work / "root"
        root.mkdir()
        make_busybox_image(root)
        save_images(Store.open(root), ["busybox:latest"], work / "busybox.tar")
        small = work / "small"
        make_small(small)
        big = work / "big"
        make_big(big, args.mb, args.files)
        steps = work / "steps"
        steps.mkdir()
        (steps / "Dockerfile").write_text("FROM busybox\n" + "RUN true\n" * 10)
        one = work / "one"
        one.mkdir()
        (one / "Dockerfile").write_text("FROM busybox\nRUN true\n")

        buildah = ["buildah", "--root", str(work / "buildah-root"), "--runroot",
                   str(work / "buildah-run"), "--storage-driver", "overlay"]
        subprocess.run(buildah + ["pull", f"docker-archive:{work / 'busybox.tar'}"],
                       capture_output=True, check=True)
        image = subprocess.run(buildah + ["images", "-q"], capture_output=True, text=True,
                               check=True).stdout.split()[0]
        subprocess.run(buildah + ["tag", image, "busybox:latest"], capture_output=True, check=True)

        def buildah_build(context: Path, *extra: str) -> float:
            return run(buildah + ["bud", "--isolation", "chroot", "--layers", "-q", *extra,
                                  str(context)])

        with private_dockerd() as engine:
            engine.docker("load", "-i", str(work / "busybox.tar"))
            docker = ["docker"]
            env = engine.env()

            def docker_build(context: Path, *extra: str) -> float:
                return run(docker + ["build", "-q", *extra, str(context)], env=env)

            # A
            rows.append(("A cold, two stages, 4 RUN, 200 files (--no-cache)",
                         median(lambda: pallet_build(root, small, "--no-cache"), args.repeat),
                         median(lambda: docker_build(small, "--no-cache"), args.repeat),
                         median(lambda: buildah_build(small, "--no-cache"), args.repeat)))
            pallet_build(root, small)
            docker_build(small)
            buildah_build(small)
            rows.append((f"A no-change rebuild (median of {args.fast_runs}, interleaved)",
                         *interleaved_medians([lambda: pallet_build(root, small),
                                               lambda: docker_build(small),
                                               lambda: buildah_build(small)], args.fast_runs)))
            # B
            pallet_cold = pallet_build(root, big)
            docker_cold = docker_build(big)
            buildah_cold = buildah_build(big)
            rows.append((f"B first build, {args.files} files / {args.mb} MB context",
                         pallet_cold, docker_cold, buildah_cold))
            rows.append(("B no-change rebuild", median(lambda: pallet_build(root, big), args.repeat),
                         median(lambda: docker_build(big), args.repeat),
                         median(lambda: buildah_build(big), args.repeat)))
            target = big / "data" / "d00" / "f0"
            counter = iter(range(10**6))

            def change() -> None:
                target.write_bytes(target.read_bytes()[:-8] + f"{next(counter):08d}".encode())

            def pallet_changed() -> float:
                change()
                return pallet_build(root, big)

            def docker_changed() -> float:
                change()
                return docker_build(big)

            def buildah_changed() -> float:
                change()
                return buildah_build(big)

            rows.append(("B rebuild after changing one file",
                         median(pallet_changed, args.repeat), median(docker_changed, args.repeat),
                         median(buildah_changed, args.repeat)))
            pallet_build(root, big)  # cached again, for the profile below
            # C
            p_steps = median(lambda: pallet_build(root, steps, "--no-cache"), args.repeat)
            p_one = median(lambda: pallet_build(root, one, "--no-cache"), args.repeat)
            d_steps = median(lambda: docker_build(steps, "--no-cache"), args.repeat)
            d_one = median(lambda: docker_build(one, "--no-cache"), args.repeat)
            b_steps = median(lambda: buildah_build(steps, "--no-cache"), args.repeat)
            b_one = median(lambda: buildah_build(one, "--no-cache"), args.repeat)
            rows.append(("C per-RUN overhead (10 steps - 1 step) / 9",
                         (p_steps - p_one) / 9, (d_steps - d_one) / 9, (b_steps - b_one) / 9))
        # D
        fresh = work / "root2"
        shutil.copytree(root, fresh, symlinks=True)
        shutil.rmtree(fresh / "cache")
        rss_cold = peak_rss_mb(PALLET + ["--root", str(fresh), "build", "-q", "--no-cache", str(big)])
        notes.append(f"peak RSS of `pallet build` on B (cold, --no-cache): {rss_cold:.0f} MB")
        # E
        notes.append("cProfile of a fully cached build of B:\n\n```\n"
                     + profile_cached(root, big).strip()[:3500] + "\n```")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()} "
          f"({sys.executable}), {platform.platform()}; load average at the end: {' '.join(load)}\n")
    print("| scenario | pallet (s) | docker build, classic (s) | buildah bud (s) | pallet / docker |")
    print("|---|---:|---:|---:|---:|")
    for name, ours, theirs, buildah_time in rows:
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {buildah_time:.3f} | {ours / theirs:.2f} |")
    print()
    for note in notes:
        print(f"- {note}\n")


if __name__ == "__main__":
    main()
