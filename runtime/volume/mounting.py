"""Volumes with driver options (-o type=tmpfs|none,device=...,o=...): mounted at their _data
directory on first use and until the volume is removed, as Docker's local driver does; and the
copy-up of image content into a new, empty volume."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.base.files import remove_tree


def _mounted(path: Path) -> bool:
    wanted = os.path.realpath(path)
    with open("/proc/self/mountinfo") as handle:
        return any(line.split()[4] == wanted for line in handle)


def mount_volume(volume) -> Path:
    """The volume's data directory, with its device mounted there if it has options."""
    from pallet.runtime.isolation import linux
    options = volume.options
    if options and not _mounted(volume.data):
        kind = options.get("type") or None
        flags = 0
        data = options.get("o", "")
        opts = [o for o in data.split(",") if o]
        if "bind" in opts or "rbind" in opts:
            flags |= linux.MS_BIND | (linux.MS_REC if "rbind" in opts else 0)
            opts = [o for o in opts if o not in ("bind", "rbind")]
            kind = None
        try:
            linux.mount(options["device"], volume.data, kind, flags, ",".join(opts) or None)
        except OSError as error:
            raise PalletError(f"error while mounting volume '{volume.data}': failed to mount "
                              f"local volume: mount {options['device']}:{volume.data}: "
                              f"{os.strerror(error.errno or 0).lower()}", exit_code=125) from error
    return volume.data


def unmount_volume(volume) -> None:
    from pallet.runtime.isolation import linux
    while volume.options and _mounted(volume.data):
        linux.umount2(volume.data, linux.MNT_DETACH)


def copy_up(volume, target: str, lower_dirs: list[Path]) -> None:
    """Fill an empty volume with what the image has at target (Docker's copy-up).

    The image's view is an overlay of its layers (whiteouts honoured) mounted read-only in a
    child's private mount namespace, so a crash leaves no mount behind; target is resolved
    inside that view (runtime/isolation/confine: a symlink to /etc means the image's /etc, as in
    the container), and copytree copies links as links into a volume that starts empty, so
    nothing is read or written outside the image and the volume."""
    if not lower_dirs or any(os.scandir(volume.data)):
        return
    import tempfile

    from pallet.runtime.store.content import scratch_dir
    # In the store's scratch (swept if we are killed): the mount point, and the layers an
    # image of more than 500 flattens into for this one copy.
    work = Path(tempfile.mkdtemp(prefix="copyup-", dir=scratch_dir(volume.directory.parent.parent)))
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _copy_child(volume.data, target, lower_dirs, work)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        remove_tree(work, ignore_errors=True)
    if os.waitstatus_to_exitcode(status) != 0:
        raise PalletError(f"copying the image's {target} into volume {volume.name} failed",
                          exit_code=125)


def _copy_child(data: Path, target: str, lower_dirs: list[Path], work: Path) -> int:
    from pallet.runtime.isolation import linux
    from pallet.runtime.isolation.lowerdirs import mount_layers
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    view = os.fspath(work / "view")
    os.mkdir(view)
    try:
        if len(lower_dirs) == 1:
            linux.mount(str(lower_dirs[0]), view, None, linux.MS_BIND)
        else:
            mount_layers(view, lower_dirs, keep_dir=work, scratch=work, flags=linux.MS_RDONLY)
        from pallet.runtime.isolation.confine import Root
        with Root(view) as image_root:   # the path resolved as in the container, never out
            try:
                inside = image_root.realpath(target)
            except OSError:
                return 0  # nothing there to copy: the volume stays empty
        source = view.rstrip("/") + inside
        if os.path.islink(source) or not os.path.isdir(source):
            return 0
        shutil.copytree(source, data, symlinks=True, dirs_exist_ok=True)
        shutil.copystat(source, data)
        st = os.lstat(source)
        os.chown(data, st.st_uid, st.st_gid)
        for base, dirs, files in os.walk(source):
            for name in dirs + files:
                path = os.path.join(base, name)
                st = os.lstat(path)
                os.lchown(os.path.join(data, os.path.relpath(path, source)), st.st_uid, st.st_gid)
        return 0
    finally:
        linux.umount2(view, linux.MNT_DETACH)
        os.rmdir(view)
