"""HTTP/1.1 as the Docker clients speak it, on the stdlib's http.server.

One handler thread per connection (keep-alive, so the docker CLI's pooled connections work).
A request becomes a `Request` (API version, decoded path, query, body reader); the endpoint
returns a document (200 JSON), a `Reply`, or writes a stream itself (`Request.stream()` for
chunked JSON lines, `Request.hijack()` for attach/exec). Errors become `{"message": ...}` with
the status the spec gives, also for what http.server itself refuses (bad request line,
oversized or too many headers).

Why the stdlib and not a framework: the Engine API needs hijacked connections (101, then raw
bytes both ways with a half-close), which WSGI cannot express and asyncio servers would need
threads for anyway (the engine's calls block); http.server gives the raw socket and costs no
dependency.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field

from pallet import __version__

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
MAX_JSON_BODY = 16 * 1024 * 1024
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def idle_timeout(default: float) -> float:
    try:
        value = float(os.environ.get("PALLET_API_IDLE_TIMEOUT") or default)
    except ValueError:
        return default
    return value if value > 0 else default


def version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


class ApiError(Exception):
    """An answer other than success: the status and Docker's {"message"}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: dict = field(default_factory=dict)


def parse_bool(text: str | None, default: bool = False) -> bool:
    """moby's httputils.BoolValue: empty, 0, no, false and none are false, anything else true."""
    if text is None:
        return default
    return text.strip().lower() not in ("", "0", "no", "false", "none")


class ChunkedReader:
    """A request body sent with Transfer-Encoding: chunked (docker build, cp, load)."""

    def __init__(self, rfile) -> None:
        self.rfile = rfile
        self.left = 0
        self.done = False

    def _next_chunk(self) -> None:
        line = self.rfile.readline(65537)
        if not line.endswith(b"\n"):
            raise ApiError(400, "malformed chunked encoding")
        size_text = line.split(b";", 1)[0].strip()
        try:
            self.left = int(size_text, 16)
        except ValueError:
            raise ApiError(400, "malformed chunked encoding") from None
        if self.left == 0:
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                continue  # trailers
            self.done = True

    def read(self, size: int = -1) -> bytes:
        parts = []
        while not self.done and (size < 0 or size > 0):
            if self.left == 0:
                self._next_chunk()
                continue
            want = self.left if size < 0 else min(size, self.left)
            data = self.rfile.read(want)
            if not data:
                raise ApiError(400, "unexpected end of chunked body")
            parts.append(data)
            self.left -= len(data)
            if size > 0:
                size -= len(data)
            if self.left == 0:
                self.rfile.readline(3)  # the CRLF after each chunk
        return b"".join(parts)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class LengthReader:
    def __init__(self, rfile, length: int) -> None:
        self.rfile = rfile
        self.left = length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self.rfile.read(want)
        self.left -= len(data)
        if len(data) < want and size < 0:
            raise ApiError(400, "unexpected end of request body")
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    @property
    def done(self) -> bool:
        return self.left <= 0


