"""A read-only view of an image's filesystem through its unpacked layers, without mounting.

COPY/ADD, WORKDIR and ``--chown`` name lookups only need to *ask* the parent filesystem a few
questions (does /app exist and is it a directory? what are /etc's mode and owner? what does
/etc/passwd say? where does the symlink /var/run lead?). Answering them from the overlay-format
lowerdirs directly (0/0 character-device whiteouts, ``trusted.overlay.opaque=y`` directories,
exactly what overlayfs reads) costs a few lstat calls, where an overlay mount would cost a
mount namespace and a fork per step. Writes never go through the view: a step writes its new
files into an empty directory that becomes its layer.
"""

from __future__ import annotations

import os
import stat as statmod
from pathlib import Path

from pallet.base.errors import PalletError

OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_SYMLINK_HOPS = 255


def _is_whiteout(st: os.stat_result) -> bool:
    return statmod.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def split_path(path: str) -> list[str]:
    """Clean an absolute in-image path into components ('..' clamps at the root)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


class LayeredView:
    """The merged filesystem of ``lowerdirs`` (top-most first, overlayfs order)."""

    def __init__(self, lowerdirs: list[Path]) -> None:
        self.lowerdirs = list(lowerdirs)

    def lookup(self, path: str) -> Path | None:
        """Host path of the top-most entry for in-image ``path`` (no symlink following)."""
        parts = split_path(path)
        if not parts:
            return self.lowerdirs[0] if self.lowerdirs else None
        for layer in self.lowerdirs:
            current = layer
            stop_below = False
            for index, part in enumerate(parts):
                candidate = current / part
                try:
                    st = os.lstat(candidate)
                except (FileNotFoundError, NotADirectoryError):
                    break
                if _is_whiteout(st):
                    return None
                if index == len(parts) - 1:
                    return candidate
                if not statmod.S_ISDIR(st.st_mode):
                    return None  # a file here hides any directory of that name below
                if _is_opaque(candidate):
                    stop_below = True
                current = candidate
            if stop_below:
                return None
        return None

    def lstat(self, path: str) -> os.stat_result | None:
        found = self.lookup(path)
        if found is None:
            return None
        return os.lstat(found)

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """Resolve symlinks in ``path`` inside the image root (like a chroot would)."""
        pending = split_path(path)
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join(resolved + [part])
            is_last = not pending
            st = self.lstat(candidate)
            if st is not None and statmod.S_ISLNK(st.st_mode) and (follow_last or not is_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise PalletError(f"resolve {path}: too many levels of symbolic links")
                target = os.readlink(self.lookup(candidate))
                if target.startswith("/"):
                    resolved = []
                # a relative target is relative to the link's directory (``resolved``);
                # ".." in it is handled by the loop and clamps at the root
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            resolved.append(part)
        return "/" + "/".join(resolved)

    def read_text(self, path: str) -> str | None:
        """Text of a regular file (symlinks followed inside the image), or None."""
        found = self.lookup(self.resolve(path))
        if found is None or not found.is_file():
            return None
        return found.read_text(errors="replace")

    def listdir(self, path: str) -> list[str]:
        """Merged directory listing (whiteouts and opaque directories honoured)."""
        parts = split_path(path)
        names: set[str] = set()
        hidden: set[str] = set()
        for layer in self.lowerdirs:
            directory = layer.joinpath(*parts)
            blocked = False
            stop_below = False
            current = layer
            for part in parts:
                current = current / part
                try:
                    st = os.lstat(current)
                except (FileNotFoundError, NotADirectoryError):
                    blocked = True
                    break
                if _is_whiteout(st) or not statmod.S_ISDIR(st.st_mode):
                    return sorted(names)
                stop_below = stop_below or _is_opaque(current)
            if blocked:
                if stop_below:
                    break
                continue
            with os.scandir(directory) as entries:
                for entry in entries:
                    st = entry.stat(follow_symlinks=False)
                    if _is_whiteout(st):
                        hidden.add(entry.name)
                    elif entry.name not in hidden:
                        names.add(entry.name)
            if stop_below or _is_opaque(directory):
                break
        return sorted(names)
