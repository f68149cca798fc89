#!/usr/bin/env python3
"""`import` and `load` of a ~200 MB root filesystem (issue 15): two commits of pallet, interleaved
A/B, with `docker import` / `docker load` on a private dockerd (tests/dockerd.py) in the same
rounds.

    .venv/bin/python bench/bench_import.py --a REV --b REV [--rounds 5]
                                           [--out bench/RESULTS-import.md]

The rootfs: no debootstrap here, so a Debian-like tree is taken from this Debian machine's own
files: /etc, /usr/bin, /usr/sbin, /usr/share and /usr/lib/x86_64-linux-gnu, each up to a budget,
files over 8 MB left out, 200 MB of content in all (about 10,000 entries: many small files and
some large libraries, as a Debian rootfs), written once as a PAX tar. The docker-archive for
`load` is `docker save` of Docker's own import of it. Each revision runs from its own worktree
and venv (bench_sandbox.install), with a new store per import and per load; Docker's image is
removed before each of its runs. Wall clock, medians; CPU time (user+sys of the child) beside.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_sandbox import install, machine  # noqa: E402

# (root, content budget in bytes)
ROOTS = [("/etc", 10e6), ("/usr/bin", 40e6), ("/usr/sbin", 10e6), ("/usr/share", 60e6),
         ("/usr/lib/x86_64-linux-gnu", 200e6)]
LIMIT = 200_000_000
BIGGEST = 8_000_000


def make_rootfs(out: Path) -> tuple[int, int]:
    """(entries, content bytes) of the tarball written to out."""
    total = entries = 0
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for root, budget in ROOTS:
            used = 0
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for path in [dirpath] + [os.path.join(dirpath, n) for n in sorted(filenames)]:
                    if used >= budget or total >= LIMIT:
                        break
                    info = tar.gettarinfo(path, arcname=path.lstrip("/"))
                    if info is None or not (info.isreg() or info.isdir() or info.issym()):
                        continue
                    info.uname = info.gname = ""
                    if info.isreg():
                        if info.size > BIGGEST:
                            continue
                        try:
                            with open(path, "rb") as handle:
                                tar.addfile(info, handle)
                        except OSError:
                            continue
                        used += info.size
                        total += info.size
                    else:
                        tar.addfile(info)
                    entries += 1
    return entries, total


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall, CPU user+sys of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-import.md")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # users have bytecode caches

    from tests.dockerd import private_dockerd

    engines = {"A": install(args.a), "B": install(args.b)}
    work = Path(tempfile.mkdtemp(prefix="bench-import-", dir="/var/tmp"))
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    start_machine = machine()
    try:
        rootfs = work / "rootfs.tar"
        entries, content = make_rootfs(rootfs)
        archive = work / "image.tar"
        with private_dockerd() as engine:
            env = {k: v for k, v in engine.env().items() if k != "PYTHONDONTWRITEBYTECODE"}
            engine.docker("import", str(rootfs), "bench/rootfs:1")
            engine.docker("save", "-o", str(archive), "bench/rootfs:1")
            engine.docker("rmi", "bench/rootfs:1")
            for number in range(args.rounds):
                order = ("A", "B") if number % 2 == 0 else ("B", "A")
                for task in ("import", "load"):
                    for label in order:
                        store = work / f"store-{label}"
                        shutil.rmtree(store, ignore_errors=True)
                        cli = str(engines[label][1])
                        argv = [cli, "--root", str(store), "import", str(rootfs), "bench/rootfs:1"] \
                            if task == "import" else [cli, "--root", str(store), "load", "-i",
                                                      str(archive)]
                        times.setdefault((label, task), []).append(timed(argv))
                        shutil.rmtree(store, ignore_errors=True)
                    argv = ["docker", "import", str(rootfs), "bench/rootfs:1"] \
                        if task == "import" else ["docker", "load", "-i", str(archive)]
                    # docker's CPU is the daemon's, not the CLI's: wall clock only
                    times.setdefault(("docker", task), []).append(timed(argv, env))
                    engine.docker("rmi", "bench/rootfs:1")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    end_load = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def med(label: str, task: str, index: int) -> float:
        return statistics.median(sample[index] for sample in times[(label, task)])

    lines = [f"# import and load of a {content / 1e6:.0f} MB root filesystem", "",
             f"`bench/bench_import.py --a {args.a} --b {args.b} --rounds {args.rounds}`: a "
             f"Debian-like tree of this machine's own files ({entries} entries, "
             f"{content / 1e6:.0f} MB of content, PAX tar), imported; and `docker save` of "
             "Docker's import of it, loaded. Interleaved, medians of wall clock (CPU user+sys of "
             "pallet's process in brackets; Docker's work is in the daemon).", "",
             f"A = {engines['A'][0][:12]}, B = {engines['B'][0][:12]}", "",
             f"Machine: {start_machine}; load average at the end {end_load}", "",
             "| task | A (s) | B (s) | docker (s) | B / A | B / docker |",
             "|---|---:|---:|---:|---:|---:|"]
    for task in ("import", "load"):
        a, b, d = med("A", task, 0), med("B", task, 0), med("docker", task, 0)
        lines.append(f"| {task} | {a:.2f} ({med('A', task, 1):.2f}) | {b:.2f} "
                     f"({med('B', task, 1):.2f}) | {d:.2f} | {b / a:.2f} | {b / d:.2f} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
