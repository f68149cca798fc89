"""Start-up of a remote listing: `pallet -H unix://SOCK ps` of two commits against the docker
CLI on the same socket, interleaved rounds (issue 14's client side).

    .venv/bin/python bench/bench_remote_start.py [--runs N] [--a REV] [--b REV]
                                                 [--out bench/RESULTS-remote-start.md]

One `pallet serve` (of B) on a temporary socket serves everything, with a store of busybox and
20 containers, so every client asks the same server the same question:
  - `pallet -H unix://SOCK ps -a` and `images` of A (default: before light.py, every remote
    command imported the docker SDK) and B (HEAD);
  - `docker -H unix://SOCK ps -a` / `images` (the stock Go CLI, the floor);
  - B's local `pallet ps -a` on the same store (what the remote path should not exceed much).
Wall and CPU (user+system of the process) medians; B/A as the median of per-round ratios.
Then where B's remote ps spends its imports: `python -X importtime`, medians of 9 runs.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.abtest import (busybox_stores, cpu_timed, engines, machine, paired,  # noqa: E402
                          rounds, serve, spread)

DOCKER = "/usr/bin/docker"
BEFORE_LIGHT = "3c7193f"       # the parent of light.py's commit
CONTAINERS = 20


def import_breakdown(cli: Path, argv: list[str], env: dict, runs: int = 9) -> list[str]:
    """Median cumulative import time (ms) of the top-level imports and their largest
    children, from `python -X importtime`."""
    python = cli.parent / "python"
    cumulative: dict[str, list[int]] = collections.defaultdict(list)
    for _ in range(runs):
        result = subprocess.run([str(python), "-X", "importtime", str(cli), *argv], env=env,
                                capture_output=True, text=True, check=True)
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            _, cum, name = line.split(":", 1)[1].split("|")
            cumulative[name.rstrip()].append(int(cum))
    medians = sorted(((statistics.median(v) / 1000, k) for k, v in cumulative.items()),
                     reverse=True)
    top_level = sum(ms for ms, name in medians if not name.startswith("  "))
    lines = [f"Imports of B's `pallet -H unix:// ps -a` (median of {runs} runs, cumulative ms; "
             f"all top-level imports together {top_level:.1f} ms):", "",
             "| module | ms |", "|---|---|"]
    lines += [f"| `{name.rstrip()}` | {ms:.1f} |" for ms, name in medians[:16]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--a", default=BEFORE_LIGHT)
    parser.add_argument("--b", default="HEAD")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-remote-start.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pbrs-", dir="/tmp"))
    server = None
    try:
        installed = engines(args.a, args.b)
        store = busybox_stores({"B": installed["B"]}, work)["B"]
        cli_a, cli_b = installed["A"][1], installed["B"][1]
        for number in range(CONTAINERS):
            subprocess.run([str(cli_b), "--root", str(store), "create", "--name", f"c{number}",
                            "--network", "none", "busybox", "true"], check=True,
                           stdout=subprocess.DEVNULL)
        socket_path = work / "s.sock"
        server = serve(cli_b, store, socket_path)
        host = f"unix://{socket_path}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("PALLET_HOST", "DOCKER_HOST", "DOCKER_CONTEXT", "PALLET_ROOT")}
        env.update(DOCKER_CONFIG=str(work / "config"), DOCKER_CLI_HINTS="false")
        commands = {
            "A ps": [str(cli_a), "-H", host, "ps", "-a"],
            "B ps": [str(cli_b), "-H", host, "ps", "-a"],
            "docker ps": [DOCKER, "-H", host, "ps", "-a"],
            "B local ps": [str(cli_b), "--root", str(store), "ps", "-a"],
            "A images": [str(cli_a), "-H", host, "images"],
            "B images": [str(cli_b), "-H", host, "images"],
            "docker images": [DOCKER, "-H", host, "images"],
        }
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():
            cpu_timed(argv, env)                    # warm-up: caches, bytecode
        for order in rounds(commands, args.runs):
            for name in order:
                seconds, used = cpu_timed(commands[name], env)
                wall[name].append(seconds)
                cpu[name].append(used)
        lines = [f"# Remote listings' start-up (`bench/bench_remote_start.py`, {args.runs} "
                 "rounds)", "", machine(), "",
                 f"A = {installed['A'][0][:12]} (every remote command imports the docker SDK), "
                 f"B = {installed['B'][0][:12]} (ps/images: one GET through http.client); one "
                 f"`pallet serve` of B, {CONTAINERS} containers; all against its socket.", "",
                 "| command | wall ms, median (IQR) | CPU ms, median (IQR) |", "|---|---|---|"]
        shown = {"A ps": "A `pallet -H unix:// ps -a`", "B ps": "B `pallet -H unix:// ps -a`",
                 "docker ps": "`docker -H unix:// ps -a`",
                 "B local ps": "B `pallet ps -a` (local store)",
                 "A images": "A `pallet -H unix:// images`",
                 "B images": "B `pallet -H unix:// images`",
                 "docker images": "`docker -H unix:// images`"}
        for name in commands:
            lines.append(f"| {shown[name]} | {spread(wall[name])} | {spread(cpu[name])} |")
        med = {name: statistics.median(values) for name, values in wall.items()}
        lines += ["",
                  f"- ps: B/A {paired(wall['A ps'], wall['B ps']):.3f} wall, "
                  f"{paired(cpu['A ps'], cpu['B ps']):.3f} CPU (medians of per-round ratios); "
                  f"B is {med['B ps'] / med['docker ps']:.2f}x docker (A was "
                  f"{med['A ps'] / med['docker ps']:.2f}x), {med['B ps'] / med['B local ps']:.2f}x "
                  "the local ps",
                  f"- images: B/A {paired(wall['A images'], wall['B images']):.3f} wall, "
                  f"{paired(cpu['A images'], cpu['B images']):.3f} CPU; B is "
                  f"{med['B images'] / med['docker images']:.2f}x docker", ""]
        lines += import_breakdown(cli_b, ["-H", host, "ps", "-a"], env)
        args.out.write_text("\n".join(lines) + "\n")
        print(args.out.read_text())
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
