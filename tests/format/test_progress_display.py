"""pallet.format.progress: docker/cli's jsonmessage display, fed with events."""

from __future__ import annotations

import io
import threading
import time

import pyte

from pallet.base.progress import Bytes, Note, State
from pallet.format.progress import PlainDisplay, TtyDisplay


class _Recorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return super().write(text)


def _screen(text: str, columns: int = 120) -> list[str]:
    screen = pyte.Screen(columns, 30)
    pyte.Stream(screen).feed(text.replace("\n", "\r\n"))   # a terminal's onlcr
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_tty_bytes_are_what_docker_cli_writes_for_the_same_messages():
    out = _Recorder()
    display = TtyDisplay(out, width=120)
    display.emit(Note("1", "Pulling from app"))
    display.emit(State("aaaaaaaaaaaa", "Pulling fs layer"))
    display.emit(State("bbbbbbbbbbbb", "Pulling fs layer"))
    display.emit(State("aaaaaaaaaaaa", "Pull complete"))
    display.emit(Note("", "Digest: sha256:x"))
    display.close()
    # docker/cli DisplayJSONMessagesStream: a new ID adds a line; an update moves up to its
    # line, erases it (ESC[2K), draws "ID: status <progress>" ending in \r, moves back down
    assert out.getvalue() == (
        "1: Pulling from app\n"
        "\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B"
        "\n\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pulling fs layer \r\x1b[1B"
        "\x1b[2A\x1b[2K\raaaaaaaaaaaa: Pull complete \r\x1b[2B"
        "Digest: sha256:x\n")
    assert _screen(out.getvalue()) == ["1: Pulling from app", "aaaaaaaaaaaa: Pull complete",
                                       "bbbbbbbbbbbb: Pulling fs layer", "Digest: sha256:x"]


def test_tty_bar_follows_the_width_docker_rule():
    for width, bar in ((120, True), (110, False)):
        out = io.StringIO()
        display = TtyDisplay(out, width=width)
        display.emit(Bytes("aaaaaaaaaaaa", "Downloading", 500, 1000))
        display.close()
        assert ("[=========================>" in out.getvalue()) is bar
        assert "     500B/1kB" in out.getvalue()


def test_tty_redraws_byte_counts_at_most_ten_times_a_second_from_many_threads():
    out = _Recorder()
    display = TtyDisplay(out, width=120)
    ids = [f"{n:012d}" for n in range(3)]
    for ident in ids:
        display.emit(State(ident, "Waiting"))
    stop = time.monotonic() + 0.6

    def work(ident: str) -> None:
        count = 0
        while time.monotonic() < stop:
            count += 1000
            display.emit(Bytes(ident, "Downloading", count, 10**9))
            time.sleep(0.001)
        display.emit(State(ident, "Download complete"))

    threads = [threading.Thread(target=work, args=(ident,)) for ident in ids]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    display.close()
    elapsed = time.monotonic() - start
    frames = [when for when, text in out.writes if "Downloading" in text]
    assert len(frames) <= elapsed / 0.1 + 2, len(frames)
    assert len(frames) >= 3
    assert _screen(out.getvalue()) == [f"{ident}: Download complete" for ident in ids]


def test_transient_display_leaves_nothing_on_the_screen():
    out = io.StringIO()
    out.write("before\n")
    display = TtyDisplay(out, width=120, transient=True)
    display.emit(Bytes("aaaaaaaaaaaa", "Saving layer", 5, 10))
    display.emit(Bytes("bbbbbbbbbbbb", "Saving layer", 10, 10))
    display.close()
    out.write("after\n")
    assert _screen(out.getvalue()) == ["before", "after"]
    out = io.StringIO()
    display = TtyDisplay(out, width=120, transient=True)
    display.emit(Bytes("", "Importing", 5, 10))
    display.close()
    out.write("sha256:abc\n")
    assert _screen(out.getvalue()) == ["sha256:abc"]


def test_plain_prints_notes_and_states_and_drops_byte_counts():
    out = io.StringIO()
    display = PlainDisplay(out)
    display.emit(Note("1", "Pulling from app"))
    display.emit(State("aaaaaaaaaaaa", "Pulling fs layer"))
    display.emit(Bytes("aaaaaaaaaaaa", "Downloading", 5, 10))
    display.emit(State("aaaaaaaaaaaa", "Pull complete"))
    assert out.getvalue() == ("1: Pulling from app\naaaaaaaaaaaa: Pulling fs layer\n"
                              "aaaaaaaaaaaa: Pull complete\n")
