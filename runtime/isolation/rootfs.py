"""Child-side filesystem set-up: the container's root, its kernel filesystems and mounts.

Every function here runs in the container's first process, inside its fresh mount namespace,
so each one's cleanup is the same: the namespace is torn down (and every mount with it) when
the container's last process exits. What does outlive the namespace are the mount-point files
and directories created inside the overlay; they are recorded in ctx.created / ctx.copied_up
so the parent can take them out of upper_dir afterwards (see remove_mountpoints below).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pallet.runtime.isolation import linux
from pallet.runtime.isolation.confine import Root
from pallet.runtime.isolation.cgroup_layout import hierarchy_mounts
from pallet.runtime.isolation.spec import MASKED_PATHS, READONLY_PATHS, ContainerSpec

_NOSUID_NODEV_NOEXEC = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC

# runc's default device nodes: (name, major, minor).
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
DEV_SYMLINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                ("ptmx", "pts/ptmx"))


@dataclass
class ChildContext:
    """Mutable state of one child's set-up (lives only in the child process)."""

    spec: ContainerSpec
    rootfs: Path          # where the overlay is mounted before pivot_root
    etc_dir: Path         # hosts / resolv.conf / hostname prepared by the parent
    empty_lower: Path     # used when the image has no layers at all
    created: list[str] = field(default_factory=list)     # rootfs-relative, in creation order
    copied_up: list[str] = field(default_factory=list)   # dirs overlay copied into upper_dir
    console_fd: int | None = None  # socket to hand the pty master back to the parent
    bind_console: bool = True      # bind the pty at /dev/console (the first process only)
    seccomp: object | None = None  # seccomp.Program made by the parent, loaded before exec
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    home: str = "/"


