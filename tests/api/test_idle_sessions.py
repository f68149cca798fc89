"""A hijacked session (attach, exec) outlives the server's idle keep-alive timeout.

The server drops a keep-alive connection nobody uses after its idle timeout (300 s;
PALLET_API_IDLE_TIMEOUT shortens it here to one second). An attach or exec is not idle in that
sense: a shell nobody types in for a while must still get the next keystroke. Before the fix
the timeout ended the stdin pump: an exec's `cat` saw EOF and exited, an attach's stdin was
dropped.
"""

from __future__ import annotations

import shutil
import socket
import struct
import tempfile
import time
from pathlib import Path

import pytest

from tests.api.conftest import ApiServer, remove_containers

pytestmark = [pytest.mark.root, pytest.mark.server]

IDLE = 1.0


@pytest.fixture
def idle_api(api_root: Path, monkeypatch):
    monkeypatch.setenv("PALLET_API_IDLE_TIMEOUT", str(IDLE))
    directory = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))
    server = ApiServer(api_root, directory)
    try:
        server.start()
        yield server
    finally:
        code = server.stop()
        remove_containers(api_root)
        shutil.rmtree(directory, ignore_errors=True)
    assert code == 0


def _read_until(sock: socket.socket, wanted: bytes, timeout: float = 20) -> bytes:
    """Payload bytes of stdcopy frames until `wanted` shows, EOF or the timeout."""
    sock.settimeout(timeout)
    buffer = b""
    payload = b""
    deadline = time.monotonic() + timeout
    while wanted not in payload and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        buffer += data
        while len(buffer) >= 8:
            length = struct.unpack(">I", buffer[4:8])[0]
            if len(buffer) < 8 + length:
                break
            payload += buffer[8:8 + length]
            buffer = buffer[8 + length:]
    return payload


def test_an_idle_keep_alive_connection_is_still_dropped(idle_api):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(idle_api.server_socket)
    sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(10)
    answer = b""
    while not answer.endswith(b"\r\n\r\nOK"):   # the head and the body may come apart
        data = sock.recv(65536)
        assert data, answer
        answer += data
    assert answer.startswith(b"HTTP/1.1 200")
    time.sleep(IDLE * 3)
    assert sock.recv(65536) == b"", "the server kept an idle connection past its timeout"
    sock.close()


def test_an_exec_session_quiet_past_the_idle_timeout_still_takes_stdin(idle_api):
    client = idle_api.client()
    container = client.containers.run("busybox:latest", ["sleep", "120"], detach=True)
    exec_id = client.api.exec_create(container.id, ["cat"], stdin=True)["Id"]
    sock = client.api.exec_start(exec_id, socket=True)._sock
    time.sleep(IDLE * 3)
    sock.sendall(b"still here\n")
    assert b"still here" in _read_until(sock, b"still here")
    sock.close()
    container.remove(force=True)


def test_an_attach_quiet_past_the_idle_timeout_still_takes_stdin(idle_api):
    client = idle_api.client()
    container = client.containers.run("busybox:latest", ["cat"], detach=True, stdin_open=True)
    sock = client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1,
                                                          "stream": 1})._sock
    time.sleep(IDLE * 3)
    sock.sendall(b"still here\n")
    assert b"still here" in _read_until(sock, b"still here")
    sock.close()
    container.remove(force=True)
