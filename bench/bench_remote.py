"""pallet as a client of a remote host (issue 14), against Docker in the same rounds.

    .venv/bin/python bench/bench_remote.py [--runs N] [--a REV] [--b REV]
                                           [--out bench/RESULTS-remote.md]

1. The local, daemonless path must not slow down: `pallet run --rm --network none busybox
   true`, `pallet ps` and `pallet --help` of commit A (before the remote client: the parent of
   its first commit) and B (HEAD), each from its own worktree and venv (abtest.install),
   interleaved; the median of the per-round B/A ratios.
2. Through the Engine API, B against `pallet serve` and the docker CLI against a private
   dockerd (tests/dockerd.py), the same image in both:
   - `pallet -H unix://SOCK ps` vs `docker -H unix://DOCKERD ps` vs local `pallet ps`;
   - over ssh to an sshd in a network namespace (tests/sshhost.py; the host side shares this
     machine's filesystem, so it serves the same stores): `pallet --context M run --rm
     --network none busybox true` (M = ssh://root@NS) vs `docker -H ssh://root@NS run ...`
     (the host's `docker system dial-stdio` reaching the private dockerd) vs the local
     `pallet run`. pallet's ssh master connection is up after the warm-up (ControlPersist);
     the docker CLI opens one ssh session per HTTP connection, as it does by default.
Containers run without a network everywhere (the private dockerd has no bridge).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.abtest import (docker_busybox, engines, busybox_stores, machine, paired,  # noqa: E402
                          rounds, serve, spread, timed)
from tests.dockerd import private_dockerd  # noqa: E402
from tests.sshhost import ssh_host  # noqa: E402

DOCKER = "/usr/bin/docker"
RUN = ["run", "--rm", "--network", "none", "busybox", "true"]
FIRST_REMOTE_COMMIT = "22789da"     # pallet -H/--context: A is its parent


def measure(commands: dict[str, tuple[list[str], dict | None]], runs: int) -> dict[str, list]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv, env in commands.values():          # warm-up (and the ssh master comes up)
        timed(argv, env)
    for order in rounds(commands, runs):
        for name in order:
            argv, env = commands[name]
            times[name].append(timed(argv, env))
    return times


def local_ab(installed, stores, runs: int) -> list[str]:
    commands = {}
    for label, (_, cli) in installed.items():
        commands[f"{label} run"] = ([str(cli), "--root", str(stores[label]), *RUN], None)
        commands[f"{label} ps"] = ([str(cli), "--root", str(stores[label]), "ps", "-a"], None)
        commands[f"{label} help"] = ([str(cli), "--help"], None)
    times = measure(commands, runs)
    lines = ["| command | A (ms) | B (ms) | B/A (median of per-round ratios) |", "|---|---|---|---|"]
    for what, shown in (("run", "`pallet run --rm --network none busybox true`"),
                        ("ps", "`pallet ps -a`"), ("help", "`pallet --help`")):
        a, b = times[f"A {what}"], times[f"B {what}"]
        lines.append(f"| {shown} | {spread(a)} | {spread(b)} | {paired(a, b):.3f} |")
    return lines


def remote_rounds(cli: Path, store: Path, work: Path, runs: int) -> list[str]:
    socket_path = work / "serve.sock"
    server = serve(cli, store, socket_path)
    runtime = Path(tempfile.mkdtemp(prefix="pbr-", dir="/tmp"))
    try:
        with private_dockerd() as engine:
            docker_env = docker_busybox(engine)
            host_path = f"{cli.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            with ssh_host(set_env={"PATH": host_path, "PALLET_HOST": f"unix://{socket_path}",
                                   "DOCKER_HOST": engine.host}) as host:
                env = {k: v for k, v in os.environ.items()
                       if k not in ("PALLET_HOST", "DOCKER_HOST", "DOCKER_CONTEXT")}
                env.update(PATH=f"{host.client_bin()}:{os.environ['PATH']}",
                           XDG_RUNTIME_DIR=str(runtime), DOCKER_CONFIG=str(work / "config"),
                           DOCKER_CLI_HINTS="false")
                subprocess.run([str(cli), "context", "create", "machine", "--docker",
                                f"host={host.url()}"], env=env, check=True,
                               capture_output=True)
                docker_ssh = {**docker_env, **{k: env[k] for k in ("PATH", "DOCKER_CLI_HINTS")}}
                docker_ssh.pop("DOCKER_HOST", None)
                commands = {
                    "pallet -H unix:// ps": ([str(cli), "-H", f"unix://{socket_path}", "ps"], env),
                    "docker -H unix:// ps (dockerd)": ([DOCKER, "-H", engine.host, "ps"],
                                                      docker_env),
                    "pallet ps (local)": ([str(cli), "--root", str(store), "ps"], env),
                    "pallet --context M run (ssh)": ([str(cli), "--context", "machine", *RUN],
                                                     env),
                    "docker -H ssh:// run (dockerd)": ([DOCKER, "-H", host.url(), *RUN],
                                                       docker_ssh),
                    "pallet run (local)": ([str(cli), "--root", str(store), *RUN], env),
                }
                times = measure(commands, runs)
                for control in (runtime / "pallet-ssh").glob("*"):
                    subprocess.run(["ssh", "-o", f"ControlPath={control}", "-O", "exit", "x"],
                                   capture_output=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    lines = ["| command | median (IQR), ms |", "|---|---|"]
    lines += [f"| `{name}` | {spread(values)} |" for name, values in times.items()]
    ssh_ratio = medians["pallet --context M run (ssh)"] / medians["docker -H ssh:// run (dockerd)"]
    local_ratio = medians["pallet --context M run (ssh)"] / medians["pallet run (local)"]
    unix_ratio = medians["pallet -H unix:// ps"] / medians["docker -H unix:// ps (dockerd)"]
    lines += ["", f"- over ssh: pallet {ssh_ratio:.2f}x `docker -H ssh://` (target: at most "
              f"1.5x), {local_ratio:.2f}x the local `pallet run`",
              f"- `pallet -H unix:// ps` is {unix_ratio:.2f}x `docker -H unix:// ps`"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--a", default=f"{FIRST_REMOTE_COMMIT}^")
    parser.add_argument("--b", default="HEAD")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-remote.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pbremote-", dir="/tmp"))
    try:
        installed = engines(args.a, args.b)
        stores = busybox_stores(installed, work)
        header = [f"# Remote hosts: the client side (`bench/bench_remote.py`, {args.runs} rounds)",
                  "", machine(), "",
                  f"A = {installed['A'][0][:12]} (before the remote client), "
                  f"B = {installed['B'][0][:12]}", "",
                  "## 1. The local path, A/B (nothing of the client is imported)", ""]
        body = local_ab(installed, stores, args.runs)
        body += ["", "## 2. Through the Engine API: unix socket and ssh, against dockerd", ""]
        body += remote_rounds(installed["B"][1], stores["B"], work, args.runs)
        args.out.write_text("\n".join(header + body) + "\n")
        print(args.out.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
