"""`pallet serve`: the handshake (ping, version negotiation), version/info through the stock
docker CLI and the SDK, HTTP-level bad input, the socket's mode, and the listeners' rules."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time

import pytest

from tests.conftest import PALLET

pytestmark = [pytest.mark.server, pytest.mark.root]


def test_ping_answers_get_and_head_with_the_handshake_headers(api):
    for method in ("GET", "HEAD"):
        status, headers, body = api.request(method, "/_ping")
        assert status == 200
        assert headers["Api-Version"] == "1.44"
        assert headers["Ostype"] == "linux"
        assert headers["Builder-Version"] == "1"
        assert body == (b"OK" if method == "GET" else b"")
    status, headers, body = api.request("GET", "/v1.41/_ping")
    assert (status, body) == (200, b"OK")


def test_docker_version_and_info_through_the_stock_cli(api):
    version = api.docker("version", "--format", "{{json .}}", check=True)
    document = json.loads(version.stdout)
    assert document["Server"]["ApiVersion"] == "1.44"
    assert document["Server"]["MinAPIVersion"] == "1.24"
    # the 20.10 CLI speaks 1.41 and negotiates down to it
    assert document["Client"]["ApiVersion"] == "1.41"
    info = api.docker("info", "--format", "{{json .}}", check=True)
    document = json.loads(info.stdout)
    assert document["DockerRootDir"] == str(api.root)
    assert document["Images"] == 1
    assert document["OSType"] == "linux"
    assert document["Containers"] == 0


def test_the_sdk_negotiates_and_reads_version(api):
    client = api.client(version="auto")
    assert client.api.api_version == "1.44"
    assert client.version()["ApiVersion"] == "1.44"
    assert client.ping() is True
    assert client.info()["Driver"] == "overlay2"


def test_versioned_and_unversioned_paths_and_unsupported_versions(api):
    for path in ("/version", "/v1.24/version", "/v1.41/version", "/v1.44/version"):
        status, _, body = api.request("GET", path)
        assert status == 200, path
        assert json.loads(body)["ApiVersion"] == "1.44"
    status, _, body = api.request("GET", "/v1.45/version")
    assert status == 400
    assert json.loads(body) == {"message": "client version 1.45 is too new. Maximum supported "
                                           "API version is 1.44"}
    status, _, body = api.request("GET", "/v1.12/info")
    assert status == 400
    assert "is too old. Minimum supported API version is 1.24" in json.loads(body)["message"]


def test_unknown_endpoint_and_wrong_method_are_json_errors(api):
    status, headers, body = api.request("GET", "/v1.44/no/such/thing")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "page not found"}
    status, _, body = api.request("DELETE", "/v1.44/version")
    assert status == 405
    assert "message" in json.loads(body)


def _raw(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(path)
        client.sendall(data)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_malformed_requests_get_json_4xx_and_the_server_stays_healthy(api):
    status, document = _status_and_json(_raw(api.server_socket, b"NONSENSE\r\n\r\n"))
    assert status == 400 and document["message"]
    huge = b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    status, document = _status_and_json(_raw(api.server_socket, huge))
    assert status == 431 and document["message"]
    many = b"GET /_ping HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(150)) + b"\r\n"
    status, document = _status_and_json(_raw(api.server_socket, many))
    assert status == 431
    long_line = b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"
    status, document = _status_and_json(_raw(api.server_socket, long_line))
    assert status == 414
    assert api.request("GET", "/_ping")[0] == 200


def test_socket_is_0660_and_refuses_others(api):
    mode = stat.S_IMODE(os.stat(api.server_socket).st_mode)
    assert mode == 0o660


def _serve(root, *args, timeout=10) -> subprocess.CompletedProcess:
    return subprocess.run([str(PALLET), "--root", str(root), "serve", *args],
                          capture_output=True, timeout=timeout)


def test_plain_tcp_is_refused_off_loopback(api_root):
    result = _serve(api_root, "-H", "tcp://0.0.0.0:23750")
    assert result.returncode != 0
    assert b"without mutual TLS" in result.stderr
    assert b"Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(root, *args):
    process = subprocess.Popen([str(PALLET), "--root", str(root), "serve", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process


def _wait_port(port: int, process) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the TCP listener never came up")


def test_loopback_tcp_serves_the_docker_cli(api_root, tmp_path):
    port = _free_port()
    process = _start(api_root, "-H", f"tcp://127.0.0.1:{port}", "--pidfile",
                     str(tmp_path / "serve.pid"))
    try:
        _wait_port(port, process)
        assert (tmp_path / "serve.pid").read_text().strip() == str(process.pid)
        env = dict(os.environ, DOCKER_HOST=f"tcp://127.0.0.1:{port}",
                   DOCKER_CONFIG=str(tmp_path))
        result = subprocess.run(["/usr/bin/docker", "version", "--format",
                                 "{{.Server.APIVersion}}"], capture_output=True, env=env,
                                timeout=30)
        assert result.stdout.strip() == b"1.44", result.stderr
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert not (tmp_path / "serve.pid").exists()


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it;
    and a second CA's client certificate the server must refuse."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=directory)
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out",
                 f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "2", "-extfile",
                 f"{name}.ext", cwd=directory)
    other = directory / "other"
    other.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
             "cert.pem", "-days", "2", "-subj", "/CN=intruder", cwd=other)


def test_tcp_with_mutual_tls_admits_only_certified_clients(api_root, tmp_path):
    _certificates(tmp_path)
    port = _free_port()
    process = _start(api_root, "-H", f"tcp://127.0.0.1:{port}", "--tlsverify",
                     "--tlscacert", str(tmp_path / "ca.pem"),
                     "--tlscert", str(tmp_path / "server-cert.pem"),
                     "--tlskey", str(tmp_path / "server-key.pem"))
    try:
        _wait_port(port, process)
        certs = tmp_path / "client"
        certs.mkdir()
        for source, target in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"),
                               ("client-key.pem", "key.pem")):
            (certs / target).write_bytes((tmp_path / source).read_bytes())
        env = dict(os.environ, DOCKER_HOST=f"tcp://127.0.0.1:{port}", DOCKER_TLS_VERIFY="1",
                   DOCKER_CERT_PATH=str(certs), DOCKER_CONFIG=str(tmp_path))
        result = subprocess.run(["/usr/bin/docker", "info", "--format", "{{.DockerRootDir}}"],
                                capture_output=True, env=env, timeout=30)
        assert result.stdout.strip() == str(api_root).encode(), result.stderr
        # a client whose certificate another CA signed never gets an answer
        intruder = tmp_path / "intruder"
        intruder.mkdir()
        (intruder / "ca.pem").write_bytes((tmp_path / "ca.pem").read_bytes())
        (intruder / "cert.pem").write_bytes((tmp_path / "other" / "cert.pem").read_bytes())
        (intruder / "key.pem").write_bytes((tmp_path / "other" / "key.pem").read_bytes())
        env["DOCKER_CERT_PATH"] = str(intruder)
        result = subprocess.run(["/usr/bin/docker", "info", "--format", "{{.DockerRootDir}}"],
                                capture_output=True, env=env, timeout=30)
        assert result.returncode != 0
        assert str(api_root).encode() not in result.stdout
        # and neither does one without any certificate
        import ssl
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not tls.recv(100):
                        raise ConnectionResetError("closed without an answer")
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_a_second_server_on_the_same_socket_is_refused(api):
    result = _serve(api.root, "-H", f"unix://{api.server_socket}")
    assert result.returncode != 0
    assert b"another server is listening" in result.stderr
    assert api.request("GET", "/_ping")[0] == 200
