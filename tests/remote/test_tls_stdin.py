"""stdin's end crosses tcp+TLS: `pallet -H tcp://... run -i` (and exec -i, start -ai, attach)
with stdin piped ends when stdin does, as the docker CLI does against the same server. Python
cannot half-close a TLS socket through ssl.SSLSocket (its shutdown drops the TLS state the output
still needs), so the client half-closes the TCP connection underneath, as the docker CLI's
tlsClientCon.CloseWrite; the server takes that, or a TLS close_notify, as stdin's end and goes on
writing. Every call has a timeout: the old client hung here for ever."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess

import pytest

from tests.api.conftest import DOCKER_CLI, remove_containers
from tests.conftest import PALLET
from tests.remote.tlsserver import make_certs, tls_env, tls_server

pytestmark = [pytest.mark.root, pytest.mark.server]

LIMIT = 60   # seconds: a hang fails the test instead of the suite


@pytest.fixture
def tls(api_root, tmp_path):
    certs = make_certs(tmp_path / "certs")
    with tls_server(api_root, certs) as url:
        env = tls_env(dict(os.environ), url, certs)
        env["PALLET_ROOT"] = str(tmp_path / "client-root")   # never the subject
        env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
        try:
            yield env, url, certs
        finally:
            remove_containers(api_root)


def _pallet(env, *args, stdin=None, input=None):
    return subprocess.run([str(PALLET), *args], env=env, input=input, stdin=stdin,
                          capture_output=True, timeout=LIMIT)


def _docker(env, *args, input=None):
    return subprocess.run([DOCKER_CLI, *args], env=env, input=input, capture_output=True,
                          timeout=LIMIT)


def _result(done):
    return done.returncode, done.stdout, done.stderr


# The process goes on writing after stdin's end: the server still writes after it read the EOF.
AFTER_EOF = "cat; echo after-eof; echo err >&2; exit 7"


def test_piped_stdin_ends_over_tls_for_run_exec_start_and_attach(tls):
    env, _, _ = tls
    run = ["run", "-i", "--rm", "--network", "none", "busybox", "sh", "-c", AFTER_EOF]
    assert _result(_pallet(env, *run, input=b"hi\n")) == (7, b"hi\nafter-eof\n", b"err\n")
    # the stock docker CLI against the same server: the same bytes and code
    assert _result(_docker(env, *run, input=b"hi\n")) == (7, b"hi\nafter-eof\n", b"err\n")

    _pallet(env, "run", "-d", "--name", "tlsexec", "--network", "none", "busybox",
            "sleep", "300")
    execd = _pallet(env, "exec", "-i", "tlsexec", "sh", "-c", AFTER_EOF, input=b"exec\n")
    assert _result(execd) == (7, b"exec\nafter-eof\n", b"err\n")

    assert _pallet(env, "create", "-i", "--name", "tlsstart", "--network", "none", "busybox",
                   "sh", "-c", AFTER_EOF).returncode == 0
    started = _pallet(env, "start", "-ai", "tlsstart", input=b"start\n")
    assert _result(started) == (7, b"start\nafter-eof\n", b"err\n")

    assert _pallet(env, "run", "-di", "--name", "tlsattach", "--network", "none", "busybox",
                   "sh", "-c", "read line; echo got $line; exit 6").returncode == 0
    attached = _pallet(env, "attach", "tlsattach", input=b"attached\n")
    assert (attached.returncode, attached.stdout) == (6, b"got attached\n")
    assert _pallet(env, "rm", "-f", "tlsexec", "tlsstart", "tlsattach").returncode == 0


def test_stdin_of_megabytes_a_file_and_dev_null_over_tls(tls, tmp_path):
    env, _, _ = tls
    big = os.urandom(6 << 20)
    digest = hashlib.md5(big).hexdigest().encode()
    piped = _pallet(env, "run", "-i", "--rm", "--network", "none", "busybox", "md5sum",
                    input=big)
    assert (piped.returncode, piped.stdout.split()[0]) == (0, digest)
    # a regular file and /dev/null as stdin (epoll refuses both: the old pump failed with
    # "internal error: PermissionError" on every transport)
    path = tmp_path / "payload"
    path.write_bytes(big)
    with open(path, "rb") as handle:
        filed = _pallet(env, "run", "-i", "--rm", "--network", "none", "busybox", "md5sum",
                        stdin=handle)
    assert (filed.returncode, filed.stdout.split()[0], filed.stderr) == (0, digest, b"")
    with open(os.devnull, "rb") as handle:
        empty = _pallet(env, "run", "-i", "--rm", "--network", "none", "busybox", "sh", "-c",
                        "cat; echo nothing; exit 2", stdin=handle)
    assert _result(empty) == (2, b"nothing\n", b"")


def test_a_container_that_ignores_an_endless_stdin_still_ends(tls):
    """/dev/zero never ends and the process never reads it: the client must neither block on a
    full socket nor die when the server stops taking stdin (it raised SSLEOFError before)."""
    env, _, _ = tls
    script = "echo ignoring; seq 1 50000 | md5sum; exit 3"
    expected = hashlib.md5("".join(f"{n}\n" for n in range(1, 50001)).encode()).hexdigest()
    with open("/dev/zero", "rb") as zero:
        done = _pallet(env, "run", "-i", "--rm", "--network", "none", "busybox", "sh", "-c",
                       script, stdin=zero)
    assert (done.returncode, done.stderr) == (3, b"")
    assert done.stdout == f"ignoring\n{expected}  -\n".encode()
    with open("/dev/zero", "rb") as zero:
        slow = _pallet(env, "run", "-i", "--rm", "--network", "none", "busybox", "sh", "-c",
                       "sleep 2; echo late; exit 4", stdin=zero)
    assert _result(slow) == (4, b"late\n", b"")
    assert _pallet(env, "ps", "-aq").stdout == b""


def _attach_socket(certs, url):
    import docker
    config = docker.tls.TLSConfig(client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
                                  ca_cert=str(certs / "ca.pem"), verify=True)
    client = docker.APIClient(base_url=url.replace("tcp://", "https://"), tls=config)
    container = client.create_container(
        "busybox", ["sh", "-c", "cat; echo after-eof; exit 9"], stdin_open=True,
        host_config=client.create_host_config(network_mode="none"))
    raw = client.attach_socket(container, params={"stdin": 1, "stdout": 1, "stream": 1})
    sock = getattr(raw, "_sock", raw)
    assert isinstance(sock, ssl.SSLSocket)
    client.start(container)
    return client, container, sock


def _read_to_end(sock) -> bytes:
    sock.settimeout(LIMIT)
    received = b""
    while data := sock.recv(65536):
        received += data
    return received


def _stdout_of(frames: bytes) -> bytes:
    """The stdout payloads of stdcopy frames (1-byte stream, 3 zero bytes, uint32 length)."""
    out = b""
    while frames:
        stream, length = frames[0], int.from_bytes(frames[4:8], "big")
        assert stream == 1 and len(frames) >= 8 + length, frames
        out += frames[8:8 + length]
        frames = frames[8 + length:]
    return out


@pytest.mark.parametrize("ending", ["close_notify", "tcp half-close"])
def test_the_server_takes_either_tls_ending_as_stdins_eof(tls, ending, monkeypatch):
    """docker-py's attach socket, ended by a TLS close_notify (what a client that closes the TLS
    write side sends: Go's tls.Conn.CloseWrite) or by a bare TCP half-close (the docker CLI):
    the container sees EOF and its later output still arrives, then its exit code."""
    env, url, certs = tls
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client, container, sock = _attach_socket(certs, url)
    try:
        sock.sendall(b"hi\n")
        if ending == "close_notify":
            # SSL_shutdown sends close_notify; the second attempt would wait for the server's:
            # non-blocking, it stops there and the TLS state stays for reading
            sock.setblocking(False)
            with pytest.raises(ssl.SSLWantReadError):
                sock._sslobj.shutdown()
            sock.setblocking(True)
        else:
            socket.socket.shutdown(sock, socket.SHUT_WR)
        assert _stdout_of(_read_to_end(sock)) == b"hi\nafter-eof\n"
        assert client.wait(container, timeout=LIMIT)["StatusCode"] == 9
    finally:
        sock.close()
        client.remove_container(container, force=True)
