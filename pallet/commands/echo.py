"""click.echo for text, without importing click (the fast path's commands print with it).

What click.echo does with a str on Linux: the message and a newline to sys.stdout (sys.stderr
with err=True), ANSI escape sequences removed when that stream is not a terminal, then a
flush. A stream whose encoding is ASCII click re-wraps (UTF-8, errors replaced): that rare case
is left to click.echo itself (pallet/fastpath.py leaves such a process to click altogether).
"""

from __future__ import annotations

import re
import sys

_ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")   # click._compat._ansi_re (click 8.2+)


def echo(message: object = None, *, err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    if stream is None:
        return
    if not plain_stream(stream):
        import click
        click.echo(message, err=err, nl=nl)
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


def plain_stream(stream) -> bool:
    """A stream click.echo would use as it is: one whose encoding is not ASCII."""
    import codecs
    try:
        return codecs.lookup(stream.encoding or "ascii").name != "ascii"
    except (AttributeError, LookupError):
        return False

