"""The host's build progress, drawn by the local build's own display.

`pallet serve` answers POST /build with the builder's plain progress lines (BuildKit's
`--progress plain`: "#3 [2/4] RUN make", "#3 0.215 output", "#3 DONE 1.3s", "#3 CACHED",
"#3 ERROR: ...", "#5 transferring context: 2.00MB 0.1s done", "#7 naming to ... done") inside
{"stream": ...} documents. Replay reads them back into the builder's progress events
(builder/progress.py), so `pallet -H ... build` draws the live TTY view or the plain lines a
local build draws. The context upload is the "[internal] load build context" step, started
here as the upload begins (its timer runs while the tar is sent) and finished by the host's
own lines for it ("transferring context: SIZE TIME done").
"""

from __future__ import annotations

import re

CONTEXT_STEP = "internal-context"
CONTEXT_TITLE = "[internal] load build context"
_LINE = re.compile(r"#(\d+) (.*)")
_OUTPUT = re.compile(r"\d+\.\d{3} (.*)", re.S)
_DONE = re.compile(r"DONE \d+\.\ds")


class Replay:
    """Feed it the host's plain lines; it drives view (a builder Progress)."""

    def __init__(self, view) -> None:
        self.view = view
        self.steps: dict[str, str] = {}      # the host's step number -> our step id
        self.running: set[str] = set()
        self.pending: tuple[str, str] | None = None   # a title not yet known cached or not

    def start_upload(self, sent) -> None:
        """sent() -> bytes uploaded so far: counted up live on a terminal, as the local
        build counts the context it reads."""
        import time

        from pallet.builder.progress import transfer_size
        started = time.monotonic()

        def text() -> str:
            return f"transferring context: {transfer_size(sent())} " \
                   f"{time.monotonic() - started:.1f}s"

        self.view.start(CONTEXT_STEP, CONTEXT_TITLE)
        self.view.live_status(CONTEXT_STEP, text)
        self.running.add(CONTEXT_STEP)

    def flush(self) -> None:
        """A title seen with nothing after it yet: the step is running."""
        if self.pending is not None:
            number, title = self.pending
            self.pending = None
            self._start(number, title)

    def _start(self, number: str, title: str) -> None:
        step = CONTEXT_STEP if title == CONTEXT_TITLE else f"remote-{number}"
        self.steps[number] = step
        if step not in self.running:
            self.view.start(step, title)
            self.running.add(step)

    def text(self, chunk: str) -> list[str]:
        """Lines that are not progress (a warning the host printed): the caller shows them."""
        others = []
        for line in chunk.splitlines():
            if not self.line(line):
                others.append(line)
        return others

    def line(self, line: str) -> bool:
        found = _LINE.fullmatch(line)
        if found is None:
            return False
        number, rest = found.groups()
        if self.pending is not None and self.pending[0] == number and rest == "CACHED":
            title = self.pending[1]
            self.pending = None
            self.steps[number] = f"remote-{number}"
            self.view.cached(f"remote-{number}", title)
            return True
        self.flush()
        step = self.steps.get(number)
        if step is None:
            if rest.startswith("["):
                self.pending = (number, rest)
            else:     # a one-line message: "exporting layers done", "naming to x done"
                title, _, detail = rest.rpartition(" ")
                self.view.message(title or rest, detail if title else "")
            return True
        if _DONE.fullmatch(rest):
            self.view.done(step)
            self.running.discard(step)
        elif rest.startswith("ERROR: "):
            self.view.error(step, rest[len("ERROR: "):])
            self.running.discard(step)
        elif (output := _OUTPUT.fullmatch(rest)) is not None:
            self.view.output(step, (output.group(1) + "\n").encode())
        else:
            self.view.status(step, rest)
        return True

    def finish(self) -> None:
        self.flush()
