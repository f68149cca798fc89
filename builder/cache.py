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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write

RECORD_FORMAT = 1


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
        from pallet.runtime.store.content import check_digest

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
    container config after it, and its history entry (with the original ``created`` time)."""

    key: str
    layer: LayerRef | None
    config: dict[str, Any]
    history: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT, "key": self.key,
                "layer": self.layer.to_json() if self.layer else None,
                "config": self.config, "history": self.history, "extra": self.extra}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CacheRecord":
        if data.get("format") != RECORD_FORMAT:
            raise ValueError("unknown cache record format")
        key, layer = data["key"], data.get("layer")
        if not isinstance(key, str) or len(key) != 32 or key.strip("0123456789abcdef"):
            raise ValueError(f"not a cache key: {key!r:.80}")
        fields = {name: data[name] for name in ("config", "history")}
        fields["extra"] = data.get("extra") or {}
        for name, value in fields.items():
            if not isinstance(value, dict):
                raise ValueError(f"cache record {key}: {name} is not an object")
        return cls(key=key, layer=LayerRef.from_json(layer) if layer else None, **fields)


class CacheRecords:
    """The record directory of one store root."""

    def __init__(self, root: Path) -> None:
        self.directory = root / "cache" / "records"

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
        """Write a record atomically; the caller has already committed its layer."""
        path = self._path(record.key)
        write_json_atomic(path, record.to_json())

    def remove(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

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

    def prune(self, *, older_than_s: float | None = None) -> list[CacheRecord]:
        """Remove records unused for ``older_than_s`` seconds (all when None); returns them."""
        now = time.time()
        removed = []
        for path, record in list(self):
            if older_than_s is not None:
                try:
                    if now - path.stat().st_mtime < older_than_s:
                        continue
                except FileNotFoundError:
                    continue
            path.unlink(missing_ok=True)
            removed.append(record)
        return removed


def write_json_atomic(path: Path, data: Any) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, sort_keys=True, separators=(",", ":")))
