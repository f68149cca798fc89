"""A build's cache and the store's housekeeping: check, repair, prune and df all respect it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.conftest import run_pallet

pytestmark = pytest.mark.root


@pytest.fixture
def context(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY hello.txt /hello.txt\nRUN echo ran > /ran\n",
        "hello.txt": "hello\n"})


def _build(root: Path, context: Path, tag: str) -> str:
    result = run_pallet("build", "--progress", "plain", "-t", tag, str(context), root=root)
    assert result.returncode == 0, result.stderr.decode()
    return result.stderr.decode()


def test_check_keeps_layers_only_the_build_cache_names(root, context):
    _build(root, context, "cached:1")
    # Untag the image: its layers are now named only by build-cache records.
    assert run_pallet("rmi", "cached:1", root=root).returncode == 0
    check = run_pallet("system", "check", root=root)
    out = check.stdout.decode()
    assert check.returncode == 0, out + check.stderr.decode()
    assert "0 problem(s), 0 leftover(s)" in out, out
    assert "leftover:" not in out
    repair = run_pallet("system", "check", "--repair", root=root)
    assert repair.returncode == 0, repair.stdout.decode() + repair.stderr.decode()
    log = _build(root, context, "cached:2")
    assert _cached_steps(log) == {"COPY", "RUN"}, log


def _cached_steps(log: str) -> set[str]:
    """Instructions (COPY, RUN) whose step the plain progress marks CACHED."""
    numbers = {match.group(1): match.group(2)
               for match in re.finditer(r"^(#\d+) \[\S+ \d+/\d+\] (COPY|RUN)", log, re.M)}
    cached = set(re.findall(r"^(#\d+) CACHED$", log, re.M))
    return {name for number, name in numbers.items() if number in cached}


def test_build_survives_concurrent_prune_and_repair(root, tmp_path):
    import subprocess

    from tests.conftest import PALLET
    context = write_tree(tmp_path / "race", {
        "Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\nRUN sleep 0.3 && echo one > /one\n"
                      "COPY b.txt /b.txt\nRUN sleep 0.3 && echo two > /two\nCMD [\"cat\", \"/two\"]\n",
        "a.txt": "a\n", "b.txt": "b\n"})
    build = subprocess.Popen([str(PALLET), "--root", str(root), "build", "-q", "-t", "race:1",
                              str(context)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    housekeeping = 0
    try:
        while build.poll() is None:
            for argv in (("image", "prune", "-f"), ("system", "check", "--repair", "-q")):
                result = run_pallet(*argv, root=root)
                assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
                housekeeping += 1
        out, err = build.communicate(timeout=120)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    assert build.returncode == 0, err.decode()
    assert housekeeping >= 2  # the loop really ran while the build did
    check = run_pallet("system", "check", root=root)
    assert check.returncode == 0 and "0 problem(s), 0 leftover(s)" in check.stdout.decode(), \
        check.stdout.decode()
    shown = run_pallet("run", "--rm", "race:1", root=root)
    assert shown.returncode == 0 and shown.stdout == b"two\n", shown.stderr.decode()


def _build_cache_row(root: Path) -> list[str]:
    result = run_pallet("system", "df", root=root)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    found = [row for row in rows if row[0] == "Build Cache"]
    assert len(found) == 1, result.stdout.decode()
    return found[0]


def _bytes(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(B|kB|MB|GB)", text).groups()
    return float(number) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def test_system_df_counts_run_layers_and_cache_mounts_as_build_cache(root, tmp_path):
    empty = _build_cache_row(root)
    assert empty[1:4] == ["0", "0", "0B"], empty
    layered = write_tree(tmp_path / "layer", {
        "Dockerfile": "FROM busybox\nRUN head -c 200000 /dev/urandom > /blob\n"})
    run_pallet("build", "-q", "-t", "df:1", str(layered), root=root).check_returncode()
    after_layer = _build_cache_row(root)
    assert int(after_layer[1]) >= 1 and _bytes(after_layer[3]) >= 150_000, after_layer
    mounted = write_tree(tmp_path / "mount", {
        "Dockerfile": "FROM busybox\nRUN --mount=type=cache,target=/cache "
                      "head -c 500000 /dev/urandom > /cache/data\n"})
    run_pallet("build", "-q", "-t", "df:2", str(mounted), root=root).check_returncode()
    after_mount = _build_cache_row(root)
    assert int(after_mount[1]) > int(after_layer[1]), after_mount
    assert _bytes(after_mount[3]) >= _bytes(after_layer[3]) + 450_000, (after_layer, after_mount)


def test_system_prune_removes_stopped_containers_dangling_images_and_with_a_the_cache(root, context):
    _build(root, context, "pruned:1")
    created = run_pallet("create", "--name", "idle", "busybox", "true", root=root)
    assert created.returncode == 0, created.stderr.decode()
    container_id = created.stdout.decode().strip()
    assert run_pallet("builder", "du", root=root).stdout.decode().startswith("Records:\t2")

    result = run_pallet("system", "prune", "-f", root=root)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert out.startswith(f"Deleted Containers:\n{container_id}\n")
    assert run_pallet("ps", "-a", "-q", root=root).stdout.decode().strip() == ""
    # without -a: tagged images and the (non-dangling) build cache stay
    assert "pruned" in run_pallet("images", root=root).stdout.decode()
    assert run_pallet("builder", "du", root=root).stdout.decode().startswith("Records:\t2")

    result = run_pallet("system", "prune", "-a", "-f", root=root)
    assert result.returncode == 0, result.stderr.decode()
    assert "Deleted Images:" in result.stdout.decode()
    assert run_pallet("images", "-q", root=root).stdout.decode().strip() == ""
    assert run_pallet("builder", "du", root=root).stdout.decode().startswith("Records:\t0")
    check = run_pallet("system", "check", root=root)
    assert check.returncode == 0 and " 0 problem(s)" in check.stdout.decode()


def test_a_container_keeps_its_layers_through_rmi_f_and_every_prune(root, context):
    _build(root, context, "app:1")
    assert run_pallet("create", "--name", "keeps", "app:1", "cat", "/hello.txt",
                      root=root).returncode == 0
    assert run_pallet("rmi", "-f", "app:1", "busybox", root=root).returncode == 0
    for prune in (("builder", "prune", "-a", "-f"), ("image", "prune", "-a", "-f"),
                  ("system", "check", "--repair")):
        assert run_pallet(*prune, root=root).returncode == 0, prune
    started = run_pallet("start", "-a", "keeps", root=root)
    assert started.returncode == 0 and started.stdout == b"hello\n", started.stderr
    check = run_pallet("system", "check", root=root).stdout.decode()
    assert "0 problem(s), 0 leftover(s)" in check, check
    # Removing the container frees what only it held, as Docker frees the layers then.
    assert run_pallet("rm", "keeps", root=root).returncode == 0
    assert list((root / "layers").iterdir()) == []
