"""A hostile OCI Distribution registry for tests: serves whatever a test crafts, on 127.0.0.1.

    with fake_registry() as fake:
        fake.route("GET", "/v2/evil/manifests/1", body, headers={...}, status=200)
        fake.manifest("evil", "1", document)      # HEAD and GET by tag and by its digest
        fake.blob("evil", data) -> digest         # GET /v2/evil/blobs/<digest>
        fake.host                                 # "127.0.0.1:PORT" (plain HTTP, loopback)
        fake.requests                             # [(method, path)] as received

A real registry (tests/registry.py) refuses malformed manifests and verifies what it stores, so
the answers an attacker's registry can give (digests that are paths, JSON nested 100,000 deep,
a token endpoint answering a list, a blob that stalls) need this one. A route's body may be a
callable taking the handler, to stall or to stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import threading
from typing import Callable, Iterator


class FakeRegistry:
    def __init__(self, server: http.server.ThreadingHTTPServer) -> None:
        self.server = server
        self.host = f"127.0.0.1:{server.server_address[1]}"
        self.routes: dict[tuple[str, str], tuple[int, dict, bytes | Callable]] = {}
        self.requests: list[tuple[str, str]] = []
        self.route("GET", "/v2/", b"{}", headers={"Content-Type": "application/json"})

    def route(self, method: str, path: str, body: bytes | Callable = b"", *, status: int = 200,
              headers: dict | None = None) -> None:
        self.routes[(method, path)] = (status, dict(headers or {}), body)

    def manifest(self, repository: str, tag: str, document, *,
                 media_type: str = "application/vnd.oci.image.manifest.v1+json") -> str:
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        headers = {"Content-Type": media_type, "Docker-Content-Digest": digest}
        for reference in (tag, digest):
            path = f"/v2/{repository}/manifests/{reference}"
            self.route("HEAD", path, b"", headers={**headers, "Content-Length": str(len(data))})
            self.route("GET", path, data, headers=headers)
        return digest

    def blob(self, repository: str, data: bytes, digest: str | None = None) -> str:
        digest = digest or "sha256:" + hashlib.sha256(data).hexdigest()
        self.route("GET", f"/v2/{repository}/blobs/{digest}", data,
                   headers={"Content-Type": "application/octet-stream"})
        self.route("HEAD", f"/v2/{repository}/blobs/{digest}", b"",
                   headers={"Content-Length": str(len(data))})
        return digest


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeRegistry

    def log_message(self, *args) -> None:   # quiet: the test reads fake.requests
        pass

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        self.fake.requests.append((self.command, path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._read_chunked()   # push streams its layers in one chunked PATCH
        found = self.fake.routes.get((self.command, path))
        if found is None:
            body = json.dumps({"errors": [{"code": "NOT_FOUND", "message": "not here"}]}).encode()
            found = (404, {"Content-Type": "application/json"}, body if self.command != "HEAD" else b"")
        status, headers, body = found
        if callable(body):
            body(self, status, headers)
            return
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_chunked(self) -> None:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass   # trailers
                return
            self.rfile.read(size)
            self.rfile.readline()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


@contextlib.contextmanager
def fake_registry() -> Iterator[FakeRegistry]:
    handler = type("Handler", (_Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake = FakeRegistry(server)
    handler.fake = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
