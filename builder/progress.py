"""Build progress: a live TTY view, BuildKit-style plain lines for CI logs, or nothing (-q).

All displays take the same events from the orchestrator (possibly from several stage threads
at once, hence the lock) and write to one text stream (stderr, as BuildKit does).

Plain format (BuildKit's ``--progress plain``)::

    #3 [2/4] RUN make
    #3 0.215 compiling...
    #3 DONE 1.3s
    #4 [3/4] COPY app /app
    #4 CACHED
    #5 [internal] load build context
    #5 transferring context: 313.12MB 2.1s done
    #5 DONE 2.1s
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

TAIL_LINES = 6


class _StepView:
    """The display's mutable state for one step. A plain class, not a dataclass: it never
    leaves this module, and a dataclass costs ~0.6 ms to create at import in every build."""

    __slots__ = ("number", "title", "started", "finished", "status", "tail", "partial", "live")

    def __init__(self, *, number: int, title: str) -> None:
        self.number = number
        self.title = title
        self.started: float | None = None
        self.finished: float | None = None
        self.status = "pending"  # pending | running | cached | done | error
        self.tail: list[str] = []
        self.partial = ""
        self.live = None   # () -> str: a status drawn anew at every redraw while running


class Progress:
    """Base display: tracks steps; subclasses render."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.lock = threading.Lock()
        self.steps: dict[str, _StepView] = {}
        self.counter = 0
        self.started = time.monotonic()

    def _view(self, step_id: str, title: str) -> _StepView:
        view = self.steps.get(step_id)
        if view is None:
            self.counter += 1
            view = _StepView(number=self.counter, title=title)
            self.steps[step_id] = view
        return view

    # events ----------------------------------------------------------------------------------
    def start(self, step_id: str, title: str) -> None:
        with self.lock:
            view = self._view(step_id, title)
            view.status = "running"
            view.started = time.monotonic()
            self._on_start(view)

    def cached(self, step_id: str, title: str) -> None:
        with self.lock:
            view = self._view(step_id, title)
            view.status = "cached"
            self._on_cached(view)

    def output(self, step_id: str, data: bytes) -> None:
        with self.lock:
            view = self.steps.get(step_id)
            if view is None:
                return
            text = view.partial + data.decode("utf-8", "replace")
            *lines, view.partial = text.split("\n")
            for line in lines:
                view.tail = (view.tail + [line])[-TAIL_LINES:]
                self._on_line(view, line)

    def done(self, step_id: str) -> None:
        with self.lock:
            view = self.steps[step_id]
            if view.partial:
                view.tail = (view.tail + [view.partial])[-TAIL_LINES:]
                self._on_line(view, view.partial)
                view.partial = ""
            view.status = "done"
            view.finished = time.monotonic()
            self._on_done(view)

    def error(self, step_id: str, message: str) -> None:
        with self.lock:
            view = self.steps.get(step_id)
            if view is None:
                return
            view.status = "error"
            view.finished = time.monotonic()
            self._on_error(view, message)

    def instant(self, step_id: str, title: str) -> None:
        """A step that does its work at once (ENV, LABEL, ARG, ...): its line, done."""
        with self.lock:
            view = self._view(step_id, title)
            view.started = view.finished = time.monotonic()
            view.status = "done"
            self._on_instant(view)

    def status(self, step_id: str, text: str) -> None:
        """A status line of a running step (BuildKit's vertex statuses: "transferring
        context: 313.12MB 2.1s done", "writing layer sha256:... 12.5MB 0.3s done")."""
        with self.lock:
            view = self.steps.get(step_id)
            if view is not None:
                self._on_status(view, text)

    def live_status(self, step_id: str, text) -> None:
        """A status of a running step that changes while it runs ("transferring context:
        45.20MB 1.1s"): text() is called at each redraw of a live display (none off a
        terminal, where only the final status() line is printed)."""
        with self.lock:
            view = self.steps.get(step_id)
            if view is not None:
                view.live = text

    def message(self, title: str, detail: str = "done") -> None:
        """A one-shot event such as "exporting layers" or "naming to ..."."""
        with self.lock:
            self.counter += 1
            self._on_message(self.counter, title, detail)

    def close(self) -> None:
        with self.lock:
            self._on_close()

    # rendering hooks -------------------------------------------------------------------------
    def _on_start(self, view: _StepView) -> None: ...
    def _on_cached(self, view: _StepView) -> None: ...
    def _on_line(self, view: _StepView, line: str) -> None: ...
    def _on_done(self, view: _StepView) -> None: ...
    def _on_error(self, view: _StepView, message: str) -> None: ...
    def _on_message(self, number: int, title: str, detail: str) -> None: ...
    def _on_status(self, view: _StepView, text: str) -> None: ...
    def _on_close(self) -> None: ...

    def _on_instant(self, view: _StepView) -> None:
        self._on_start(view)
        self._on_done(view)


