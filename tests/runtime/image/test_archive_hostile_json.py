"""Archives and cache exports are untrusted: their JSON is checked (limits, the OCI schemas,
every digest) before use, and a digest never becomes a path. Each case: a clear error, exit 1,
nothing written outside the store, nothing left in it."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_pallet
from tests.runtime.image.test_archive_bad_input import (assert_failed_cleanly, docker_archive, make_tar,
                                                  member)


def _layer() -> bytes:
    return make_tar([member("hello", b"hi\n")])


def _load(root: Path, tmp_path: Path, data: bytes):
    path = tmp_path / "in.tar"
    path.write_bytes(data)
    return run_pallet("load", "-i", str(path), root=root)


def _docker_archive_with(config: bytes, manifest: bytes | None = None) -> bytes:
    manifest = manifest or json.dumps([{"Config": "config.json", "RepoTags": ["evil:1"],
                                        "Layers": ["layer/layer.tar"]}]).encode()
    return make_tar([member("config.json", config), member("layer/layer.tar", _layer()),
                     member("manifest.json", manifest)])


def test_load_of_a_config_whose_rootfs_is_a_number_is_a_clear_error(pallet_root, tmp_path):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": 5}).encode()
    result = _load(pallet_root, tmp_path, _docker_archive_with(config))
    assert_failed_cleanly(result, pallet_root, "invalid image config config.json",
                          "rootfs: 5 is not of type 'object'")


@pytest.mark.parametrize("where", ["manifest.json", "config.json"])
def test_load_of_deeply_nested_json_is_a_clear_error(pallet_root, tmp_path, where):
    deep = b"[" * 100_000 + b"]" * 100_000
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    if where == "config.json":
        config = config[:-1] + b', "x": ' + deep + b"}"
    data = _docker_archive_with(config, deep if where == "manifest.json" else None)
    result = _load(pallet_root, tmp_path, data)
    assert_failed_cleanly(result, pallet_root, where, "nested too deeply")


@pytest.mark.parametrize("diff_id", ["sha256:../../../escape", "sha256:" + "a" * 64 + "\n",
                                     "sha256:/tmp/escape"])
def test_load_refuses_a_diff_id_that_is_a_path(pallet_root, tmp_path, diff_id):
    result = _load(pallet_root, tmp_path, docker_archive(_layer(), diff_id=diff_id))
    assert_failed_cleanly(result, pallet_root, "invalid image config", "invalid checksum digest format")
    assert not (tmp_path / "escape").exists() and not Path("/tmp/escape").exists()


def _oci_archive(manifest_digest: str) -> bytes:
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": 3, "annotations": {"io.containerd.image.name": "evil:1"}}]}
    return make_tar([member("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                     member("index.json", json.dumps(index).encode()),
                     member("blobs/sha256/x", b"{}\n")])


@pytest.mark.parametrize("digest", ["sha256:../oci-layout", "sha256:/etc/passwd",
                                    "sha256:" + "A" * 64, "md5:" + "a" * 32])
def test_load_refuses_an_index_digest_that_is_a_path(pallet_root, tmp_path, digest):
    result = _load(pallet_root, tmp_path, _oci_archive(digest))
    assert_failed_cleanly(result, pallet_root, "invalid image index index.json", "digest")


def test_load_of_a_sha512_manifest_says_the_algorithm_is_unsupported(pallet_root, tmp_path):
    result = _load(pallet_root, tmp_path, _oci_archive("sha512:" + "a" * 128))
    assert_failed_cleanly(result, pallet_root, "unsupported", "sha256")


def test_load_of_a_manifest_with_the_wrong_types_is_a_clear_error(pallet_root, tmp_path):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
        "size": len(config)}, "layers": {"not": "a list"}}).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": len(manifest)}]}
    data = make_tar([member("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                     member("index.json", json.dumps(index).encode()),
                     member(f"blobs/sha256/{manifest_digest[7:]}", manifest),
                     member(f"blobs/sha256/{config_digest[7:]}", config)])
    result = _load(pallet_root, tmp_path, data)
    assert_failed_cleanly(result, pallet_root, "invalid image manifest",
                          "layers: {'not': 'a list'} is not of type 'array'")


# ---- --cache-from type=local: a restored cache directory is untrusted too ---------------------

CACHE_TYPE = "application/vnd.pallet.buildcache.v1"


def _cache_layout(directory: Path, records: list, *, layer_blob: bytes | None = None) -> dict:
    blobs = directory / "blobs/sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / digest[7:]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    config = put(json.dumps({"records": records}).encode())
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "artifactType": CACHE_TYPE, "config": {
                               "mediaType": "application/vnd.pallet.buildcache.records.v1+json",
                               **config}, "layers": []}).encode()
    entry = put(manifest)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": CACHE_TYPE,
        **entry}]}))
    return {"config": config, "manifest": entry}


def _build_with_cache(root: Path, tmp_path: Path, cache: Path):
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text("FROM scratch\nLABEL a=b\n")
    return run_pallet("build", "-q", "--cache-from", f"type=local,src={cache}", str(context),
                      root=root)


def _record(layer: dict) -> dict:
    return {"format": 1, "key": "0" * 32, "layer": layer, "config": {}, "history": {}}


def _cache_error(result) -> str:
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err and err.startswith("Error: --cache-from "), err
    return err


@pytest.mark.parametrize("field", ["digest", "diff_id"])
def test_local_cache_import_refuses_a_record_digest_that_is_a_path(pallet_root, tmp_path, field):
    secret = tmp_path / "secret"
    secret.write_bytes(b"host data\n")
    layer = {"digest": "sha256:" + hashlib.sha256(b"host data\n").hexdigest(),
             "diff_id": "sha256:" + "b" * 64, "size": 10,
             "media_type": "application/vnd.oci.image.layer.v1.tar"}
    layer[field] = "sha256:" + str(secret) if field == "digest" else "sha256:../../x"
    cache = tmp_path / "cache"
    _cache_layout(cache, [_record(layer)])
    err = _cache_error(_build_with_cache(pallet_root, tmp_path, cache))
    assert "invalid cache record" in err and "invalid checksum digest format" in err, err
    assert not (pallet_root / "cache/records/00").exists()


def test_local_cache_import_refuses_an_index_digest_that_is_a_path(pallet_root, tmp_path):
    cache = tmp_path / "cache"
    _cache_layout(cache, [])
    index = json.loads((cache / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../../../../etc/passwd"
    (cache / "index.json").write_text(json.dumps(index))
    err = _cache_error(_build_with_cache(pallet_root, tmp_path, cache))
    assert "invalid checksum digest format" in err, err


def test_local_cache_import_does_not_follow_a_blob_symlink_or_block_on_a_fifo(pallet_root, tmp_path):
    cache = tmp_path / "cache"
    digests = _cache_layout(cache, [])
    config_file = cache / "blobs/sha256" / digests["config"]["digest"][7:]
    config_file.unlink()
    config_file.symlink_to("/dev/zero")
    err = _cache_error(_build_with_cache(pallet_root, tmp_path, cache))
    assert "is a symbolic link" in err, err
    config_file.unlink()
    os.mkfifo(config_file)
    err = _cache_error(_build_with_cache(pallet_root, tmp_path, cache))   # no hang
    assert "is not a regular file" in err, err


def test_local_cache_import_of_nested_records_is_a_clear_error(pallet_root, tmp_path):
    cache = tmp_path / "cache"
    _cache_layout(cache, [])
    deep = b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    digest = "sha256:" + hashlib.sha256(deep).hexdigest()
    (cache / "blobs/sha256" / digest[7:]).write_bytes(deep)
    manifest_entry = json.loads((cache / "index.json").read_text())["manifests"][0]
    manifest_file = cache / "blobs/sha256" / manifest_entry["digest"][7:]
    manifest = json.loads(manifest_file.read_text())
    manifest["config"].update(digest=digest, size=len(deep))
    data = json.dumps(manifest).encode()
    manifest_file.unlink()
    new = "sha256:" + hashlib.sha256(data).hexdigest()
    (cache / "blobs/sha256" / new[7:]).write_bytes(data)
    manifest_entry.update(digest=new, size=len(data))
    (cache / "index.json").write_text(json.dumps({"schemaVersion": 2,
                                                   "manifests": [manifest_entry]}))
    err = _cache_error(_build_with_cache(pallet_root, tmp_path, cache))
    assert "nested too deeply" in err, err


def test_a_valid_local_cache_still_imports(pallet_root, tmp_path):
    """The control: the same layout, well formed, is accepted."""
    cache = tmp_path / "cache"
    _cache_layout(cache, [])
    result = _build_with_cache(pallet_root, tmp_path, cache)
    assert result.returncode == 0, result.stderr.decode()


def test_gzip_docker_archive_with_valid_json_still_loads(pallet_root, tmp_path):
    result = _load(pallet_root, tmp_path, gzip.compress(docker_archive(_layer())))
    assert result.returncode == 0, result.stderr.decode()
    assert "Loaded image: evil:1" in result.stdout.decode()


def test_load_of_a_layout_with_a_fifo_for_a_blob_fails_without_hanging(pallet_root, tmp_path):
    from tests.runtime.image.test_archive_bad_input import _oci_archive_of_busybox

    layout, manifest = _oci_archive_of_busybox(tmp_path)
    config_blob = layout / "blobs/sha256" / manifest["config"]["digest"][7:]
    config_blob.unlink()
    os.mkfifo(config_blob)
    result = run_pallet("load", "-i", str(layout), root=pallet_root, timeout=60)
    assert_failed_cleanly(result, pallet_root, "in the layout is not a regular file")


@pytest.mark.parametrize("field, value, problem", [
    ("config", {"Env": 5}, "Env: 5 is not of type 'array'"),
    ("config", {"OnBuild": "RUN x"}, "OnBuild: 'RUN x' is not of type 'array'"),
    ("history", {"empty_layer": "yes"}, "history/0/empty_layer: 'yes' is not of type 'boolean'"),
])
def test_local_cache_import_types_a_records_config_and_history(pallet_root, tmp_path, field,
                                                               value, problem):
    record = {"format": 1, "key": "0" * 32, "layer": None, "config": {}, "history": {}}
    record[field] = value
    cache = tmp_path / "cache"
    _cache_layout(cache, [record])
    err = _cache_error(_build_with_cache(pallet_root, tmp_path, cache))
    assert f"invalid cache record {'0' * 32}" in err and problem in err, err
    assert not (pallet_root / "cache/records/00").exists()
