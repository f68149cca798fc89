"""Assemble bench/RESULTS.md from each area's RESULTS-<area>.md, with the machine described.

Each benchmark script writes its own RESULTS-<area>.md (so areas can be re-measured
independently); this joins them under one header naming the machine they ran on.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent
AREAS = [("grammar", "Grammar and `pallet check`"), ("shell", "Variable substitution and .dockerignore"),
         ("store", "Image store"), ("runtime", "Container runtime"), ("build", "Builder and cache"),
         ("rebuild", "Rebuilds: one file of a 10,000-file context, and a no-op (A/B of two commits)"),
         ("cicache", "CI cache on a fresh runner"), ("import", "import and load"),
         ("registry", "Registries (push, pull)"), ("sandbox", "Sandbox cost (seccomp, cgroup namespace)"),
         ("parity", "stats and commit"), ("house", "Start-up across the house-keeping (issue 10)"),
         ("progress", "Progress display cost"),
         ("confine", "Confinement cost (confined paths, one extractor, cp)"),
         ("network", "Networking (bridge, published ports)"),
         ("start", "Start-up of run, exec and ps -a (A/B of two commits)"),
         ("api", "Engine API (`pallet serve` through the docker CLI)"),
         ("remote", "Remote hosts: the client side (`-H`, contexts, ssh://)"),
         ("remote-start", "Remote listings' start-up (`-H unix:// ps`, `images`)"),
         ("vm", "Local VMs (`machine create --driver qemu`, TCG)")]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    docker = subprocess.run(["dockerd", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem_kib / 2**20:.0f} GiB\n"
            f"- Kernel {platform.release()}, {platform.freedesktop_os_release().get('PRETTY_NAME', '')}, "
            f"Python {platform.python_version()}\n- Peer: {docker or 'dockerd not installed'}\n")


def main() -> None:
    parts = ["# pallet benchmark results\n",
             "Each section is written by the script named in it (`bench/bench_*.py`), with the peer tools "
             "measured in the same run. Regenerate this file with `python bench/make_results.py` after "
             "re-running a benchmark.\n", "## Machine\n", machine()]
    for area, title in AREAS:
        path = BENCH / f"RESULTS-{area}.md"
        if path.exists():
            body = path.read_text().split("\n", 1)[1] if path.read_text().startswith("# ") else path.read_text()
            parts.append(f"## {title} (from `{path.name}`)\n{body}")
    (BENCH / "RESULTS.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