class Request:
    """What an endpoint sees of one HTTP request."""

    def __init__(self, handler: "Handler", method: str, path: str, version: tuple[int, int],
                 query: dict[str, list[str]], params: dict[str, str]) -> None:
        self.handler = handler
        self.method = method
        self.path = path
        self.version = version
        self.query = query
        self.params = params
        self.headers = handler.headers
        self.server = handler.server
        self._body = None

    # -- query -----------------------------------------------------------------------------
    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        return parse_bool(self.arg(name), default)

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        text = self.arg(name)
        if text in (None, ""):
            return default
        try:
            return int(text)
        except ValueError:
            raise ApiError(400, f'strconv.Atoi: parsing "{text}": invalid syntax') from None

    def filters(self) -> dict[str, list[str]]:
        """Docker's `filters` JSON: {"key": ["v", ...]} or the older {"key": {"v": true}}."""
        text = self.arg("filters")
        if not text:
            return {}
        try:
            raw = json.loads(text)
        except ValueError:
            raise ApiError(400, f"invalid filter: {text}") from None
        if not isinstance(raw, dict):
            raise ApiError(400, f"invalid filter: {text}")
        result = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                result[key] = [k for k, on in value.items() if on]
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                result[key] = list(value)
            else:
                raise ApiError(400, f"invalid filter: {text}")
        return result

    # -- body ------------------------------------------------------------------------------
    def body(self):
        """A reader of the request body (chunked or Content-Length; empty when neither)."""
        if self._body is None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self._body = ChunkedReader(self.handler.rfile)
            else:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise ApiError(400, "invalid Content-Length") from None
                if length < 0:
                    raise ApiError(400, "invalid Content-Length")
                self._body = LengthReader(self.handler.rfile, length)
        return self._body

    def unread_body(self) -> bool:
        """Whether body bytes may still be waiting on the connection."""
        if self._body is not None:
            return not self._body.done
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return True
        try:
            return int(self.headers.get("Content-Length") or 0) > 0
        except ValueError:
            return True

    def json(self, *, required: bool = False):
        reader = self.body()
        data = reader.read(MAX_JSON_BODY + 1)
        if len(data) > MAX_JSON_BODY:
            raise ApiError(413, "request body too large")
        if not data.strip():
            if required:
                raise ApiError(400, "bad parameter: request body must not be empty")
            return {}
        try:
            return json.loads(data)
        except ValueError as error:
            raise ApiError(400, f"invalid JSON: {error}") from None

    # -- answers that the endpoint writes itself -------------------------------------------
    def stream(self, content_type: str = "application/json", status: int = 200,
               headers: dict | None = None) -> "ChunkedWriter":
        self.handler.start_response(status, content_type, headers, chunked=True)
        return ChunkedWriter(self.handler)

    def container(self, reference: str | None = None):
        """The container the path's {name} (or reference) names: by ID, name or ID prefix; a
        ContainerNotFound is the router's 404."""
        from pallet.runtime.container.lifecycle import get
        return get(self.server.root, reference or self.params["name"])

    def hijack(self, content_type: str):
        """Answer 101 UPGRADED (or 200 to a client that did not ask to upgrade) and hand the
        raw connection over: no chunking from here on; the connection closes afterwards."""
        upgrade = self.headers.get("Upgrade", "").lower() == "tcp"
        handler = self.handler
        if upgrade:
            handler.send_response_only(101, "UPGRADED")
            handler.send_header("Connection", "Upgrade")
            handler.send_header("Upgrade", "tcp")
        else:
            handler.send_response_only(200)
        handler.send_header("Content-Type", content_type)
        handler.send_common_headers()
        handler.end_headers()
        handler.close_connection = True
        handler.answered = True
        # An attach or exec may sit quiet for hours (a shell nobody types in): the idle
        # keep-alive timeout must not end its stdin, as it did after five minutes. Blocking
        # also keeps a TLS socket out of CPython's timeout path, where a read in one thread
        # and a write in another race (cpython#77271).
        handler.connection.settimeout(None)
        return handler.connection


class ChunkedWriter:
    def __init__(self, handler: "Handler") -> None:
        self.handler = handler
        self.closed = False

    def write(self, data: bytes) -> None:
        if data:
            self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def json(self, document) -> None:
        self.write(json.dumps(document).encode() + b"\n")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.handler.wfile.write(b"0\r\n\r\n")


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes every method through the server's router; errors are JSON."""

    protocol_version = "HTTP/1.1"
    server_version = f"pallet/{__version__}"
    sys_version = ""
    error_content_type = "application/json"
    # An idle keep-alive connection is dropped after this (PALLET_API_IDLE_TIMEOUT seconds
    # overrides it); a streaming one is not affected (the timeout applies to reads, and a
    # stream's thread only writes), and a hijacked one has none (hijack()).
    timeout = 300

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        self.timeout = idle_timeout(self.timeout)
        super().setup()
        self.answered = False

    def address_string(self) -> str:
        client = self.client_address
        return client[0] if isinstance(client, tuple) and client else "unix"

    def log_message(self, format: str, *args) -> None:
        if self.server.debug:
            super().log_message(format, *args)

    def send_common_headers(self) -> None:
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, header limits), as JSON."""
        text = message or self.responses.get(code, ("error",))[0]
        if code == 431 or "Line too long" in text or "Too many headers" in text:
            code = 431 if code != 414 else 414
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"   # a bad request line: still answer with a status line
        try:
            self.send_json(code, {"message": text}, {"Connection": "close"})
        except OSError:
            pass

    def start_response(self, status: int, content_type: str | None, headers: dict | None,
                       *, chunked: bool = False, length: int | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_common_headers()
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.answered = True

    def send_json(self, status: int, document, headers: dict | None = None) -> None:
        body = json.dumps(document).encode() + b"\n"
        self.send_bytes(status, body, "application/json", headers)

    def send_bytes(self, status: int, body: bytes, content_type: str | None,
                   headers: dict | None = None) -> None:
        self.start_response(status, content_type, headers,
                            length=None if status in (204, 304) or status < 200 else len(body))
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    # every method goes to one dispatcher; HEAD and unknown ones included
    def do_GET(self) -> None:
        self.server.router.dispatch(self)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_GET


def split_target(handler: Handler) -> tuple[str, tuple[int, int] | None, dict[str, list[str]]]:
    """(decoded path without the version prefix, the version asked for or None, query)."""
    parts = urllib.parse.urlsplit(handler.path)
    path = urllib.parse.unquote(parts.path)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    match = _VERSIONED.match(path)
    if match is None:
        return path, None, query
    return match.group(3), (int(match.group(1)), int(match.group(2))), query
