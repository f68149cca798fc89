"""The A/B scaffolding every bench/ script shares: two commits of pallet side by side, each
from its own worktree and venv, interleaved rounds, Docker beside them.

    install(rev) -> (commit, cli)        a worktree + venv of that commit, made once under
                                         /tmp/pallet-bench-venvs/<commit> (as scripts/setup does:
                                         Debian's python3, editable install, compiled bytecode)
    engines(a, b) -> {"A": (commit, cli), "B": (commit, cli)}
    busybox_stores(engines, work) -> {label: store}   each store holds the same busybox image
    docker_busybox(engine) -> env        the private dockerd gets the same image; the env to
                                         run the docker CLI against it
    timed(argv, env=None) -> seconds     one run, output dropped, failure fatal
    cpu_timed(argv, env=None) -> (wall, cpu)   the same, with the CPU seconds (user + system) of
                                         the process and its children: on a loaded machine the
                                         wall clock swings with other work, the CPU much less
    rounds(labels, count)                the order of each round: A B D, then D B A, ...
    spread(values), paired(a, b)         median (IQR) text; the per-round B/A ratios' median
    machine() -> str                     the machine line results start with
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

VENVS = Path("/tmp/pallet-bench-venvs")


def install(rev: str, *, editable: bool = True) -> tuple[str, Path]:
    """(commit, path of its pallet CLI): a worktree and venv of that commit, made once.
    editable=False installs it as a user's `pip install` does (a wheel in site-packages):
    an editable install's import finder costs every command ~4-8 ms of start-up that an
    installed pallet does not pay."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], check=True,
                            capture_output=True, text=True).stdout.strip()
    tree = VENVS / (commit[:12] if editable else f"{commit[:12]}-wheel")
    cli = tree / ".venv" / "bin" / "pallet"
    if not cli.exists():
        VENVS.mkdir(exist_ok=True)
        if tree.exists():   # a run killed while installing: start again
            shutil.rmtree(tree)
        # forget the registration of a worktree whose directory is gone (only those)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit],
                       check=True, capture_output=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(tree / ".venv")], check=True)
        subprocess.run([str(tree / ".venv/bin/pip"), "install", "-q",
                        "--disable-pip-version-check", *(["-e"] if editable else []),
                        str(tree)], check=True)
        subprocess.run([str(tree / ".venv/bin/python"), "-m", "compileall", "-q", "-j", "0",
                        str(tree)], check=True, stdout=subprocess.DEVNULL)
    return commit, cli


def engines(a: str, b: str) -> dict[str, tuple[str, Path]]:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # users have bytecode caches
    return {"A": install(a), "B": install(b)}


def busybox_stores(installed: dict[str, tuple[str, Path]], work: Path) -> dict[str, Path]:
    from tests.images import busybox_rootfs_tarball
    tarball = busybox_rootfs_tarball()
    stores = {}
    for label, (_, cli) in installed.items():
        stores[label] = work / f"store-{label}"
        subprocess.run([str(cli), "--root", str(stores[label]), "import", "--change",
                        'CMD ["sh"]', str(tarball), "busybox:latest"], check=True,
                       stdout=subprocess.DEVNULL)
    return stores


def docker_busybox(engine) -> dict:
    from tests.images import busybox_rootfs_tarball
    engine.docker("import", "--change", 'CMD ["sh"]', str(busybox_rootfs_tarball()),
                  "busybox:latest")
    return {k: v for k, v in engine.env().items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def cpu_timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(argv, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def rounds(labels, count: int):
    """Each round's order, alternating, so the machine's load drifts over all of them alike."""
    labels = list(labels)
    for number in range(count):
        yield labels if number % 2 == 0 else list(reversed(labels))


def spread(values: list[float], scale: float = 1000) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return f"{statistics.median(values) * scale:.1f} ({q[0] * scale:.1f}-{q[2] * scale:.1f})"


def paired(a_times: list[float], b_times: list[float]) -> float:
    """The median of the per-round B/A ratios: what a loaded machine's drift cancels out of."""
    return statistics.median(b / a for a, b in zip(a_times, b_times))

def serve(cli: Path, store: Path, socket_path: Path) -> subprocess.Popen:
    """`pallet serve` of one revision on a private socket, once the socket exists."""
    process = subprocess.Popen([str(cli), "--root", str(store), "serve", "-H",
                                f"unix://{socket_path}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("pallet serve did not start")
        time.sleep(0.05)
    return process


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    load = open("/proc/loadavg").read().split()[:3]
    return (f"{os.cpu_count()} x {cpu}, kernel {platform.release()}, Python "
            f"{platform.python_version()}, load average at start {' '.join(load)}")
