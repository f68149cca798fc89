"""Run a command on a pseudo-terminal the test opens, and read what a terminal would show.

    run = run_in_pty(argv, env=..., columns=120, on_chunk=callback)
        run.raw          every byte the command wrote to the terminal
        run.chunks       [(monotonic time, bytes, what on_chunk returned at that moment)]
        run.returncode
    final_screen(raw, columns) -> list[str]   the screen at the end (pyte, a VT100 emulator),
                                               trailing blanks and empty lines dropped
    frames(raw) -> list[str]                  the text of each redraw: what was written
                                               between carriage returns / line feeds

The pty is sized before the command starts (TIOCSWINSZ), so the command sees that width, as
a user's terminal would. pyte interprets the cursor movements (ESC[nA, ESC[nB, ESC[2K) the
way a terminal does, so two programs that draw the same final screen by different byte
sequences compare equal, and one that leaves a stale line does not.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field


@dataclass
class PtyRun:
    raw: bytes
    returncode: int
    chunks: list = field(default_factory=list)


def run_in_pty(argv: list[str], *, env: dict | None = None, columns: int = 120, rows: int = 50,
               on_chunk=None, timeout: float = 300, cwd=None) -> PtyRun:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    try:
        process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                   cwd=cwd, start_new_session=True)
    finally:
        os.close(slave)
    chunks = []
    raw = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                process.kill()
                raise AssertionError(f"{argv[0]} did not finish in {timeout} s; output so far:\n"
                                     f"{bytes(raw).decode(errors='replace')[-3000:]}")
            ready, _, _ = select.select([master], [], [], min(remaining, 1.0))
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:   # EIO: every writer of the terminal has closed it
                break
            if not data:
                break
            seen = on_chunk() if on_chunk is not None else None
            chunks.append((time.monotonic(), data, seen))
            raw += data
        returncode = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return PtyRun(raw=bytes(raw), returncode=returncode, chunks=chunks)


def final_screen(raw: bytes, columns: int = 120, rows: int = 200) -> list[str]:
    import pyte

    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    stream.feed(raw)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def frames(raw: bytes) -> list[str]:
    """Each piece of text drawn between line starts, escape sequences removed."""
    import re

    text = re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"\n", raw).decode(errors="replace")
    return [piece.strip() for piece in re.split(r"[\r\n]+", text) if piece.strip()]