def make_mounts_private(ctx: ChildContext) -> None:
    """Stop our mounts propagating to the host (and the host's to us)."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)


# The upper dir must stay a self-contained diff that pack_layer can turn into a layer: with
# redirect_dir a renamed lower directory is recorded as a trusted.overlay.redirect xattr (the
# contents stay in the lower layer), with metacopy a chmod/chown copies up only the metadata.
# Both off (whatever the host's overlay module defaults are), a rename of a lower directory
# fails with EXDEV and mv falls back to copy + delete, as under Docker's overlay2.
OVERLAY_FULL_DIFF_OPTIONS = "redirect_dir=off,metacopy=off"


def mount_overlay_rootfs(ctx: ChildContext) -> None:
    from pallet.runtime.isolation import lowerdirs

    spec = ctx.spec
    lowerdirs.mount_layers(ctx.rootfs, list(spec.rootfs_lowerdirs),
                           keep_dir=Path(spec.upper_dir).parent, scratch=ctx.empty_lower.parent,
                           upper=spec.upper_dir, work=spec.work_dir,
                           options=OVERLAY_FULL_DIFF_OPTIONS
                           + (",volatile" if spec.scratch_upper else ""))


def ensure_mountpoint(ctx: ChildContext, target: str, *, directory: bool) -> Path:
    """Create target (rootfs-relative, no symlink escapes) if missing, recording what we made."""
    parts = [p for p in target.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise OSError(22, f"mount target {target!r} must not contain '..'")
    current = ctx.rootfs
    upper = ctx.spec.upper_dir
    relative = ""
    for index, part in enumerate(parts):
        relative = f"{relative}/{part}" if relative else part
        current = current / part
        last = index == len(parts) - 1
        if os.path.islink(current):
            # Resolve symlinks inside the container's root, never on the host.
            resolved = _resolve_in_root(ctx.rootfs, relative)
            rest = "/".join(parts[index + 1:])
            return ensure_mountpoint(ctx, f"{resolved}/{rest}" if rest else resolved,
                                     directory=directory)
        if os.path.lexists(current):
            if not last and not os.path.lexists(upper / relative):
                ctx.copied_up.append(relative)
            continue
        with Root(ctx.rootfs, symlinks=False) as root:   # made inside the root, never through a link
            if not last or directory:
                root.mkdir(relative, 0o755)
            else:
                os.close(root.create(relative, 0o644))
        ctx.created.append(relative)
    _check_no_links(ctx, "/".join(parts))
    return current


def _check_no_links(ctx: ChildContext, relative: str) -> None:
    """The path the mount will use must lead where the walk above found it: resolved by the
    kernel inside the root with no symlink on the way (ELOOP otherwise)."""
    with Root(ctx.rootfs, symlinks=False) as root:
        try:
            os.close(root.open(relative, os.O_PATH))
        except OSError as error:
            raise OSError(error.errno, f"mount target /{relative} changed while it was "
                          f"prepared: {error.strerror}") from error


def _resolve_in_root(root: Path, relative: str) -> str:
    target = os.readlink(root / relative)
    if not target.startswith("/"):
        target = os.path.join(os.path.dirname("/" + relative), target)
    return os.path.normpath(target).lstrip("/")


def mount_proc(ctx: ChildContext) -> None:
    target = ensure_mountpoint(ctx, "/proc", directory=True)
    linux.mount("proc", target, "proc", _NOSUID_NODEV_NOEXEC)


def mount_dev(ctx: ChildContext) -> None:
    """A small tmpfs /dev with only the standard nodes and links (no host devices)."""
    target = ensure_mountpoint(ctx, "/dev", directory=True)
    linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME,
                "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        os.mknod(target / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(target / name, 0o666)  # mknod honours the umask
    for name, link in DEV_SYMLINKS:
        os.symlink(link, target / name)
    if os.path.exists("/proc/kcore"):  # runc links /dev/core only when the kernel has kcore
        os.symlink("/proc/kcore", target / "core")
    if ctx.spec.tty:
        os.close(os.open(target / "console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))


def mount_dev_pts(ctx: ChildContext) -> None:
    target = ctx.rootfs / "dev" / "pts"
    os.mkdir(target, 0o755)
    linux.mount("devpts", target, "devpts", linux.MS_NOSUID | linux.MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5")


def mount_dev_shm(ctx: ChildContext) -> None:
    shm = ctx.rootfs / "dev" / "shm"
    os.mkdir(shm, 0o1777)
    linux.mount("shm", shm, "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    mqueue = ctx.rootfs / "dev" / "mqueue"
    os.mkdir(mqueue, 0o755)
    linux.mount("mqueue", mqueue, "mqueue", _NOSUID_NODEV_NOEXEC)


def mount_sys(ctx: ChildContext) -> None:
    target = ensure_mountpoint(ctx, "/sys", directory=True)
    flags = _NOSUID_NODEV_NOEXEC | (0 if ctx.spec.privileged else linux.MS_RDONLY)
    # A fresh sysfs, also with --network host (root in the initial user namespace may mount
    # the host network namespace's sysfs); a bind of the host's /sys would carry its writable
    # sub-mounts (debugfs, securityfs, ...) into the container.
    linux.mount("sysfs", target, "sysfs", flags)


def mount_sys_fs_cgroup(ctx: ChildContext) -> None:
    """/sys/fs/cgroup as Docker's private cgroup namespace mode makes it: every hierarchy
    mounted afresh from inside the container's cgroup namespace, whose root in each is the
    container's own cgroup, so neither the host's tree nor other containers' cgroups are in
    view (/proc/self/cgroup shows "/" everywhere). Read-only unless privileged."""
    target = ctx.rootfs / "sys" / "fs" / "cgroup"
    if not target.is_dir():
        return
    flags = _NOSUID_NODEV_NOEXEC | (0 if ctx.spec.privileged else linux.MS_RDONLY)
    pure_v2, hierarchies, links = hierarchy_mounts()
    if pure_v2:
        linux.mount("cgroup2", target, "cgroup2", flags)
        return
    linux.mount("tmpfs", target, "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=755")
    for name, data in hierarchies:
        point = target / name
        os.mkdir(point, 0o755)
        source = "systemd" if data == "name=systemd" else "cgroup"  # runc's source names
        linux.mount(source, point, "cgroup", flags, data)
    for name, link in links:
        os.symlink(link, target / name)


def bind_etc_files(ctx: ChildContext) -> None:
    """/etc/hosts, /etc/resolv.conf, /etc/hostname: bind mounts, never written into a layer."""
    for name in ("hosts", "resolv.conf", "hostname"):
        target = ensure_mountpoint(ctx, f"/etc/{name}", directory=False)
        linux.mount(os.fspath(ctx.etc_dir / name), target, None, linux.MS_BIND)


def mount_declared(ctx: ChildContext) -> None:
    """The container's own volumes, binds and tmpfs mounts, in declaration order."""
    for mount in ctx.spec.mounts:
        if mount.type == "bind":
            is_dir = os.path.isdir(mount.source)
            target = ensure_mountpoint(ctx, mount.target, directory=is_dir)
            linux.mount(mount.source, target, None, linux.MS_BIND | linux.MS_REC)
            if mount.readonly:
                linux.mount(None, target, None,
                            linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
        else:
            target = ensure_mountpoint(ctx, mount.target, directory=True)
            flags, data = tmpfs_flags(mount.options, readonly=mount.readonly)
            linux.mount("tmpfs", target, "tmpfs", flags, data)


_FLAG_WORDS = {"ro": (linux.MS_RDONLY, True), "rw": (linux.MS_RDONLY, False),
               "noexec": (linux.MS_NOEXEC, True), "exec": (linux.MS_NOEXEC, False),
               "nosuid": (linux.MS_NOSUID, True), "suid": (linux.MS_NOSUID, False),
               "nodev": (linux.MS_NODEV, True), "dev": (linux.MS_NODEV, False),
               "strictatime": (linux.MS_STRICTATIME, True)}


def tmpfs_flags(options: tuple[str, ...], *, readonly: bool) -> tuple[int, str | None]:
    """mount(8)-style options -> (flags, data): flag words become flags, the rest (size=,
    mode=) is tmpfs data. Default nosuid,nodev; callers add noexec where Docker does."""
    flags = linux.MS_NOSUID | linux.MS_NODEV | (linux.MS_RDONLY if readonly else 0)
    data = []
    for option in options:
        if option in _FLAG_WORDS:
            bit, on = _FLAG_WORDS[option]
            flags = flags | bit if on else flags & ~bit
        elif option not in ("relatime", "defaults"):
            data.append(option)
    return flags, ",".join(data) or None


def pivot_into_rootfs(ctx: ChildContext) -> None:
    """pivot_root(".", ".") then detach the old root: runc's trick, no put_old dir needed."""
    os.chdir(ctx.rootfs)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")


def mask_paths(ctx: ChildContext) -> None:
    """Hide host-revealing kernel files: /dev/null over files, an empty ro tmpfs over dirs."""
    if ctx.spec.privileged:
        return
    for path in MASKED_PATHS:
        try:
            if os.path.isdir(path):
                linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY)
            else:
                linux.mount("/dev/null", path, None, linux.MS_BIND)
        except FileNotFoundError:
            continue  # this kernel has no such file: nothing to mask


