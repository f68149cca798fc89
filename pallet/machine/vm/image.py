"""The VM image: a Debian root made by debootstrap, Debian's cloud kernel and its initrd, and an
ext4 disk image made from the root without loop mounts (mke2fs -d).

    ensure_image(recipe=Recipe(), cache=None) -> Image    built once per recipe, then cached

The cache is <pallet data dir>/vm/images/<recipe key>/ (PALLET_VM_CACHE overrides the
<data dir>/vm part). The key is a hash of everything that decides the image's content: the
suite, the package list, the disk size and the files pallet adds (guest.py), so a changed
recipe builds a new image and an unchanged one never rebuilds. A build happens in a temporary
directory beside the cache and is renamed into place whole, under a lock, so a crash or a
concurrent build never leaves a half-written image that looks finished. Downloaded packages are
kept in <cache>/debs (debootstrap --cache-dir): a rebuild after a recipe change does not fetch
them again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.machine.vm import guest

# Bump when the build steps below change in a way the recipe's fields do not show.
BUILD_VERSION = 1

# What the guest needs: an init (systemd, so cgroup v2 is set up as a distribution sets it up),
# sshd, the cloud kernel, pallet's run-time system packages (scripts/setup), python3-venv for
# pallet's own venv, and docker.io as the reference engine of the side-by-side checks.
PACKAGES = (
    "systemd-sysv", "udev", "dbus", "libpam-systemd", "kmod", "procps", "openssh-server",
    "linux-image-cloud-amd64", "e2fsprogs",
    "python3", "python3-venv",
    "busybox-static", "libseccomp2", "nftables", "iproute2", "zstd",
    "docker.io", "apparmor",   # dockerd refuses to run containers on an AppArmor kernel
                               # (the cloud kernel) without apparmor_parser
)


@dataclass(frozen=True)
class Recipe:
    suite: str = "bookworm"
    packages: tuple[str, ...] = PACKAGES
    disk_mb: int = 4096

    def key(self) -> str:
        document = {"recipe": asdict(self), "build": BUILD_VERSION,
                    "files": guest.FILES, "enable": guest.ENABLE,
                    "disable": guest.DISABLE, "mask": guest.MASK}
        text = json.dumps(document, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    key: str
    directory: Path
    kernel: Path
    initrd: Path
    disk: Path          # raw ext4; machines boot overlays of it, never the file itself
    build_seconds: float
    cached: bool        # True when this call found it built


def data_dir() -> Path:
    """pallet's data directory for VMs: PALLET_VM_CACHE, else <default store>/vm."""
    if os.environ.get("PALLET_VM_CACHE"):
        return Path(os.environ["PALLET_VM_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/lib/pallet/vm")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pallet" / "vm"


def apt_mirror(suite: str = "bookworm") -> str:
    """The Debian mirror this host's apt uses for the suite (deb822 .sources or one-line
    sources.list), so debootstrap reaches packages the way apt does here."""
    if os.environ.get("PALLET_VM_MIRROR"):
        return os.environ["PALLET_VM_MIRROR"]
    sources = Path("/etc/apt/sources.list.d")
    candidates = sorted(sources.glob("*.sources")) if sources.is_dir() else []
    for path in candidates:
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, _, value = line.partition(":")
                if value and not line.startswith(("#", " ")):
                    fields[key.strip()] = value.strip()
            if suite in fields.get("Suites", "").split() and "deb" in fields.get("Types", ""):
                for uri in fields.get("URIs", "").split():
                    if uri.rstrip("/").endswith("/debian"):
                        return uri
    lists = [Path("/etc/apt/sources.list")] + (sorted(sources.glob("*.list"))
                                                if sources.is_dir() else [])
    for path in lists:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite \
                    and words[1].rstrip("/").endswith("/debian"):
                return words[1]
    return "http://deb.debian.org/debian"


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        raise PalletError(f"{tool} is not installed on this host: building a VM image needs it "
                          f"(apt-get install {package})")
    return path


def _image_at(key: str, directory: Path, cached: bool) -> Image:
    manifest = json.loads((directory / "image.json").read_text())
    return Image(key=key, directory=directory, kernel=directory / "vmlinuz",
                 initrd=directory / "initrd.img", disk=directory / "disk.raw",
                 build_seconds=manifest["build_seconds"], cached=cached)


def ensure_image(recipe: Recipe = Recipe(), cache: Path | None = None,
                 progress=None) -> Image:
    """The image for the recipe, built now if the cache does not hold it."""
    cache = (cache or data_dir())
    images = cache / "images"
    key = recipe.key()
    final = images / key
    if (final / "image.json").is_file():
        return _image_at(key, final, cached=True)
    images.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(cache / "build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # a concurrent builder finishes first; we reuse it
        if (final / "image.json").is_file():
            return _image_at(key, final, cached=True)
        _sweep_temporaries(images)
        work = images / f".tmp-{key}-{os.getpid()}"
        try:
            started = time.monotonic()
            _build(recipe, work, cache / "debs", progress)
            manifest = {"key": key, "recipe": asdict(recipe), "build_version": BUILD_VERSION,
                        "build_seconds": round(time.monotonic() - started, 1),
                        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (work / "out" / "image.json").write_text(json.dumps(manifest, indent=1) + "\n")
            os.rename(work / "out", final)
        finally:
            _remove(work)
    return _image_at(key, final, cached=False)


def _sweep_temporaries(images: Path) -> None:
    """Builds killed before they finished (we hold the lock: none is running)."""
    for entry in images.iterdir():
        if entry.name.startswith(".tmp-"):
            _remove(entry)


def _remove(path: Path) -> None:
    from pallet.base.files import remove_tree
    if path.exists():
        remove_tree(path, ignore_errors=True)


def _run(argv: list[str], log: Path, what: str) -> None:
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        status = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT).returncode
    if status != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise PalletError(f"building the VM image failed while {what} (exit {status}); the "
                          "last lines of its log:\n  " + "\n  ".join(tail))


def _build(recipe: Recipe, work: Path, debs: Path, progress) -> None:
    debootstrap = _need("debootstrap", "debootstrap")
    mke2fs = _need("mke2fs", "e2fsprogs")
    work.mkdir(mode=0o700)
    debs.mkdir(parents=True, exist_ok=True)
    root = work / "root"
    out = work / "out"
    out.mkdir()
    log = work / "build.log"
    say = progress or (lambda text: None)
    say(f"debootstrap {recipe.suite} ({len(recipe.packages)} packages and their dependencies)")
    _run([debootstrap, "--variant=minbase", f"--cache-dir={debs}",
          "--include=" + ",".join(recipe.packages), recipe.suite, str(root),
          apt_mirror(recipe.suite)], log, "running debootstrap")
    say("configuring the root")
    _configure(root)
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise PalletError("building the VM image failed: the root has no kernel or initrd in "
                          "/boot (linux-image-cloud-amd64 did not install)")
    shutil.copyfile(kernels[-1], out / "vmlinuz")
    shutil.copyfile(initrds[-1], out / "initrd.img")
    say(f"making the {recipe.disk_mb} MiB ext4 disk")
    disk = out / "disk.raw"
    with open(disk, "wb") as handle:
        handle.truncate(recipe.disk_mb << 20)
    _run([mke2fs, "-q", "-F", "-t", "ext4", "-L", "pallet-root", "-d", str(root),
          str(disk)], log, "making the disk image (mke2fs -d)")
    shutil.copyfile(log, out / "build.log")


def _configure(root: Path) -> None:
    for relative, mode, text in guest.FILES:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # /etc/resolv.conf may be a link into /run
        path.write_text(text)
        os.chmod(path, mode)
    system = root / "etc/systemd/system"
    for unit, target in guest.ENABLE:
        wants = system / f"{target}.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / unit
        if not link.is_symlink():
            source = f"/etc/systemd/system/{unit}" if (system / unit).exists() \
                else f"/lib/systemd/system/{unit}"
            link.symlink_to(source)
    for unit in guest.DISABLE:
        for link in system.glob(f"*.wants/{unit}"):
            link.unlink()
    for unit in guest.MASK:
        link = system / unit
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")
    # Each machine gets its own identity at first boot: no machine id, no ssh host keys.
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # The downloaded packages live in the cache dir, not in the image.
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
