"""The docker CLI's display of progress events (pull, push, load, save, import).

    display_for(stream, mode="auto"|"tty"|"plain"|"quiet", transient=False) -> display
        display.emit(event)  (a sink for pallet.base.progress events)  display.close()

tty: docker/cli's jsonmessage display: one line per item (layer), redrawn in place with
cursor movement (ESC[nA / ESC[nB, ESC[2K), Docker's bar and sizes, the terminal's width read
at every redraw (a resize shows at the next one). Byte updates are redrawn at most ten times
a second in all (dockerd limits each item to ten; several items at once would add up), state
changes at once, so the screen always ends on the real last state.
plain: what the docker CLI prints when its output is not a terminal: a line per note and per
state change, byte updates dropped, no carriage returns.
quiet: nothing.
transient (save, import: Docker shows nothing for them): the tty display draws its lines on
the terminal and erases them when it is closed, so the final screen is Docker's.
working(text): the same for long local work (system prune/check, builder prune).
counting(text): docker cp's live line for work that moves bytes (cp, export): text first,
then "ACTION - 45.2MB" (or "45.2MB/160MB" once the total is known), erased at the end; off a
terminal it yields NULL, so no meter is put in the data's way.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from pallet.base.humanize import human_size
from pallet.base.progress import NULL, Bytes, Note, State, progress_text

FRAME = 0.1   # seconds between redraws of byte counts


def _width(fd: int) -> int:
    import fcntl
    import struct
    import termios

    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return 200   # Docker's width when it cannot ask
    columns = struct.unpack("HHHH", packed)[1]
    return columns or 200


class QuietDisplay:
    def emit(self, event) -> None:
        return None

    def close(self) -> None:
        return None


class PlainDisplay:
    def __init__(self, stream) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event) -> None:
        if isinstance(event, Bytes):
            if event.current > 0 or event.total > 0:
                return   # the docker CLI shows no progress bars off a terminal
            text = event.action
        elif isinstance(event, Note):
            text = event.text
        else:
            text = event.status
        line = f"{event.id}: {text}\n" if event.id else f"{text}\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        return None


class TtyDisplay:
    """docker/cli's DisplayJSONMessagesStream on a terminal, fed with events instead of JSON."""

    def __init__(self, stream, *, transient: bool = False, width: int | None = None) -> None:
        self._stream = stream
        self._width = (lambda: width) if width else (lambda: _width(stream.fileno()))
        self._transient = transient
        self._lines: dict[str, int] = {}   # item id -> its line in the live area
        self._pending: dict[str, Bytes] = {}
        self._last_frame = 0.0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._drawn_in_place = False   # an item without an ID is drawn over the current line

    def emit(self, event) -> None:
        with self._lock:
            if self._closed:
                return
            if isinstance(event, Bytes) and time.monotonic() - self._last_frame < FRAME:
                self._pending[event.id] = event   # only the newest count of an item matters
                if self._timer is None:
                    self._schedule()
                return
            self._pending.pop(event.id, None)
            out = self._render_pending()
            out.append(self._render(event))
            self._write(out, frame=isinstance(event, Bytes))

    def _schedule(self) -> None:
        wait = max(self._last_frame + FRAME - time.monotonic(), 0.001)
        self._timer = threading.Timer(wait, self._flush_pending)
        self._timer.daemon = True
        self._timer.start()

    def _flush_pending(self) -> None:
        """The timer's: draw the counts that waited, unless a frame went out meanwhile."""
        with self._lock:
            self._timer = None
            if self._closed or not self._pending:
                return
            if time.monotonic() - self._last_frame < FRAME:
                self._schedule()
                return
            self._write(self._render_pending(), frame=True)

    def _render_pending(self) -> list[str]:
        out = [self._render(event) for event in self._pending.values()]
        self._pending.clear()
        return out

    def _write(self, out: list[str], *, frame: bool) -> None:
        self._stream.write("".join(out))
        self._stream.flush()
        if frame:
            self._last_frame = time.monotonic()

    def _render(self, event) -> str:
        out = []
        diff = 0
        live = not isinstance(event, Note)   # Docker: an ID and a progressDetail
        if event.id and live:
            line = self._lines.get(event.id)
            if line is None:
                line = len(self._lines)
                self._lines[event.id] = line
                out.append("\n")
            diff = len(self._lines) - line
            if diff:
                out.append(f"\x1b[{diff}A")
        else:
            # a line outside the live area: later items start a new area below it
            self._lines = {}
        self._drawn_in_place = live and not event.id
        if event.id:
            prefix = f"{event.id}: "
        else:
            prefix = ""
        if isinstance(event, Note):
            out.append(f"{prefix}{event.text}\n")
        elif isinstance(event, State):
            out.append(f"\x1b[2K\r{prefix}{event.status} \r")
        else:
            bar = progress_text(event.current, event.total, self._width())
            out.append(f"\x1b[2K\r{prefix}{event.action} {bar}\r")
        if event.id and diff:
            out.append(f"\x1b[{diff}B")
        return "".join(out)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            out = self._render_pending()
            if self._transient and self._lines:
                # back to the first line of the live area, erasing it to the end of the screen
                out.append(f"\r\x1b[{len(self._lines)}A\x1b[J")
                self._lines = {}
            elif self._transient and self._drawn_in_place:
                out.append("\r\x1b[2K")
            if out:
                self._write(out, frame=False)


@contextlib.contextmanager
def working(text: str, stream=None):
    """Long local work (prune, check): a line saying what is happening, drawn on a terminal's
    stderr and erased when the work is done (Docker prints nothing before the result).
    Yields a sink for further State("", ...) lines of the same kind."""
    display = display_for(stream if stream is not None else sys.stderr, transient=True)
    display.emit(State("", text))
    try:
        yield display
    finally:
        display.close()


class _Counted:
    """Bytes as docker cp's line ("Copying from container - 45.2MB"): a state of the one
    id-less line, so it is drawn at once (the meter already limits it to ten a second)."""

    def __init__(self, display) -> None:
        self._display = display

    def emit(self, event) -> None:
        if isinstance(event, Bytes):
            amount = human_size(event.current, 4)
            if event.total:
                amount += f"/{human_size(event.total, 4)}"
            event = State(event.id, f"{event.action} - {amount}")
        self._display.emit(event)


@contextlib.contextmanager
def counting(text: str, stream=None):
    """A sink for the Bytes of local work that moves data (cp, export), drawn on a terminal's
    stderr and erased at the end; NULL off a terminal. The sink may be used from a forked
    child (cp and export work in one): its lines are a state of one id-less line, which needs
    no timer thread and no state the parent must see."""
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():
        yield NULL
        return
    display = TtyDisplay(stream, transient=True)
    display.emit(State("", text))
    try:
        yield _Counted(display)
    finally:
        display.close()


def display_for(stream, mode: str = "auto", *, transient: bool = False):
    """The display for a text stream: auto draws on a terminal and prints plain lines off one."""
    if mode == "quiet":
        return QuietDisplay()
    if mode == "tty" or (mode == "auto" and stream.isatty()):
        return TtyDisplay(stream, transient=transient)
    if transient:
        return QuietDisplay()   # Docker prints nothing for save and import
    return PlainDisplay(stream)
