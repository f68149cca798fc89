"""Asking a machine's `pallet serve` over mutual TLS what it runs (create's last check, the
PALLET column of `machine ls`), with the client certificate from the machine's directory.
http.client rather than the docker SDK: one GET, and `machine ls` stays quick to start."""

from __future__ import annotations

import http.client
import json
import ssl

from pallet.base.errors import PalletError
from pallet.machine.certs import CertPaths


def tls_context(certs: CertPaths) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.cert), str(certs.key))
    return context


def version(host: str, port: int, certs: CertPaths, timeout: float = 10) -> dict:
    """GET /version; PalletError saying what went wrong."""
    try:
        connection = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                 context=tls_context(certs))
        try:
            connection.request("GET", "/version")
            response = connection.getresponse()
            body = response.read(1 << 20)
        finally:
            connection.close()
    except ssl.SSLError as error:
        raise PalletError(f"TLS with tcp://{host}:{port} failed: {error.reason or error}") from error
    except (OSError, http.client.HTTPException) as error:
        raise PalletError(f"cannot connect to tcp://{host}:{port}: "
                          f"{getattr(error, 'strerror', None) or error}") from error
    if response.status != 200:
        raise PalletError(f"tcp://{host}:{port}/version answered {response.status}")
    try:
        return json.loads(body)
    except ValueError as error:
        raise PalletError(f"tcp://{host}:{port}/version answered something not JSON") from error
