"""An Engine API stand-in that only takes a build's upload: `/_ping`, then POST /build reads
the whole context body and answers an image ID. `docker build` against it times the docker
CLI's own work plus the tar upload and nothing of any builder: "the tar upload" of issue 12's
target (a cached remote build no slower than `pallet build` plus the upload).

    python bench/upload_sink.py SOCKET        # serves until killed
"""

from __future__ import annotations

import http.server
import os
import socketserver
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pallet.api.protocol import ChunkedReader, LengthReader  # noqa: E402

IMAGE = "sha256:" + "0" * 64


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        return None

    def answer(self, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Ostype", "linux")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self.answer(b"OK")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = ChunkedReader(self.rfile)
        else:
            body = LengthReader(self.rfile, int(self.headers.get("Content-Length") or 0))
        while body.read(1 << 20):
            pass
        self.answer(b'{"aux":{"ID":"%s"}}\n' % IMAGE.encode(), "application/json")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main() -> None:
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    with Server(path, Sink) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
