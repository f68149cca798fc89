"""What a container changed, and its changes as a new image (docker diff, docker commit).

    container_changes(record) -> list[Change]        sorted by path; kind "A", "C" or "D"
    commit_container(root, record, reference=None, *, author="", message="", changes=(),
                     pause=True) -> Image

The changes are read from the container's overlayfs upper directory, as Docker's overlay2
driver does: a 0/0 character device is a deletion, an entry the image also has is a change,
anything else an addition. Whether the image has a path is asked of each layer through the
confined Root (runtime/isolation/confine), so a symlink in a layer never leads the question to
the host. The mount points the runtime itself creates for /etc/hosts, /etc/hostname and
/etc/resolv.conf (Docker keeps those in its init layer) are not the container's changes.

commit packs the upper directory with the builder's layer packer (runtime/image/layers.py:
pack_layer, overlay whiteouts to OCI whiteouts), on top of the container's image, with the
container's config and the --change instructions (runtime/image/importing.apply_changes).
"""

from __future__ import annotations

import copy
import os
import stat
from dataclasses import dataclass
from pathlib import Path

INIT_PATHS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab",
                        "/.dockerenv", "/dev/console"})


@dataclass(frozen=True)
class Change:
    kind: str   # "A", "C" or "D"
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def _lowers(record) -> list[Path]:
    text = record.config["GraphDriver"]["Data"].get("LowerDir") or ""
    return [Path(p) for p in text.split(":") if p]


def _in_image(roots, rel: str) -> bool:
    for root in roots:             # topmost layer first
        found = root.lstat(rel)
        if found is None:
            continue
        return not (stat.S_ISCHR(found.st_mode) and found.st_rdev == 0)
    return False


def init_placeholders(record) -> frozenset[str]:
    """The upper dir's entries (relative paths) that are only the runtime's mount points: an
    empty regular file at one of INIT_PATHS the image does not have, and a directory that
    holds nothing else (made or copied up for them). Docker keeps these in its init layer,
    so neither diff nor commit shows them; a placeholder the container filled is its own."""
    from pallet.runtime.isolation.confine import Root
    upper = record.directory / "upper"
    found: set[str] = set()
    candidates = []
    for path in sorted(INIT_PATHS):
        try:
            info = os.lstat(upper / path.lstrip("/"))
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size == 0:
            candidates.append(path.lstrip("/"))
    if not candidates:
        return frozenset()
    roots = [Root(path) for path in _lowers(record)]
    try:
        found.update(rel for rel in candidates if not _in_image(roots, rel))
    finally:
        for root in roots:
            root.close()
    parents = sorted({rel.rpartition("/")[0] for rel in found} - {""}, key=len, reverse=True)
    for parent in parents:     # deepest first: a parent emptied of all but placeholders goes
        try:
            names = os.listdir(upper / parent)
        except OSError:
            continue
        if all(f"{parent}/{name}" in found for name in names):
            found.add(parent)
    return frozenset(found)


def container_changes(record) -> list[Change]:
    from pallet.base.files import walk_tree
    from pallet.runtime.isolation.confine import Root
    upper = record.directory / "upper"
    skipped = init_placeholders(record)
    roots = [Root(path) for path in _lowers(record)]
    try:
        found: list[Change] = []
        # names and lstat only: nothing in upper is opened but its directories
        for rel, entries in walk_tree(upper):
            if rel in skipped:
                continue
            rel_base = f"/{rel}" if rel else ""
            for name, info in entries:
                path = f"{rel_base}/{name}"
                if path[1:] in skipped:
                    continue
                if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                    found.append(Change("D", path))
                elif _in_image(roots, path.lstrip("/")):
                    found.append(Change("C", path))
                else:
                    found.append(Change("A", path))
    finally:
        for root in roots:
            root.close()
    return sorted(found, key=lambda c: c.path)


def commit_container(root: Path, record, reference: str | None = None, *, author: str = "",
                     message: str = "", changes=(), pause: bool = True):
    from pallet.base.units import now_rfc3339
    from pallet.runtime.image.committing import commit_image
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.importing import apply_changes
    from pallet.runtime.image.layers import pack_layer
    from pallet.runtime.isolation.cgroups import Cgroup
    from pallet.runtime.store.content import Store

    store = Store.open(root)
    base = resolve_image(store, record.config["Image"])
    config = copy.deepcopy(base.config)
    section = config.setdefault("config", {})
    container = record.config["Config"]
    for key in ("User", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels", "Volumes",
                "ExposedPorts", "StopSignal", "Healthcheck", "OnBuild"):
        if container.get(key) not in (None, "", [], {}):
            section[key] = copy.deepcopy(container[key])
    apply_changes(config, list(changes))     # a change that does not parse fails before packing
    freeze = pause and record.state.get("Running") and not record.state.get("Paused")
    cgroup = Cgroup.attach(f"pallet-{record.id[:16]}") if freeze else None
    if cgroup is not None:
        cgroup.freeze()
    try:
        # uncompressed, as Docker keeps a committed layer (gzip on push, as for every local layer)
        layer = pack_layer(store, record.directory / "upper", compression="none",
                           overlay_upper=True, exclude=init_placeholders(record))
    finally:
        if cgroup is not None:
            cgroup.thaw()
    created = now_rfc3339()
    config["created"] = created
    config["author"] = author           # Docker's image Author and Comment: this commit's
    config["comment"] = message
    entry = {"created": created, "created_by": " ".join([record.config["Path"],
                                                          *record.config["Args"]])}
    if author:
        entry["author"] = author
    if message:
        entry["comment"] = message
    config["history"] = list(config.get("history") or []) + [entry]
    image = commit_image(store, config=config, layers=base.layer_objects(store) + [layer],
                         tags=[reference] if reference else [])
    from pallet.runtime.store.events import container_event, record_event
    if reference:
        from pallet.runtime.store.references import familiar, parse_reference
        labels = section.get("Labels") or {}
        name = familiar(str(parse_reference(reference).with_default_tag()))
        record_event(root, "image", "tag", image.id, {**labels, "name": name})
    container_event(root, record, "commit", comment=message, imageID=image.id,
                    imageRef=reference or "")
    return image
