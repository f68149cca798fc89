"""Progress displays: plain lines for CI, the live TTY view, quiet."""

from __future__ import annotations

import io
import re
import time

from pallet.builder.progress import PlainProgress, QuietProgress, TtyProgress, make_progress


def test_plain_lines_follow_buildkit_format():
    stream = io.StringIO()
    view = PlainProgress(stream)
    view.cached("0.1", "[1/3] COPY a /a")
    view.start("0.2", "[2/3] RUN make")
    view.output("0.2", b"compiling\npartial")
    view.output("0.2", b" line\n")
    view.done("0.2")
    view.message("naming to docker.io/library/app:1")
    lines = stream.getvalue().splitlines()
    assert lines[0:2] == ["#1 [1/3] COPY a /a", "#1 CACHED"]
    assert lines[2] == "#2 [2/3] RUN make"
    assert re.fullmatch(r"#2 \d+\.\d{3} compiling", lines[3])
    assert re.fullmatch(r"#2 \d+\.\d{3} partial line", lines[4])
    assert re.fullmatch(r"#2 DONE \d+\.\ds", lines[5])
    assert lines[6] == "#3 naming to docker.io/library/app:1 done"


def test_tty_view_redraws_in_place_with_the_output_tail():
    stream = io.StringIO()
    view = TtyProgress(stream)
    view.start("0.1", "[1/2] RUN build")
    for index in range(9):
        view.output("0.1", f"line {index}\n".encode())
    time.sleep(0.06)  # redraws are throttled to one per 50 ms
    view.output("0.1", b"line 9\n")
    snapshot = stream.getvalue()
    assert "=> => # line 9" in snapshot and "\x1b[" in snapshot  # cursor-up redraw
    view.done("0.1")
    view.close()
    # an ended step is written once, above the live region, with its tail gone
    text = stream.getvalue()
    assert re.search(r"\x1b\[J => \[1/2\] RUN build  \d+\.\ds\n\[\+\] Building", text)
    assert "line 9" not in text.rsplit("RUN build  ", 1)[1]


def test_tty_view_writes_each_ended_step_once():
    stream = io.StringIO()
    view = TtyProgress(stream)
    for index in range(2000):
        view.instant(f"0.{index}", f"[s {index}/2000] LABEL a{index}=b")
    view.close()
    text = stream.getvalue()
    assert text.count("LABEL a1999=b") == 1 and text.count("LABEL a0=b") == 1
    assert len(text) < 2000 * 120  # no redraw of the whole list per step


def test_every_metadata_step_gets_its_line():
    stream = io.StringIO()
    view = PlainProgress(stream)
    view.start("0.1", "[base 1/3] FROM busybox")
    view.done("0.1")
    view.instant("0.2", "[base 2/3] ENV A=1")
    view.cached("0.3", "[base 3/3] RUN true")
    lines = stream.getvalue().splitlines()
    assert lines[2] == "#2 [base 2/3] ENV A=1" and re.fullmatch(r"#2 DONE 0\.\ds", lines[3])
    assert lines[4] == "#3 [base 3/3] RUN true"


def test_quiet_prints_nothing_and_auto_picks_plain_off_a_tty():
    stream = io.StringIO()
    view = make_progress("auto", quiet=True, stream=stream)
    assert isinstance(view, QuietProgress)
    view.start("0.1", "x")
    view.done("0.1")
    view.close()
    assert stream.getvalue() == ""
    assert isinstance(make_progress("auto", quiet=False, stream=io.StringIO()), PlainProgress)
