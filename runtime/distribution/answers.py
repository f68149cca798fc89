"""What a registry answers, treated as the untrusted input it is.

    RegistryError(PalletError)             the registry refused, failed or answered nonsense
    BlobStream(response, what, host, timeout)  a blob or manifest being read: a stall past the
                                           timeout or a cut connection is a RegistryError
                                           naming what was being read
    timeout() -> float                     seconds a connection may stay silent (TIMEOUT, or
                                           PALLET_REGISTRY_TIMEOUT)
    checked_digest(digest, what) -> str    a digest the registry named, checked before it is
                                           put in a URL or a path
    json_answer(data, what)                a JSON answer under documents.parse_json's limits
    read_limited(response, limit) -> bytes at most limit bytes, else RegistryError
    discard(response)                      the body of an answer only looked at for its status
    sha256_of(data) / digest_as(data, algorithm) -> str
"""

from __future__ import annotations

import http.client
import os

from pallet.base.errors import PalletError

MANIFEST_LIMIT = 4 << 20
TIMEOUT = 30   # seconds without a byte (connect, or any read): the registry has stalled


class RegistryError(PalletError):
    """The registry refused or failed (Docker prints these as daemon errors)."""


def sha256_of(data: bytes) -> str:
    from pallet.runtime.store.digests import new_sha256

    digest = new_sha256(len(data))
    digest.update(data)
    return "sha256:" + digest.hexdigest()


def digest_as(data: bytes, algorithm: str) -> str:
    if algorithm == "sha256":
        return sha256_of(data)
    import hashlib

    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest()


def timeout() -> float:
    try:
        value = float(os.environ.get("PALLET_REGISTRY_TIMEOUT") or TIMEOUT)
    except ValueError:
        return TIMEOUT
    return value if value > 0 else TIMEOUT


def checked_digest(digest, what: str) -> str:
    from pallet.runtime.store.digests import check_digest

    try:
        return check_digest(digest, what=what)
    except PalletError as error:
        raise RegistryError(error.message, hint=error.hint) from error


def json_answer(data: bytes, what: str):
    from pallet.runtime.image.documents import parse_json

    try:
        return parse_json(data, what=what, limit=MANIFEST_LIMIT)
    except PalletError as error:
        raise RegistryError(error.message, hint=error.hint) from error


class BlobStream:
    """A blob or manifest being read from the registry. A read that stalls past the timeout or a
    connection cut short raises RegistryError naming the blob, instead of a socket error."""

    def __init__(self, response, digest: str, host: str, timeout: float) -> None:
        self._response = response
        self._digest = digest
        self._host = host
        self._timeout = timeout
        self.status = response.status

    def getheader(self, name: str, default=None):
        return self._response.getheader(name, default)

    def read(self, n: int = -1) -> bytes:
        try:
            return self._response.read(n if n is not None and n >= 0 else None)
        except TimeoutError as error:
            raise RegistryError(f"reading {self._digest} from {self._host}: no data for "
                                f"{self._timeout:g} s (read timeout)",
                                hint="the registry stalled; try again (PALLET_REGISTRY_TIMEOUT "
                                     "sets the timeout in seconds)") from error
        except (OSError, http.client.HTTPException) as error:
            raise RegistryError(f"reading {self._digest} from {self._host}: the connection "
                                f"failed ({error.__class__.__name__}: {error})",
                                hint="try again") from error

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._response.close()


def read_limited(response, limit: int) -> bytes:
    data = response.read(limit + 1)   # http.client reads until this many bytes or EOF
    if len(data) > limit:
        raise RegistryError(f"response larger than {limit} bytes", hint="not a registry answer")
    return data


DISCARD_LIMIT = 64 << 10


def discard(response) -> None:
    """Read what is left of an answer used only for its status and headers (a redirect, a
    401, an upload step), at most DISCARD_LIMIT bytes: a registry streaming an endless
    chunked body there must not be read for ever. Nothing needs the rest: every request
    opens its own connection, closed with the answer."""
    try:
        response.read(DISCARD_LIMIT)
    except (OSError, http.client.HTTPException):
        pass
