"""The lowerdir= list of a container overlay, whatever the number of layers.

Two kernel limits stand in the way of a many-layer image. mount(2) copies one page of
options, so a long list of store paths is passed as short names: a symlink per layer in a
scratch directory, the overlay mounted from inside it (overlay resolves the names at mount
time), as Docker's overlay2 does with its l/ directory. And overlayfs stacks at most 500 lower
layers (the kernel's OVL_MAX_STACK; Docker's overlay2 stops at 128). Beyond that the bottom
layers are flattened: merged by a read-only overlay of just those and copied (cp -a: owners,
modes, times, xattrs, hard links, device nodes) into one plain directory beside the
container's upper directory, which then stands for them. A read-only overlay mount cannot
stand for them itself: overlayfs hides the whiteouts of an overlay used as a lower layer, so
files deleted by the layers above it would show again. The copy is made once per container
(kept with it) and runs in the container's own mount namespace.
"""

from __future__ import annotations

import os
from pathlib import Path

from pallet.base.files import remove_tree
from pallet.runtime.isolation import linux

MAX_LOWERS = 500
MOUNT_DATA_LIMIT = 4000  # mount(2) copies at most one page of options


def mount_layers(target: str | os.PathLike, lowers: list, *, keep_dir: Path, scratch: Path,
                 upper: str | os.PathLike | None = None, work: str | os.PathLike | None = None,
                 options: str = "", flags: int = 0) -> None:
    """Mount at target an overlay of lowers (topmost first), however many there are: the one
    way every overlay of image layers is mounted (a container's root, `cp`/`export` of a
    stopped container, a volume's copy-up). With upper and work it is writable; with upper
    alone, upper is read as the topmost layer (a read-only view of a container). No layers:
    an empty directory in scratch. keep_dir holds flattened layers (flatten_bottom); scratch
    holds the short names. Runs in a private mount namespace (the caller's)."""
    target = os.path.abspath(target)   # the mount may be made from inside the links directory
    layers = [os.fspath(p) for p in lowers]
    readonly_upper = upper is not None and work is None
    if len(layers) + readonly_upper > MAX_LOWERS:
        layers = flatten_bottom(layers, keep_dir=keep_dir, scratch=scratch)
    if readonly_upper:
        layers.insert(0, os.fspath(upper))
    if not layers:
        empty = Path(scratch) / "empty"
        empty.mkdir(exist_ok=True)
        layers = [os.fspath(empty)]

    def data(lowerdir: str) -> str:
        return overlay_data(lowerdir, upper=upper if work is not None else None, work=work,
                            options=options)

    text = data(":".join(layers))
    if len(text) <= MOUNT_DATA_LIMIT:
        linux.mount("overlay", target, "overlay", flags, text)
        return
    # Many layers overflow the page: name each lowerdir by a short symlink and mount from
    # inside that directory (overlay resolves the links at mount time), as overlay2's l/.
    links = Path(scratch) / "l"
    text = data(short_lowerdir(layers, links))
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(links)
        linux.mount("overlay", target, "overlay", flags, text)
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def overlay_data(lowerdir: str, *, upper: str | os.PathLike | None = None,
                 work: str | os.PathLike | None = None, options: str = "") -> str:
    """The mount(2) data of an overlay."""
    text = f"lowerdir={lowerdir}"
    if upper is not None:
        text += f",upperdir={os.fspath(upper)},workdir={os.fspath(work)}"
    return f"{text},{options}" if options else text


def flatten_bottom(lowers: list[str], *, keep_dir: Path, scratch: Path) -> list[str]:
    """lowers (topmost first) with the bottom ones merged until at most MAX_LOWERS - 1 remain
    (one place left, so a read-only view that stacks a container's upper dir on top uses the
    same flattened directory as the container's own root).

    keep_dir: where the flattened directories live (beside the upper dir: they are removed
    with the container); scratch: a directory for the temporary merge mount."""
    import hashlib  # here, not at the top: every container start imports this module

    lowers = list(lowers)
    limit = MAX_LOWERS - 1
    while len(lowers) > limit:
        take = min(len(lowers) - limit + 1, MAX_LOWERS)
        bottom = lowers[-take:]
        name = "flat-" + hashlib.sha256("\0".join(bottom).encode()).hexdigest()[:16]
        flat = keep_dir / name
        done = keep_dir / f"{name}.complete"
        if not done.exists():
            _merge_into(bottom, flat, scratch / f"{name}.mnt")  # never keep_dir/name
            done.touch()
        lowers = lowers[:-take] + [os.fspath(flat)]
    return lowers


def short_lowerdir(lowers: list[str], links: Path) -> str:
    """Name each layer by a short symlink in links; the caller mounts from inside links."""
    links.mkdir(exist_ok=True)
    for index, path in enumerate(lowers):
        link = links / f"{index:x}"
        if link.is_symlink():
            link.unlink()
        os.symlink(path, link)
    return ":".join(f"{index:x}" for index in range(len(lowers)))


def _merge_into(bottom: list[str], flat: Path, mountpoint: Path) -> None:
    import subprocess

    if flat.exists():
        remove_tree(flat)  # a copy cut short before it completed
    mountpoint.mkdir(parents=True, exist_ok=True)
    helper = mountpoint.parent / f"{mountpoint.name}-s"
    helper.mkdir(exist_ok=True)
    mount_layers(mountpoint, bottom, keep_dir=helper, scratch=helper, flags=linux.MS_RDONLY)
    try:
        flat.mkdir(mode=0o700)
        subprocess.run(["cp", "-a", "--", f"{mountpoint}/.", f"{flat}/"], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        # the merged root's own owner and mode, as the image has them
        stat = os.stat(mountpoint)
        os.chown(flat, stat.st_uid, stat.st_gid)
        os.chmod(flat, stat.st_mode & 0o7777)
    except subprocess.CalledProcessError as error:
        raise OSError(f"flattening {len(bottom)} layers failed: "
                      f"{error.stderr.decode(errors='replace').strip()}") from error
    finally:
        linux.umount2(mountpoint, linux.MNT_DETACH)
