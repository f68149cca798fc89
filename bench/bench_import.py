#!/usr/bin/env python3
"""`import` and `load` of a ~200 MB root filesystem (issue 15): two commits of pallet, interleaved
A/B, with `docker import` / `docker load` on a private dockerd (tests/dockerd.py) in the same
rounds.

    .venv/bin/python bench/bench_import.py --a REV --b REV [--rounds 5]
                                           [--out bench/RESULTS-import.md]

The rootfs: no debootstrap here, so a Debian-like tree is taken from this Debian machine's own
files: /etc, /usr/bin, /usr/sbin, /usr/share and /usr/lib/x86_64-linux-gnu, each up to a budget,
files over 8 MB left out, 200 MB of content in all (about 10,000 entries: many small files and
some large libraries, as a Debian rootfs), written once as a GNU tar. The docker-archive for
`load` is `docker save` of Docker's own import of it. Each revision runs from its own worktree
and venv (bench.abtest.install), with a new store per import and per load; Docker's image is
removed after each of its runs. Wall clock, medians; CPU time beside (pallet's process, dockerd's
threads).
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

from bench.abtest import install, machine  # noqa: E402

# (root, content budget in bytes)
ROOTS = [("/etc", 10e6), ("/usr/bin", 40e6), ("/usr/sbin", 10e6), ("/usr/share", 60e6),
         ("/usr/lib/x86_64-linux-gnu", 200e6)]
LIMIT = 200_000_000
BIGGEST = 8_000_000


def make_rootfs(out: Path) -> tuple[int, int]:
    """(entries, content bytes) of the tarball written to out."""
    total = entries = 0
    # GNU format (whole-second mtimes), as GNU tar and debootstrap tarballs are: the commit
    # before 57a2343 could not import PAX fractional mtimes
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
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


def daemon_cpu(pid: int) -> float:
    """CPU seconds (user+sys) of dockerd and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the revision before (A)")
    parser.add_argument("--b", required=True, help="the revision after (B)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=65,
                        help="seconds of pause after each round's deletions")
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
                    stores = []
                    for label in order:
                        store = work / f"store-{label}-{task}-{number}"
                        stores.append(store)
                        cli = str(engines[label][1])
                        argv = [cli, "--root", str(store), "import", str(rootfs), "bench/rootfs:1"] \
                            if task == "import" else [cli, "--root", str(store), "load", "-i",
                                                      str(archive)]
                        times.setdefault((label, task), []).append(timed(argv))
                    argv = ["docker", "import", str(rootfs), "bench/rootfs:1"] \
                        if task == "import" else ["docker", "load", "-i", str(archive)]
                    before = daemon_cpu(engine.pid)
                    wall, _ = timed(argv, env)
                    times.setdefault(("docker", task), []).append(
                        (wall, daemon_cpu(engine.pid) - before))
                    # Deletions after all three, then a pause: on this ext4 (no journal) a new
                    # inode skips those freed in the last 60 s (300 s while their table block
                    # is dirty), so a run right after 10,000 deletions pays for them.
                    engine.docker("rmi", "bench/rootfs:1")
                    for store in stores:
                        shutil.rmtree(store, ignore_errors=True)
                    time.sleep(args.settle)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    end_load = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def med(label: str, task: str, index: int) -> float:
        return statistics.median(sample[index] for sample in times[(label, task)])

    lines = [f"# import and load of a {content / 1e6:.0f} MB root filesystem", "",
             f"`bench/bench_import.py --a {args.a} --b {args.b} --rounds {args.rounds}`: a "
             f"Debian-like tree of this machine's own files ({entries} entries, "
             f"{content / 1e6:.0f} MB of content, GNU tar), imported; and `docker save` of "
             "Docker's import of it, loaded. Interleaved, medians of wall clock (CPU user+sys in "
             "brackets: pallet's process; dockerd's, for docker). Each tool works in a fresh "
             "store (Docker: the image removed); deletions after each task's three runs, then a pause "
             f"of {args.settle:.0f} s (ext4 without a journal skips recently freed inodes).", "",
             f"A = {engines['A'][0][:12]}, B = {engines['B'][0][:12]}", "",
             f"Machine: {start_machine}; load average at the end {end_load}", "",
             "| task | A (s) | B (s) | docker (s) | B / A | B / docker |",
             "|---|---:|---:|---:|---:|---:|"]
    for task in ("import", "load"):
        a, b, d = med("A", task, 0), med("B", task, 0), med("docker", task, 0)
        lines.append(f"| {task} | {a:.2f} ({med('A', task, 1):.2f}) | {b:.2f} "
                     f"({med('B', task, 1):.2f}) | {d:.2f} ({med('docker', task, 1):.2f}) | "
                     f"{b / a:.2f} | {b / d:.2f} |")
    lines.append("")
    for key, samples in sorted(times.items()):
        lines.append(f"- {key[0]} {key[1]}: " + ", ".join(f"{w:.2f}" for w, _ in samples))
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
