"""Hostile and broken clients: archive path traversal, bad archive targets, and clients that
vanish mid-stream. The server answers the spec's 4xx with {"message"}, changes nothing, and
stays healthy with nothing left behind (its threads and descriptors back to where they were)."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]


def _tar(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _running(api, name: str) -> str:
    return api.docker("run", "-d", "--name", name, "busybox", "sleep", "300",
                      check=True).stdout.decode().strip()


def test_archive_path_traversal_is_refused_and_changes_nothing(api, tmp_path):
    _running(api, "target")
    for hostile in (_tar([("ok.txt", b"fine"), ("../../escaped.txt", b"x")]),
                    _tar([("ok.txt", b"fine"), ("/etc/escaped.txt", b"x")])):
        status, _, body = api.request("PUT", "/v1.44/containers/target/archive?path=/tmp",
                                      body=hostile, headers={"Content-Type": "application/x-tar"})
        assert status == 400, body
        assert "refusing the archive" in json.loads(body)["message"]
    listing = api.docker("exec", "target", "ls", "-a", "/tmp", "/etc", check=True).stdout
    assert b"ok.txt" not in listing and b"escaped" not in listing and b".pallet-cp" not in listing
    status, _, body = api.request("PUT", "/v1.44/containers/target/archive?path=/etc/hostname",
                                  body=_tar([("f", b"x")]))
    assert status == 400 and "not a directory" in json.loads(body)["message"]
    status, _, body = api.request("PUT", "/v1.44/containers/target/archive?path=/no/where",
                                  body=_tar([("f", b"x")]))
    assert status == 404 and "Could not find the file" in json.loads(body)["message"]
    status, headers, _ = api.request("HEAD", "/v1.44/containers/target/archive?path=/no/where")
    assert status == 404
    status, _, body = api.request("PUT", "/v1.44/containers/target/archive?path=/tmp",
                                  body=b"not a tar archive at all" * 50)
    assert status == 400
    assert api.docker("exec", "target", "ls", "/tmp", check=True).stdout == b""


def _health(api) -> tuple[int, int]:
    info = json.loads(api.request("GET", "/v1.44/info")[2])
    return info["NGoroutines"], info["NFd"]


def _settled(api) -> tuple[int, int]:
    previous = _health(api)
    for _ in range(50):
        time.sleep(0.2)
        current = _health(api)
        if current == previous:
            return current
        previous = current
    return previous


def _within(now: tuple[int, int], baseline: tuple[int, int]) -> bool:
    return now[0] <= baseline[0] and now[1] <= baseline[1]


def _open_stream(api, request: bytes) -> socket.socket:
    client = socket.socket(socket.AF_UNIX)
    client.connect(api.server_socket)
    client.sendall(request)
    client.settimeout(10)
    assert client.recv(4096)   # the headers (and maybe some of the stream)
    return client


def test_clients_that_vanish_mid_stream_leave_nothing_behind(api):
    cid = api.docker("run", "-d", "-i", "--name", "chatty", "busybox", "sh", "-c",
                     "while true; do echo tick; sleep 0.05; done", check=True).stdout.strip()
    _running(api, "quiet")
    baseline = _settled(api)
    for _ in range(3):
        streams = [
            _open_stream(api, b"GET /v1.44/containers/chatty/logs?follow=1&stdout=1 HTTP/1.1\r\n"
                              b"Host: x\r\n\r\n"),
            _open_stream(api, b"GET /v1.44/containers/quiet/logs?follow=1&stdout=1 HTTP/1.1\r\n"
                              b"Host: x\r\n\r\n"),
            _open_stream(api, b"POST /v1.44/containers/chatty/attach?stream=1&stdout=1&stdin=1 "
                              b"HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n"),
            _open_stream(api, b"POST /v1.44/containers/quiet/attach?stream=1&stdout=1 "
                              b"HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n"),
            _open_stream(api, b"POST /v1.44/containers/quiet/wait HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 0\r\n\r\n"),
        ]
        for stream in streams:
            stream.close()
    # each stream notices its client's leaving within a poll (0.5 s); a loaded machine slows
    # that, so the bound is generous: what matters is that everything goes, not how fast
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _within(_health(api), baseline):
        time.sleep(0.2)
    # (the CLI's own keep-alive connections of the setup may have closed meanwhile: fewer is fine)
    assert _within(_health(api), baseline)
    assert api.request("GET", "/_ping")[0] == 200
    # the containers never noticed: both still run, and chatty's stdin is still open
    states = api.docker("ps", "--format", "{{.Names}} {{.State}}", check=True).stdout.decode()
    assert sorted(states.split("\n")[:-1]) == ["chatty running", "quiet running"]
    assert cid
