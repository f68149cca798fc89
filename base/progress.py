"""Progress of long work, as the engine reports it while the work happens.

    Note(id, text)                    a line of its own ("latest: Pulling from app", "Digest: ...")
    State(id, status)                 an item's line changes ("Pulling fs layer", "Pull complete")
    Bytes(id, action, current, total) bytes of an item moved ("Downloading" 33 MB of 100 MB)

    sink.emit(event)                  any object with emit(); NULL drops everything
    Meter(stream, sink, id, action, total, piece=None)
                                      a reader (or writer) that emits Bytes as data passes
                                      through it, throttled as dockerd throttles; piece: read
                                      at most that much at a time (a slow network stream
                                      then shows progress between its caller's big reads)
    json_message(event) -> dict       Docker's JSONMessage for the event (the Engine API's
    json_line(event) -> bytes         pull/push/load stream; json_line encodes it as dockerd does)
    progress_text(current, total, width=200) -> str
                                      Docker's bar and sizes: "[=====>   ]  33.2MB/100MB"

The three kinds are Docker's own three (pkg/progress: Message, Update, and a progress reader's
updates), so the docker CLI's renderer and pallet's renderer (pallet/format/progress.py) draw
the same screens from them, and the Engine API streams them without translation. Sinks are
called from whichever thread does the work (a decompressor's producer, parallel transfers):
a sink that keeps state must lock.

Here in pallet.base because the engine (runtime), the builder and both fronts use it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from pallet.base.humanize import human_size

UPDATE_BYTES = 512 * 1024   # dockerd: an update every 512 kB, or every 1% when that is less
MIN_INTERVAL = 0.1          # dockerd's rate limiter: at most ten updates a second per item


@dataclass(frozen=True)
class Note:
    """A line of its own, outside the live per-item lines (Docker's progress.Message)."""

    id: str
    text: str


@dataclass(frozen=True)
class State:
    """An item (a layer) reached a state (Docker's progress.Update)."""

    id: str
    status: str


@dataclass(frozen=True)
class Bytes:
    """current of total bytes of an item's action are done (total 0: unknown)."""

    id: str
    action: str
    current: int
    total: int


class _Null:
    def emit(self, event) -> None:
        return None


NULL = _Null()


class Collect:
    """A sink that keeps every event (tests, and callers that want the events afterwards)."""

    def __init__(self) -> None:
        import threading

        self.events: list = []
        self._lock = threading.Lock()

    def emit(self, event) -> None:
        with self._lock:
            self.events.append(event)


class Meter:
    """Wraps a stream: reads (or writes) pass through and emit Bytes(id, action, ...) as they go.

    Updates follow dockerd's progress reader: after every 512 kB (or 1% of total, if smaller),
    at most ten a second, and always the one that reaches total or the end of the stream, so
    the last update shown is the real count."""

    def __init__(self, stream, sink, id: str, action: str, total: int = 0, *,
                 piece: int | None = None) -> None:
        self._stream = stream
        self._piece = piece
        self._sink = sink
        self._id = id
        self._action = action
        self._total = max(int(total or 0), 0)
        self.current = 0
        self._reported = 0
        self._last_time = 0.0
        self._every = UPDATE_BYTES
        if self._total:
            self._every = min(UPDATE_BYTES, int(self._total * 0.01))

    def _moved(self, count: int, end: bool = False) -> None:
        self.current += count
        if self.current - self._reported > self._every or end:
            now = time.monotonic()
            if end or self.current == self._total or now - self._last_time >= MIN_INTERVAL:
                self._last_time = now
                self._sink.emit(Bytes(self._id, self._action, self.current, self._total))
            self._reported = self.current

    def read(self, n: int = -1) -> bytes:
        if self._piece and (n is None or n < 0 or n > self._piece):
            n = self._piece   # a short read: only for callers that read until b""
        data = self._stream.read(n)
        self._moved(len(data), end=not data and n != 0)
        return data

    def readinto(self, buffer) -> int:
        inner = getattr(self._stream, "readinto", None)
        if inner is None:
            data = self._stream.read(len(buffer))
            buffer[:len(data)] = data
            count = len(data)
        else:
            count = inner(buffer)
        self._moved(count or 0, end=not count and len(buffer) != 0)
        return count

    def write(self, data) -> int:
        written = self._stream.write(data)
        self._moved(len(data))
        return written

    def finish(self) -> None:
        """The stream is done (a writer, or a reader not read to its end): report the count."""
        self._moved(0, end=True)

    def readable(self) -> bool:
        return True

    def __getattr__(self, name):   # tell, flush, close, getheader...: the stream's own
        return getattr(self._stream, name)


# ---- Docker's presentation --------------------------------------------------------------------

def progress_text(current: int, total: int, width: int = 200) -> str:
    """Docker's JSONProgress.String(): a bar when the terminal is wider than 110 columns, then
    the sizes (go-units HumanSize, four significant digits); no time-left box, since dockerd
    sends no start time for pulls and pushes."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
    if current > total:
        numbers = f"{human_size(current, 4):>8}"
    return bar + numbers


def json_message(event) -> dict:
    """Docker's JSONMessage (the field order of its Go struct; empty fields left out)."""
    if isinstance(event, Note):
        document = {"status": event.text}
    elif isinstance(event, State):
        document = {"status": event.status, "progressDetail": {}}
    else:
        detail = {}
        if event.current:
            detail["current"] = event.current
        if event.total:
            detail["total"] = event.total
        document = {"status": event.action, "progressDetail": detail}
        text = progress_text(event.current, event.total)
        if text:
            document["progress"] = text
    if event.id:
        document["id"] = event.id
    return document


def json_line(document) -> bytes:
    """One line of dockerd's stream: Go's encoding/json (<, > and & escaped, UTF-8 kept) and
    its "\\r\\n". Takes an event or an already made document."""
    if not isinstance(document, dict):
        document = json_message(document)
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode() + b"\r\n"


class JsonLines:
    """A sink that writes each event as one of dockerd's JSON lines through write(bytes)."""

    def __init__(self, write) -> None:
        import threading

        self._write = write
        self._lock = threading.Lock()

    def emit(self, event) -> None:
        line = json_line(event)
        with self._lock:
            self._write(line)
