"""`import` stores the tarball it is given as the layer, as Docker does: the diff ID is the
SHA-256 of the (decompressed) tar stream, so `pallet import` and `docker import` of the same file
name the same layer; and the tree is unpacked from that same read."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.root]


def pax_rootfs() -> bytes:
    """A PAX tar whose members carry fractional mtimes (as GNU tar --format=pax and Python's
    tarfile write them)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo("etc")
        directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o755, 1700000000.5
        tar.addfile(directory)
        for name, data in (("etc/hello", b"hi\n"), ("bin/tool", bytes(range(256)) * 40)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 1700000000.25
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/alias")
        link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "tool", 1700000000.75
        tar.addfile(link)
    return buffer.getvalue()


def layer_of(root: Path, reference: str) -> str:
    return json.loads(out(pallet(root, "inspect", reference)))[0]["RootFS"]["Layers"][0]


def test_import_of_a_pax_tar_with_fractional_mtimes(tmp_path: Path):
    archive = tmp_path / "rootfs.tar"
    archive.write_bytes(pax_rootfs())
    root = tmp_path / "store"
    result = pallet(root, "import", str(archive), "pax:1")
    assert result.returncode == 0, result.stderr          # was an internal error (float mtime)
    tree = root / "layers" / layer_of(root, "pax:1")[7:]
    assert (tree / "etc/hello").read_bytes() == b"hi\n"
    assert abs((tree / "etc/hello").stat().st_mtime_ns - 1700000000_250000000) < 1000
    assert abs((tree / "etc").stat().st_mtime_ns - 1700000000_500000000) < 1000
    assert (tree / "bin/alias").readlink() == Path("tool")
    assert abs((tree / "bin/alias").lstat().st_mtime_ns - 1700000000_750000000) < 1000


@pytest.mark.docker
@pytest.mark.server
@pytest.mark.parametrize("compressed", [False, True])
def test_the_layer_is_the_tar_as_given_as_docker_import_makes_it(tmp_path: Path, dockerd,  # noqa: F811
                                                                   compressed: bool):
    plain = pax_rootfs()
    archive = tmp_path / ("rootfs.tar.gz" if compressed else "rootfs.tar")
    archive.write_bytes(gzip.compress(plain) if compressed else plain)
    root = tmp_path / "store"
    assert pallet(root, "import", str(archive), "same:1").returncode == 0
    dockerd.docker("import", str(archive), "same:1")
    theirs = json.loads(dockerd.docker("inspect", "same:1").stdout)[0]["RootFS"]["Layers"][0]
    dockerd.docker("rmi", "same:1")
    assert layer_of(root, "same:1") == theirs == "sha256:" + hashlib.sha256(plain).hexdigest()
    # the stored blob is that tar, uncompressed (gzip on push, as for built layers)
    blob = root / "oci/blobs/sha256" / theirs[7:]
    assert blob.read_bytes() == plain
