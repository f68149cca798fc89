"""Bad input for import and load: each case ends with a clear error naming the problem, exit 1,
no image, tag or blob left behind, and a store that still passes `system check`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import run_pallet
from tests.images import make_busybox_image


def member(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def make_tar(members) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def docker_archive(layer: bytes, tag: str = "evil:1", diff_id: str | None = None) -> bytes:
    diff_id = diff_id or "sha256:" + hashlib.sha256(
        gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [tag],
                            "Layers": ["layer/layer.tar"]}]).encode()
    return make_tar([member("config.json", config), member("layer/layer.tar", layer),
                     member("manifest.json", manifest)])


def assert_failed_cleanly(result, root: Path, *phrases: str) -> None:
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("Error: ")
    for phrase in phrases:
        assert phrase in first, first
    store_index = json.loads((root / "oci/index.json").read_text())
    assert store_index["manifests"] == []
    assert list((root / "oci/blobs/sha256").iterdir()) == []
    assert list((root / "layers").iterdir()) == []
    check = run_pallet("system", "check", root=root)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert "0 problem(s)" in check.stdout.decode()


def import_bytes(root: Path, tmp_path: Path, data: bytes):
    path = tmp_path / "input.tar"
    path.write_bytes(data)
    return run_pallet("import", str(path), "bad:1", root=root)


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/etc/absolute"])
def test_import_refuses_escaping_or_absolute_names(pallet_root: Path, tmp_path: Path, name: str):
    data = make_tar([member("ok", b"fine"), member(name, b"evil")])
    result = import_bytes(pallet_root, tmp_path, data)
    assert_failed_cleanly(result, pallet_root, "unsafe archive content", repr(name))
    assert not (tmp_path.parent / "escape").exists()


def test_import_refuses_writing_through_a_symlink_pointing_outside(pallet_root: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    data = make_tar([member("link", type=tarfile.SYMTYPE, linkname=str(outside)),
                     member("link/planted", b"evil")])
    result = import_bytes(pallet_root, tmp_path, data)
    assert_failed_cleanly(result, pallet_root, "written through the symlink 'link'")
    assert list(outside.iterdir()) == []


def test_import_refuses_a_hard_link_to_outside(pallet_root: Path, tmp_path: Path):
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    for target in (str(secret), "../../../../../../" + str(secret)):
        data = make_tar([member("stolen", type=tarfile.LNKTYPE, linkname=target)])
        result = import_bytes(pallet_root, tmp_path, data)
        assert_failed_cleanly(result, pallet_root, "stolen")
    assert secret.stat().st_nlink == 1


def test_import_of_truncated_gzip_fails(pallet_root: Path, tmp_path: Path):
    payload = gzip.compress(make_tar([member("big", bytes(range(256)) * 4000)]))
    result = import_bytes(pallet_root, tmp_path, payload[: len(payload) // 2])
    assert_failed_cleanly(result, pallet_root, "truncated")


def test_import_of_a_truncated_plain_tar_file_fails(pallet_root: Path, tmp_path: Path):
    # a plain tar file is extracted by copy_file_range from the file: a member that ends
    # early is seen there, not by reading it
    payload = make_tar([member("pad", b"p" * 2_000_000), member("big", b"b" * 1_000_000)])
    result = import_bytes(pallet_root, tmp_path, payload[:2_500_000])   # within big's data
    assert_failed_cleanly(result, pallet_root, "truncated")


def test_import_of_corrupt_gzip_fails(pallet_root: Path, tmp_path: Path):
    payload = bytearray(gzip.compress(make_tar([member("f", b"x" * 100000)])))
    payload[20:40] = b"\xff" * 20
    result = import_bytes(pallet_root, tmp_path, bytes(payload))
    assert_failed_cleanly(result, pallet_root, "corrupt gzip")


def test_decompression_bomb_header_is_refused_fast(pallet_root: Path, tmp_path: Path):
    header = tarfile.TarInfo("bomb")
    header.size = 10 << 30                            # declares 10 GiB
    data = header.tobuf(tarfile.GNU_FORMAT) + b"x" * 512   # the whole file is 1 KiB
    assert len(data) == 1024
    result = import_bytes(pallet_root, tmp_path, data)
    assert_failed_cleanly(result, pallet_root, "'bomb' declares 10737418240 bytes")


def test_gzip_bomb_is_refused_by_the_ratio_bound(pallet_root: Path, tmp_path: Path):
    header = tarfile.TarInfo("bomb")
    header.size = 10 << 30
    data = gzip.compress(header.tobuf(tarfile.GNU_FORMAT) + bytes(1 << 20))
    result = import_bytes(pallet_root, tmp_path, data)
    assert_failed_cleanly(result, pallet_root, "declares 10737418240 bytes")


def test_load_of_a_non_archive_fails(pallet_root: Path, tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not an image archive\n" * 50)
    result = run_pallet("load", "-i", str(path), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "not a tar archive")


def test_load_of_a_tar_without_image_metadata_fails(pallet_root: Path, tmp_path: Path):
    path = tmp_path / "plain.tar"
    path.write_bytes(make_tar([member("hello.txt", b"hi")]))
    result = run_pallet("load", "-i", str(path), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "unrecognized image format")


def test_load_of_a_docker_archive_with_an_escaping_layer_leaves_nothing(pallet_root: Path, tmp_path: Path):
    layer = make_tar([member("etc/ok", b"ok"), member("../../outside", b"evil")])
    path = tmp_path / "evil.tar"
    path.write_bytes(docker_archive(layer))
    result = run_pallet("load", "-i", str(path), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "'../../outside'")


def test_load_with_a_wrong_diff_id_fails(pallet_root: Path, tmp_path: Path):
    layer = make_tar([member("etc/ok", b"ok")])
    path = tmp_path / "lying.tar"
    path.write_bytes(docker_archive(layer, diff_id="sha256:" + "0" * 64))
    result = run_pallet("load", "-i", str(path), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "but the image config says sha256:000000")


def _oci_archive_of_busybox(tmp_path: Path) -> tuple[Path, dict]:
    source = tmp_path / "source"
    make_busybox_image(source)
    archive = tmp_path / "good-oci.tar"
    result = run_pallet("save", "--format", "oci-archive", "-o", str(archive), "busybox", root=source)
    assert result.returncode == 0, result.stderr.decode()
    layout = tmp_path / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(layout)], check=True)
    index = json.loads((layout / "index.json").read_text())
    manifest_hex = index["manifests"][0]["digest"][7:]
    manifest = json.loads((layout / "blobs/sha256" / manifest_hex).read_text())
    return layout, manifest


def test_load_of_a_blob_that_does_not_match_its_descriptor_fails(pallet_root: Path, tmp_path: Path):
    layout, manifest = _oci_archive_of_busybox(tmp_path)
    layer_blob = layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    data = bytearray(layer_blob.read_bytes())
    data[-100] ^= 0xFF                                   # same size, different content
    layer_blob.write_bytes(bytes(data))
    result = run_pallet("load", "-i", str(layout), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "digest mismatch")


def test_load_of_a_manifest_pointing_at_a_missing_blob_fails(pallet_root: Path, tmp_path: Path):
    layout, manifest = _oci_archive_of_busybox(tmp_path)
    (layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]).unlink()
    result = run_pallet("load", "-i", str(layout), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "missing", manifest["layers"][0]["digest"][7:])


def test_load_with_an_upper_case_tag_fails(pallet_root: Path, tmp_path: Path):
    layer = make_tar([member("etc/ok", b"ok")])
    path = tmp_path / "upper.tar"
    path.write_bytes(docker_archive(layer, tag="Evil/Name:1"))
    result = run_pallet("load", "-i", str(path), root=pallet_root)
    assert_failed_cleanly(result, pallet_root, "repository name must be lowercase")
