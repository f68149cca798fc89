"""Reach a container's filesystem from the host, for `export` and `cp`.

A running container's root is /proc/<pid>/root (the kernel's view of its mount namespace). A
stopped one's is assembled in a forked child with a private mount namespace: overlayfs of its
upper dir over the image layers, mounted, used, and gone when the child exits, so nothing is
ever mounted in ours.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from pallet.base.errors import PalletError
from pallet.runtime.isolation import linux
from pallet.runtime.container.state import ContainerRecord
from pallet.runtime.isolation.rootfs import overlay_mount_data
from pallet.runtime.image.unpack import extract_layer


def with_rootfs(record: ContainerRecord, action: Callable[[Path], None], *,
                writable: bool = False, live: bool = True) -> None:
    """Run action(root) in a forked child that sees the container's root at `root`."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    scratch = Path(tempfile.mkdtemp(prefix="pallet-rootfs-"))
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
    shutil.rmtree(scratch, ignore_errors=True)
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
    if writable:
        options = overlay_mount_data(lowerdir=":".join(lowers) or os.fspath(scratch),
                                     upper_dir=data["UpperDir"], work_dir=data["WorkDir"])
        linux.mount("overlay", target, "overlay", 0, options)
    else:
        # Read-only: the upper dir is simply the topmost lower layer (whiteouts still apply).
        linux.mount("overlay", target, "overlay", linux.MS_RDONLY,
                    f"lowerdir={':'.join([data['UpperDir'], *lowers])}")
    return target


def tar_tree(root: Path, member_root: Path, out, *, arcname: str) -> None:
    """Write a tar of member_root (inside root) to the binary stream out."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        archive.add(member_root, arcname=arcname, recursive=True)


# -- cp ---------------------------------------------------------------------------------------
# Every path inside the container is resolved by the kernel after chroot into the container's
# root, so a symlink the container planted (/tmp/x -> /etc/shadow) can never reach the host;
# what crosses the boundary is a tar stream, unpacked on the far side by the layer extractor's checks.

def copy_out(record: ContainerRecord, source: str, destination: str) -> None:
    """`cp CONTAINER:SRC DEST` with Docker's rule: into DEST if it is a directory, else as DEST."""
    with tempfile.TemporaryFile() as spool:
        def pack(root: Path) -> None:
            os.chroot(root)
            os.chdir("/")
            if not os.path.lexists(source):
                raise PalletError(f"Could not find the file {source} in container {record.name}")
            with os.fdopen(os.dup(spool.fileno()), "wb") as out, \
                    tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
                archive.add(source, arcname=_member_name(source))

        with_rootfs(record, pack)
        spool.seek(0)
        _unpack_as(spool, destination, _member_name(source), owned_by_caller=True)


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    os.chown(top, uid, gid, follow_symlinks=False)
    for directory, dirs, files in os.walk(top):
        for entry in dirs + files:
            os.chown(os.path.join(directory, entry), uid, gid, follow_symlinks=False)


def copy_in(record: ContainerRecord, source: str, destination: str) -> None:
    """`cp SRC CONTAINER:DEST`: the host side packs, the container side unpacks chrooted."""
    if not os.path.lexists(source):
        raise PalletError(f"stat {source}: no such file or directory")
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as archive:
            archive.add(source, arcname=_member_name(source))
        spool.seek(0)

        def unpack(root: Path) -> None:
            os.chroot(root)
            os.chdir("/")
            with os.fdopen(os.dup(spool.fileno()), "rb") as data:
                _unpack_as(data, destination, _member_name(source))

        with_rootfs(record, unpack, writable=True)


def _member_name(path: str) -> str:
    return os.path.basename(os.path.normpath(path)) or "root"


def _unpack_as(stream, destination: str, name: str, *, owned_by_caller: bool = False) -> None:
    """Unpack the one-entry tar as destination, through the layer extractor's checks: no
    absolute or '..' member names, nothing written through a symlink (not even one the archive
    itself made), hard links only to files of the same archive, no device nodes. Symlinks are
    kept as they are (Docker copies a link, not its target); modes are kept as Docker keeps them.
    owned_by_caller: every entry becomes the caller's (Docker's rule for files copied out)."""
    if os.path.isdir(destination):
        parent, final = destination, name
    else:
        parent, final = os.path.dirname(destination) or ".", os.path.basename(destination)
        if not os.path.isdir(parent):
            raise PalletError(f"no such directory: {parent}")
    staging = Path(tempfile.mkdtemp(prefix=".pallet-cp-", dir=parent))
    try:
        try:
            extract_layer(stream, staging, whiteouts="keep")
        except PalletError as error:
            raise PalletError(f"refusing to copy {name}: {error.message}") from error
        if owned_by_caller:
            _chown_tree(staging / name, os.geteuid(), os.getegid())
        target = Path(parent) / final
        if target.is_dir() and not target.is_symlink() and (staging / name).is_dir():
            shutil.copytree(staging / name, target, symlinks=True, dirs_exist_ok=True)
        else:
            os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
