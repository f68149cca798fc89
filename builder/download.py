"""ADD <url>: fetch into the step's scratch directory, verify ``--checksum``, keep Last-Modified.

The file is written to a temporary name the builder chose (never a name the server chose), so
a response cannot write anywhere but the scratch area; ``url_filename`` only names where the
file lands in the image, and the layer writer confines that.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pallet.base.errors import PalletError, Span


def url_filename(url: str) -> str:
    import urllib.parse
    base = os.path.basename(urllib.parse.urlparse(url).path)
    return base if base not in ("", ".", "..", "/") else "__unnamed__"


def download(url: str, into: Path, *, checksum: str | None, span: Span | None = None
             ) -> tuple[Path, int | None]:
    """Fetch ``url`` into a file under ``into``; verify ``sha256:<hex>``; returns (path, mtime)."""
    import http.client
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
            if getattr(response, "length", None):   # read(n) takes an early EOF silently
                raise http.client.IncompleteRead(b"", response.length)
            modified = response.headers.get("Last-Modified")
            if modified:
                try:
                    mtime = int(parsedate_to_datetime(modified).timestamp())
                except (TypeError, ValueError):
                    mtime = None
    except (OSError, http.client.HTTPException, ValueError) as error:
        # HTTPException: a body cut short (IncompleteRead), a bad status line or too many
        # headers are the server's doing, not a bug of ours
        Path(tmp).unlink(missing_ok=True)
        raise PalletError(f"ADD {url}: download failed: {error!r}" if not str(error) else
                          f"ADD {url}: download failed: {error}", span=span) from error
    actual = "sha256:" + hasher.hexdigest()
    if checksum is not None and actual != checksum:
        Path(tmp).unlink(missing_ok=True)
        raise PalletError(f"ADD {url}: digest mismatch: got {actual}, expected {checksum}",
                          span=span)
    os.chmod(tmp, 0o600)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    return Path(tmp), mtime

