"""save/load formats: docker-archive and oci-archive through files and pipes, compressed
archives, zstd layers, image indexes (platform choice) and Docker schema2 manifests."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from pallet.runtime.image.archive import load_images, save_images
from pallet.runtime.image.committing import commit_image
from pallet.runtime.image.images import resolve_image
from pallet.runtime.image.layers import MT_OCI_ZSTD, pack_layer
from pallet.runtime.store.content import Store
from tests.conftest import run_pallet
from tests.images import make_busybox_image


def members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_save_to_stdout_and_load_from_stdin(tmp_path: Path):
    image_id = make_busybox_image(tmp_path / "a")
    saved = run_pallet("save", "busybox", root=tmp_path / "a")
    assert saved.returncode == 0 and saved.stdout[:512].count(b"\0") > 0
    loaded = run_pallet("load", root=tmp_path / "b", input=saved.stdout)
    assert loaded.returncode == 0, loaded.stderr.decode()
    assert loaded.stdout.decode() == "Loaded image: busybox:latest\n"
    assert resolve_image(Store.open(tmp_path / "b"), "busybox").id == image_id


def test_docker_archive_layout_has_manifest_json_and_uncompressed_layers(tmp_path: Path):
    make_busybox_image(tmp_path / "a")
    store = Store.open(tmp_path / "a")
    image = resolve_image(store, "busybox")
    save_images(store, ["busybox"], tmp_path / "out.tar")
    with tarfile.open(tmp_path / "out.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()
        config = tar.extractfile(manifest[0]["Config"]).read()
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert "sha256:" + hashlib.sha256(layer).hexdigest() == image.diff_ids[0]
    assert "sha256:" + hashlib.sha256(config).hexdigest() == image.id
    assert {"oci-layout", "index.json", "repositories"} <= set(members(tmp_path / "out.tar"))
    assert not list(tmp_path.glob(".out.tar.partial*"))


def test_gzip_compressed_archive_loads(tmp_path: Path):
    image_id = make_busybox_image(tmp_path / "a")
    save_images(Store.open(tmp_path / "a"), ["busybox"], tmp_path / "out.tar")
    (tmp_path / "out.tar.gz").write_bytes(gzip.compress((tmp_path / "out.tar").read_bytes(), 1))
    result = run_pallet("load", "-i", str(tmp_path / "out.tar.gz"), root=tmp_path / "b")
    assert result.returncode == 0, result.stderr.decode()
    assert resolve_image(Store.open(tmp_path / "b"), "busybox").id == image_id


def test_saving_by_id_records_no_tag(tmp_path: Path):
    image_id = make_busybox_image(tmp_path / "a")
    run_pallet("save", "-o", str(tmp_path / "x.tar"), image_id[7:19], root=tmp_path / "a")
    result = run_pallet("load", "-i", str(tmp_path / "x.tar"), root=tmp_path / "b")
    assert result.stdout.decode() == f"Loaded image ID: {image_id}\n"


def test_several_images_in_one_archive(tmp_path: Path):
    first = make_busybox_image(tmp_path / "a", "one:1", changes=('CMD ["one"]',))
    second = make_busybox_image(tmp_path / "a", "two:2", changes=('CMD ["two"]',))
    store = Store.open(tmp_path / "a")
    for fmt in ("docker-archive", "oci-archive"):
        save_images(store, ["one:1", "two:2"], tmp_path / f"{fmt}.tar", archive_format=fmt)
        target = Store.open(tmp_path / fmt)
        lines = load_images(target, tmp_path / f"{fmt}.tar")
        assert lines == ["Loaded image: one:1", "Loaded image: two:2"]
        assert resolve_image(target, "one:1").id == first and resolve_image(target, "two:2").id == second
    # two configs, two manifests, and the shared layer stored once
    assert len([n for n in members(tmp_path / "docker-archive.tar") if n.startswith("blobs/sha256/")]) == 5


def test_zstd_layers_round_trip_through_an_oci_archive(tmp_path: Path):
    store = Store.open(tmp_path / "a")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/motd").write_text("zstd inside\n")
    layer = pack_layer(store, tree, compression="zstd")
    image = commit_image(store, config={"config": {"Cmd": ["cat", "/etc/motd"]}}, layers=[layer],
                         tags=["z:1"])
    save_images(store, ["z:1"], tmp_path / "z.tar", archive_format="oci-archive")
    other = Store.open(tmp_path / "b")
    assert load_images(other, tmp_path / "z.tar") == ["Loaded image: z:1"]
    loaded = resolve_image(other, "z:1")
    assert loaded.id == image.id and loaded.manifest_digest == image.manifest_digest
    assert loaded.layers[0].media_type == MT_OCI_ZSTD
    assert (other.layers / layer.diff_id[7:] / "etc/motd").read_text() == "zstd inside\n"


def _layout_from(store: Store, reference: str, layout: Path) -> None:
    save_images(store, [reference], layout.with_suffix(".tar"), archive_format="oci-archive")
    layout.mkdir()
    subprocess.run(["tar", "-xf", str(layout.with_suffix(".tar")), "-C", str(layout)], check=True)


def _put(layout: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest[7:]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def test_image_index_loads_the_platform_asked_for(tmp_path: Path):
    amd = make_busybox_image(tmp_path / "a", "multi:amd")
    store = Store.open(tmp_path / "a")
    arm_image = commit_image(store, config={"architecture": "arm64", "os": "linux", "config": {}},
                             layers=resolve_image(store, "multi:amd").layer_objects(), tags=["multi:arm"])
    layout = tmp_path / "layout"
    _layout_from(store, "multi:amd", layout)
    shutil.copy(store.blob_path(arm_image.id), layout / "blobs/sha256" / arm_image.id[7:])
    shutil.copy(store.blob_path(arm_image.manifest_digest), layout / "blobs/sha256" / arm_image.manifest_digest[7:])
    amd_manifest = resolve_image(store, "multi:amd")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_image.manifest_digest,
         "size": arm_image.manifest_size, "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_manifest.manifest_digest,
         "size": amd_manifest.manifest_size, "platform": {"os": "linux", "architecture": "amd64"}}]}
    index_desc = _put(layout, json.dumps(index).encode())
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", **index_desc,
         "annotations": {"io.containerd.image.name": "docker.io/library/multi:both"}}]}))
    default = run_pallet("load", "-i", str(layout), root=tmp_path / "b")
    assert default.returncode == 0, default.stderr.decode()
    assert resolve_image(Store.open(tmp_path / "b"), "multi:both").id == amd
    arm = run_pallet("load", "--platform", "linux/arm64", "-i", str(layout), root=tmp_path / "c")
    assert arm.returncode == 0, arm.stderr.decode()
    assert resolve_image(Store.open(tmp_path / "c"), "multi:both").id == arm_image.id
    missing = run_pallet("load", "--platform", "linux/s390x", "-i", str(layout), root=tmp_path / "d")
    assert missing.returncode == 1 and "no image for platform linux/s390x" in missing.stderr.decode()


def test_docker_schema2_manifest_is_read(tmp_path: Path):
    image_id = make_busybox_image(tmp_path / "a")
    store = Store.open(tmp_path / "a")
    image = resolve_image(store, "busybox")
    layout = tmp_path / "layout"
    _layout_from(store, "busybox", layout)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": image.id, "size": store.blob_size(image.id)},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "digest": layer.digest, "size": layer.size} for layer in image.layers]}
    desc = _put(layout, json.dumps(manifest).encode())
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": manifest["mediaType"], **desc,
         "annotations": {"org.opencontainers.image.ref.name": "registry.local/v2s2:1"}}]}))
    other = Store.open(tmp_path / "b")
    assert load_images(other, layout) == ["Loaded image: registry.local/v2s2:1"]
    loaded = resolve_image(other, "registry.local/v2s2:1")
    assert loaded.id == image_id and loaded.manifest_digest == desc["digest"]
    assert loaded.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    inspect = run_pallet("image", "inspect", "registry.local/v2s2:1", root=other.root)
    assert json.loads(inspect.stdout)[0]["Id"] == image_id


def test_loading_over_an_existing_tag_says_the_old_image_was_renamed(tmp_path: Path):
    old = make_busybox_image(tmp_path / "store", changes=('CMD ["old"]',))
    new = make_busybox_image(tmp_path / "other", changes=('CMD ["new"]',))
    save_images(Store.open(tmp_path / "other"), ["busybox"], tmp_path / "new.tar")
    result = run_pallet("load", "-i", str(tmp_path / "new.tar"), root=tmp_path / "store")
    assert result.stdout.decode().splitlines() == [
        f"The image busybox:latest already exists, renaming the old one with ID {old} to empty string",
        "Loaded image: busybox:latest"]
    store = Store.open(tmp_path / "store")
    assert resolve_image(store, "busybox").id == new and resolve_image(store, old).repo_tags == ()
