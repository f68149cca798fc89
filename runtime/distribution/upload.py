"""Layer uploads for push: several layers at once, each compressed on several threads while it
streams to the registry, and none sent twice.

    push_layers(store, client, layers: list[(Descriptor, diff_id)], progress) -> list[Pushed]

For each layer (up to UPLOADS at once, as dockerd's max-concurrent-uploads):
1. A layer stored compressed is sent as it is, unless the registry has it (HEAD).
2. An uncompressed layer (the store's default, as Docker's graph driver keeps them) was gzipped
   by an earlier push if distribution/<diffid>.json records its compressed digest (Docker's
   distribution metadata: diff ID -> digest, the registry and repository it went to). The
   repository already has that blob (HEAD): "Layer already exists"; another repository of the
   same registry has it: a cross-repository mount ("Mounted from ..."), no bytes sent.
3. Otherwise it is read once: gzip (parallelgzip.ParallelGzip: ISA-L's deflate, level 2) on
   both cores, the compressed bytes hashed as they go out in one chunked PATCH; the digest is then
   known for the closing PUT, and recorded for the next push. The compression only depends on
   the bytes, so a recorded digest names the same blob for any registry.

The records are hints: a digest is used only after the registry confirms it has that blob.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write
from pallet.base.progress import Meter, State
from pallet.runtime.store.content import Store
from pallet.runtime.store.digests import Descriptor, sha256_hex

MT_OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
UNCOMPRESSED = ("application/vnd.oci.image.layer.v1.tar",
                "application/vnd.docker.image.rootfs.diff.tar")
GZIP_LEVEL = 2          # ISA-L's default (parallelgzip.py says why not zlib's 6, docker's)
COMPRESSOR = "pallet-isal-2-1m"   # names the output: the deflate, level and block size
UPLOADS = 3
CHUNK = 1 << 20
RECORDS_KEPT = 32


@dataclass(frozen=True)
class Pushed:
    diff_id: str
    descriptor: Descriptor       # what the manifest names
    uploaded: bool               # bytes were sent now (not already there, not mounted)


def push_layers(store: Store, client, layers: list[tuple[Descriptor, str]],
                progress) -> list[Pushed]:
    """Upload what the registry lacks; results in the order of layers."""
    if len(layers) <= 1:
        return [_push_one(store, client, blob, diff_id, progress) for blob, diff_id in layers]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=UPLOADS, thread_name_prefix="push") as pool:
        futures = [pool.submit(_push_one, store, client, blob, diff_id, progress)
                   for blob, diff_id in layers]
        return [future.result() for future in futures]


def _push_one(store: Store, client, blob: Descriptor, diff_id: str, progress) -> Pushed:
    short = diff_id[7:19]
    if blob.media_type not in UNCOMPRESSED:
        uploaded = not client.has_blob(blob.digest)
        if uploaded:
            with open(store.blob_path(blob.digest), "rb") as handle:
                client.upload_blob(Meter(handle, progress, short, "Pushing", blob.size),
                                   blob.digest, blob.size)
        progress.emit(State(short, "Pushed" if uploaded else "Layer already exists"))
        return Pushed(diff_id, blob, uploaded)
    for record in _records(store, diff_id, client.host):
        descriptor = Descriptor(record["digest"], record["size"], MT_OCI_GZIP)
        if client.has_blob(descriptor.digest):
            progress.emit(State(short, "Layer already exists"))
            _remember(store, diff_id, descriptor, client)
            return Pushed(diff_id, descriptor, False)
        if record["registry"] == client.host and record["repository"] != client.repository \
                and client.mount_blob(descriptor.digest, record["repository"]):
            progress.emit(State(short, f"Mounted from {record['repository']}"))
            _remember(store, diff_id, descriptor, client)
            return Pushed(diff_id, descriptor, False)
    descriptor = _stream_gzip(store, client, blob, progress, short)
    progress.emit(State(short, "Pushed"))
    _remember(store, diff_id, descriptor, client)
    return Pushed(diff_id, descriptor, True)


def _stream_gzip(store: Store, client, blob: Descriptor, progress, short: str) -> Descriptor:
    from pallet.runtime.image.parallelgzip import ParallelGzip

    digest = hashlib.sha256()
    size = 0

    def chunks():
        nonlocal size
        compressor = ParallelGzip(GZIP_LEVEL)
        # "Pushing" counts the layer's bytes as they are read, as dockerd counts a push
        with open(store.blob_path(blob.digest), "rb") as raw:
            source = Meter(raw, progress, short, "Pushing", blob.size)
            while True:
                data = source.read(CHUNK)
                out = compressor.compress(data) if data else compressor.flush()
                if out:
                    digest.update(out)
                    size += len(out)
                    yield out
                if not data:
                    return

    location = client.upload_stream(chunks())
    descriptor = Descriptor("sha256:" + digest.hexdigest(), size, MT_OCI_GZIP)
    client.finish_upload(location, descriptor.digest)
    return descriptor


# -- distribution metadata: diff ID -> the compressed blob pushed for it -----------------------

def _path(store: Store, diff_id: str):
    return store.root / "distribution" / f"{sha256_hex(diff_id, what='diff ID')}.json"


def _records(store: Store, diff_id: str, host: str | None = None) -> list[dict]:
    """This compressor's earlier blobs of the layer, the same registry's first."""
    try:
        data = json.loads(_path(store, diff_id).read_bytes())
    except (OSError, ValueError):
        return []
    records = []
    for record in data if isinstance(data, list) else []:
        try:
            if record["compressor"] != COMPRESSOR or not isinstance(record["size"], int):
                continue
            sha256_hex(record["digest"], what="recorded digest")
            if not all(isinstance(record[k], str) for k in ("registry", "repository")):
                continue
        except (KeyError, TypeError, PalletError):
            continue
        records.append(record)
    return sorted(records, key=lambda r: r["registry"] != host)


def _remember(store: Store, diff_id: str, descriptor: Descriptor, client) -> None:
    from pallet.runtime.store.content import private_dir

    record = {"compressor": COMPRESSOR, "digest": descriptor.digest, "size": descriptor.size,
              "registry": client.host, "repository": client.repository}
    kept = [r for r in _records(store, diff_id)
            if (r["registry"], r["repository"]) != (client.host, client.repository)]
    path = _path(store, diff_id)
    private_dir(path.parent)
    # not durable: a record lost in a crash costs one compression on the next push
    atomic_write(path, json.dumps([record] + kept[:RECORDS_KEPT - 1]), durable=False)
