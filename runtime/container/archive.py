"""A path in a container as a tar stream and back: the engine side of `docker cp`
(GET/HEAD/PUT /containers/{id}/archive).

    stat_path(record, path) -> dict               Docker's PathStat: name, size, mode, mtime, linkTarget
    archive_path(record, path, out) -> dict       the tar of path (its base name at the top) into out
    extract_into(record, path, stream, *, no_overwrite_dir_non_dir, copy_uid_gid)

As `cp` (access.py): the container's side is a confine.Root of its root, so every path is
resolved by the kernel inside the container (a planted symlink never reaches the host, even
while the container swaps it), nothing runs chrooted there and no user name is looked up. What
comes in is checked whole by the runtime's one extractor (no absolute or '..' names, nothing
through a symlink, hard links only within the archive) in a staging directory first, then
merged: a refused archive changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.container.access import with_rootfs
from pallet.runtime.isolation.confine import Root

# Go's os.FileMode type bits, as Docker's PathStat carries them
GO_DIR, GO_SYMLINK, GO_DEVICE, GO_PIPE, GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
GO_SETUID, GO_SETGID, GO_CHARDEV, GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


class PathNotFound(PalletError):
    http_status = 404


class NotADirectory(PalletError):
    http_status = 400


class ReadOnly(PalletError):
    http_status = 403


class Refused(PalletError):
    http_status = 400


_KINDS = {"PathNotFound": PathNotFound, "NotADirectory": NotADirectory, "Refused": Refused}


def go_file_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    if stat.S_ISDIR(st_mode):
        mode |= GO_DIR
    elif stat.S_ISLNK(st_mode):
        mode |= GO_SYMLINK
    elif stat.S_ISFIFO(st_mode):
        mode |= GO_PIPE
    elif stat.S_ISSOCK(st_mode):
        mode |= GO_SOCKET
    elif stat.S_ISCHR(st_mode):
        mode |= GO_DEVICE | GO_CHARDEV
    elif stat.S_ISBLK(st_mode):
        mode |= GO_DEVICE
    if st_mode & stat.S_ISUID:
        mode |= GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_STICKY
    return mode


def _relative(path: str) -> str:
    """The path inside the root, as a confine.Root takes it ("" for the root itself)."""
    if not path:
        raise Refused("path must not be empty")
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def _member_name(path: str) -> str:
    """The resource's name at the top of the tar: its base name ("." for SRC/. , which asks
    for the directory's contents, and for the root)."""
    rel = _relative(path)
    if path.rstrip("/").endswith("/.") or path in (".", "/.") or not rel:
        return "."
    return rel.rsplit("/", 1)[-1]


def _mtime(st: os.stat_result) -> str:
    moment = datetime.fromtimestamp(st.st_mtime_ns // 1_000_000_000, timezone.utc)
    nanos = f"{st.st_mtime_ns % 1_000_000_000:09d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{nanos}" if nanos else "") + "Z"


def _stat(root: Root, path: str, record_name: str) -> dict:
    rel = _relative(path)
    st = root.lstat(rel)
    if st is None:
        raise PathNotFound(f"Could not find the file {path} in container {record_name}")
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = "/" + root.realpath(rel).strip("/")   # resolved inside the container
    name = rel.rsplit("/", 1)[-1] if rel else "/"
    return {"name": name, "size": st.st_size, "mode": go_file_mode(st.st_mode),
            "mtime": _mtime(st), "linkTarget": link}


def _in_root(record, work, *, writable: bool = False):
    """work(confined_root) in with_rootfs's child; its JSON-able result or its typed error
    comes back through a spool."""
    with tempfile.TemporaryFile() as answer:
        def action(root: Path) -> None:
            try:
                with Root(root) as confined:
                    outcome = {"result": work(confined)}
            except PalletError as error:
                outcome = {"error": error.message, "kind": type(error).__name__}
            with os.fdopen(os.dup(answer.fileno()), "w") as out:
                json.dump(outcome, out)

        with_rootfs(record, action, writable=writable)
        answer.seek(0)
        outcome = json.load(answer)
    if "error" in outcome:
        raise _KINDS.get(outcome["kind"], PalletError)(outcome["error"])
    return outcome["result"]


