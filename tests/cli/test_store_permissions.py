"""The store holds other people's setuid files and device nodes: no other host user may reach it.

Every command here runs under umask 000, the worst a caller can hand pallet: the root must still
be 0700 (Docker's is 0710, CVE-2021-41091), the directories pallet makes get explicit modes, a
looser store is tightened when opened, and RUN --mount=type=cache directories are created with
the mode/uid/gid asked (BuildKit's defaults 0755 root:root), one per id, namespace and root."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PALLET
from tests.images import busybox_rootfs_tarball

pytestmark = [pytest.mark.root]

TOP = ("oci", "oci/blobs", "oci/blobs/sha256", "layers", "cache", "tmp", "locks", "containers",
       "volumes", "layerinfo")


def pallet0(root: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    """pallet run under umask 000."""
    env = dict(os.environ)
    env.pop("PALLET_ROOT", None)
    return subprocess.run(["sh", "-c", 'umask 000; exec "$@"', "sh", str(PALLET), "--root",
                           str(root), *args], capture_output=True, input=input, env=env,
                          timeout=180)


def ok(result) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def as_nobody(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv],
                          capture_output=True, timeout=30)


@pytest.fixture
def busybox_root(tmp_path: Path) -> Path:
    root = tmp_path / "store" / "root"       # neither it nor its parent exists yet
    ok(pallet0(root, "import", str(busybox_rootfs_tarball()), "busybox:latest"))
    return root


def test_a_store_made_under_umask_000_is_private(busybox_root: Path, tmp_path: Path):
    root = busybox_root
    ok(pallet0(root, "create", "--name", "c1", "-v", "vol1:/data", "busybox", "true"))
    assert mode(root) == 0o700
    for name in TOP:
        assert mode(root / name) == 0o700, (name, oct(mode(root / name)))
    container = next(p for p in (root / "containers").iterdir() if p.is_dir())
    assert mode(container) == 0o700
    assert mode(container / "upper") == 0o755     # the container's "/", as in an image
    assert mode(root / "volumes" / "vol1") == 0o700
    assert mode(root / "volumes" / "vol1" / "_data") == 0o755
    # and the point of it all: another host user reaches nothing under the root
    layer = next((root / "layers").iterdir())
    for argv in (["ls", str(root)], ["ls", str(layer)], ["cat", str(layer / "bin" / "busybox")],
                 ["ls", str(root / "volumes" / "vol1" / "_data")]):
        refused = as_nobody(*argv)
        assert refused.returncode != 0 and b"Permission denied" in refused.stderr, argv


def test_an_existing_loose_store_is_tightened_when_opened(busybox_root: Path):
    root = busybox_root
    ok(pallet0(root, "create", "busybox", "true"))
    os.chmod(root, 0o777)
    os.chmod(root / "layers", 0o755)
    os.chmod(root / "containers", 0o777)
    ok(pallet0(root, "images"))
    assert mode(root) == 0o700
    assert mode(root / "layers") == 0o700
    ok(pallet0(root, "create", "busybox", "true"))
    assert mode(root / "containers") == 0o700


def _build(root: Path, context: Path, *extra: str) -> None:
    ok(pallet0(root, "build", "-q", "-t", "out", *extra, str(context)))


def _cache_dirs(root: Path) -> list[Path]:
    mounts = root / "cache" / "mounts"
    return sorted(mounts.iterdir()) if mounts.is_dir() else []


def test_cache_mounts_get_the_mode_and_owner_asked_whatever_the_umask(busybox_root, tmp_path):
    root = busybox_root
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=cache,target=/default --mount=type=cache,target=/asked,mode=0750,"
        "uid=1000,gid=1001 --mount=type=cache,target=/open,mode=0777 "
        "stat -c '%n %a %u %g' /default /asked /open > /modes\n")
    _build(root, context)
    seen = ok(pallet0(root, "run", "--rm", "out", "cat", "/modes")).split("\n")
    assert seen[:3] == ["/default 755 0 0", "/asked 750 1000 1001", "/open 777 0 0"]
    assert mode(root / "cache" / "mounts") == 0o700
    modes = sorted(mode(path) for path in _cache_dirs(root))
    assert modes == [0o750, 0o755, 0o777]           # world-writable only where asked


def _count_build(root: Path, context: Path, *extra: str) -> str:
    _build(root, context, "--no-cache", *extra)
    return ok(pallet0(root, "run", "--rm", "out", "cat", "/count")).strip()


def test_cache_mounts_are_keyed_by_id_namespace_and_store_root(busybox_root, tmp_path):
    root = busybox_root
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=cache,id=shared,target=/c sh -c 'echo x >> /c/log; wc -l < /c/log > /count'\n")
    assert _count_build(root, context) == "1"
    assert _count_build(root, context) == "2"       # the same id: the same cache
    ns = ("--build-arg", "BUILDKIT_CACHE_MOUNT_NS=project-a")
    assert _count_build(root, context, *ns) == "1"  # another namespace: another cache
    assert _count_build(root, context, *ns) == "2"
    assert _count_build(root, context, "--build-arg", "BUILDKIT_CACHE_MOUNT_NS=project-b") == "1"
    assert len(_cache_dirs(root)) == 3
    # another store root never sees this one's caches
    other = tmp_path / "other"
    ok(pallet0(other, "import", str(busybox_rootfs_tarball()), "busybox:latest"))
    assert _count_build(other, context) == "1"


def test_runtime_state_outside_the_store_is_private_under_umask_000(busybox_root: Path,
                                                                       tmp_path: Path):
    # /run/pallet (here PALLET_RUN_DIR) holds each running container's rootfs mount point and
    # its /etc files; Docker keeps /run/docker 0700. A container's cgroup directories get
    # runc's 0755: under umask 000 they were 0777, so any host user could make cgroups inside
    # one (and the container's cgroup could then not be removed).
    run_dir = tmp_path / "run" / "pallet"
    env = {"PALLET_RUN_DIR": str(run_dir)}
    ran = subprocess.run(["sh", "-c", 'umask 000; exec "$@"', "sh", str(PALLET), "--root",
                          str(busybox_root), "run", "-d", "--name", "holder", "busybox", "sleep",
                          "60"], capture_output=True, env={**os.environ, **env}, timeout=180)
    cid = ok(ran).strip()
    try:
        assert mode(run_dir) == 0o700
        from pallet.runtime.isolation.cgroups import discover
        layout = discover()
        parents = set(layout.v1.values()) | set(layout.hierarchies.values())
        if layout.unified is not None:
            parents.add(layout.unified)
        dirs = [p / f"pallet-{cid[:16]}" for p in parents if (p / f"pallet-{cid[:16]}").is_dir()]
        assert dirs and all(mode(d) == 0o755 for d in dirs), [(d, oct(mode(d))) for d in dirs]
    finally:
        subprocess.run([str(PALLET), "--root", str(busybox_root), "rm", "-f", "holder"],
                       env={**os.environ, **env}, capture_output=True, timeout=60)
    os.chmod(run_dir, 0o777)      # a loose one left by an older pallet is tightened
    ok(subprocess.run(["sh", "-c", 'umask 000; exec "$@"', "sh", str(PALLET), "--root",
                       str(busybox_root), "run", "--rm", "busybox", "true"],
                      capture_output=True, env={**os.environ, **env}, timeout=180))
    assert mode(run_dir) == 0o700
