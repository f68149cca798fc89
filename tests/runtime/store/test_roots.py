"""Garbage-collection roots: the store keeps what its roots name and nothing else it does not
know; the build cache keeps its layers through them (the engine reads no build-cache record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.runtime.image.removal import collect_garbage, live_content
from pallet.runtime.store.content import Store
from pallet.runtime.store.check import check_store
from pallet.runtime.store.roots import drop_root, root_content, root_names, set_root


def _loose_blob(store: Store, data: bytes) -> str:
    return store.put_bytes(data, media_type="application/octet-stream").digest


def test_a_root_keeps_a_blob_and_a_layer_dir_through_garbage_collection(tmp_path: Path):
    store = Store.open(tmp_path)
    kept, loose = _loose_blob(store, b"kept"), _loose_blob(store, b"loose")
    diff_id = "sha256:" + "1" * 64
    (store.layers / diff_id[7:]).mkdir()
    set_root(store, "holder", "one", blobs=[kept], diff_ids=[diff_id])
    collect_garbage(store)
    assert store.has_blob(kept) and not store.has_blob(loose)
    assert (store.layers / diff_id[7:]).is_dir()
    assert root_names(store, "holder") == ["one"]
    drop_root(store, "holder", "one")
    collect_garbage(store)
    assert not store.has_blob(kept) and not (store.layers / diff_id[7:]).exists()


def test_the_engine_ignores_build_cache_records_and_honours_their_roots(tmp_path: Path):
    store = Store.open(tmp_path)
    blob = _loose_blob(store, b"layer")
    record = tmp_path / "cache" / "records" / "ab" / ("ab" * 16 + ".json")
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"format": 1, "key": "ab" * 16, "layer": {
        "digest": blob, "diff_id": blob, "size": 5, "media_type": "x"}}))
    assert blob not in live_content(store)[0]        # a record alone keeps nothing
    set_root(store, "buildcache", "ab" * 16, blobs=[blob])
    assert blob in live_content(store)[0]


@pytest.mark.parametrize("holder, name", [("../up", "x"), ("h", "../../etc"), ("H", "x"),
                                          ("h", ""), ("h", "a/b")])
def test_root_names_cannot_leave_the_roots_folder(tmp_path: Path, holder, name):
    store = Store.open(tmp_path)
    with pytest.raises(PalletError, match="invalid garbage-collection root"):
        set_root(store, holder, name)


def test_a_root_names_only_well_formed_digests(tmp_path: Path):
    store = Store.open(tmp_path)
    with pytest.raises(PalletError):
        set_root(store, "h", "x", blobs=["sha256:../../etc/passwd"])


def test_a_damaged_root_stops_garbage_collection_and_check_repairs_it(tmp_path: Path):
    store = Store.open(tmp_path)
    blob = _loose_blob(store, b"kept by a damaged root")
    set_root(store, "h", "x", blobs=[blob])
    (tmp_path / "roots" / "h" / "x.json").write_text("{not json")
    with pytest.raises(PalletError, match="unreadable"):
        root_content(store)
    with pytest.raises(PalletError, match="unreadable"):
        collect_garbage(store)
    assert store.has_blob(blob)
    report = check_store(store)
    assert any("roots/h/x.json is unreadable" in p for p in report.problems)
    check_store(store, repair=True)
    assert not (tmp_path / "roots" / "h" / "x.json").exists() and not store.has_blob(blob)
