"""Container start-up benchmarks: pallet vs Docker (private dockerd) vs crun (the floor).

    .venv/bin/python bench/bench_run.py [--runs N] [--out bench/RESULTS-runtime.md]

Measures with hyperfine, in one run on this machine:
  1. `pallet run --rm busybox true`         vs `docker run --rm --network none busybox true`
     vs `crun run` on a prepared OCI bundle of the same busybox rootfs (no engine at all)
  2. `pallet exec C true`                   vs `docker exec C true`
  3. `pallet ps -a` with 200 containers in the store
and writes a Markdown table of medians with the machine description.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.dockerd import private_dockerd  # noqa: E402
from tests.images import busybox_rootfs_tarball, make_busybox_image  # noqa: E402

PALLET = Path(sys.executable).parent / "pallet"


def hyperfine(commands: dict[str, str], runs: int, workdir: Path, env: dict | None = None) -> dict:
    export = workdir / "hyperfine.json"
    argv = ["hyperfine", "--warmup", "3", "--runs", str(runs), "--export-json", str(export),
            "--style", "none"]
    for name, command in commands.items():
        argv += ["-n", name, command]
    subprocess.run(argv, check=True, env=env or os.environ, stdout=subprocess.DEVNULL)
    results = json.loads(export.read_text())["results"]
    return {r["command"]: r for r in results}


def crun_bundle(workdir: Path) -> Path:
    bundle = workdir / "bundle"
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(busybox_rootfs_tarball()), "-C", str(rootfs)], check=True)
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["true"]
    config["root"]["readonly"] = True
    # crun 1.8 refuses this hybrid cgroup layout ("cgroups in hybrid mode not supported") even
    # with --cgroup-manager=disabled, so it runs in a private mount namespace without the
    # cgroup2 'unified' mount, with cgroups disabled: a floor without any cgroup work at all.
    config["linux"].pop("cgroupsPath", None)
    config["linux"].pop("resources", None)
    config["mounts"] = [m for m in config["mounts"] if m["type"] != "cgroup"]
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    load = open("/proc/loadavg").read().split()[:3]
    return (f"{os.cpu_count()} x {cpu}, {int(mem) // 1024} MiB RAM, kernel {platform.release()}, "
            f"Python {platform.python_version()}, load average at start {' '.join(load)}")


def versions() -> str:
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "?"
    return (f"{first_line(['dockerd', '--version'])}; {first_line(['crun', '--version'])}; "
            f"{first_line(['hyperfine', '--version'])}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-runtime.md")
    args = parser.parse_args()
    # This sandbox sets PYTHONDONTWRITEBYTECODE, which makes every CLI start recompile every
    # module; users have bytecode caches, so the bench compiles once and lets Python read them.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(REPO / d) for d in
                    ("pallet", "runtime", "grammar", "builder"))], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="pallet-bench-"))
    rows: list[tuple[str, str, float, float]] = []
    try:
        root = work / "store"
        make_busybox_image(root, "busybox:latest")
        subprocess.run([str(PALLET), "--root", str(root), "save", "-o", str(work / "bb.tar"),
                        "busybox:latest"], check=True)
        bundle = crun_bundle(work)
        with private_dockerd() as engine:
            engine.docker("load", "-i", str(work / "bb.tar"))
            env = engine.env()
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            started = hyperfine({
                "pallet run --rm --network none":
                    f"{PALLET} --root {root} run --rm --network none busybox true",
                "docker run --rm": "docker run --rm --network none busybox true",
                "crun run (bundle, no cgroups)":
                    "unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && "
                    f"exec crun --cgroup-manager=disabled run --bundle {bundle} b{os.getpid()}'",
            }, args.runs, work, env)
            for name, result in started.items():
                rows.append(("start", name, result["median"], result["stddev"] or 0.0))
            subprocess.run([str(PALLET), "--root", str(root), "run", "-d", "--name", "bench-exec",
                            "busybox", "sleep", "3600"], check=True, stdout=subprocess.DEVNULL)
            engine.docker("run", "-d", "--network", "none", "--name", "bench-exec", "busybox",
                          "sleep", "3600")
            execs = hyperfine({
                "pallet exec": f"{PALLET} --root {root} exec bench-exec true",
                "docker exec": "docker exec bench-exec true",
            }, args.runs, work, env)
            for name, result in execs.items():
                rows.append(("exec", name, result["median"], result["stddev"] or 0.0))
            subprocess.run([str(PALLET), "--root", str(root), "rm", "-f", "bench-exec"],
                           check=True, stdout=subprocess.DEVNULL)
        from pallet.runtime.container.request import CreateRequest
        from pallet.runtime.container.lifecycle import create_container
        for _ in range(200):
            create_container(root, CreateRequest(image="busybox", command=("true",)))
        listing = hyperfine({"pallet ps -a (200 containers)": f"{PALLET} --root {root} ps -a",
                             "pallet --version (CLI floor)": f"{PALLET} --version"},
                            args.runs, work)
        for name, result in listing.items():
            rows.append(("ps", name, result["median"], result["stddev"] or 0.0))
    finally:
        from tests.netutil import remove_store_network
        remove_store_network(work / "store")  # its default bridge and nftables table
        shutil.rmtree(work, ignore_errors=True)
    lines = ["# Runtime benchmarks (bench/bench_run.py)", "", f"Machine: {machine()}", "",
             f"Tools: {versions()}", "", f"hyperfine, 3 warm-up runs, {args.runs} runs each; "
             "medians in milliseconds.", "", "| what | command | median ms | stddev ms |",
             "|---|---|---:|---:|"]
    for group, name, median, stddev in rows:
        lines.append(f"| {group} | {name} | {median * 1000:.1f} | {stddev * 1000:.1f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
