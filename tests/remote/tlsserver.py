"""`pallet serve` on tcp://127.0.0.1:PORT with mutual TLS, certificates made by openssl.

    certs = make_certs(directory)     ca.pem, server-{cert,key}.pem, client-{cert,key}.pem, and
                                      cert.pem/key.pem (the client's, DOCKER_CERT_PATH's names)
    with tls_server(root, certs) as url: ...        tcp://127.0.0.1:PORT
    tls_env(env, url, certs)          DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import PALLET


def _openssl(*args, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(certs: Path) -> Path:
    certs.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=certs)
    (certs / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (certs / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out",
                 f"{name}.csr", "-subj", f"/CN={name}", cwd=certs)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "2", "-extfile",
                 f"{name}.ext", cwd=certs)
    (certs / "cert.pem").write_bytes((certs / "client-cert.pem").read_bytes())
    (certs / "key.pem").write_bytes((certs / "client-key.pem").read_bytes())
    return certs


@contextlib.contextmanager
def tls_server(root: Path, certs: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(PALLET), "--root", str(root), "serve", "-H", f"tcp://127.0.0.1:{port}",
         "--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert",
         str(certs / "server-cert.pem"), "--tlskey", str(certs / "server-key.pem")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "pallet serve exited"
                assert time.monotonic() < deadline, "pallet serve never listened"
                time.sleep(0.05)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def tls_env(env: dict, url: str, certs: Path) -> dict:
    """The environment that selects the TLS host for pallet and the docker CLI (requests'
    REQUESTS_CA_BUNDLE would replace the host's CA in docker-py: dropped)."""
    environment = {k: v for k, v in env.items()
                   if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    environment.update(DOCKER_HOST=url, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(certs))
    return environment