def stat_path(record, path: str) -> dict:
    return _in_root(record, lambda root: _stat(root, path, record.name))


def archive_path(record, path: str, out) -> dict:
    """Write the tar of path into the binary file out (a spool the caller then streams)."""
    from pallet.runtime.image.tarpack import write_entry_tar
    name = _member_name(path)

    def work(root: Root) -> dict:
        info = _stat(root, path, record.name)
        with os.fdopen(os.dup(out.fileno()), "wb") as sink:
            write_entry_tar(root, _relative(path), sink, arcname=name)
            sink.flush()
        return info

    return _in_root(record, work)


def extract_into(record, path: str, stream, *, no_overwrite_dir_non_dir: bool = False,
                 copy_uid_gid: bool = False) -> None:
    """Unpack the tar read from stream into the directory path of the container; its entries
    belong to the container's root unless copy_uid_gid (Docker's copyUIDGID)."""
    from pallet.runtime.image.compression import DecompressingReader
    if record.config["HostConfig"].get("ReadonlyRootfs"):
        raise ReadOnly("container rootfs is marked read-only")
    with tempfile.TemporaryFile() as spool:
        reader = DecompressingReader(stream, name="archive")
        try:
            shutil.copyfileobj(reader, spool, 1 << 20)
        finally:
            reader.close()
        spool.flush()
        owner = None if copy_uid_gid else (0, 0)
        _in_root(record, lambda root: _unpack(root, spool, path, owner,
                                              no_overwrite_dir_non_dir), writable=True)


def _unpack(root: Root, spool, path: str, owner, no_overwrite: bool) -> None:
    from pallet.runtime.image.unpack import extract_layer
    rel = _relative(path)
    if root.lstat(rel) is None:
        raise PathNotFound(f"Could not find the file {path} in container")
    if not root.isdir(rel):
        raise NotADirectory(f"extraction point is not a directory: {path}")
    into = root.realpath(rel).strip("/")
    if no_overwrite:
        _check_overwrites(root, into, spool)
    staged = f"{into}/.pallet-cp-{os.urandom(6).hex()}".lstrip("/")
    root.mkdir(staged, 0o700)
    try:
        spool.seek(0)
        try:
            extract_layer(spool, root, into=staged, allow_devices=False, whiteouts="keep",
                          owner=owner)
        except PalletError as error:
            raise Refused(f"refusing the archive: {error.message}") from error
        spool.seek(0)   # checked whole above: now merged into what is there
        extract_layer(spool, root, into=into, merge=True, allow_devices=False,
                      whiteouts="keep", owner=owner)
    finally:
        root.remove_tree(staged)


def _check_overwrites(root: Root, into: str, spool) -> None:
    """noOverwriteDirNonDir: an existing directory is never replaced by a non-directory, nor
    the other way round."""
    spool.seek(0)
    try:
        with tarfile.open(fileobj=spool, mode="r:") as tar:
            for info in tar:
                name = _relative(info.name)
                if not name:
                    continue
                existing = root.lstat(f"{into}/{name}".lstrip("/"))
                if existing is None:
                    continue
                if stat.S_ISDIR(existing.st_mode) and not info.isdir():
                    raise Refused(f"cannot overwrite directory \"/{into}/{name}\" with "
                                  f"non-directory \"{name}\"")
                if not stat.S_ISDIR(existing.st_mode) and info.isdir():
                    raise Refused(f"cannot overwrite non-directory \"/{into}/{name}\" with "
                                  f"directory \"{name}\"")
    except tarfile.TarError as error:
        raise Refused(f"refusing the archive: not a valid tar archive: {error}") from error
