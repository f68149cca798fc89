"""Build-cache records: step key -> the layer it produced and the image config after it.

A record is one small JSON file, ``ROOT/cache/records/<key[:2]>/<key>.json``, written only
after the layer it names is committed to the store, and atomically (temp file, fsync, rename),
so a crash can leave a layer without a record (harmless, pruned later) but never a record
without its layer. Readers still check the layer is present (``is_usable``): a record is a
hint, never trusted blindly. The record file's mtime is its last use (``prune --filter until``).

The same records travel between machines through ``--cache-to/--cache-from type=local``
(builder/cacheio.py) as an OCI layout, so they can later be pushed as an OCI artifact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write

RECORD_FORMAT = 1
CHUNKED_FORMAT = 2
MAX_BELOW = 100    # copychunks makes at most a few dozen


@dataclass(frozen=True)
class LayerRef:
    """A layer as the store knows it: the blob (compressed) and its diff id (uncompressed)."""

    digest: str
    diff_id: str
    size: int
    media_type: str

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "diff_id": self.diff_id, "size": self.size,
                "media_type": self.media_type}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LayerRef":
        """Raises ValueError/KeyError/TypeError on anything but a well-formed layer: records
        also arrive from --cache-from, where a digest is untrusted input."""
        from pallet.runtime.store.digests import check_digest

        size, media_type = data["size"], data["media_type"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or \
                not isinstance(media_type, str):
            raise ValueError(f"malformed layer {data!r:.200}")
        try:
            digest = check_digest(data["digest"], what="layer digest")
            diff_id = check_digest(data["diff_id"], what="layer diff ID")
        except PalletError as error:
            raise ValueError(error.message) from error
        return cls(digest=digest, diff_id=diff_id, size=size, media_type=media_type)


@dataclass(frozen=True)
class CacheRecord:
    """What a step produced: its layer (None for an empty diff or a metadata step), the
    container config after it, and its history entry (with the original ``created`` time).
    ``below``: the layers a chunked COPY (copychunks.py) writes under ``layer``, bottom first;
    such a record is format 2, which older readers take as a miss."""

    key: str
    layer: LayerRef | None
    config: dict[str, Any]
    history: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    below: tuple[LayerRef, ...] = ()

    def layers(self) -> tuple[LayerRef, ...]:
        """Every layer of the step, bottom first."""
        return self.below + ((self.layer,) if self.layer is not None else ())

    def to_json(self) -> dict[str, Any]:
        data = {"format": RECORD_FORMAT, "key": self.key,
                "layer": self.layer.to_json() if self.layer else None,
                "config": self.config, "history": self.history, "extra": self.extra}
        if self.below:
            data["format"] = CHUNKED_FORMAT
            data["below"] = [layer.to_json() for layer in self.below]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CacheRecord":
        if data.get("format") not in (RECORD_FORMAT, CHUNKED_FORMAT):
            raise ValueError("unknown cache record format")
        key, layer = data["key"], data.get("layer")
        if not isinstance(key, str) or len(key) != 32 or key.strip("0123456789abcdef"):
            raise ValueError(f"not a cache key: {key!r:.80}")
        fields = {name: data[name] for name in ("config", "history")}
        fields["extra"] = data.get("extra") or {}
        for name, value in fields.items():
            if not isinstance(value, dict):
                raise ValueError(f"cache record {key}: {name} is not an object")
        below = (data.get("below") or []) if data.get("format") == CHUNKED_FORMAT else []
        if not isinstance(below, list) or (below and not layer) or len(below) > MAX_BELOW:
            raise ValueError(f"cache record {key}: malformed chunk layers")
        return cls(key=key, layer=LayerRef.from_json(layer) if layer else None,
                   below=tuple(LayerRef.from_json(item) for item in below), **fields)


ROOT_HOLDER = "buildcache"


class CacheRecords:
    """The record directory of one store, and the garbage-collection roots that keep the layers
    the records name (runtime/store/roots.py, holder "buildcache", one root per key): the engine
    keeps what the roots name and never reads a record."""

    def __init__(self, store) -> None:
        self.store = store
        self.directory = store.cache / "records"
        self._adopted = False

    def _path(self, key: str) -> Path:
        if len(key) != 32 or any(ch not in "0123456789abcdef" for ch in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> CacheRecord | None:
        path = self._path(key)
        try:
            data = json.loads(path.read_text())
            record = CacheRecord.from_json(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged record is a miss; the rebuilt step overwrites it.
            return None
        if record.key != key:
            return None
        try:
            os.utime(path)  # last use, for prune --filter until=
        except OSError:
            pass  # a read-only cache still serves hits
        return record

    def put(self, record: CacheRecord) -> None:
        """Write a record atomically; the caller has already committed its layer and holds the
        store's lease. The root goes first: a crash between the two leaves a root without a
        record (reconcile drops it), never a record whose layer garbage collection may take."""
        if not self._adopted:
            # Once per store, at the first write (a fully cached build stays off this path).
            self.adopt_older_records()
            self._adopted = True
        if record.layers():
            self._set_root(record)
        write_json_atomic(self._path(record.key), record.to_json())

    def remove(self, key: str) -> None:
        from pallet.runtime.store.roots import drop_root

        self._path(key).unlink(missing_ok=True)
        drop_root(self.store, ROOT_HOLDER, key)

    def _set_root(self, record: CacheRecord) -> None:
        from pallet.runtime.store.roots import set_root

        layers = record.layers()
        set_root(self.store, ROOT_HOLDER, record.key, blobs=[layer.digest for layer in layers],
                 diff_ids=[layer.diff_id for layer in layers])

    def reconcile(self) -> None:
        """Make the roots match the records: a root for each record with a layer (stores made
        before roots existed), none for a record that is gone. Dropping needs the gc lock held
        (a build writes a root just before its record)."""
        from pallet.runtime.store.roots import drop_root, root_names

        keys = set()
        for _, record in self:
            keys.add(record.key)
            if record.layers():
                self._set_root(record)
        for name in root_names(self.store, ROOT_HOLDER):
            if name not in keys:
                drop_root(self.store, ROOT_HOLDER, name)

    def adopt_older_records(self) -> None:
        """Once per store: records written before roots existed get theirs (only adds, so it
        is safe beside other builds; one stat when already done). Also done by reconcile, so
        `builder prune` adopts them too."""
        from pallet.runtime.store.roots import holder_known, register_holder

        if holder_known(self.store, ROOT_HOLDER):
            return
        for _, record in self:
            if record.layers():
                self._set_root(record)
        register_holder(self.store, ROOT_HOLDER)   # last: a crash before it adopts again

    def __iter__(self) -> Iterator[tuple[Path, CacheRecord]]:
        if not self.directory.is_dir():
            return
        for shard in sorted(self.directory.iterdir()):
            if not shard.is_dir():
                continue
            for path in sorted(shard.glob("*.json")):
                try:
                    yield path, CacheRecord.from_json(json.loads(path.read_text()))
                except (OSError, ValueError, KeyError, TypeError):
                    continue


def write_json_atomic(path: Path, data: Any, *, durable: bool = True) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old file or the new.
    durable=False skips the two fsyncs, for hints checked on every use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, sort_keys=True, separators=(",", ":")), durable=durable)
