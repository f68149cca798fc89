"""The content store: CAS blobs, verification, atomic index updates, locks."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.runtime.store.content import Store


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_open_creates_an_oci_layout(tmp_path: Path):
    store = Store.open(tmp_path / "root")
    assert json.loads((tmp_path / "root/oci/oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((tmp_path / "root/oci/index.json").read_text())
    assert index["schemaVersion"] == 2 and index["manifests"] == []
    for name in ("oci/blobs/sha256", "layers", "cache", "tmp"):
        assert (tmp_path / "root" / name).is_dir()
    assert store.list_blobs() == []


def test_put_blob_returns_digest_and_size_and_reads_back(tmp_path: Path):
    store = Store.open(tmp_path)
    data = b"hello blob" * 1000
    descriptor = store.put_blob(io.BytesIO(data))
    assert descriptor.digest == sha(data) and descriptor.size == len(data)
    assert store.has_blob(descriptor.digest)
    assert store.read_blob(descriptor.digest, len(data)) == data
    assert store.list_blobs() == [descriptor.digest]
    assert list(store.tmp.iterdir()) == []        # the temp file was renamed, not left behind


def test_put_blob_with_wrong_expected_digest_stores_nothing(tmp_path: Path):
    store = Store.open(tmp_path)
    with pytest.raises(PalletError, match="digest mismatch"):
        store.put_blob(io.BytesIO(b"abc"), expected_digest=sha(b"abd"))
    assert store.list_blobs() == [] and list(store.tmp.iterdir()) == []


def test_put_blob_with_wrong_expected_size_stores_nothing(tmp_path: Path):
    store = Store.open(tmp_path)
    with pytest.raises(PalletError, match="larger than its descriptor"):
        store.put_blob(io.BytesIO(b"abcdef"), expected_digest=sha(b"abcdef"), expected_size=3)
    assert store.list_blobs() == []


def test_reading_a_corrupted_blob_fails_with_the_digest(tmp_path: Path):
    store = Store.open(tmp_path)
    descriptor = store.put_bytes(b"original content")
    store.blob_path(descriptor.digest).write_bytes(b"tampered content")
    with pytest.raises(PalletError, match="does not match its descriptor"):
        store.read_blob(descriptor.digest)


def test_open_blob_checks_the_descriptor_size(tmp_path: Path):
    store = Store.open(tmp_path)
    descriptor = store.put_bytes(b"12345")
    with pytest.raises(PalletError, match="has 5 bytes, its descriptor says 4"):
        store.open_blob(descriptor.digest, 4)


def test_missing_blob_is_a_clear_error(tmp_path: Path):
    store = Store.open(tmp_path)
    with pytest.raises(PalletError, match="missing from the store"):
        store.read_blob(sha(b"nothing"))


def test_invalid_digest_is_refused(tmp_path: Path):
    store = Store.open(tmp_path)
    with pytest.raises(PalletError, match="invalid digest"):
        store.has_blob("sha256:../../etc/passwd")


def test_delete_blob(tmp_path: Path):
    store = Store.open(tmp_path)
    descriptor = store.put_bytes(b"x")
    store.delete_blob(descriptor.digest)
    assert not store.has_blob(descriptor.digest)


def _append_entries(root: str, worker: int, count: int) -> None:
    store = Store.open(Path(root))
    for number in range(count):
        store.update_index(lambda entries: entries + [{"digest": sha(f"{worker}-{number}".encode()),
                                                       "size": 1, "mediaType": "x"}])


def test_concurrent_index_updates_from_processes_lose_nothing(tmp_path: Path):
    Store.open(tmp_path)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_entries, args=(str(tmp_path), w, 40)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    entries = Store.open(tmp_path).index_entries()
    assert len(entries) == 160
    assert len({entry["digest"] for entry in entries}) == 160


def _hold_lease_and_write(root: str, ready, release) -> None:
    store = Store.open(Path(root))
    with store.lease():
        store.put_bytes(b"in-flight layer, not referenced yet")
        ready.set()
        release.wait(30)


def test_garbage_collection_waits_for_leases(tmp_path: Path):
    import threading
    import time

    from pallet.runtime.image.removal import collect_garbage
    Store.open(tmp_path)
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lease_and_write, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    store = Store.open(tmp_path)
    finished = threading.Event()
    collector = threading.Thread(target=lambda: (collect_garbage(store), finished.set()))
    collector.start()
    time.sleep(0.5)
    assert not finished.is_set()                          # blocked behind the lease
    assert store.list_blobs() == [sha(b"in-flight layer, not referenced yet")]
    release.set()
    holder.join(30)
    collector.join(30)
    assert finished.is_set() and store.list_blobs() == []   # collected once the lease ended


def test_small_and_bulk_sha256_agree():
    import hashlib

    from pallet.runtime.store.digests import SMALL_BLOB, new_sha256

    for size in (0, 3, SMALL_BLOB, SMALL_BLOB + 1):
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        digest = new_sha256(len(data))
        digest.update(data)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
