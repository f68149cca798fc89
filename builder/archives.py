"""ADD's local archive handling: detect a tar by content, extract it safely, and download URLs.

Docker detects the archive type from the bytes (gzip, bzip2, xz, zstd or a plain tar), never
from the file name, and extracts it like ``tar -x`` merging into the destination. Extraction
goes through tarsafe (member names and link targets may not leave the destination) plus our
own check that nothing is written through a symlink.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from pallet.base.errors import PalletError, Span

# Extraction filters (PEP 706) exist from Python 3.11.4; Debian 12's 3.11.2 has none and behaves
# as "fully_trusted". Naming it where it exists keeps 3.12+ from warning about the default.
_FULLY_TRUSTED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}

MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def compression_of(head: bytes) -> str | None:
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def _open_decompressed(path: Path) -> BinaryIO:
    with open(path, "rb") as handle:
        head = handle.read(8)
    kind = compression_of(head)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bzip2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        import zstandard  # a dependency of the runtime's layer code
        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def is_archive(path: Path) -> bool:
    """True when ``path`` is a (possibly compressed) tar: Docker's content sniffing."""
    try:
        with _open_decompressed(path) as stream:
            block = stream.read(512)
    except (OSError, EOFError, lzma.LZMAError):
        return False
    except Exception as error:  # noqa: BLE001 - zstandard raises its own error type
        if type(error).__name__ == "ZstdError":
            return False
        raise
    if len(block) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def extract_archive_into(archive: Path, dest: Path, *, owner) -> None:
    """Extract a tar archive into ``dest`` (merging); ownership from the archive unless
    ``owner`` (an Ownership with uid/gid) overrides it."""
    with _open_decompressed(archive) as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    _extract_member(tar, member, dest, owner)
        except (tarfile.TarError, EOFError) as error:
            raise PalletError(f"extract {Path(archive).name}: {error}") from error


def _extract_member(tar, member: tarfile.TarInfo, dest: Path, owner) -> None:
    name = member.name.lstrip("/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        if parts:
            raise PalletError(f"archive member {member.name!r} leaves the destination")
        return
    current = dest
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise PalletError(f"archive member {member.name!r} would be written through a symlink")
        if not current.exists():
            current.mkdir(mode=0o755)
    target = current / parts[-1]
    if member.islnk():
        link_parts = [p for p in member.linkname.lstrip("/").split("/") if p not in ("", ".")]
        if ".." in link_parts:
            raise PalletError(f"archive hard link {member.name!r} leaves the destination")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()
    if member.isdir() and target.is_dir():
        os.chmod(target, member.mode & 0o7777)
    else:
        member.name = "/".join(parts)
        if member.ischr() or member.isblk():
            raise PalletError(f"archive member {member.name!r} is a device node")
        # names and links were checked above; modes and owners are kept as Docker keeps them
        tar.extract(member, dest, set_attrs=True, numeric_owner=True, **_FULLY_TRUSTED)
    if owner is not None and (owner.uid is not None or owner.gid is not None):
        st = os.lstat(target)
        os.lchown(target, owner.uid if owner.uid is not None else st.st_uid,
                  owner.gid if owner.gid is not None else st.st_gid)


def url_filename(url: str) -> str:
    import urllib.parse
    base = os.path.basename(urllib.parse.urlparse(url).path)
    return base if base not in ("", ".", "/") else "__unnamed__"


def download(url: str, into: Path, *, checksum: str | None, span: Span | None = None
             ) -> tuple[Path, int | None]:
    """Fetch ``url`` into a file under ``into``; verify ``sha256:<hex>``; returns (path, mtime)."""
    import urllib.request
    from email.utils import parsedate_to_datetime

    if checksum is not None and not checksum.startswith("sha256:"):
        raise PalletError(f"unsupported checksum {checksum!r}", span=span, hint="use sha256:<hex>")
    fd, tmp = tempfile.mkstemp(dir=into, prefix="download-")
    hasher = hashlib.sha256()
    mtime = None
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                hasher.update(chunk)
                out.write(chunk)
            modified = response.headers.get("Last-Modified")
            if modified:
                try:
                    mtime = int(parsedate_to_datetime(modified).timestamp())
                except (TypeError, ValueError):
                    mtime = None
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise PalletError(f"ADD {url}: download failed: {error}", span=span) from error
    actual = "sha256:" + hasher.hexdigest()
    if checksum is not None and actual != checksum:
        Path(tmp).unlink(missing_ok=True)
        raise PalletError(f"ADD {url}: digest mismatch: got {actual}, expected {checksum}",
                          span=span)
    os.chmod(tmp, 0o600)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    return Path(tmp), mtime

