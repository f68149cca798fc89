"""Reach a container's filesystem from the host, for `export` and `cp`.

A running container's root is /proc/<pid>/root (the kernel's view of its mount namespace). A
stopped one's is assembled in a forked child with a private mount namespace: overlayfs of its
upper dir over the image layers, mounted, used, and gone when the child exits, so nothing is
ever mounted in ours.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Callable

from pallet.base.errors import PalletError
from pallet.base.progress import NULL, Meter
from pallet.base.files import remove_tree
from pallet.runtime.container.state import ContainerRecord
from pallet.runtime.image.tarpack import write_entry_tar
from pallet.runtime.image.unpack import extract_layer
from pallet.runtime.isolation import linux
from pallet.runtime.isolation.confine import Root
from pallet.runtime.isolation.lowerdirs import mount_layers
from pallet.runtime.isolation.rootfs import OVERLAY_FULL_DIFF_OPTIONS


def with_rootfs(record: ContainerRecord, action: Callable[[Path], None], *,
                writable: bool = False, live: bool = True) -> None:
    """Run action(root) in a forked child that sees the container's root at `root`."""
    from pallet.runtime.store.content import scratch_dir
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    # in the store's scratch (swept if we are killed), not the host's /tmp
    store_root = record.directory.parent.parent
    scratch = Path(tempfile.mkdtemp(prefix="rootfs-", dir=scratch_dir(store_root)))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_fd)
            root = _enter(record, scratch, writable, live)
            action(root)
            code = 0
        except PalletError as error:
            os.write(write_fd, error.message.encode())
        except BaseException as error:  # noqa: BLE001 - reported to the parent below
            os.write(write_fd, f"{type(error).__name__}: {error}".encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    message = b""
    while chunk := os.read(read_fd, 65536):
        message += chunk
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    remove_tree(scratch, ignore_errors=True)
    if os.waitstatus_to_exitcode(status) != 0:
        raise PalletError(message.decode(errors="replace") or "copying failed")


def _enter(record: ContainerRecord, scratch: Path, writable: bool, live: bool) -> Path:
    if live and record.state.get("Running"):
        return Path(f"/proc/{record.state['Pid']}/root")
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    data = record.config["GraphDriver"]["Data"]
    lowers = [p for p in data["LowerDir"].split(":") if p]
    target = scratch / "merged"
    target.mkdir()
    # Read-only, the upper dir is simply the topmost lower layer (whiteouts still apply).
    # Flattened layers are kept with the container, as a start of it keeps them.
    mount_layers(target, lowers, keep_dir=record.directory, scratch=scratch,
                 upper=data["UpperDir"], work=data["WorkDir"] if writable else None,
                 options=OVERLAY_FULL_DIFF_OPTIONS if writable else "",
                 flags=0 if writable else linux.MS_RDONLY)
    return target


def export_rootfs(record: ContainerRecord, out, progress=NULL) -> None:
    """`export`: the container's whole filesystem as a tar written to the binary stream out,
    read by descriptor from the host side (numeric owners, nothing of the container run).
    progress gets Bytes("", "Exporting", written, 0) as the tar grows (from the child)."""
    def pack(root: Path) -> None:
        sink = out if progress is NULL else Meter(out, progress, "", "Exporting")
        with Root(root) as confined:
            write_entry_tar(confined, "", sink, arcname=".")
        out.flush()       # this is a forked child: os._exit would drop what is buffered

    with_rootfs(record, pack, live=False)


# -- cp ---------------------------------------------------------------------------------------
# The container's side is always a confine.Root of its root directory: paths are resolved by the
# kernel inside it (openat2 RESOLVE_IN_ROOT), so a symlink the container planted (/tmp/x ->
# /etc/shadow, /target -> /etc) means the container's /etc, never the host's, even while the
# container swaps it. Nothing runs chrooted in the container and nothing looks a user name up:
# a lookup would load the NSS modules the container's /etc/nsswitch.conf names, as root
# (Docker's CVE-2019-14271). What crosses the boundary is a tar stream of numeric owners,
# unpacked by the runtime's one extractor.

def copy_out(record: ContainerRecord, source: str, destination: str, *,
             archive: bool = False, follow_link: bool = False, progress=NULL) -> int:
    """`cp CONTAINER:SRC DEST` with Docker's rules: into DEST if it is a directory, else as
    DEST; the files become the caller's unless archive (-a); follow_link (-L) copies what a
    symlink SRC points at (inside the container). Returns the bytes of the tar copied, as
    docker's "Successfully copied" counts them; progress gets Bytes("", "Copying from
    container", ...) while the tar is made (total unknown), then while it is unpacked (known)."""
    parent, final = host_destination(source, destination)
    action = "Copying from container"
    with tempfile.TemporaryFile() as spool:
        def pack(root: Path) -> None:
            with Root(root) as confined:
                rel = _follow(confined, source) if follow_link else source
                if confined.lstat(rel) is None:
                    raise PalletError(f"Could not find the file {source} in container {record.name}")
                with os.fdopen(os.dup(spool.fileno()), "wb") as out:
                    sink = out if progress is NULL else Meter(out, progress, "", action)
                    write_entry_tar(confined, rel, sink, arcname=final)

        with_rootfs(record, pack)
        size = spool.seek(0, os.SEEK_END)
        spool.seek(0)
        owner = None if archive else (os.geteuid(), os.getegid())
        stream = spool if progress is NULL else Meter(spool, progress, "", action, size)
        unpack_on_host(stream, parent, final, owner=owner)
    return size


def host_destination(source: str, destination: str) -> tuple[str, str]:
    """Docker's rules for where `cp CONTAINER:SRC DEST` lands on the host: (the directory,
    the entry's name in it): into DEST if it is a directory, else as DEST."""
    if os.path.isdir(destination):
        return destination, _member_name(source)
    parent, final = os.path.dirname(destination) or ".", os.path.basename(destination)
    if not os.path.isdir(parent):
        raise PalletError(f"no such directory: {parent}")
    return parent, final


def _follow(root: Root, path: str) -> str:
    """The path a symlink chain at path leads to, inside the root (-L)."""
    for _ in range(40):
        st = root.lstat(path)
        if st is None or not stat.S_ISLNK(st.st_mode):
            return path
        target = root.readlink(path)
        path = target if target.startswith("/") else f"{os.path.dirname(path.rstrip('/'))}/{target}"
    raise PalletError(f"{path}: too many levels of symbolic links")


def copy_in(record: ContainerRecord, source: str, destination: str, *,
            archive: bool = False, follow_link: bool = False, progress=NULL) -> int:
    """`cp SRC CONTAINER:DEST`: the container's side is written through a confine.Root of its
    root; owners become the container's root unless archive (-a). Returns the bytes of the tar
    copied; progress gets Bytes("", "Copying to container", ...) while the host tree is packed
    (total unknown), then while it is unpacked in the container (known)."""
    if not os.path.lexists(source):
        raise PalletError(f"stat {source}: no such file or directory")
    if follow_link:
        source = os.path.realpath(source)
    host_parent, host_name = os.path.split(os.path.normpath(source))
    action = "Copying to container"

    # the spool is made here so that its size is known here after the child is gone
    with tempfile.TemporaryFile() as spool:
        def unpack(root: Path) -> None:
            with Root(root) as confined:
                into, final = _destination_in(confined, destination, _member_name(source))
                with Root(host_parent or "/") as host:
                    sink = spool if progress is NULL else Meter(spool, progress, "", action)
                    write_entry_tar(host, host_name, sink, arcname=final)
                size = spool.tell()
                spool.seek(0)
                stream = spool if progress is NULL else Meter(spool, progress, "", action, size)
                try:
                    extract_layer(stream, confined, into=into, merge=True, whiteouts="keep",
                                  owner=None if archive else (0, 0))
                except PalletError as error:
                    raise PalletError(f"refusing to copy {host_name}: {error.message}") from error

        with_rootfs(record, unpack, writable=True)
        return os.fstat(spool.fileno()).st_size


def _member_name(path: str) -> str:
    return os.path.basename(os.path.normpath(path)) or "root"


def _destination_in(root: Root, destination: str, name: str) -> tuple[str, str]:
    """Docker's destination rules inside the container: an existing directory receives the
    entry by its name; otherwise the entry becomes DEST, whose parent must exist."""
    dest = "/" + "/".join(p for p in destination.split("/") if p not in ("", "."))
    if root.isdir(dest):
        return dest, name
    if destination.endswith("/"):
        raise PalletError(f"no such directory: {destination} (in the container)")
    into, _, final = dest.rpartition("/")
    if final in ("", "..") or not root.isdir(into or "/"):
        raise PalletError(f"no such directory: {into or '/'} (in the container)")
    return into or "/", final


def unpack_on_host(stream, parent: str, final: str, *, owner) -> None:
    """Unpack the one-entry tar (its top entry named final) into the host directory parent,
    confined to it, through the extractor's checks: no absolute or '..' member names, nothing
    written through a symlink (not even one the archive made), hard links only to files of
    the same archive, no device nodes. Symlinks are kept as they are (Docker copies a link,
    not its target); modes are kept as Docker keeps them. A new entry appears whole (unpacked
    beside it, then renamed); a directory merges into an existing one."""
    with Root(parent) as host:
        existing = host.lstat(final)
        staging = os.path.basename(tempfile.mkdtemp(prefix=".pallet-cp-", dir=parent))
        try:
            try:
                extract_layer(stream, host, into=staging, allow_devices=False,
                              whiteouts="keep", owner=owner)
            except PalletError as error:
                raise PalletError(f"refusing to copy {final}: {error.message}") from error
            staged = host.lstat(f"{staging}/{final}")
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                if staged is None or not stat.S_ISDIR(staged.st_mode):
                    raise PalletError(f"cannot overwrite directory {parent}/{final} with a "
                                      "non-directory")
                stream.seek(0)     # checked whole above: now merged into what is there
                extract_layer(stream, host, merge=True, allow_devices=False, whiteouts="keep",
                              owner=owner)
            else:
                host.rename(f"{staging}/{final}", final)
        finally:
            host.remove(staging)
