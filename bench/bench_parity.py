"""stats and commit: pallet vs Docker (a private dockerd), measured in the same run.

    .venv/bin/python bench/bench_parity.py [--runs N] [--out bench/RESULTS-parity.md]

  1. `stats --no-stream` over 20 running busybox containers (issue 13: under 300 ms)
  2. `commit` of a container that changed one 100 MB file (issue 13: no slower than docker)
Timed with hyperfine (medians); commit is prepared afresh before each run (--prepare).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_run import hyperfine  # noqa: E402
from tests.dockerd import private_dockerd  # noqa: E402
from tests.images import make_busybox_image  # noqa: E402

PALLET = Path(sys.executable).parent / "pallet"
IMAGE = "bench/busybox:1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS-parity.md"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-parity-"))
    root = work / "store"
    make_busybox_image(root, IMAGE)
    pallet = f"{PALLET} --root {root}"
    rows = []
    with private_dockerd() as engine:
        archive = work / "image.tar"
        os.system(f"{pallet} save -o {archive} {IMAGE}")
        engine.docker("load", "-i", str(archive))
        env = engine.env()
        docker = "docker"
        for index in range(20):
            os.system(f"{pallet} run -d --name s{index} {IMAGE} sleep 3600 >/dev/null")
            engine.docker("run", "-d", "--network", "none", "--name", f"s{index}", IMAGE,
                          "sleep", "3600")
        stats = hyperfine({"pallet stats --no-stream (20)": f"{pallet} stats --no-stream",
                           "docker stats --no-stream (20)": f"{docker} stats --no-stream"},
                          args.runs, work, env)
        rows += list(stats.values())
        os.system(f"{pallet} rm -f {' '.join(f's{i}' for i in range(20))} >/dev/null")
        engine.docker("rm", "-f", *[f"s{i}" for i in range(20)])
        change = "dd if=/dev/urandom of=/big bs=1M count=100 2>/dev/null"
        prepare_p = (f"{pallet} rm -f c1 >/dev/null 2>&1; "
                     f"{pallet} run --name c1 {IMAGE} sh -c {shlex.quote(change)}")
        prepare_d = (f"{docker} rm -f c1 >/dev/null 2>&1; {docker} run --network none --name c1 "
                     f"{IMAGE} sh -c {shlex.quote(change)}")
        import json
        import subprocess
        export = work / "commit.json"
        subprocess.run(["hyperfine", "--runs", str(args.runs), "--export-json", str(export),
                        "--style", "none",
                        "--prepare", prepare_p, "-n", "pallet commit (100 MB file)",
                        f"{pallet} commit c1 out:1",
                        "--prepare", prepare_d, "-n", "docker commit (100 MB file)",
                        f"{docker} commit c1 out:1"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        rows += json.loads(export.read_text())["results"]
    lines = ["# stats and commit: pallet vs docker", "",
             f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; hyperfine, {args.runs} runs, "
             "medians; dockerd 20.10 private instance; both stores on the same disk.", "",
             "| command | median (ms) | min (ms) | max (ms) |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['command']} | {row['median'] * 1000:.0f} | {row['min'] * 1000:.0f} "
                     f"| {row['max'] * 1000:.0f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
