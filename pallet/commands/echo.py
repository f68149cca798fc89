"""click.echo for text, without importing click (the fast path's commands print with it).

What click.echo does with a str on Linux: the message and a newline to sys.stdout (sys.stderr
with err=True), ANSI escape sequences removed when that stream is not a terminal, then a
flush. click also re-wraps a stream whose encoding is ASCII; pallet/fastpath.py leaves such a
process to click, so here the streams are used as they are.
"""

from __future__ import annotations

import re
import sys

_ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")   # click._compat._ansi_re (click 8.2+)


def echo(message: object = None, *, err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    if stream is None:
        return
    text = "" if message is None else str(message)
    if nl:
        text += "\n"
    if not text:
        stream.flush()
        return
    try:
        terminal = stream.isatty()
    except Exception:  # noqa: BLE001 - click's isatty(): any failure means "not a terminal"
        terminal = False
    if not terminal:
        text = _ANSI.sub("", text)
    stream.write(text)
    stream.flush()
