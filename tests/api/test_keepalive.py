"""Kept-alive connections are only closed when the answer says so: a client that sends its
next request on a connection it was not told is closing gets "Remote end closed connection
without response" (the flaky 4-client soak). An error answer keeps the connection; a small
body the endpoint did not read is read and dropped; a large one closes the connection with
`Connection: close` in the answer. Straight to the server's socket: the recording proxy keeps
its own connections."""

from __future__ import annotations

import http.client
import socket

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]


class _Connection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _ask(connection, method: str, path: str, body: bytes | None = None):
    connection.request(method, path, body=body,
                       headers={"Content-Type": "application/json"} if body else {})
    response = connection.getresponse()
    return response.status, response.getheader("Connection"), response.read()


def test_an_error_answer_keeps_the_connection(api):
    connection = _Connection(api.server_socket)
    created = api.docker("create", "--network", "none", "busybox", "true",
                         check=True).stdout.decode().strip()
    first_socket = None
    for path, status in ((f"/v1.41/containers/{created}/resize?h=10&w=10", 500),
                         ("/v1.41/containers/nosuch/json", 404),
                         ("/v1.41/containers/create?name=a/b", 400)):
        method = "GET" if path.endswith("/json") else "POST"
        got, closing, _ = _ask(connection, method, path, b"{}" if method == "POST" else None)
        assert (got, closing) == (status, None)
        first_socket = first_socket or connection.sock
        assert _ask(connection, "GET", "/_ping")[0] == 200
        assert connection.sock is first_socket     # the same connection all along
    connection.close()


def test_a_small_unread_body_is_dropped_and_a_large_one_closes_with_a_word(api):
    connection = _Connection(api.server_socket)
    # an endpoint that fails before reading its body (no such container)
    status, closing, _ = _ask(connection, "POST", "/v1.41/containers/nosuch/start",
                              b"{" + b" " * 10_000 + b"}")
    assert (status, closing) == (404, None)
    kept = connection.sock
    assert _ask(connection, "GET", "/_ping")[0] == 200 and connection.sock is kept
    connection.close()
    # a 2 MB body of which the client has sent 300 KB when the answer comes
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(api.server_socket)
    raw.settimeout(30)
    raw.sendall(b"POST /v1.41/containers/nosuch/start HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
                + b" " * 300_000)
    answer = b""
    try:
        while chunk := raw.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass     # the server closed with the body's rest unread: after its answer
    raw.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 404") and "\r\nConnection: close" in head, head
