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

from pallet.errors import PalletError
from pallet.runtime import linux
from pallet.runtime.container_state import ContainerRecord


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
        options = (f"lowerdir={':'.join(lowers) or scratch}",
                   f"upperdir={data['UpperDir']}", f"workdir={data['WorkDir']}")
        linux.mount("overlay", target, "overlay", 0, ",".join(options))
    else:
        # Read-only: the upper dir is simply the topmost lower layer (whiteouts still apply).
        linux.mount("overlay", target, "overlay", linux.MS_RDONLY,
                    f"lowerdir={':'.join([data['UpperDir'], *lowers])}")
    return target


def resolve_inside(root: Path, path: str) -> Path:
    """path inside the container, following symlinks within root only."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current = root
    depth = 0
    for index, part in enumerate(parts):
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink() and index < len(parts) - 1 and depth < 40:
            depth += 1
            target = os.readlink(candidate)
            base = root if target.startswith("/") else current
            rest = "/".join(parts[index + 1:])
            return resolve_inside(root, str((base / target.lstrip("/")).relative_to(root)) + "/" + rest)
        current = candidate
    return current


def tar_tree(root: Path, member_root: Path, out, *, arcname: str) -> None:
    """Write a tar of member_root (inside root) to the binary stream out."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        archive.add(member_root, arcname=arcname, recursive=True)
