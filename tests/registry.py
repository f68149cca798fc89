"""A private OCI Distribution registry (Debian's docker-registry 2.8) for push/pull tests.

    with private_registry(tmp_path) as registry:
        registry.host        # "127.0.0.1:PORT" (loopback: plain HTTP, as Docker allows)
        registry.storage     # its filesystem storage root (tests may damage blobs there)

It serves on a free 127.0.0.1 port with storage under the given directory and no auth, waits
for GET /v2/, and on exit stops the process it started, by PID.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"

CONFIG = """version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{tls}"""


@dataclass(frozen=True)
class Registry:
    host: str
    storage: Path

    def blob_file(self, digest: str) -> Path:
        hexdigest = digest.removeprefix("sha256:")
        return (self.storage / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest
                / "data")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bcrypt(password: str) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # crypt: fine on 3.11
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


def _ready(port: int, tls: bool = False) -> bool:
    import ssl

    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=1, context=ssl._create_unverified_context()) if tls \
        else http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/v2/")
        return connection.getresponse().status in (200, 401)
    except OSError:
        return False
    finally:
        connection.close()


@contextlib.contextmanager
def private_registry(directory: Path, start_timeout: float = 30,
                     users: dict[str, str] | None = None, tls: bool = False) -> Iterator[Registry]:
    """users: name -> password; the registry then wants HTTP Basic auth (htpasswd, bcrypt).
    tls: serve HTTPS only, with a self-signed certificate for 127.0.0.1 made by openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    storage = directory / "storage"
    port = _free_port()
    config = directory / "config.yml"
    tls_lines = ""
    if tls:
        cert, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        tls_lines = f"  tls:\n    certificate: {cert}\n    key: {key}\n"
    text = CONFIG.format(storage=storage, port=port, tls=tls_lines)
    if users:
        htpasswd = directory / "htpasswd"
        htpasswd.write_text("".join(f"{name}:{_bcrypt(password)}\n"
                                    for name, password in users.items()))
        text += f"auth:\n  htpasswd:\n    realm: pallet-tests\n    path: {htpasswd}\n"
    config.write_text(text)
    log = open(directory / "registry.log", "wb")
    process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + start_timeout
        while not _ready(port, tls):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: "
                                   f"{(directory / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.05)
        yield Registry(host=f"127.0.0.1:{port}", storage=storage)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
