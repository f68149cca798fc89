"""The Engine API through the stock docker CLI: `pallet serve` vs a private dockerd.

    .venv/bin/python bench/bench_api.py [--runs N] [--out bench/RESULTS-api.md]

Measures with hyperfine, interleaved in one run on this machine, the same docker CLI
(/usr/bin/docker, the docker.io package) pointed at each engine:
  1. `docker run --rm busybox true`          (target: pallet at most 0.7x dockerd)
  2. `docker images` with 100 images          (target: under 50 ms)
  3. `docker ps -a` with 100 containers       (target: under 50 ms)
  4. the same two lists as bare requests (the server's own time, without the CLI's start-up,
     which on a loaded machine alone exceeds 50 ms)
Both engines run their containers without a network (dockerd: --network none).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_run import machine, versions  # noqa: E402
from tests.dockerd import private_dockerd  # noqa: E402
from tests.images import make_busybox_image  # noqa: E402

PALLET = Path(sys.executable).parent / "pallet"
DOCKER = "/usr/bin/docker"


def hyperfine(commands: dict[str, str], runs: int, workdir: Path) -> dict:
    """Interleaved: hyperfine runs each command's N runs in turn, so we alternate rounds of
    a few runs per command ourselves and pool them."""
    pooled: dict[str, list[float]] = {name: [] for name in commands}
    rounds = max(1, runs // 5)
    for _ in range(rounds):
        for name, command in commands.items():
            export = workdir / "hyperfine.json"
            result = subprocess.run(["hyperfine", "--warmup", "1", "--runs", "5",
                                     "--export-json", str(export),
                                     "--show-output", "-n", name, command],
                                    capture_output=True, text=True)
            if result.returncode != 0:   # a failed run is a finding, not a number
                raise SystemExit(f"{command} failed:\n{result.stdout[-3000:]}\n"
                                 f"{result.stderr[-2000:]}")
            pooled[name] += json.loads(export.read_text())["results"][0]["times"]
    return {name: sorted(times) for name, times in pooled.items()}


def direct(socket_path: str, path: str, runs: int) -> list[float]:
    """The server's own time for one request (no CLI start-up): a fresh connection per call."""
    import http.client
    import socket as sockets

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = sockets.socket(sockets.AF_UNIX)
            self.sock.connect(socket_path)

    times = []
    for _ in range(runs):
        connection = Unix("localhost")
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - started)
        connection.close()
        assert response.status == 200, (path, response.status)
    return sorted(times)


def median(values: list[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def start_server(root: Path, socket_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("PALLET_ROOT", None)
    log = open(socket_path.with_name("serve.log"), "wb")
    process = subprocess.Popen([str(PALLET), "--root", str(root), "serve", "-H",
                                f"unix://{socket_path}"], stdout=log, stderr=subprocess.STDOUT,
                               env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ok = subprocess.run([DOCKER, "-H", f"unix://{socket_path}", "version"],
                            capture_output=True).returncode == 0
        if ok:
            return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit("pallet serve did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-api.md")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    work = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    rows: list[tuple[str, str, float, float]] = []
    server = None
    try:
        root = work / "store"
        make_busybox_image(root, "busybox:latest")
        subprocess.run([str(PALLET), "--root", str(root), "save", "-o", str(work / "bb.tar"),
                        "busybox:latest"], check=True)
        sock = work / "pallet.sock"
        server = start_server(root, sock)
        pallet_host = f"unix://{sock}"
        with private_dockerd() as engine:
            engine.docker("load", "-i", str(work / "bb.tar"))
            if server.poll() is not None:
                raise SystemExit("pallet serve died: " + (work / "serve.log").read_text())
            docker_host = engine.host
            run = hyperfine({
                "pallet serve: docker run --rm": f"{DOCKER} -H {pallet_host} run --rm "
                                                 "--network none busybox true",
                "dockerd: docker run --rm": f"{DOCKER} -H {docker_host} run --rm --network none "
                                            "busybox true",
            }, args.runs, work)
            for name, times in run.items():
                rows.append(("run --rm", name, median(times), times[-1] - times[0]))
            for number in range(args.objects - 1):
                for host in (pallet_host, docker_host):
                    subprocess.run([DOCKER, "-H", host, "tag", "busybox", f"many/img{number}:1"],
                                   check=True)
            for number in range(args.objects):
                for host, extra in ((pallet_host, ["--network", "none"]),
                                    (docker_host, ["--network", "none"])):
                    subprocess.run([DOCKER, "-H", host, "create", *extra, "busybox", "true"],
                                   check=True, stdout=subprocess.DEVNULL)
            listing = hyperfine({
                f"pallet serve: docker images ({args.objects})": f"{DOCKER} -H {pallet_host} images",
                f"dockerd: docker images ({args.objects})": f"{DOCKER} -H {docker_host} images",
                f"pallet serve: docker ps -a ({args.objects})": f"{DOCKER} -H {pallet_host} ps -a",
                f"dockerd: docker ps -a ({args.objects})": f"{DOCKER} -H {docker_host} ps -a",
                "docker --version (CLI floor)": f"{DOCKER} --version",
            }, args.runs, work)
            for name, times in listing.items():
                rows.append(("list", name, median(times), times[-1] - times[0]))
            for label, path in (("GET /v1.41/images/json", "/v1.41/images/json"),
                                ("GET /v1.41/containers/json?all=1",
                                 "/v1.41/containers/json?all=1")):
                for engine_name, sock_path in (("pallet serve", str(sock)),
                                               ("dockerd", str(engine.socket))):
                    times = direct(sock_path, path, args.runs)
                    rows.append(("request", f"{engine_name}: {label} ({args.objects})",
                                 median(times), times[-1] - times[0]))
            for host in (pallet_host, docker_host):
                ids = subprocess.run([DOCKER, "-H", host, "ps", "-aq"], capture_output=True,
                                     text=True).stdout.split()
                if ids:
                    subprocess.run([DOCKER, "-H", host, "rm", "-f", *ids],
                                   stdout=subprocess.DEVNULL)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    run_pallet = next(m for g, n, m, _ in rows if n.startswith("pallet serve: docker run"))
    run_docker = next(m for g, n, m, _ in rows if n.startswith("dockerd: docker run"))
    lines = ["# Engine API benchmarks (bench/bench_api.py)", "", f"Machine: {machine()}", "",
             f"Tools: {versions()}; client /usr/bin/docker (docker.io 20.10)", "",
             f"hyperfine, interleaved rounds of 5 runs (1 warm-up each), {args.runs} runs per "
             "command; medians in milliseconds, range = slowest - fastest.", "",
             "| what | command | median ms | range ms |", "|---|---|---:|---:|"]
    for group, name, mid, spread in rows:
        lines.append(f"| {group} | {name} | {mid * 1000:.1f} | {spread * 1000:.1f} |")
    lines += ["", f"`docker run --rm busybox true`: pallet serve / dockerd = "
                  f"{run_pallet / run_docker:.2f}x (target at most 0.7x)."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