class QuietProgress(Progress):
    """``-q``: nothing but errors (the CLI prints the image ID)."""


class PlainProgress(Progress):
    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _on_start(self, view: _StepView) -> None:
        self._write(f"#{view.number} {view.title}")

    def _on_cached(self, view: _StepView) -> None:
        self._write(f"#{view.number} {view.title}")
        self._write(f"#{view.number} CACHED")

    def _on_line(self, view: _StepView, line: str) -> None:
        elapsed = time.monotonic() - (view.started or self.started)
        self._write(f"#{view.number} {elapsed:.3f} {line}")

    def _on_done(self, view: _StepView) -> None:
        self._write(f"#{view.number} DONE {view.finished - view.started:.1f}s")

    def _on_error(self, view: _StepView, message: str) -> None:
        self._write(f"#{view.number} ERROR: {message}")

    def _on_message(self, number: int, title: str, detail: str) -> None:
        self._write(f"#{number} {title} {detail}".rstrip())

    def _on_status(self, view: _StepView, text: str) -> None:
        self._write(f"#{view.number} {text}")


class TtyProgress(Progress):
    """A live region at the bottom (elapsed time, running steps with their output tail),
    redrawn in place; a step that ends is written once above it and never redrawn, so a build
    of 100,000 steps costs 100,000 short writes, not 100,000 redraws of everything."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._drawn = 0
        self._last_draw = 0.0
        self._live: dict[int, _StepView] = {}  # running steps, by number
        self._settled: list[str] = []  # ended steps and messages not yet written
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._stop = threading.Event()
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            with self.lock:
                self._redraw()

    def _line_for(self, view: _StepView) -> str:
        now = time.monotonic()
        if view.status == "cached":
            return f" => CACHED {view.title}"
        if view.status in ("done", "error"):
            mark = "ERROR " if view.status == "error" else ""
            return f" => {mark}{view.title}  {view.finished - view.started:.1f}s"
        if view.status == "running":
            return f" => {view.title}  {now - view.started:.1f}s"
        return f" => {view.title}"

    def _redraw(self) -> None:
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}F\x1b[J")
        if self._settled:
            out.append("\n".join(self._settled) + "\n")
            self._settled = []
        lines = [f"[+] Building {time.monotonic() - self.started:.1f}s"]
        for view in self._live.values():
            lines.append(self._line_for(view))
            if view.live is not None:
                lines.append(f" => => {view.live()}")
            lines.extend(f" => => # {tail[:150]}" for tail in view.tail)
        out.append("\n".join(lines) + "\n")
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn = len(lines)
        self._last_draw = time.monotonic()

    def _settle(self, view: _StepView) -> None:
        self._live.pop(view.number, None)
        view.live = None
        self._settled.append(self._line_for(view))
        self._redraw()

    def _on_line(self, view, line):
        # output can arrive in thousands of lines a second: redraw at most every 50 ms
        now = time.monotonic()
        if now - self._last_draw >= 0.05:
            self._redraw()

    def _on_start(self, view):
        self._live[view.number] = view
        self._redraw()

    def _on_cached(self, view): self._settle(view)
    def _on_done(self, view): self._settle(view)
    def _on_instant(self, view): self._settle(view)
    def _on_error(self, view, message): self._settle(view)

    def _on_message(self, number, title, detail):
        self._settled.append(f" => {title} {detail}".rstrip())
        self._redraw()

    def _on_status(self, view, text):
        self._settled.append(f" => => {text}")
        self._redraw()

    def _on_close(self) -> None:
        self._stop.set()
        self._redraw()


def transfer_size(count: int) -> str:
    """BuildKit's size in statuses (tonistiigi/units "%.2f"): 1024-based, "2B", "1.50kB",
    "313.12MB"."""
    if count < 1024:
        return f"{count}B"
    value = float(count)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{value:.2f}{unit}"
    return f"{value:.2f}TB"


def make_progress(mode: str, *, quiet: bool, stream: TextIO | None = None) -> Progress:
    """``auto`` picks the TTY view when the stream is a terminal, plain lines otherwise."""
    target = stream if stream is not None else sys.stderr
    if quiet or mode == "quiet":
        return QuietProgress(target)
    if mode == "plain":
        return PlainProgress(target)
    if mode == "tty" or (mode == "auto" and target.isatty()):
        return TtyProgress(target)
    return PlainProgress(target)