def readonly_paths(ctx: ChildContext) -> None:
    if ctx.spec.privileged:
        return
    for path in READONLY_PATHS:
        try:
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
        except FileNotFoundError:
            continue
        linux.mount(None, path, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
                    | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


def readonly_rootfs(ctx: ChildContext) -> None:
    if ctx.spec.readonly_rootfs:
        linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)


# -- parent side: after the container is gone -------------------------------------------

def remove_mountpoints(spec: ContainerSpec, created: list[str], copied_up: list[str]) -> None:
    """Take the empty mount-point files/dirs we made back out of upper_dir.

    Only what the child recorded creating, only while still empty (the container may have put
    something there, which then belongs to its layer), deepest first. Directories overlay copied
    up only to hold a mount point go too when empty and unchanged from the lower layer.
    """
    upper = spec.upper_dir
    for relative in reversed(created):
        _remove_if_empty(upper / relative)
    for relative in sorted(set(copied_up), key=lambda r: r.count("/"), reverse=True):
        path = upper / relative
        lower = next((Path(d) / relative for d in spec.rootfs_lowerdirs
                      if os.path.lexists(Path(d) / relative)), None)
        if lower is None or not path.is_dir() or path.is_symlink():
            continue
        mine, theirs = os.lstat(path), os.lstat(lower)
        if (mine.st_mode, mine.st_uid, mine.st_gid) == (theirs.st_mode, theirs.st_uid, theirs.st_gid):
            _remove_if_empty(path)


def _remove_if_empty(path: Path) -> None:
    try:
        if path.is_symlink():
            return
        if path.is_dir():
            path.rmdir()
        elif path.is_file() and path.stat().st_size == 0:
            path.unlink()
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.ENOENT, errno.EEXIST):
            raise
