"""Interrupted and concurrent builds leave a consistent store and nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.conftest import PALLET, run_pallet

pytestmark = pytest.mark.root


def _processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                found.append(cmdline)
    return found


def _start(root: Path, context: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("PALLET_ROOT", None)
    process = subprocess.Popen([str(PALLET), "--root", str(root), "build", "--progress", "plain",
                                *args, str(context)], stderr=subprocess.PIPE, env=env)
    return process


def _wait_for_step(process: subprocess.Popen, text: bytes) -> bytes:
    seen = b""
    deadline = time.monotonic() + 30
    while text not in seen and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen += line
    assert text in seen, seen
    return seen


def _check_clean(root: Path) -> str:
    result = run_pallet("system", "check", root=root)
    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout.decode()
    assert " 0 problem(s)" in report, report
    return report


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_cleanly(root, tmp_path, signum):
    marker = f"marker{os.getpid()}x{int(signum)}"
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": f"FROM busybox\nRUN echo st''arted; sleep 30 # {marker}\n"})
    process = _start(root, context, "-t", "slow:1")
    # the step title shows st''arted: seeing "started" means the command itself is running
    _wait_for_step(process, b"started")
    process.send_signal(signum)
    process.communicate(timeout=30)
    assert process.returncode == 130
    assert _processes_with(marker) == []
    assert list((root / "tmp").iterdir()) == []
    assert str(root) not in Path("/proc/self/mountinfo").read_text()
    assert "slow" not in run_pallet("images", root=root).stdout.decode()
    report = _check_clean(root)
    assert "leftover temporary" not in report


def test_sigkill_leaves_a_consistent_store_and_no_container(root, tmp_path):
    marker = f"marker{os.getpid()}kill"
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": f"FROM busybox\nRUN echo started; sleep 30 # {marker}\n"})
    process = _start(root, context, "-t", "killed:1")
    _wait_for_step(process, b"started")
    process.kill()
    process.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []
    _check_clean(root)  # temp dirs may remain as leftovers: never a problem
    assert run_pallet("system", "check", "--repair", root=root).returncode == 0
    # the cache has no record of the killed step: the next build runs it
    write_tree(context, {"Dockerfile": f"FROM busybox\nRUN echo started # {marker}\n"})
    assert run_pallet("build", "-q", "-t", "killed:1", str(context), root=root).returncode == 0


def test_two_builds_of_the_same_tag_at_once_both_succeed(root, tmp_path):
    contexts = [write_tree(tmp_path / f"ctx{i}", {
        "Dockerfile": f"FROM busybox\nRUN echo shared > /shared\nRUN echo {i} > /which\n"})
        for i in range(2)]
    processes = [_start(root, context, "-q", "-t", "same:1") for context in contexts]
    results = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    images = run_pallet("images", root=root).stdout.decode()
    assert images.count("same ") == 1
    _check_clean(root)


def test_builds_killed_at_random_points_never_leave_a_record_without_its_layer(root, tmp_path):
    import json
    import random
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY a /a\nRUN cat /a > /b\nCOPY b /c\nRUN echo $RANDOM > /d\n",
        "a": "a" * 100_000, "b": "b"})
    rng = random.Random(6)
    for attempt in range(8):
        (context / "b").write_text(f"b{attempt}")
        process = _start(root, context, "--no-cache", "-q", "-t", "rand:1")
        time.sleep(rng.uniform(0.05, 0.9))
        process.kill()
        process.communicate(timeout=30)
    from pallet.runtime.store.content import Store
    store = Store.open(root)
    records = list((root / "cache" / "records").rglob("*.json"))
    for path in records:
        layer = json.loads(path.read_text())["layer"]
        if layer is not None:
            assert store.has_blob(layer["digest"]), path
    _check_clean(root)
    assert run_pallet("build", "-q", "-t", "rand:1", str(context), root=root).returncode == 0


# What a fully cached build must not load: the heavy libraries, the thread pool (a chain of
# stages runs on the main thread), the step executors and layer packing/unpacking, the
# planner and parser (the plan cache answers), image removal, OpenSSL (metadata is small).
NOT_ON_THE_CACHED_PATH = (
    "pyroute2", "networkx", "lark", "concurrent.futures", "tarfile", "secrets",
    "pallet.builder.steps_exec", "pallet.builder.steps_copy", "pallet.builder.download",
    "pallet.builder.plan", "pallet.grammar.parser", "pallet.runtime.isolation.core",
    "pallet.runtime.image.tarpack", "pallet.runtime.image.unpack", "pallet.runtime.image.removal",
    "_hashlib", "tempfile", "shutil", "bz2", "lzma", "random")


def test_a_fully_cached_build_imports_no_heavy_modules(root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS first\nCOPY a /a\nRUN cat /a > /b\n"
                      "FROM busybox\nCOPY --from=first /b /c\nRUN cat /c\n",
        "a": "a"})
    assert run_pallet("build", "-q", str(context), root=root).returncode == 0
    names = repr(NOT_ON_THE_CACHED_PATH)
    code = ("import sys\nfrom pallet.cli import main\n"
            f"try:\n    main(['--root', {str(root)!r}, 'build', '-q', {str(context)!r}])\n"
            "except SystemExit:\n    pass\n"
            f"print('HEAVY:' + ','.join(m for m in {names} if m in sys.modules),"
            " file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.strip().splitlines()[-1] == "HEAVY:", result.stderr
