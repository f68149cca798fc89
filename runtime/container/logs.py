"""Container logs in Docker's json-file shape, with bounded size and rotation.

Each line: {"log": "<text incl. newline>", "stream": "stdout"|"stderr", "time": RFC3339Nano}.
<id>-json.log is the live file; when it passes max_size it becomes .1 (older ones shift up,
the oldest beyond max_files is dropped), like Docker's --log-opt max-size/max-file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

from pallet.base.units import now_rfc3339, rfc3339_nanos

DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_FILES = 3


class LogWriter:
    """Appends complete lines per stream; a partial line waits for its newline (or close)."""

    def __init__(self, path: Path, *, max_size: int = DEFAULT_MAX_SIZE,
                 max_files: int = DEFAULT_MAX_FILES) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max_files
        self.handle = open(path, "ab")
        self.pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buffered = self.pending[stream] + data
        *lines, rest = buffered.split(b"\n")
        self.pending[stream] = rest
        for line in lines:
            self._record(stream, line + b"\n")
        if len(rest) > 16384:  # Docker splits very long lines at 16 KiB
            self._record(stream, rest)
            self.pending[stream] = b""

    def _record(self, stream: str, raw: bytes) -> None:
        entry = {"log": raw.decode("utf-8", errors="replace"), "stream": stream,
                 "time": now_rfc3339()}
        self.handle.write(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
        self.handle.flush()
        if self.handle.tell() >= self.max_size:
            self._rotate()

    def _rotate(self) -> None:
        self.handle.close()
        for index in range(self.max_files - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if index == self.max_files - 1 and older.exists():
                older.unlink()
            newer = self.path if index == 1 else self.path.with_name(f"{self.path.name}.{index - 1}")
            if newer.exists():
                os.replace(newer, older)
        if self.max_files <= 1:
            self.path.unlink(missing_ok=True)
        self.handle = open(self.path, "ab")

    def close(self) -> None:
        for stream, rest in self.pending.items():
            if rest:
                self._record(stream, rest)
        self.pending = {"stdout": b"", "stderr": b""}
        self.handle.close()


def log_files(path: Path) -> list[Path]:
    """Oldest first: .N ... .1, then the live file."""
    rotated = sorted((p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
                     key=lambda p: -int(p.suffix[1:]))
    return rotated + ([path] if path.exists() else [])


def read_entries(path: Path) -> Iterator[dict]:
    for file in log_files(path):
        with open(file, "rb") as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a torn last line while the writer is mid-write


def format_entry(entry: dict, *, timestamps: bool) -> str:
    text = entry["log"]
    return f"{entry['time']} {text}" if timestamps else text


def read_logs(path: Path, *, since: float | None = None, until: float | None = None,
              tail: int | None = None, follow: bool = False, running=None,
              poll: float = 0.05) -> Iterator[dict]:
    """`logs` for both fronts: the entries since/until (Unix seconds), the last `tail` of them,
    then with follow the new ones as they are written, until running() says the container
    stopped (or `until` passes). Reads only what is new on each poll and follows rotation
    (the handle on a rotated file is read to its end before the new live file)."""
    import time as clock

    def wanted(entry: dict) -> bool:
        try:
            moment = rfc3339_nanos(entry["time"]) / 1e9
        except (KeyError, ValueError):
            return False
        return (since is None or moment >= since) and (until is None or moment <= until)

    live = None
    with contextlib.ExitStack() as stack:
        entries = []
        for file in log_files(path):
            handle = open(file, "rb")
            data = handle.read()
            complete = data[:data.rfind(b"\n") + 1]
            entries += [e for e in _parse_lines(complete) if wanted(e)]
            if file == path:
                live = stack.enter_context(handle)
                live.seek(len(complete))
            else:
                handle.close()
        if tail is not None and tail >= 0:
            entries = entries[len(entries) - tail:] if tail else []
        yield from entries
        if not follow:
            return
        buffer = b""
        while until is None or clock.time() <= until:
            if live is None:
                try:
                    live = stack.enter_context(open(path, "rb"))
                except FileNotFoundError:
                    live = None
            chunk = live.read() if live is not None else b""
            stopped = False
            if not chunk:
                if live is not None and _rotated(path, live):
                    live = None   # the writer moved on to a fresh file: read that from its start
                    continue
                stopped = running is not None and not running()
                if stopped and live is not None:
                    chunk = live.read()   # what the writer flushed before it stopped
            if chunk:
                buffer += chunk
                complete, _, buffer = buffer.rpartition(b"\n")
                for entry in _parse_lines(complete):
                    if wanted(entry):
                        yield entry
            if stopped:
                return
            if not chunk:
                clock.sleep(poll)


def _parse_lines(data: bytes) -> list[dict]:
    entries = []
    for line in data.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def _rotated(path: Path, handle) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False
