"""The build cache keeps its layers through the store's garbage-collection roots: one root per
record with a layer, written with the record, dropped with it, adopted for older stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pallet.builder.cache import ROOT_HOLDER, CacheRecords
from pallet.builder.prune import prune_cache
from pallet.runtime.image.removal import collect_garbage, remove_image
from pallet.runtime.store.content import Store
from pallet.runtime.store.roots import root_names
from tests.builder.conftest import build_image, write_tree

pytestmark = pytest.mark.root

DOCKERFILE = "FROM busybox\nCOPY a /a\nRUN cat /a > /b\n"


def _layer_keys(store: Store) -> set[str]:
    return {record.key for _, record in CacheRecords(store) if record.layer is not None}


def test_every_layer_record_has_its_root_and_survives_rmi(busybox_root: Path, tmp_path: Path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": DOCKERFILE, "a": "a"})
    build_image(busybox_root, context, tags=("roots:1",))
    store = Store.open(busybox_root)
    keys = _layer_keys(store)
    assert len(keys) == 2 and set(root_names(store, ROOT_HOLDER)) == keys
    remove_image(store, "roots:1")
    collect_garbage(store)
    result, _ = build_image(busybox_root, context, tags=("roots:2",))
    assert result.stats["executed"] == 0 and result.stats["cached"] == 2


def test_records_of_an_older_store_are_adopted_by_the_next_build_that_writes(busybox_root: Path,
                                                                             tmp_path: Path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": DOCKERFILE, "a": "a"})
    build_image(busybox_root, context, tags=("old:1",))
    shutil.rmtree(busybox_root / "roots" / ROOT_HOLDER)      # as a store made before roots
    other = write_tree(tmp_path / "other", {"Dockerfile": "FROM busybox\nRUN echo x > /x\n"})
    build_image(busybox_root, other, tags=("other:1",))
    store = Store.open(busybox_root)
    assert set(root_names(store, ROOT_HOLDER)) == _layer_keys(store) != set()
    remove_image(store, "old:1")
    collect_garbage(store)
    result, _ = build_image(busybox_root, context, tags=("old:2",))
    assert result.stats["executed"] == 0


def test_builder_prune_drops_the_roots_with_the_records(busybox_root: Path, tmp_path: Path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": DOCKERFILE, "a": "a"})
    build_image(busybox_root, context, tags=("gone:1",))
    store = Store.open(busybox_root)
    remove_image(store, "gone:1")
    layers = [record.layer for _, record in CacheRecords(store) if record.layer]
    result = prune_cache(busybox_root, all_records=True, older_than_s=None, keep_storage=None)
    assert result.records >= 2 and root_names(store, ROOT_HOLDER) == []
    assert not any(store.has_blob(layer.digest) for layer in layers)
