"""Garbage-collection roots: content that a holder outside the image index keeps alive.

The store knows what its images (index.json) and containers (their layer directories) use.
Anything else that wants blobs or unpacked layers kept, the build cache today, names them here,
in the store's own format, and drops the root when it lets go; garbage collection keeps the
union. The holder's own records stay its business: the engine never reads them.

    ROOT/roots/<holder>/<name>.json     {"blobs": [digest, ...], "diff_ids": [diff ID, ...]}

    set_root(store, holder, name, *, blobs=(), diff_ids=())   write (atomically) or replace
    drop_root(store, holder, name)                            gone; absent is fine
    register_holder(store, holder), holder_known(store, holder) -> bool
    root_names(store, holder) -> list[str]                    for a holder to reconcile
    root_content(store) -> (blob digests, diff IDs)           what all roots keep
    damaged_roots(store) -> list of unreadable root files     (system check)

A root must exist before the content is otherwise unreferenced: a holder writes it while it
holds store.lease() (between writing a blob and naming it), as the builder does.
"""

from __future__ import annotations

import json
import os
import re

from pallet.base.errors import PalletError
from pallet.base.files import atomic_write
from pallet.runtime.store.content import private_dir
from pallet.runtime.store.digests import check_digest

_NAME = r"[a-z0-9][a-z0-9._-]{0,127}"


def _directory(store, holder: str):
    if not re.fullmatch(_NAME, holder):
        raise PalletError(f"invalid garbage-collection root holder {holder!r}")
    return store.root / "roots" / holder


def _path(store, holder: str, name: str):
    if not re.fullmatch(_NAME, name):
        raise PalletError(f"invalid garbage-collection root name {name!r}")
    return _directory(store, holder) / f"{name}.json"


def set_root(store, holder: str, name: str, *, blobs=(), diff_ids=()) -> None:
    for digest in (*blobs, *diff_ids):
        check_digest(digest)
    path = _path(store, holder, name)
    register_holder(store, holder)
    atomic_write(path, json.dumps({"blobs": sorted(blobs), "diff_ids": sorted(diff_ids)}),
                 tmp_dir=store.tmp)


def holder_known(store, holder: str) -> bool:
    """Whether holder has registered (its folder exists, even with no root in it)."""
    return _directory(store, holder).is_dir()


def register_holder(store, holder: str) -> None:
    private_dir(store.root / "roots")
    private_dir(_directory(store, holder))


def drop_root(store, holder: str, name: str) -> None:
    _path(store, holder, name).unlink(missing_ok=True)


def root_names(store, holder: str) -> list[str]:
    directory = _directory(store, holder)
    try:
        return sorted(entry.name[:-5] for entry in os.scandir(directory)
                      if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return []


def _files(store):
    top = store.root / "roots"
    if not top.is_dir():
        return
    for holder in sorted(os.scandir(top), key=lambda e: e.name):
        if holder.is_dir(follow_symlinks=False):
            for entry in sorted(os.scandir(holder.path), key=lambda e: e.name):
                if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                    yield entry.path


def _read(path: str) -> tuple[list[str], list[str]]:
    with open(path, "rb") as handle:
        document = json.loads(handle.read())
    return _strings(document["blobs"]), _strings(document["diff_ids"])


def damaged_roots(store) -> list[str]:
    """Root files that cannot be read (`system check` reports them, --repair drops them)."""
    damaged = []
    for path in _files(store):
        try:
            _read(path)
        except (OSError, ValueError, KeyError, TypeError):
            damaged.append(path)
    return damaged


def root_content(store, *, skip_damaged: bool = False) -> tuple[set[str], set[str]]:
    """What every root keeps. An unreadable root raises (unless skip_damaged): garbage
    collection must not delete what it may have kept."""
    blobs: set[str] = set()
    diff_ids: set[str] = set()
    for path in _files(store):
        try:
            root_blobs, root_diff_ids = _read(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            if skip_damaged:
                continue
            raise PalletError(f"garbage-collection root {path} is unreadable ({error})",
                              hint="run `pallet system check --repair`") from error
        blobs.update(root_blobs)
        diff_ids.update(root_diff_ids)
    return blobs, diff_ids


def _strings(values) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError("not a list of strings")
    return values
